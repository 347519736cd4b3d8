"""Score-CAM against Algorithm 1 of the paper, computed eagerly in the test."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense


def textbook_scorecam(model, layer, images, classes):
    features = keras.Model(model.input, model.get_layer(layer).output)
    cams = []
    for image, c in zip(images, classes):
        a = features(image[None]).numpy()[0]                                   # (h, w, K)
        weights = []
        for k in range(a.shape[-1]):
            up = tf.image.resize(a[None, :, :, k:k + 1], image.shape[:2], "bilinear")
            up = up.numpy()[0, :, :, 0]
            span = up.max() - up.min()
            mask = (up - up.min()) / span if span > 1e-6 * abs(up).max() else (up > 0) * 1.0
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
