"""Finer-CAM, ShapleyCAM, Grad-CAM++'s `eps` and the element-wise / eigen variants, each
against its formula written out by hand with `tf.GradientTape` on a tiny model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense

L = keras.layers


def features_and_logits(model, layer="conv"):
    return keras.Model(model.input, [model.get_layer(layer).output, model.output])


def tape_gradcam(model, images, score_fn, layer="conv"):
    """`(A, g)` per image with `g = d score_fn(logits, A) / dA`, eagerly."""
    split = features_and_logits(model, layer)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        a, logits = split(x)
        score = score_fn(logits)
    return a.numpy(), tape.gradient(score, a).numpy()


def gradcam_of(a, g):
    return np.maximum((g.mean(axis=(1, 2), keepdims=True) * a).sum(-1), 0.0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).uniform(0, 1, (3, 12, 12, 3)).astype("float32")


def test_finercam_explains_the_weighted_difference_to_the_closest_classes(images):
    model = conv_gap_dense(classes=6, seed=3)
    logits = model(images).numpy()
    cam = tfg.FinerCAM(model, alpha=0.7, comparisons=2)
    exp = cam.explain(images, class_index=[0, 4, 5])
    chosen = [0, 4, 5]
    similar = []
    for row, c in zip(logits, chosen):  # the 2 classes whose logits are closest to y_c
        order = [j for j in np.argsort(np.abs(row - row[c])) if j != c]
        similar.append(order[:2])

    def finer(y):  # sum_s p_s (y_c - alpha y_s) / (sum_s p_s + 1e-9), p = softmax(y)
        p = tf.nn.softmax(y)
        total = 0.0
        for i, (c, s) in enumerate(zip(chosen, similar)):
            w = tf.gather(p[i], s)
            total += tf.reduce_sum(w * (y[i, c] - 0.7 * tf.gather(y[i], s))) / (
                tf.reduce_sum(w) + 1e-9)
        return total

    a, g = tape_gradcam(model, images, finer)
    np.testing.assert_allclose(exp.cams, gradcam_of(a, g), rtol=1e-4, atol=1e-7)
    assert cam.compute.experimental_get_tracing_count() == 1
    # alpha = 0 is Grad-CAM; top-1 compares with the next-highest logits
    np.testing.assert_allclose(tfg.FinerCAM(model, alpha=0.0).explain(images).cams,
                               tfg.GradCAM(model).explain(images).cams, rtol=1e-4, atol=1e-7)
    assert tfg.FinerCAM(model).explain(images, top_k=2).cams.shape == (3, 2, 10, 10)


def test_finercam_needs_a_multiclass_classifier():
    with pytest.raises(ValueError, match="Received: target=Binary"):
        tfg.FinerCAM(conv_gap_dense(classes=1))
    with pytest.raises(ValueError, match="Received: alpha="):
        tfg.FinerCAM(conv_gap_dense(), alpha="a")


def curved_model():
    """Conv(relu) -> GAP -> Dense(tanh) -> Dense: the logits are curved in A."""
    keras.utils.set_random_seed(4)
    inp = keras.Input((10, 10, 3))
    x = L.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = L.Dense(5, activation="tanh", name="hidden")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, L.Dense(3, name="head")(x))


@pytest.mark.parametrize("score", ["logit", "rest"])
def test_shapleycam_is_gradcam_of_the_gradient_minus_half_the_hessian_product(score):
    model = curved_model()
    images = np.random.default_rng(6).uniform(0, 1, (2, 10, 10, 3)).astype("float32")
    exp = tfg.ShapleyCAM(model, score=score).explain(images, class_index=[1, 2])
    split = features_and_logits(model)
    for i, c in enumerate([1, 2]):
        x = tf.constant(images[i:i + 1])
        a = split(x)[0]
        head = keras.Model(model.get_layer("conv").output, model.output)
        with tf.GradientTape() as outer:
            outer.watch(a)
            with tf.GradientTape() as inner:
                inner.watch(a)
                y = head(a)
                s = y[0, c] if score == "logit" else 2 * y[0, c] - tf.reduce_logsumexp(y[0])
            g = inner.gradient(s, a)
            gv = tf.reduce_sum(g * tf.stop_gradient(a))
        hv = outer.gradient(gv, a)  # H A, the Hessian-vector product
        assert np.abs(hv.numpy()).max() > 1e-4 * np.abs(g.numpy()).max()  # not vanishing
        want = gradcam_of(a.numpy(), (g - 0.5 * hv).numpy())[0]
        np.testing.assert_allclose(exp.cams[i], want, rtol=1e-4, atol=1e-7)


def test_shapleycam_equals_gradcam_where_the_score_is_linear_in_a(images):
    model = conv_gap_dense()  # ReLU conv -> GAP -> Dense: the logit is linear in A
    np.testing.assert_allclose(tfg.ShapleyCAM(model).explain(images).cams,
                               tfg.GradCAM(model).explain(images).cams, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="at most 1 class"):
        tfg.ShapleyCAM(model).explain(images, top_k=2)


def test_gradcam_plus_plus_eps_is_pytorch_grad_cams_denominator(images):
    model = conv_gap_dense(classes=4)
    a, g = tape_gradcam(model, images, lambda y: tf.reduce_sum(y[:, 2]))
    for eps in (0.0, 1e-6, 1e-2):
        cams = tfg.GradCAMPlusPlus(model, eps=eps).explain(images, class_index=2).cams
        g2, g3 = g ** 2, g ** 3
        denominator = 2 * g2 + a.sum(axis=(1, 2), keepdims=True) * g3 + eps
        alpha = np.where(g != 0, g2 / np.where(denominator == 0, 1, denominator), 0)
        w = (alpha * np.maximum(g, 0)).sum(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(cams, np.maximum((w * a).sum(-1), 0), rtol=1e-4,
                                   atol=1e-8)
    with pytest.raises(ValueError, match="Received: eps=-1"):
        tfg.GradCAMPlusPlus(model, eps=-1)


def test_elementwise_and_eigengradcam_by_hand(images):
    model = conv_gap_dense(classes=4)
    a, g = tape_gradcam(model, images, lambda y: tf.reduce_sum(y[:, 1]))
    elementwise = tfg.GradCAMElementWise(model).explain(images, class_index=1).cams
    np.testing.assert_allclose(elementwise, np.maximum(g * a, 0).sum(-1), rtol=1e-5,
                               atol=1e-8)
    for center in (False, True):
        eigen = tfg.EigenGradCAM(model, center=center).explain(images, class_index=1).cams
        for cam, w in zip(eigen, g * a):
            flat = w.reshape(-1, w.shape[-1])
            basis = flat - flat.mean(0) if center else flat
            projection = basis @ np.linalg.svd(basis, full_matrices=False)[2][0]
            projection *= np.sign(projection @ flat.sum(-1)) or 1.0
            np.testing.assert_allclose(cam.ravel(), np.maximum(projection, 0), rtol=1e-3,
                                       atol=1e-6 * np.abs(projection).max())


def test_segeigencam_by_hand(images):
    model = conv_gap_dense(classes=4)
    a, g = tape_gradcam(model, images, lambda y: tf.reduce_sum(y[:, 3]))
    cams = tfg.SegEigenCAM(model).explain(images, class_index=3).cams
    for cam, w in zip(cams, np.abs(g) * a):  # Eq. 10: |g| * A
        flat = w.reshape(-1, w.shape[-1])
        flat = flat - flat.mean(0)  # centred, as pytorch-grad-cam's code
        projection = flat @ np.linalg.svd(flat, full_matrices=False)[2][0]
        if abs(projection.min()) > abs(projection.max()):  # Eq. 13
            projection = -projection
        np.testing.assert_allclose(cam.ravel(), np.maximum(projection, 0), rtol=1e-3,
                                   atol=1e-6 * np.abs(projection).max())


@pytest.mark.parametrize("name", ["segeigencam", "gradcam-elementwise", "eigengradcam", "finercam",
                                  "shapleycam", "fullgrad", "kpcacam", "fem"])
def test_new_methods_export_and_serve_the_same_maps(name, images, tmp_path):
    model = conv_gap_dense(classes=4)
    cam = tfg.METHODS[name](model)
    loaded = tf.saved_model.load(str(tfg.export_saved_model(cam, tmp_path / name)))
    served = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(served["heatmaps"].numpy(), cam.explain(images).heatmaps,
                               atol=1e-5)
