"""An output folder as the record of one `tf-gradcam explain` run.

`run.json` (the run's options), `summary.csv` and `summary.jsonl` (appended and flushed per
batch) and the overlays: refusing to mix two runs, repairing a stopped run's summaries for
`--resume`, deleting a run for `--overwrite`. Standard library only (the CLI imports it before
TensorFlow).
"""

import collections
import csv
import json
import os
import pathlib
import re
import sys
import typing

SUMMARY_CSV, SUMMARY_JSONL, SUMMARY_JSON, RUN_FILE = (
    "summary.csv", "summary.jsonl", "summary.json", "run.json")
#: `run.json` keys that must match for `--resume` (they change what a row means).
RUN_SETTINGS = ("model", "method", "layer", "output", "class_index", "top", "size",
                "preprocess", "alpha", "colormap", "fit", "target")
_OVERLAY_NAME = re.compile(r"_class\d+_[A-Za-z0-9_+-]+\.(png|jpg)$")


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


def inside(path, folder):
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def say(message, bar=None):
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)


class Summary:
    """`summary.csv` and `summary.jsonl` in an output folder, appended and flushed per batch."""

    def __init__(self, out, fresh):
        from tf_gradcam import records

        self._records = records
        self.csv_path, self.jsonl_path = out / SUMMARY_CSV, out / SUMMARY_JSONL
        mode = "w" if fresh else "a"
        self._csv = open(self.csv_path, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self._jsonl = open(self.jsonl_path, mode, encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._csv, lineterminator="\n")
        if fresh:
            self._writer.writerow(records.FIELDS)
            self._flush()

    def append(self, rows):
        self._writer.writerows(self._records.csv_values(r) for r in rows)
        self._jsonl.write("".join(json.dumps(self._records.json_safe(r)) + "\n" for r in rows))
        self._flush()

    def _flush(self):
        for handle in (self._csv, self._jsonl):
            handle.flush()

    def close(self):
        for handle in (self._csv, self._jsonl):
            handle.close()

    def write_json_array(self, path):
        """The JSON Lines as one JSON array, streamed to `path` and swapped in atomically."""
        from tf_gradcam import files

        with files.open_atomic(path, "w") as target, open(self.jsonl_path,
                                                             encoding="utf-8") as lines:
            target.write("[")
            for n, line in enumerate(lines):
                target.write(("\n" if n == 0 else ",\n") + line.rstrip("\n"))
            target.write("\n]\n")


def read_jsonl(path):
    """Complete rows of a JSON Lines summary (a torn last line, from a hard kill, is dropped)."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return
            try:
                yield line, json.loads(line)
            except json.JSONDecodeError:
                return


def read_csv(path):
    """Complete rows of a CSV summary (lists of cells); a torn last record is dropped."""
    from tf_gradcam import records

    if not path.is_file():
        return
    with open(path, "rb") as raw:
        raw.seek(0, os.SEEK_END)
        ends_complete = raw.tell() == 0 or (raw.seek(-1, os.SEEK_END), raw.read(1))[1] == b"\n"
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != list(records.FIELDS):
            raise UsageError(
                f"{path} does not have the columns of a tf-gradcam summary; expected "
                f"{','.join(records.FIELDS)}. Pass --overwrite or a new --out folder. "
                f"Received: header={header}")
        previous = None
        for cells in reader:
            if len(cells) != len(records.FIELDS):
                if previous is not None:  # complete: a newline followed it
                    yield previous
                return  # a torn record: nothing after it is trusted
            if previous is not None:
                yield previous
            previous = cells
        if previous is not None and ends_complete:
            yield previous


class Done(typing.NamedTuple):
    keys: set  # absolute paths of images finished in an earlier run
    reserved: dict  # overlay stem (casefolded) -> absolute path of the image that used it
    explained: int
    failed: int


def resume(out, run, ranks):
    """Repair the summaries of an earlier run and return what it finished.

    An image counts as finished when both files hold all its rows (`ranks` of them) or its
    failure row; rows of unfinished images (a hard kill mid-batch) and torn last lines are
    removed by rewriting the files, so the resumed run appends without duplicates.
    """
    from tf_gradcam import files, records

    def tally(images):
        counts = collections.Counter()
        failed, skipped = set(), set()
        for image, error in images:
            counts[image] += 1
            if error:  # one row: a failure, or a skipped file (another format)
                (skipped if error.startswith("skipped:") else failed).add(image)
        ends = failed | skipped
        return {image for image, n in counts.items() if image in ends or n >= ranks}, ends, \
            failed

    csv_path, jsonl_path = out / SUMMARY_CSV, out / SUMMARY_JSONL
    done_jsonl, ends, failed = tally((r["image"], r["error"])
                                     for _, r in read_jsonl(jsonl_path))
    fields = list(records.FIELDS)
    i_image, i_error = fields.index("image"), fields.index("error")
    done_csv, _, _ = tally((c[i_image], c[i_error]) for c in read_csv(csv_path))
    finished = done_jsonl & done_csv
    cwd = run.get("cwd", os.getcwd())

    def key(image):
        return os.path.normpath(os.path.join(cwd, image))

    reserved, rows_kept, rows_total = {}, 0, 0
    with files.open_atomic(jsonl_path, "w") as target:
        for line, row in read_jsonl(jsonl_path):
            rows_total += 1
            if row["image"] in finished:
                rows_kept += 1
                target.write(line)
                if row["overlay"]:
                    overlay = os.path.relpath(key(row["overlay"]), os.path.abspath(out))
                    stem = _OVERLAY_NAME.sub("", pathlib.Path(overlay).as_posix())
                    reserved[stem.casefold()] = key(row["image"])
    with files.open_atomic(csv_path, "w", newline="") as target:
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(records.FIELDS)
        writer.writerows(c for c in read_csv(csv_path) if c[i_image] in finished)
    keys = {key(image) for image in finished}
    return Done(keys, reserved, len(finished - ends), len(finished & failed)), \
        rows_total - rows_kept


def visible_entries(folder):
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []


def remove_run(out):
    """Delete an earlier run in `out`: the overlays its summary lists, its summaries, run.json."""
    removed, folders = 0, set()
    for _, row in read_jsonl(out / SUMMARY_JSONL):
        overlay = pathlib.Path(row.get("overlay") or "")
        if row.get("overlay") and inside(overlay.resolve(), out.resolve()):
            overlay.unlink(missing_ok=True)
            removed += 1
            folders.update(p for p in overlay.resolve().parents if inside(p, out.resolve()))
    for folder in sorted(folders, key=lambda p: -len(p.parts)):  # sub-folders it made
        if folder != out.resolve() and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    for name in (SUMMARY_CSV, SUMMARY_JSONL, SUMMARY_JSON, RUN_FILE):
        (out / name).unlink(missing_ok=True)
    return removed


def open_out(out, args):
    """Check `--out` before any work: a new or empty folder, or an earlier run to resume or
    replace. Returns the earlier run's settings (`{}` for a new run)."""
    previous = out / RUN_FILE
    has_run = previous.is_file() or (out / SUMMARY_CSV).is_file() or (
        out / SUMMARY_JSONL).is_file()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder (it is created if missing). "
                         f"Received: --out={out}")
    if has_run and not (args.resume or args.overwrite):
        raise UsageError(
            f"output folder {out} already holds the results of a run ({RUN_FILE}, "
            f"{SUMMARY_CSV}); writing into it would mix two runs. Pass --resume to continue "
            f"that run (images already in its summary are skipped), --overwrite to delete its "
            f"overlays and summaries first, or a new --out folder. Received: --out={out}")
    if not has_run and visible_entries(out) and not args.overwrite:
        raise UsageError(
            f"output folder {out} is not empty and holds no tf-gradcam run; pass a new or empty "
            f"--out folder (it is created if missing), or --overwrite to write into it anyway "
            f"(files named like an overlay are replaced). Received: --out={out}")
    if has_run and args.overwrite:
        removed = remove_run(out)
        say(f"--overwrite: removed the earlier run in {out} ({removed} overlay(s))")
        return {}
    if args.resume and not has_run:
        say(f"--resume: no earlier run in {out}; starting one")
    if has_run and args.resume:
        if not previous.is_file():
            raise UsageError(f"{out} has a summary but no {RUN_FILE}, so the options of that "
                             f"run are unknown; pass --overwrite or a new --out folder")
        try:
            return json.loads(previous.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise UsageError(f"could not read {previous} ({err}); pass --overwrite or a new "
                             f"--out folder") from err
    return {}


def check_same_settings(previous, settings, out):
    changed = [f"--{k.replace('_index', '')}: {previous.get(k)!r} then, {settings[k]!r} now"
               for k in RUN_SETTINGS if previous.get(k) != settings[k]]
    if changed:
        raise UsageError(
            f"--resume: the run in {out} was made with other options ({'; '.join(changed)}); "
            f"its rows would not match. Resume with the same options, or pass --overwrite or "
            f"a new --out folder.")
