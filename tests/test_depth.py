"""Dense regression (depth): `tfg.targets.DenseRegression` explains the mean of a map over
a box or mask, on a small U-Net and on KerasHub's DepthAnything."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.test_core import textbook_gradcam

L = keras.layers


def unet(size=16, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    skip = L.Conv2D(4, 3, padding="same", activation="relu", name="enc")(inp)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="bottleneck")(skip)
    x = L.Concatenate()([L.UpSampling2D(name="up")(x), skip])
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="dec")(x)
    return keras.Model(inp, L.Conv2D(1, 1, name="depth")(x))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(6).uniform(0, 1, (2, 16, 16, 3)).astype("float32")


def test_unet_box_mean_matches_the_textbook(images):
    model = unet()
    box = (2, 3, 9, 12)
    cam = tfg.GradCAM(model, target=tfg.targets.DenseRegression(box=box))
    assert cam.layer == "dec"  # not the one-channel depth map itself
    exp = cam.explain(images)
    depth = model(images).numpy()[..., 0]
    np.testing.assert_allclose(exp.scores, depth[:, 2:9, 3:12].mean(axis=(1, 2)), rtol=1e-5)
    sub = keras.Model(model.input, [model.get_layer("dec").output, model.output])

    def feature_model(x):
        a, out = sub(x)
        return a, tf.reduce_mean(out[:, 2:9, 3:12, 0], axis=[1, 2])[:, None]
    want = textbook_gradcam(feature_model, images, [0, 0])
    np.testing.assert_allclose(exp.cams, want, rtol=1e-4, atol=1e-6)
    assert exp.cams.max() > 0


def test_mask_weights_and_whole_map(images):
    model = unet()
    cam = tfg.GradCAM(model, target=tfg.targets.DenseRegression())
    depth = model(images).numpy()[..., 0]
    np.testing.assert_allclose(cam.explain(images).scores, depth.mean(axis=(1, 2)), rtol=1e-5)
    mask = np.zeros((16, 16), np.float32)
    mask[:4, :4] = 1.0
    np.testing.assert_allclose(cam.explain(images, mask=mask).scores,
                               depth[:, :4, :4].mean(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"box": (5, 5, 2, 2)}, "y2 > y1"), ({"channel": -1}, "int >= 0")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfg.targets.DenseRegression(**kwargs)


def test_box_outside_the_map_and_vector_outputs_are_refused():
    with pytest.raises(ValueError, match="lies outside the 16x16 output"):
        tfg.GradCAM(unet(), target=tfg.targets.DenseRegression(box=(0, 0, 20, 20)))
    inp = keras.Input((8, 8, 3))
    vector = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(2, 3)(inp))))
    with pytest.raises(ValueError, match="Use `tfg.targets.Regression"):
        tfg.GradCAM(vector, target=tfg.targets.DenseRegression())


def _depth_anything_by_hand(model, x):
    """DepthAnything's forward pass from its own sub-layers: the backbone's graph up to the
    neck, then KerasHub's `DepthAnythingDepthEstimationHead.call` written out, then the
    estimator's output layers. `(A, depths)` with A the head's `activation1` output."""
    from keras_hub.src.models.depth_anything.depth_anything_layers import interpolate

    backbone = model.backbone
    neck = keras.Model(backbone.input, backbone.get_layer("neck").output)
    head = backbone.get_layer("head")
    y = neck(x)[head.head_in_index]
    y = head.conv1(head.padding1(y))
    y = interpolate(y, size=head.interpolate_size, data_format=head.data_format)
    a = head.activation1(head.conv2(head.padding2(y)))
    depth = head.conv3(a)
    for name in ("output_activation", "multiplier", "depths"):
        depth = model.get_layer(name)(depth)
    return a, depth


def test_keras_hub_depth_anything_matches_a_hand_written_tape():
    pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    from tests import keras_hub_models as hub

    model = hub.depth_anything(size=112)  # compiled on construction (DepthAnythingLoss)
    assert len(tfg.list_layers(model)) > 0
    cam = tfg.GradCAM(model, target=tfg.targets.DenseRegression(box=(0, 0, 56, 56)))
    assert cam.layer == f"{model.backbone.name}/head/activation1"  # inside a custom layer
    x = np.random.default_rng(7).uniform(0, 1, (1, 112, 112, 3)).astype("float32")
    exp = cam.explain(x)
    depth = model(x)["depths"].numpy()[..., 0]
    np.testing.assert_allclose(_depth_anything_by_hand(model, x)[1][..., 0], depth,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exp.scores, depth[:, :56, :56].mean(axis=(1, 2)), rtol=1e-4)
    want = hub.tape_gradcam(lambda t: _depth_anything_by_hand(model, t), x,
                            lambda d, i: tf.reduce_mean(d[0, :56, :56, 0]))
    assert want.shape == exp.cams.shape == (1, 112, 112) and want.max() > 0
    assert hub.pearson(exp.cams, want) >= 0.999
    np.testing.assert_allclose(exp.cams, want, rtol=1e-3, atol=1e-4 * want.max())
    assert np.isfinite(exp.heatmaps).all()
