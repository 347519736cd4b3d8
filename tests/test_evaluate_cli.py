"""`tf-gradcam evaluate` end to end on generated scenes and the bundled shapes model."""

import argparse
import csv
import json
import pathlib

import cv2
import numpy as np
import pytest

from tf_gradcam import cli, synthetic
from tf_gradcam.cli import evaluate as evaluate_cli

MODEL = str(pathlib.Path(synthetic.__file__).parent / "assets" / "shapes_cnn.keras")


def evaluate(argv):
    """Parse with a parser holding only `evaluate` (as `cli.build_parser` will) and run."""
    parser = argparse.ArgumentParser(prog="tf-gradcam")
    evaluate_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["evaluate"] + argv)
    try:
        return args.func(args)
    except cli.UsageError as err:
        print(f"tf-gradcam: error: {err}")
        return cli.EXIT_USAGE


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    """Three scenes saved at twice the model's size, and their square boxes in those pixels."""
    folder = tmp_path_factory.mktemp("scenes")
    scenes = synthetic.make_scenes(3, seed=5, both=True)
    boxes = {}
    for i, image in enumerate(scenes.images):
        big = cv2.resize(image, (128, 128), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(folder / f"scene{i}.png"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
        boxes[f"scene{i}.png"] = [(scenes.boxes[i, 0] * 2).tolist()]
    (folder / "boxes.json").write_text(json.dumps(boxes))
    return folder, scenes


def test_table_csv_and_json(scene_files, tmp_path, capsys):
    folder, scenes = scene_files
    status = evaluate([str(folder / "*.png"), "--model", MODEL, "--methods", "gradcam,eigencam",
                       "--metrics", "average_drop,deletion,pointing_game",
                       "--boxes", str(folder / "boxes.json"), "--class", "0", "--steps", "4",
                       "--out", str(tmp_path)])
    assert status == cli.EXIT_OK
    printed = capsys.readouterr().out
    assert "average_drop (v)" in printed and "pointing_game (^)" in printed
    assert printed.count("gradcam") >= 1 and "eigencam" in printed
    rows = list(csv.DictReader((tmp_path / "evaluate.csv").read_text().splitlines()))
    assert [r["method"] for r in rows] == ["gradcam", "eigencam"]
    assert 0 <= float(rows[0]["deletion"]) <= 1 and 0 <= float(rows[0]["average_drop"]) <= 100
    report = json.loads((tmp_path / "evaluate.json").read_text())
    assert len(report["images"]) == 3
    gradcam = report["methods"]["gradcam"]
    assert gradcam["class_index"] == [0, 0, 0]
    assert len(gradcam["pointing_game"]["per_image"]) == 3
    assert report["metrics"]["deletion"] == "lower is better"
    # The boxes were scaled from the 128-px files to the 64-px model input: with the maps
    # from the API on the same scenes, the pointing game gives the same hits.
    from tf_gradcam import GradCAM, metrics
    import keras
    model = keras.saving.load_model(MODEL, compile=False)
    maps = GradCAM(model).explain(scenes.images, class_index=0).heatmaps
    direct = metrics.pointing_game(maps, scenes.boxes[:, 0], return_per_image=True)
    assert gradcam["pointing_game"]["per_image"] == direct.per_image.tolist()


def test_unreadable_file_is_reported_and_the_rest_evaluated(scene_files, tmp_path, capsys):
    folder, _ = scene_files
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    status = evaluate([str(folder / "scene0.png"), str(broken), "--model", MODEL,
                       "--metrics", "increase_in_confidence", "--out", str(tmp_path / "o")])
    assert status == cli.EXIT_SOME_FAILED
    assert "broken.png" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--methods", "gradcam,nope"], "unknown method"),
    (["--metrics", "deletion,speed"], "unknown metric"),
    (["--metrics", "pointing_game"], "need --boxes"),
    (["--steps", "0"], "--steps"),
    (["--boxes", "missing.json", "--metrics", "pointing_game"], "could not read --boxes"),
])
def test_usage_errors(scene_files, tmp_path, capsys, extra, message):
    folder, _ = scene_files
    status = evaluate([str(folder / "scene0.png"), "--model", MODEL, "--out", str(tmp_path)]
                      + extra)
    assert status == cli.EXIT_USAGE
    assert message in capsys.readouterr().out


def test_boxes_outside_the_image_are_a_usage_error(scene_files, tmp_path, capsys):
    folder, _ = scene_files
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"scene0.png": [[0, 0, 200, 10]]}))  # 200 > 128 rows
    status = evaluate([str(folder / "scene0.png"), "--model", MODEL, "--metrics",
                       "localization_accuracy", "--boxes", str(boxes), "--out", str(tmp_path)])
    assert status == cli.EXIT_USAGE
    assert "Received: box=" in capsys.readouterr().out


def test_every_metric_and_an_rgb_method(scene_files, tmp_path):
    folder, _ = scene_files
    status = evaluate([str(folder / "scene1.png"), "--model", MODEL, "--methods",
                       "guided-gradcam", "--metrics", "all", "--boxes",
                       str(folder / "boxes.json"), "--steps", "2", "--out", str(tmp_path)])
    assert status == cli.EXIT_OK
    report = json.loads((tmp_path / "evaluate.json").read_text())["methods"]["guided-gradcam"]
    from tf_gradcam import metrics
    assert set(metrics.METRICS) <= set(report)
    assert all(np.isfinite(report[name]["value"]) for name in metrics.METRICS)
