"""The summary schema shared by the CLI and the Beam pipeline (`tf_gradcam.records`)."""

import json
import types

import numpy as np
import pytest

from tf_gradcam import records


def batch(several=False):
    """An Explanation-like batch of two images over three classes."""
    heat = np.zeros((2, 4, 5), np.float32)
    heat[0, 1, 3] = 1.0
    heat[1, 2, 0] = 0.5
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    if several:
        return types.SimpleNamespace(
            heatmaps=np.stack([heat, heat[::-1]], 1), class_index=np.array([[0, 1], [2, 1]]),
            scores=np.array([[5.0, 3.0], [4.0, 2.0]], np.float32),
            probabilities=probabilities, layer=["a", "b"], method="gradcam")
    return types.SimpleNamespace(
        heatmaps=heat, class_index=np.array([0, 2]), scores=np.array([5.0, 4.0], np.float32),
        probabilities=probabilities, layer="conv", method="hirescam")


def test_rows_of_one_class_per_image():
    rows = records.explanation_rows(batch(), 0, "x/a.png", overlays=["o/a.png"], note="n",
                                    labels=["cat", "dog", "cow"])
    assert rows == [{
        "image": "x/a.png", "rank": 1, "class_index": 0, "class_name": "cat", "score": 5.0,
        "probability": pytest.approx(0.7), "heatmap_mean": pytest.approx(0.05),
        "heatmap_peak_yx": [1, 3], "layer": "conv", "method": "hirescam",
        "overlay": "o/a.png", "original_width": None, "original_height": None, "note": "n",
        "error": "", "box": None}]
    assert list(rows[0]) == list(records.FIELDS)
    second = records.explanation_rows(batch(), 1, "b.png")[0]
    assert second["probability"] == pytest.approx(0.6) and second["overlay"] == ""
    assert second["class_name"] == ""


def test_rows_of_several_classes_per_image():
    rows = records.explanation_rows(batch(several=True), 1, "b.png", overlays=["1", "2"])
    assert [(r["rank"], r["class_index"]) for r in rows] == [(1, 2), (2, 1)]
    assert [r["probability"] for r in rows] == pytest.approx([0.6, 0.3])
    assert rows[0]["layer"] == "a,b"
    with pytest.raises(ValueError, match="2 explained classes but 1 overlay"):
        records.explanation_rows(batch(several=True), 1, "b.png", overlays=["1"])


def test_explained_ranks_continue_from_first_rank():
    items = records.explained(batch(), 1, first_rank=3)
    assert [(e.rank, e.class_index) for e in items] == [(3, 2)]
    assert items[0].heatmap.shape == (4, 5)


def test_no_probabilities_give_an_empty_probability():
    exp = batch()
    exp.probabilities = None
    row = records.explanation_rows(exp, 0, "a.png")[0]
    assert row["probability"] is None and records.csv_values(row)[5] == ""


def test_guided_rgb_maps_are_summarised_by_their_mean():
    item = records.Explained(1, 0, 1.0, 0.5, np.ones((4, 5, 3), np.float32))
    assert records.row("a", item, layer="l", method="guided-gradcam")["heatmap_mean"] == 1.0


def test_failure_rows_and_csv_round_trip():
    failed = records.failure_row("a.png", OSError("no\nspace"), note="grayscale")
    assert failed["error"] == "OSError: no space" and failed["rank"] is None
    assert records.failure_row("b.png", ValueError("empty"))["error"] == "empty"
    good = records.explanation_rows(batch(), 0, "a.png")[0]
    for row in (failed, good):
        assert records.from_csv(records.csv_values(row)) == row
        assert json.loads(json.dumps(records.json_safe(row))) == row


def test_json_safe_converts_without_modifying():
    value = {"a": np.float32(0.5), "b": (np.int64(2), float("inf")), "c": np.eye(2)}
    assert records.json_safe(value) == {"a": 0.5, "b": [2, None], "c": [[1.0, 0.0], [0.0, 1.0]]}
    assert isinstance(value["b"], tuple)


def test_a_row_with_the_photos_size_gives_the_peak_in_its_pixels():
    heat = np.zeros((4, 8), np.float32)
    heat[3, 2] = 1.0  # pixel (3, 2) of a 4x8 map covers rows 75-99, columns 50-74 of 100x200
    item = records.Explained(rank=1, class_index=0, score=1.0, probability=None, heatmap=heat)
    row = records.row("a.png", item, layer="c", method="gradcam", original_size=(100, 200))
    assert row["heatmap_peak_yx"] == [75, 50]
    assert (row["original_height"], row["original_width"]) == (100, 200)
    assert records.row("a.png", item, layer="c", method="gradcam")["heatmap_peak_yx"] == [3, 2]
    failed = records.failure_row("big.png", "image too large", original_size=(9, 7))
    assert (failed["original_height"], failed["original_width"], failed["rank"]) == (9, 7, None)
    assert records.from_csv(records.csv_values(failed)) == failed


def test_a_detection_box_survives_csv():
    item = records.Explained(1, 2, 3.5, None, np.zeros((4, 4)), box=(1.234, 2.0, 30.5, 40.0))
    row = records.row("d.png", item, layer="c", method="gradcam")
    assert row["box"] == [1.23, 2.0, 30.5, 40.0] and list(row) == list(records.FIELDS)
    assert records.from_csv(records.csv_values(row)) == row
    assert records.failure_row("x.png", "bad")["box"] is None
