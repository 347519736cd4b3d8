"""Smooth Grad-CAM++ against the paper's averaged derivatives, written out with a tape."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense

layers = keras.layers


def two_conv_model():
    """'conv1' -> 'conv2' (relu) -> GAP -> Dense: the gradient at 'conv1' depends on x."""
    keras.utils.set_random_seed(6)
    inp = keras.Input((12, 12, 3))
    a = layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    b = layers.Conv2D(5, 3, activation="relu", name="conv2")(a)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D()(b))
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(8).uniform(0, 1, (2, 12, 12, 3)).astype("float32")


def test_matches_averaged_derivatives_by_hand(images):
    model, s, std, classes = two_conv_model(), 3, 0.2, [0, 2]
    cam = tfg.SmoothGradCAMPlusPlus(model, layer="conv1", n_samples=s, std=std, seed=5)
    exp = cam.explain(images, class_index=classes)
    features = keras.Model(model.input, model.get_layer("conv1").output)
    rest = keras.Model(model.get_layer("conv1").output, model.output)
    noise = std * tf.random.stateless_normal((s, 12, 12, 3), seed=[5, 0]).numpy()
    noisy = np.repeat(images, s, axis=0) + np.tile(noise, (len(images), 1, 1, 1))
    for i, c in enumerate(classes):
        g = []
        for copy in noisy[i * s:(i + 1) * s]:
            a = tf.constant(features(copy[None]))
            with tf.GradientTape() as tape:
                tape.watch(a)
                score = rest(a)[0, c]
            g.append(tape.gradient(score, a).numpy()[0])
        g = np.stack(g)
        d1, d2, d3 = g.mean(0), (g ** 2).mean(0), (g ** 3).mean(0)
        clean = features(images[i:i + 1]).numpy()[0]           # activations of the clean image
        denominator = 2 * d2 + clean.sum((0, 1)) * d3
        alpha = np.where(denominator != 0, d2 / np.where(denominator != 0, denominator, 1), 0)
        weights = (alpha * np.maximum(d1, 0)).sum((0, 1))
        np.testing.assert_allclose(exp.cams[i], np.maximum(clean @ weights, 0), rtol=1e-4,
                                   atol=1e-7)
    again = cam.explain(images[1], class_index=2)  # the seed fixes the noise, batch or not
    np.testing.assert_allclose(again.cams, exp.cams[1], rtol=1e-5, atol=1e-7)
    fresh = tfg.SmoothGradCAMPlusPlus(model, layer="conv1", n_samples=s, std=std, seed=None)
    assert not np.allclose(fresh.explain(images, classes).cams, exp.cams, rtol=1e-3)


def test_no_noise_is_gradcam_plus_plus(images):
    model = two_conv_model()
    want = tfg.GradCAMPlusPlus(model, layer="conv1").explain(images, top_k=2)
    got = tfg.SmoothGradCAMPlusPlus(model, layer="conv1", std=0.0).explain(images, top_k=2)
    np.testing.assert_allclose(got.cams, want.cams, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.heatmaps, want.heatmaps, atol=1e-5)


def test_constant_gradients_leave_the_clean_map(images):
    # After 'conv' the model is linear (GAP -> Dense): every noisy copy has the same
    # gradient, so only the activations (the clean image's) shape the map.
    model = conv_gap_dense()
    want = tfg.GradCAMPlusPlus(model).explain(images, class_index=1).cams
    got = tfg.SmoothGradCAMPlusPlus(model, n_samples=5, std=1.0).explain(images, 1).cams
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


def test_noise_changes_the_map_and_traces_once(images):
    model = two_conv_model()
    cam = tfg.SmoothGradCAMPlusPlus(model, layer="conv1", std=0.5)
    plain = tfg.GradCAMPlusPlus(model, layer="conv1").explain(images).cams
    assert not np.allclose(cam.explain(images).cams, plain, rtol=1e-3)
    cam(images[:1])
    assert cam.compute.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"std": -0.1}, {"seed": 1.5},
                                    {"seed": True}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received:"):
        tfg.SmoothGradCAMPlusPlus(conv_gap_dense(), **kwargs)
