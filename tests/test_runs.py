"""The output folder of a run: torn summaries from a hard kill are read up to the last
complete row, and a folder holding a run is never mixed with another."""

import argparse
import json

import pytest

from tf_gradcam import records, runs


def test_torn_last_lines_are_dropped(tmp_path):
    jsonl = tmp_path / runs.SUMMARY_JSONL
    jsonl.write_text('{"image": "a.png"}\n{"image": "b.png"}\n{"image": "c.p')
    assert [row["image"] for _, row in runs.read_jsonl(jsonl)] == ["a.png", "b.png"]
    csv_path = tmp_path / runs.SUMMARY_CSV
    header = ",".join(records.FIELDS)
    full = ",".join(["x.png"] + [""] * (len(records.FIELDS) - 1))
    csv_path.write_text(f"{header}\n{full}\n{full[:-3]}")  # the last record is torn
    assert len(list(runs.read_csv(csv_path))) == 1
    csv_path.write_text(f"{header}\n{full}\n{full}\n")
    assert len(list(runs.read_csv(csv_path))) == 2


def test_a_folder_with_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    (tmp_path / runs.RUN_FILE).write_text(json.dumps({"method": "gradcam"}))
    (tmp_path / runs.SUMMARY_CSV).write_text(",".join(records.FIELDS) + "\n")
    plain = argparse.Namespace(resume=False, overwrite=False)
    with pytest.raises(runs.UsageError, match="would mix two runs.*Received: --out="):
        runs.open_out(tmp_path, plain)
    resumed = argparse.Namespace(resume=True, overwrite=False)
    assert runs.open_out(tmp_path, resumed) == {"method": "gradcam"}
    with pytest.raises(runs.UsageError, match="other options.*--method"):
        runs.check_same_settings({"method": "gradcam"}, dict.fromkeys(runs.RUN_SETTINGS) | {
            "method": "hirescam"}, tmp_path)
