"""`tf-gradcam explain --target`: detectors and dense regressors through the command line.

Each run's summary is checked against the saved model's own outputs on the same pixels (the
photos are written at the model's input size, so nothing is resized), and the overlay
against the box the model predicted.
"""

import cv2
import keras
import numpy as np
import pytest

from tests.test_cli import read_csv, run_here, write_png
from tests.test_depth import unet
from tests.test_detection import tiny_detector

SIZE = 32
#: The CLI reads uint8 pixels; the tiny models were made for [0, 1] inputs.
TO_UNIT = "scale:0.00392156862745098,0"
YELLOW = (255, 255, 0)  # `targets.draw_box`'s default colour


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(21)
    for i in range(2):
        write_png(folder / f"p{i}.png", rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    return folder


def _pixels(folder):
    """The photos as the model sees them with `--preprocess TO_UNIT`, in file order."""
    paths = sorted(folder.glob("*.png"))
    rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    return {p.name: image.astype("float32") / 255.0 for p, image in zip(paths, rgb)}


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("det") / "detector.keras"
    tiny_detector(size=SIZE).save(path)
    return path


def _rows(out):
    return {r["image"].rsplit("/", 1)[-1]: r for r in read_csv(out)}


def _explain_saved(capsys, tmp_path, model, folder, target, *options):
    """Save `model` as `.keras` and explain `folder` through the CLI with `--target target`;
    returns the reloaded model (what the CLI explained) and the summary rows by file name."""
    model_file, out = tmp_path / f"{model.name}.keras", tmp_path / f"out_{model.name}"
    model.save(model_file)
    result = run_here(capsys, "explain", folder, "--model", model_file, "--out", out,
                      "--target", target, *options, "--preprocess", TO_UNIT)
    assert result.returncode == 0, result.stderr
    return keras.saving.load_model(model_file, compile=False), _rows(out)


def _outline_drawn(picture, box):
    """Whether the left and right edges of `box` (photo pixels) are drawn in yellow."""
    y1, x1, y2, x2 = (int(round(v)) for v in box)
    h, w = picture.shape[:2]
    rows = slice(max(y1, 0) + 2, min(y2, h - 1) - 1)
    left, right = picture[rows, max(min(x1, w - 1), 0)], picture[rows, max(min(x2, w - 1), 0)]
    return bool((left == YELLOW).all() and (right == YELLOW).all())


def _explain_detector(capsys, tmp_path, images, detector_file, *options):
    """`tf-gradcam explain IMAGES` with the detector (pixels scaled to [0, 1]) into
    `tmp_path/out`; returns the reloaded model and the output folder."""
    out = tmp_path / "out"
    result = run_here(capsys, "explain", images, "--model", detector_file, "--out", out,
                      "--preprocess", TO_UNIT, *options)
    assert result.returncode == 0, result.stderr
    return keras.saving.load_model(detector_file, compile=False), out


def _head(outputs):
    """One image's `(anchors, classes)` logits and `(anchors, 4)` relative boxes."""
    return outputs["cls_logits"].numpy()[0], outputs["bbox_regression"].numpy()[0]


def _corners(box, height=SIZE, width=SIZE):
    """A relative `(y1, x1, y2, x2)` box in pixels of a `height` x `width` image, its
    corners in order."""
    y1, y2 = sorted((box[0], box[2]))
    x1, x2 = sorted((box[1], box[3]))
    return [y1 * height, x1 * width, y2 * height, x2 * width]


def test_detection_best_box(capsys, tmp_path, photos, detector_file):
    model, out = _explain_detector(capsys, tmp_path, photos, detector_file,
                                   "--target", "detection:format=rel_yxyx", "--no-caption")
    rows = _rows(out)
    for name, x in _pixels(photos).items():
        logits, boxes = _head(model(x[None]))
        anchor, c = np.unravel_index(logits.argmax(), logits.shape)
        row = rows[name]
        assert row["class_index"] == c and row["error"] == ""
        np.testing.assert_allclose(row["score"], logits[anchor, c], rtol=1e-5)
        np.testing.assert_allclose(row["box"], _corners(boxes[anchor]), atol=0.01)
        picture = cv2.cvtColor(cv2.imread(row["overlay"]), cv2.COLOR_BGR2RGB)
        assert picture.shape[:2] == (SIZE, SIZE) and _outline_drawn(picture, row["box"])
        assert row["heatmap_mean"] > 0


def test_detection_one_anchor_and_a_class(capsys, tmp_path, photos, detector_file):
    model, out = _explain_detector(capsys, tmp_path, photos, detector_file, "--target",
                                   "detection:index=5:format=rel_yxyx", "--class", "2")
    rows = _rows(out)
    for name, x in _pixels(photos).items():
        logits, boxes = _head(model(x[None]))
        assert rows[name]["class_index"] == 2
        np.testing.assert_allclose(rows[name]["score"], logits[5, 2], rtol=1e-5)
        b = boxes[5] * SIZE
        np.testing.assert_allclose(sorted(rows[name]["box"][::2]), sorted(b[::2]), atol=0.01)


def test_detection_box_in_the_photos_own_pixels(capsys, tmp_path, detector_file):
    """A 48x64 photo squashed to 32x32: the box column is the model's box scaled back
    (y by 48/32, x by 64/32), and drawn there on the 48x64 overlay."""
    from tf_gradcam import geometry

    photo = np.random.default_rng(23).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    write_png(tmp_path / "in" / "wide.png", photo)
    model, out = _explain_detector(capsys, tmp_path, tmp_path / "in", detector_file,
                                   "--target", "detection:format=rel_yxyx", "--no-caption")
    seen, _ = geometry.fit(cv2.cvtColor(cv2.imread(str(tmp_path / "in" / "wide.png")),
                                        cv2.COLOR_BGR2RGB), (SIZE, SIZE), "squash")
    logits, boxes = _head(model(seen[None].astype("float32") / 255.0))
    anchor = np.unravel_index(logits.argmax(), logits.shape)[0]
    row = read_csv(out)[0]
    np.testing.assert_allclose(row["box"], _corners(boxes[anchor], 48, 64), atol=0.01)
    picture = cv2.cvtColor(cv2.imread(row["overlay"]), cv2.COLOR_BGR2RGB)
    assert picture.shape[:2] == (48, 64) and _outline_drawn(picture, row["box"])


@pytest.mark.parametrize("method", ["gradcam", "guided-gradcam"])  # one pass; one per rank
def test_detection_top_two_classes(capsys, tmp_path, photos, detector_file, method):
    model, out = _explain_detector(capsys, tmp_path, photos, detector_file, "--target",
                                   "detection:format=rel_yxyx", "--top", "2",
                                   "--method", method)
    rows = read_csv(out)
    for name, x in _pixels(photos).items():
        logits, boxes = _head(model(x[None]))
        best = logits.max(axis=0)  # each class's best anchor
        mine = sorted((r for r in rows if r["image"].endswith(name)), key=lambda r: r["rank"])
        assert [r["class_index"] for r in mine] == list(np.argsort(-best)[:2])
        for r in mine:
            np.testing.assert_allclose(
                r["box"], _corners(boxes[logits[:, r["class_index"]].argmax()]), atol=0.01)


def test_dense_regression_box_mean(capsys, tmp_path, photos):
    model, rows = _explain_saved(capsys, tmp_path, unet(size=SIZE), photos,
                                 "dense-regression:box=2,3,20,24")
    for name, x in _pixels(photos).items():
        depth = model(x[None]).numpy()[0, ..., 0]
        row = rows[name]
        np.testing.assert_allclose(row["score"], depth[2:20, 3:24].mean(), rtol=1e-5)
        assert row["class_index"] == 0 and row["box"] is None and row["probability"] is None
        assert row["overlay"].endswith("_class0_gradcam.png")
        assert cv2.imread(row["overlay"]) is not None


@pytest.mark.parametrize("target, message", [
    ("detector", "unknown target kind 'detector': expected one of classifier"),
    ("detection:size=3", "takes the options index=, box=, iou="),
    ("detection:box=1,2,3", "expects four numbers Y1,X1,Y2,X2"),
    ("detection:index=first", "expects a whole number"),
    ("detection:format=xywh", "one of yxyx, xyxy"),
    ("classifier:index=1", "takes the options none"),
])
def test_malformed_targets_are_usage_errors(capsys, tmp_path, photos, target, message):
    result = run_here(capsys, "explain", photos, "--model", tmp_path / "missing.keras",
                      "--out", tmp_path / "out", "--target", target)
    assert result.returncode == 2
    assert message in result.stderr and f"Received: target='{target}'" in result.stderr


@pytest.mark.parametrize("target, message", [
    ("dense-regression:box=0,0,2.5,4", "four whole numbers"),
    ("dense-regression:box=4,4,2,2", "y2 > y1"),
    ("detection:box=0,0,1,1:index=3", "not both"),
])
def test_targets_refusing_their_options(capsys, tmp_path, photos, detector_file, target,
                                        message):
    result = run_here(capsys, "explain", photos, "--model", detector_file,
                      "--out", tmp_path / "out", "--target", target)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_classes_of_a_regression_target_are_refused(capsys, tmp_path, photos, detector_file):
    result = run_here(capsys, "explain", photos, "--model", detector_file, "--out",
                      tmp_path / "out", "--target", "dense-regression", "--class", "1")
    assert result.returncode == 2
    assert "has no classes; leave out --class 1. Received: target='dense-regression'" in (
        result.stderr)


def test_keras_hub_retinanet_saved_and_explained(capsys, tmp_path, photos):
    pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    from tests import keras_hub_models as hub

    # Its box output holds anchor deltas, not boxes: format=none draws and records none.
    model, rows = _explain_saved(capsys, tmp_path, hub.retinanet(size=SIZE), photos,
                                 "detection:format=none")
    for name, x in _pixels(photos).items():
        logits = model(x[None])["cls_logits"].numpy()[0]
        row = rows[name]
        assert row["class_index"] == logits.max(axis=0).argmax() and row["box"] is None
        np.testing.assert_allclose(row["score"], logits.max(), rtol=1e-4)
        assert row["layer"] == f"{model.backbone.name}/fpn/lateral_conv_P4"


def test_keras_hub_dfine_and_depth_anything_through_the_cli(capsys, tmp_path):
    """D-FINE's `pred_boxes` are relative (cx, cy, w, h): `format=rel_center_xywh` draws them;
    DepthAnything's depth map is explained over a box. One photo each (tracing dominates)."""
    pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    from tests import keras_hub_models as hub

    for name, build, size, target in (
            ("dfine", lambda: hub.dfine(size=64), 64,
             "detection:index=0:format=rel_center_xywh"),
            ("depth", lambda: hub.depth_anything(size=112), 112,
             "dense-regression:box=0,0,56,56")):
        folder = tmp_path / name
        rng = np.random.default_rng(22)
        write_png(folder / "p.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        classes = ["--class", "1"] if name == "dfine" else []
        model, rows = _explain_saved(capsys, tmp_path, build(), folder, target, *classes)
        x = _pixels(folder)["p.png"][None]
        row = rows["p.png"]
        outputs = model(x)
        if name == "dfine":
            np.testing.assert_allclose(row["score"], outputs["logits"][0, 0, 1], rtol=1e-4)
            cx, cy, w, h = outputs["pred_boxes"].numpy()[0, 0] * size
            np.testing.assert_allclose(row["box"], [cy - h / 2, cx - w / 2, cy + h / 2,
                                                    cx + w / 2], atol=0.01)
        else:  # no classes: written as class 0
            depth = outputs["depths"].numpy()[0, :56, :56, 0]
            np.testing.assert_allclose(row["score"], depth.mean(), rtol=1e-4)
            assert row["class_index"] == 0 and row["box"] is None
        assert row["heatmap_mean"] > 0 and cv2.imread(row["overlay"]) is not None
