"""Object detectors: `tfg.targets.Detection` explains one box; the automatic layer feeds
the explained score (never a sibling head) and every pyramid level; shared heads are refused.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.test_core import textbook_gradcam

L = keras.layers
ANCHORS_PER_CELL, CLASSES = 2, 3


def tiny_detector(size=16, seed=0):
    """A backbone and two sibling heads: class logits and boxes per anchor (RetinaNet's
    layout); the box head comes last, so "the last 4D layer" would be the wrong one."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="backbone")(inp)
    cls = L.Conv2D(ANCHORS_PER_CELL * CLASSES, 1, name="cls_head")(x)
    box = L.Conv2D(ANCHORS_PER_CELL * 4, 1, activation="sigmoid", name="box_head")(x)
    outputs = {"cls_logits": L.Reshape((-1, CLASSES), name="cls")(cls),
               "bbox_regression": L.Reshape((-1, 4), name="box")(box)}
    return keras.Model(inp, outputs)


@pytest.fixture(scope="module")
def detector():
    return tiny_detector()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).uniform(0, 1, (2, 16, 16, 3)).astype("float32")


def _reference(model, per_class_score):
    sub = keras.Model(model.input, [model.get_layer("backbone").output, model.output])

    def feature_model(x):
        a, out = sub(x)
        return a, per_class_score(out)
    return feature_model


def test_best_box_matches_the_textbook_and_skips_the_box_head(detector, images):
    cam = tfg.GradCAM(detector, target=tfg.targets.Detection())
    assert cam.layer == "backbone"  # not box_head: the class score does not read it
    exp = cam.explain(images)
    logits = detector(images)["cls_logits"].numpy()
    best = logits.max(axis=1)  # (N, classes): each class's best anchor
    np.testing.assert_array_equal(exp.class_index, best.argmax(axis=1))
    np.testing.assert_allclose(exp.scores, best.max(axis=1), rtol=1e-5)
    want = textbook_gradcam(_reference(detector, lambda out: tf.reduce_max(
        out["cls_logits"], axis=1)), images, exp.class_index)
    np.testing.assert_allclose(exp.cams, want, rtol=1e-4, atol=1e-6)
    assert (exp.cams.max(axis=(1, 2)) > 0).all()


def test_one_anchor_and_an_iou_weighted_box(detector, images):
    exp = tfg.GradCAM(detector, target=tfg.targets.Detection(index=7)).explain(
        images, class_index=1)
    np.testing.assert_allclose(exp.scores, detector(images)["cls_logits"][:, 7, 1],
                               rtol=1e-5)
    boxes = detector(images)["bbox_regression"].numpy()  # sigmoid: boxes in [0, 1]
    box = (0.0, 0.0, 1.0, 1.0)
    target = tfg.targets.Detection(box, iou_threshold=0.0)
    exp = tfg.GradCAM(detector, target=target).explain(images, class_index=2)
    y1, x1 = np.maximum(boxes[..., 0], 0), np.maximum(boxes[..., 1], 0)
    y2, x2 = np.minimum(boxes[..., 2], 1), np.minimum(boxes[..., 3], 1)
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    iou = inter / (area + 1.0 - inter)
    logits = detector(images)["cls_logits"].numpy()
    np.testing.assert_allclose(exp.scores, (iou * logits[..., 2]).sum(axis=1), rtol=1e-4)


def test_no_matching_box_is_an_error_not_a_zero_map(detector, images):
    target = tfg.targets.Detection((100.0, 100.0, 101.0, 101.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no predicted box overlaps"):
        tfg.GradCAM(detector, target=target).explain(images)


@pytest.mark.parametrize("kwargs, message", [
    ({"box": (0, 0, 1, 1), "index": 2}, "not both"),
    ({"box": (1, 1, 0, 0)}, "y2 > y1"),
    ({"index": -1}, "int >= 0"),
    ({"iou_threshold": 2}, r"in \[0, 1\]"),
])
def test_bad_detection_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfg.targets.Detection(**kwargs)


def test_unknown_layout_asks_for_the_keys(images):
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, activation="relu", name="c")(inp)
    model = keras.Model(inp, {"scores": L.Reshape((-1, 2))(L.Conv2D(2, 1)(x)),
                              "xyxy": L.Reshape((-1, 4))(L.Conv2D(4, 1)(x))})
    with pytest.raises(ValueError, match=r"Pass `logits=`.*Received: logits=None"):
        tfg.GradCAM(model, target=tfg.targets.Detection())
    cam = tfg.GradCAM(model, target=tfg.targets.Detection(logits="scores", boxes="xyxy"))
    assert cam.layer == "c" and cam.explain(images).cams.shape == (2, 14, 14)


def test_draw_box_draws_only_the_outline():
    image = np.zeros((10, 10, 3), np.uint8)
    drawn = tfg.targets.draw_box(image, (2, 3, 7, 8), color=(255, 0, 0), width=1)
    assert image.max() == 0 and drawn.dtype == np.uint8  # the input is not modified
    assert (drawn[2, 3:9, 0] == 255).all() and (drawn[7, 3:9, 0] == 255).all()
    assert (drawn[2:8, 3, 0] == 255).all() and drawn[4, 5].max() == 0


def test_keras_hub_retinanet():
    from tests import keras_hub_models as hub

    pytest.importorskip("keras_hub")
    model = hub.retinanet(size=64)
    cam = tfg.GradCAM(model, target=tfg.targets.Detection())
    # Feeds every pyramid level (the heads are shared by P3 and P4), not the box head.
    assert "box_head" not in cam.layer and "fpn" in cam.layer
    x = np.random.default_rng(4).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    exp = cam.explain(x)
    logits = model(x)["cls_logits"].numpy()
    np.testing.assert_allclose(exp.scores, logits.max(axis=(1, 2)), rtol=1e-4)
    assert np.isfinite(exp.heatmaps).all() and (exp.cams.max(axis=(1, 2)) > 0).all()
    with pytest.raises(ValueError, match=r"called 2 times in one forward pass.*Explain a "
                                         r"layer called once"):
        tfg.GradCAM(model, target=tfg.targets.Detection(), layer="classification_head")


def test_keras_hub_dfine_backbone_feature_maps():
    from tests import keras_hub_models as hub

    pytest.importorskip("keras_hub")
    model = hub.dfine(size=64)
    infos = tfg.list_layers(model)
    assert any(i.is_spatial and "hg_net_v2_backbone" in i.path for i in infos)
    cam = tfg.GradCAM(model, target=tfg.targets.Detection(index=0))
    assert cam.graph.targets[0].is_spatial
    x = np.random.default_rng(5).uniform(0, 1, (1, 64, 64, 3)).astype("float32")
    exp = cam.explain(x, class_index=1)
    np.testing.assert_allclose(exp.scores, model(x)["logits"][:, 0, 1], rtol=1e-4)
    assert np.isfinite(exp.heatmaps).all()
