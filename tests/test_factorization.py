"""Deep Feature Factorization (`tf_gradcam.factorization`) recovers a hand-built activation tensor made of known parts."""

import keras
import numpy as np
import pytest

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense

layers = keras.layers

# Two concepts in a 4-channel feature space, each on its own half of an 8 x 8 map.
CONCEPTS = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 1.0]], np.float32)


def identity_model(channels=4, classes=3):
    """The 'images' are the activations: input -> linear 'feat' -> GAP -> Dense 'head'."""
    keras.utils.set_random_seed(10)
    inp = keras.Input((8, 8, channels))
    x = layers.Activation("linear", name="feat")(inp)
    out = layers.Dense(classes, name="head")(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def known_parts(n=3, seed=0):
    """Activations `(n, 8, 8, 4)`: concept 0 on the left half, concept 1 on the right, with
    random non-negative strengths; and the strengths `(n, 2, 8, 8)`."""
    rng = np.random.default_rng(seed)
    strength = np.zeros((n, 2, 8, 8), np.float32)
    strength[:, 0, :, :4] = rng.uniform(0.5, 2.0, (n, 8, 4))
    strength[:, 1, :, 4:] = rng.uniform(0.5, 2.0, (n, 8, 4))
    return np.einsum("nkhw,kc->nhwc", strength, CONCEPTS), strength


def _match(found, truth):
    """Index of the found concept most parallel to each true one, and the cosines."""
    cos = (truth @ found.T) / np.outer(np.linalg.norm(truth, axis=1),
                                       np.linalg.norm(found, axis=1))
    return cos.argmax(axis=1), cos.max(axis=1)


def test_recovers_known_concepts_maps_and_class_scores():
    model = identity_model()
    activations, strength = known_parts()
    found = tfg.DeepFeatureFactorization(model, layer="feat", n_components=2, top=2)(
        activations)
    assert found.relative_error < 1e-3 and found.layer == "feat"
    order, cosines = _match(found.concepts, CONCEPTS)
    assert sorted(order) == [0, 1] and cosines.min() > 0.999
    for k, j in enumerate(order):  # map j is concept k's strength, up to one scale
        scale = found.maps[:, j].sum() / strength[:, k].sum()
        np.testing.assert_allclose(found.maps[:, j], scale * strength[:, k], atol=1e-3)
    kernel, bias = (w.numpy() for w in model.get_layer("head").weights)
    np.testing.assert_allclose(found.class_scores, found.concepts @ kernel + bias, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(found.top_classes,
                                  np.argsort(-found.class_scores, axis=1)[:, :2])
    assert found.heatmaps.shape == (3, 2, 8, 8) and found.heatmaps.max() <= 1.0


def test_negative_activations_are_shifted_and_shifted_back():
    model = identity_model()
    activations, _ = known_parts()
    offset = np.array([0.0, -1.0, 0.0, -0.5], np.float32)  # each channel's minimum
    found = tfg.dff(model, activations + offset, n_components=2, layer="feat")
    assert found.relative_error < 1e-3
    _, cosines = _match(found.concepts - offset, CONCEPTS)
    assert cosines.min() > 0.999


def test_show_factorization_colours_each_pixel_by_its_strongest_concept():
    image = np.full((4, 4, 3), 100, np.uint8)
    heat = np.zeros((2, 4, 4), np.float32)
    heat[0, :, :2], heat[1, :, 2:] = 1.0, 0.5
    picture = tfg.show_factorization(image, heat, alpha=0.5, colormap="hsv")
    lut = tfg.colormap_lut("hsv").astype(np.float32)
    left = np.round(0.5 * 100 + 0.5 * lut[0])           # concept 0: colour 0, full strength
    right = np.round(0.5 * 100 + 0.5 * 0.5 * lut[128])  # concept 1: colour 128, half
    np.testing.assert_array_equal(picture[:, :2], np.broadcast_to(left, (4, 2, 3)))
    np.testing.assert_array_equal(picture[:, 2:], np.broadcast_to(right, (4, 2, 3)))
    np.testing.assert_array_equal(image, 100)  # the input is not modified
    with pytest.raises(ValueError, match="Received: heatmaps.shape"):
        tfg.show_factorization(image, heat[:, :2])


def test_concept_labels_name_the_best_classes():
    found = tfg.dff(identity_model(), known_parts()[0], n_components=2, layer="feat",
                    top=2)
    labels = tfg.concept_labels(found, ["cat", "dog", "car"])
    assert len(labels) == 2 and all(line.count(",") == 1 for line in labels)
    best = ["cat", "dog", "car"][found.top_classes[0, 0]]
    assert labels[0].startswith(best + " ")


@pytest.mark.parametrize("kwargs", [{"n_components": 0}, {"top": 0}, {"layer": ["conv"]},
                                    {"layer": "gap"}, {"max_iter": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received:"):
        tfg.DeepFeatureFactorization(conv_gap_dense(), **kwargs)


def test_too_few_positions():
    cam = tfg.DeepFeatureFactorization(identity_model(), layer="feat", n_components=65)
    with pytest.raises(ValueError, match="positions cannot be factorised"):
        cam(known_parts(1)[0])
