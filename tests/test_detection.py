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


@pytest.fixture(scope="module")
def retinanet():
    pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    from tests import keras_hub_models as hub

    return hub.retinanet(size=64)


def _retinanet_by_hand(model, x):
    """RetinaNet's forward pass from its own sub-layers (KerasHub's `FeaturePyramid.call` and
    `RetinaNetObjectDetector` written out for P3/P4): `(A, cls_logits)` with A the lateral
    P4 convolution, which feeds P4 and, upsampled, P3."""
    fpn = model.backbone.get_layer("fpn")
    features = model.backbone.get_layer("backbone")([x])  # {"P3", "P4"} of the ResNet
    a = fpn.lateral_conv_layers["P4"](features["P4"])
    p3 = fpn.merge_op([fpn.lateral_conv_layers["P3"](features["P3"]), fpn.top_down_op(a)])
    levels = [fpn.output_conv_layers["P3"](p3), fpn.output_conv_layers["P4"](a)]
    head = model.get_layer("classification_head")
    logits = [tf.reshape(head(p), [tf.shape(x)[0], -1, model.num_classes]) for p in levels]
    return a, tf.concat(logits, axis=1)


def test_keras_hub_retinanet_matches_a_hand_written_tape(retinanet):
    from tests import keras_hub_models as hub

    model = retinanet
    cam = tfg.GradCAM(model, target=tfg.targets.Detection())
    # Feeds every pyramid level (the heads are shared by P3 and P4), not the box head.
    # (Keras numbers a second model built in one process: `retina_net_backbone_1`.)
    assert cam.layer == f"{model.backbone.name}/fpn/lateral_conv_P4"
    x = np.random.default_rng(4).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    exp = cam.explain(x)
    logits = model(x)["cls_logits"].numpy()
    np.testing.assert_allclose(_retinanet_by_hand(model, x)[1], logits, rtol=1e-4, atol=1e-5)
    flat = logits.reshape(2, -1).argmax(axis=1)  # the best (anchor, class) of each image
    anchor, cls = np.unravel_index(flat, logits.shape[1:])
    np.testing.assert_array_equal(exp.class_index, cls)
    np.testing.assert_allclose(exp.scores, logits[[0, 1], anchor, cls], rtol=1e-4)
    want = hub.tape_gradcam(lambda t: _retinanet_by_hand(model, t), x,
                            lambda out, i: out[0, anchor[i], cls[i]])
    assert exp.cams.shape == want.shape == (2, 4, 4) and want.max() > 0
    assert hub.pearson(exp.cams, want) >= 0.999
    np.testing.assert_allclose(exp.cams, want, rtol=1e-3, atol=1e-4 * want.max())
    with pytest.raises(ValueError, match=r"called 2 times in one forward pass.*Explain a "
                                         r"layer called once"):
        tfg.GradCAM(model, target=tfg.targets.Detection(), layer="classification_head")


def test_keras_hub_dfine_matches_a_hand_written_tape():
    pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    from tests import keras_hub_models as hub

    model = hub.dfine(size=64)
    infos = tfg.list_layers(model)
    assert any(i.is_spatial and "hg_net_v2_backbone" in i.path for i in infos)
    cam = tfg.GradCAM(model, target=tfg.targets.Detection(index=0))
    # The encoder's input projection of the last HGNetV2 stage: a graph node of the
    # D-FINE backbone (a 2x2 map at 64x64 input, stride 32).
    assert cam.layer == f"{model.backbone.name}/encoder_input_proj_bn_1"
    x = np.random.default_rng(5).uniform(0, 1, (1, 64, 64, 3)).astype("float32")
    exp = cam.explain(x, class_index=1)
    np.testing.assert_allclose(exp.scores, model(x)["logits"][:, 0, 1], rtol=1e-4)
    # The reference: the D-FINE backbone's own functional graph, cut at that layer; the
    # detector's "logits" are the last decoder layer's `intermediate_logits`.
    backbone = model.backbone
    sub = keras.Model(backbone.inputs, [backbone.get_layer("encoder_input_proj_bn_1").output,
                                        backbone.output["intermediate_logits"]])
    want = hub.tape_gradcam(sub, x, lambda logits, i: logits[0, -1, 0, 1])
    assert want.shape == exp.cams.shape and want.max() > 0
    assert hub.pearson(exp.cams, want) >= 0.999
    np.testing.assert_allclose(exp.cams, want, rtol=1e-3, atol=1e-4 * want.max())
    assert np.isfinite(exp.heatmaps).all()
