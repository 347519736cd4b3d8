"""Metrics through real explainers: Keras models, their class semantics, a copy for the
randomisation check (tf_gradcam.metrics with tf_gradcam.core)."""

import keras
import numpy as np
import pytest

import tf_gradcam as tfg
from tf_gradcam import demo, metrics, synthetic

layers = keras.layers


def region_model(activation="softmax"):
    """16x16 gray images; the classes depend on the top-left 8x8 block only."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1))
    x = layers.Cropping2D(((0, 8), (0, 8)), name="crop")(inp)
    x = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(2, activation=activation, name="head")(x))


@pytest.fixture(scope="module")
def shapes():
    return keras.saving.load_model(demo.MODEL_PATH, compile=False)


@pytest.mark.parametrize("activation", ["softmax", None])
def test_a_map_covering_the_region_keeps_everything(activation):
    model = region_model(activation)
    images = np.random.default_rng(0).uniform(0.2, 1, (3, 16, 16, 1)).astype(np.float32)
    cam = tfg.GradCAM(model, layer="conv")
    exp = cam.explain(images)
    cover = np.zeros((3, 16, 16), np.float32)
    cover[:, :8, :8] = 1.0
    result = metrics.average_drop(cam, images, cover, class_index=exp.class_index,
                                  return_per_image=True)
    np.testing.assert_allclose(result.per_image, 0.0, atol=1e-4)
    # The probability the metric scores is the explainer's own (softmax of the logits when
    # the model ends without one).
    y, _ = metrics.confidence.confidence_change(cam, images, cover, class_index=exp.class_index)
    probabilities = keras.ops.convert_to_numpy(model(images))
    if activation is None:
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(probabilities))
    np.testing.assert_allclose(y, probabilities[np.arange(3), exp.class_index], rtol=1e-5)
    # Deleting the region (a quarter of the pixels, first) leaves the score of a black block
    # from the second of four steps on; deleting elsewhere first changes nothing until then.
    black = keras.ops.convert_to_numpy(model(np.zeros((1, 16, 16, 1), np.float32)))
    if activation is None:
        black = keras.ops.convert_to_numpy(keras.ops.softmax(black))
    good = metrics.deletion(cam, images, cover, class_index=exp.class_index, steps=4,
                            return_per_image=True)
    np.testing.assert_allclose(good.curves[:, 1:], black[0, exp.class_index][:, None] *
                               np.ones((1, 4)), rtol=1e-4)
    bad = metrics.deletion(cam, images, 1 - cover, class_index=exp.class_index, steps=4,
                           return_per_image=True)
    np.testing.assert_allclose(bad.curves[:, :4], y[:, None] * np.ones((1, 4)), rtol=1e-4)


def test_explanations_of_the_shapes_model(shapes):
    scenes = synthetic.make_scenes(12, seed=7, both=True)
    cam = tfg.GradCAM(shapes)
    exp = cam.explain(scenes.images, class_index=0)       # the squares
    assert metrics.pointing_game(exp, scenes.boxes[:, 0], tolerance=15) >= 0.75
    # The other object's box is the wrong answer; Grad-CAM points at it less often.
    assert (metrics.pointing_game(exp, scenes.boxes[:, 0]) >
            metrics.pointing_game(exp, scenes.boxes[:, 1]))
    # Deleting what the map points at (to the background grey) hurts more than deleting the
    # rest first, and inserting it helps more.
    common = {"steps": 16, "baseline": 90.0}
    assert (metrics.deletion(cam, scenes.images, exp, **common) <
            metrics.deletion(cam, scenes.images, 1 - exp.heatmaps, class_index=0, **common))
    assert (metrics.insertion(cam, scenes.images, exp, **common) >
            metrics.insertion(cam, scenes.images, 1 - exp.heatmaps, class_index=0, **common))
    assert (metrics.road(cam, scenes.images, exp, percentiles=(50, 90)) >
            metrics.road(cam, scenes.images, 1 - exp.heatmaps, class_index=0,
                         percentiles=(50, 90)))


def test_randomization_check_on_a_copy(shapes):
    scenes = synthetic.make_scenes(4, seed=2, both=True)
    before = [w.copy() for w in shapes.get_weights()]
    cam = tfg.GradCAM(shapes)
    exp = cam.explain(scenes.images, class_index=1)
    result = metrics.randomization_check(cam, scenes.images, exp, return_per_image=True)
    for old, new in zip(before, shapes.get_weights()):          # the user's model is intact
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(cam.explain(scenes.images, class_index=1).heatmaps,
                                  exp.heatmaps)
    assert result.details["layers"] == ["objects", "conv3", "conv2", "conv1"]
    assert result.curves.shape == (4, 4) and result.details["ssim"].shape == (4, 4)
    np.testing.assert_array_equal(result.x, [1, 2, 3, 4])
    assert result.value == pytest.approx(result.curves[:, -1].mean())
    assert result.value < 0.5                                   # Grad-CAM passes
    # Without randomising anything the maps would be identical: rho 1 and SSIM 1.
    same = metrics.sanity.rank_correlation(exp.heatmaps, exp.heatmaps)
    np.testing.assert_allclose(same, 1.0)
    np.testing.assert_allclose(metrics.sanity.structural_similarity(exp.heatmaps,
                                                                    exp.heatmaps), 1.0,
                               atol=1e-6)
    two = metrics.randomization_check(cam, scenes.images, exp, steps=2, return_per_image=True)
    np.testing.assert_array_equal(two.x, [2, 4])


def test_rank_correlation_by_hand():
    a = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_allclose(metrics.sanity.rank_correlation(a, -a), -1.0)
    np.testing.assert_allclose(metrics.sanity.rank_correlation(a, a ** 3), 1.0)
    tied = np.array([[[0.0, 0.0], [1.0, 2.0]]])   # ranks 1.5, 1.5, 3, 4
    expected = np.corrcoef([1.5, 1.5, 3, 4], [1, 2, 3, 4])[0, 1]
    np.testing.assert_allclose(metrics.sanity.rank_correlation(tied, a), expected)
    assert metrics.sanity.rank_correlation(np.zeros_like(a), a)[0] == 0.0


def test_randomization_check_of_guided_gradcam_compares_rgb_maps(shapes):
    scenes = synthetic.make_scenes(2, seed=4, both=True)
    guided = tfg.GuidedGradCAM(shapes)
    exp = guided.explain(scenes.images, class_index=0)
    assert exp.heatmaps.ndim == 4
    result = metrics.randomization_check(guided, scenes.images, exp, steps=1,
                                         return_per_image=True)
    assert result.curves.shape == (2, 1) and np.isfinite(result.curves).all()
    assert result.value < 0.9
