"""Score-CAM against Algorithm 1 of the paper, computed eagerly in the test."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense


def normalised_mask(up):
    """Min-max scaling of one upsampled map; a flat one becomes 0 (or 1 where positive)."""
    span = up.max() - up.min()
    return (up - up.min()) / span if span > 1e-6 * abs(up).max() else (up > 0) * 1.0


def textbook_scorecam(model, layer, images, classes):
    features = keras.Model(model.input, model.get_layer(layer).output)
    cams = []
    for image, c in zip(images, classes):
        a = features(image[None]).numpy()[0]                                   # (h, w, K)
        weights = []
        for k in range(a.shape[-1]):
            up = tf.image.resize(a[None, :, :, k:k + 1], image.shape[:2], "bilinear")
            up = up.numpy()[0, :, :, 0]
            mask = normalised_mask(up)
            probs = model(image[None] * mask[None, :, :, None]).numpy()[0]   # softmax output
            weights.append(probs[c])
        cams.append(np.maximum((a * np.array(weights)).sum(-1), 0))
    return np.stack(cams)


def test_matches_algorithm_1():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(0).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    exp = tfg.ScoreCAM(model, batch_size=4).explain(images, class_index=[0, 1, 2])
    np.testing.assert_allclose(exp.cams, textbook_scorecam(model, "conv", images, [0, 1, 2]),
                               rtol=1e-4, atol=1e-6)


def test_top_k_keeps_the_highest_variance_channels():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(1).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    full = tfg.ScoreCAM(model).explain(images).cams
    all_k = tfg.ScoreCAM(model, top_k=6).explain(images).cams   # 6 = every channel
    np.testing.assert_allclose(all_k, full, rtol=1e-5, atol=1e-7)
    fewer = tfg.ScoreCAM(model, top_k=2, batch_size=3)
    assert fewer(images).shape == (2, 12, 12)
    assert fewer.compute.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"top_k": 0}, {"layer": ["conv"]}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received:"):
        tfg.ScoreCAM(conv_gap_dense(), **kwargs)


def test_memory_budget_sets_the_chunk_and_keeps_algorithm_1():
    model = conv_gap_dense(activation="softmax")
    item = 4 * (4 * 12 * 12 * 3 + 2 * 10 * 10 * 6)  # 4 input copies + 2 x the conv output
    cam = tfg.ScoreCAM(model, max_memory=2 * item)
    assert cam.chunk_size == 2 and tfg.ScoreCAM(model).chunk_size == 64
    images = np.random.default_rng(2).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(cam.explain(images, class_index=[0, 1]).cams,
                               textbook_scorecam(model, "conv", images, [0, 1]),
                               rtol=1e-4, atol=1e-6)


# --- SS-CAM and IS-CAM: the Score-CAM engine with several masked copies per channel ---


def test_sscam_without_noise_and_iscam_with_one_step_are_scorecam():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(2).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    want = tfg.ScoreCAM(model).explain(images, top_k=2).cams
    for cam in (tfg.SSCAM(model, n_samples=3, std=0.0, batch_size=5),
                tfg.ISCAM(model, n_samples=1)):
        np.testing.assert_allclose(cam.explain(images, top_k=2).cams, want, rtol=1e-5,
                                   atol=1e-7)
        assert cam.compute.experimental_get_tracing_count() == 1


def test_iscam_averages_growing_multiples_of_each_mask():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(3).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    exp = tfg.ISCAM(model, n_samples=3, batch_size=7).explain(images, class_index=[1, 2])
    features = keras.Model(model.input, model.get_layer("conv").output)
    for image, c, cam in zip(images, [1, 2], exp.cams):
        a = features(image[None]).numpy()[0]
        weights = []
        for k in range(a.shape[-1]):
            up = tf.image.resize(a[None, :, :, k:k + 1], (12, 12), "bilinear").numpy()[0]
            mask = normalised_mask(up)
            # torch-cam's steps: c_i = 1/3, 1/3 + 2/3, 1/3 + 2/3 + 3/3
            weights.append(np.mean([model(image[None] * step * mask[None]).numpy()[0, c]
                                    for step in (1 / 3, 1.0, 2.0)]))
        np.testing.assert_allclose(cam, np.maximum(a @ np.array(weights), 0), rtol=1e-4,
                                   atol=1e-6)


def test_sscam_averages_masks_with_seeded_noise():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(4).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    cam = tfg.SSCAM(model, n_samples=2, std=0.5, seed=3, batch_size=5)
    exp = cam.explain(images, class_index=[0, 1])
    features = keras.Model(model.input, model.get_layer("conv").output)
    for image, c, got in zip(images, [0, 1], exp.cams):
        a = features(image[None]).numpy()[0]
        weights = []
        for k in range(a.shape[-1]):
            up = tf.image.resize(a[None, :, :, k:k + 1], (12, 12), "bilinear").numpy()[0]
            noisy = [normalised_mask(up) + 0.5 * tf.random.stateless_normal(
                (12, 12, 1), seed=[3, k * 2 + s]).numpy() for s in range(2)]
            weights.append(np.mean([model(image[None] * m[None]).numpy()[0, c]
                                    for m in noisy]))
        np.testing.assert_allclose(got, np.maximum(a @ np.array(weights), 0), rtol=1e-4,
                                   atol=1e-6)
    alone = cam.explain(images[1], class_index=1)  # an image alone gets the same noise
    np.testing.assert_allclose(alone.cams, exp.cams[1], rtol=1e-5, atol=1e-7)
    fresh = tfg.SSCAM(model, n_samples=2, std=0.5, seed=None).explain(images, [0, 1])
    assert np.isfinite(fresh.cams).all() and not np.allclose(fresh.cams, exp.cams, rtol=1e-3)


@pytest.mark.parametrize("cls, kwargs", [
    (tfg.SSCAM, {"n_samples": 0}), (tfg.SSCAM, {"std": -1.0}),
    (tfg.SSCAM, {"std": float("nan")}), (tfg.SSCAM, {"seed": 0.5}),
    (tfg.ISCAM, {"n_samples": 1.5})])
def test_bad_sampling_arguments(cls, kwargs):
    with pytest.raises(ValueError, match="Received:"):
        cls(conv_gap_dense(), **kwargs)
