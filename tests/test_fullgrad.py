"""FullGrad against its formula written out by hand: the network's ops spelled out with
the model's own weights, gradients from `tf.GradientTape`, the rescale in NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg

L = keras.layers


def bias_model():
    """Conv(relu, fused) -> BatchNorm -> Conv -> ReLU -> GAP -> Dense."""
    keras.utils.set_random_seed(11)
    inp = keras.Input((8, 8, 2))
    x = L.Conv2D(3, 3, activation="relu", name="c1")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU()(L.Conv2D(2, 1, name="c2")(x))
    model = keras.Model(inp, L.Dense(3, name="head")(L.GlobalAveragePooling2D()(x)))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(0.2, 0.5, w.shape).astype("float32")
                           for w in layer.get_weights()])
    bn = model.get_layer("bn")  # positive moving variance
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 3).astype("float32"))
    return model


def psi(values, per_channel):
    axes = (1, 2) if per_channel else (1, 2, 3)
    values = values - values.min(axis=axes, keepdims=True)
    return values / (values.max(axis=axes, keepdims=True) + 1e-6)


def by_hand(model, images, c, per_channel):
    w1, b1 = [v.numpy() for v in model.get_layer("c1").weights]
    gamma, beta, mean, var = [v.numpy() for v in model.get_layer("bn").weights]
    eps = model.get_layer("bn").epsilon
    w2, b2 = [v.numpy() for v in model.get_layer("c2").weights]
    wd, bd = [v.numpy() for v in model.get_layer("head").weights]
    x = tf.constant(images)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        z1 = tf.nn.conv2d(x, w1, 1, "VALID") + b1
        z_bn = (tf.nn.relu(z1) - mean) / np.sqrt(var + eps) * gamma + beta
        z2 = tf.nn.conv2d(z_bn, w2, 1, "VALID") + b2
        score = tf.reduce_sum((tf.reduce_mean(tf.nn.relu(z2), axis=[1, 2]) @ wd + bd)[:, c])
    bn_bias = beta - mean * gamma / np.sqrt(var + eps)
    total = psi(np.abs(tape.gradient(score, x).numpy() * images), per_channel).sum(-1)
    for z, b in ((z1, b1), (z_bn, bn_bias), (z2, b2)):
        part = psi(np.abs(tape.gradient(score, z).numpy() * b), per_channel).sum(-1)
        total += tf.image.resize(part[..., None], (8, 8), method="bilinear").numpy()[..., 0]
    return total


@pytest.mark.parametrize("normalize", ["image", "channel"])
def test_fullgrad_is_input_and_bias_gradients_rescaled_and_summed(normalize):
    model = bias_model()
    images = np.random.default_rng(1).normal(0, 1, (2, 8, 8, 2)).astype("float32")
    cam = tfg.FullGrad(model, normalize=normalize)
    assert cam.layer == ["c1", "bn", "c2"]
    exp = cam.explain(images, class_index=[2, 0])
    for i, c in enumerate([2, 0]):
        want = by_hand(model, images[i:i + 1], c, normalize == "channel")[0]
        np.testing.assert_allclose(exp.cams[i], want, rtol=1e-4, atol=1e-5)
        low, high = want.min(), want.max()
        np.testing.assert_allclose(exp.heatmaps[i], (want - low) / (high - low), atol=1e-4)
    several = cam.explain(images, top_k=2)
    np.testing.assert_allclose(several.cams[:, 0], cam.explain(images).cams, rtol=1e-4,
                               atol=1e-6)
    assert cam.compute.experimental_get_tracing_count() == 2  # one class / several


def test_fullgrad_refuses_a_layer_and_unsupported_models():
    model = bias_model()
    with pytest.raises(ValueError, match="Received: layer='c1'"):
        tfg.FullGrad(model, layer="c1")
    with pytest.raises(ValueError, match="Received: normalize='pixel'"):
        tfg.FullGrad(model, normalize="pixel")
    inp = keras.Input((6, 6, 1))
    dense_only = keras.Model(inp, L.Dense(2)(L.Flatten()(L.Conv2D(2, 3, use_bias=False)(inp))))
    with pytest.raises(ValueError, match="this model has none"):
        tfg.FullGrad(dense_only)
