"""Occlusion against exact expectations on a hand-built model, and against Grad-CAM."""

import keras
import numpy as np
import pytest

import tf_gradcam as tfg
from tf_gradcam import synthetic

L = keras.layers


def region_mean_model():
    """Score = mean of rows 4..7, columns 8..11 of a 16x16 one-channel image."""
    inp = keras.Input((16, 16, 1))
    x = L.Cropping2D(((4, 8), (8, 4)))(inp)
    return keras.Model(inp, L.GlobalAveragePooling2D()(x))


def test_map_is_exactly_the_region():
    occ = tfg.Occlusion(region_mean_model(), patch_size=4, fill=0.0, score="logit")
    exp = occ.explain(np.ones((16, 16, 1), "float32"))
    expected = np.zeros((4, 4))
    expected[1, 2] = 1.0  # the 4x4 patch at (4, 8) hides the whole region: drop 1 - 0
    np.testing.assert_allclose(exp.cams, expected, atol=1e-6)
    box = np.zeros((16, 16))
    box[4:8, 8:12] = 1.0
    np.testing.assert_allclose(exp.heatmaps, box, atol=1e-6)
    assert occ.passes_per_image == 17


def test_overlapping_patches_are_averaged():
    occ = tfg.Occlusion(region_mean_model(), patch_size=4, stride=2, fill=0.0, score="logit")
    exp = occ.explain(np.ones((1, 16, 16, 1), "float32"))
    assert exp.cams.shape == (1, 7, 7)
    # Patch at (4, 8) hides all 16 region pixels; at (2, 8) or (4, 6) half of them.
    assert exp.cams[0, 2, 4] == pytest.approx(1.0)
    assert exp.cams[0, 1, 4] == pytest.approx(0.5) and exp.cams[0, 2, 3] == pytest.approx(0.5)
    # Pixel (5, 9) is covered by 4 patches with drops 1, .5, .5, .25: their mean, 0.5625.
    # Independent reference: average, for every pixel, the drops of the patches covering it.
    total, count = np.zeros((16, 16)), np.zeros((16, 16))
    for i in range(7):
        for j in range(7):
            total[2 * i:2 * i + 4, 2 * j:2 * j + 4] += exp.cams[0, i, j]
            count[2 * i:2 * i + 4, 2 * j:2 * j + 4] += 1
    pixel = total / count
    assert pixel[5, 9] == pytest.approx(0.5625)
    np.testing.assert_allclose(exp.heatmaps[0], pixel / pixel.max(), atol=1e-6)


def test_chunks_never_retrace():
    occ = tfg.Occlusion(region_mean_model(), patch_size=4, batch_size=5, fill=0.0)
    for n in (1, 3, 2):  # 16, 48, 32 occluded copies: never a multiple of 5
        assert occ(np.random.rand(n, 16, 16, 1)).shape == (n, 16, 16)
    assert occ.compute.experimental_get_tracing_count() == 1


# A black patch (fill=0.0) on these grey scenes reads as an object of its own: the map then
# marks where black squares look like a "square" (measured 7/12 hits), an occlusion artefact.
@pytest.mark.parametrize("fill", ["mean", "blur"])
def test_points_at_the_object_like_gradcam(shapes_model, fill):
    scenes = synthetic.make_scenes(12, seed=5, both=True)
    occ = tfg.Occlusion(shapes_model, patch_size=16, stride=4, fill=fill)
    grad = tfg.GradCAM(shapes_model)
    for c in (0, 1):
        heat = occ(scenes.images, c)
        hits = 0
        for h, (t, l, b, r) in zip(heat, scenes.boxes[:, c]):
            y, x = np.unravel_index(np.argmax(h), h.shape)
            hits += (t - 4 <= y < b + 4) and (l - 4 <= x < r + 4)
        assert hits / len(heat) >= 0.8, f"class {c}, fill {fill}: {hits}/{len(heat)}"
        corr = np.mean([np.corrcoef(a.ravel(), g.ravel())[0, 1]
                        for a, g in zip(heat, grad(scenes.images, c))])
        assert corr > 0.3, f"class {c}: correlation with Grad-CAM {corr:.2f}"


def test_predictions_are_the_model_outputs(shapes_model):
    images = synthetic.make_scenes(3, seed=9).images
    exp = tfg.Occlusion(shapes_model, patch_size=16).explain(images)
    np.testing.assert_allclose(exp.predictions, shapes_model(images.astype("float32")),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"patch_size": 0}, "patch_size"), ({"patch_size": 40}, "must fit"),
    ({"stride": 1.5}, "stride"), ({"fill": "zero"}, "fill"), ({"fill": np.nan}, "fill"),
    ({"score": "prob"}, "score"), ({"batch_size": True}, "batch_size"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=f"Received: {message}|{message}"):
        tfg.Occlusion(region_mean_model(), **kwargs)


def test_needs_a_fixed_input_size():
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(inp)))
    with pytest.raises(ValueError, match="fixed input height and width"):
        tfg.Occlusion(model)


def test_memory_budget_sets_the_chunk_and_keeps_the_maps():
    model = region_mean_model()
    # One copy: 4 x the 16x16x1 input + 2 x the largest layer output (the 4x4x1 crop).
    item = 4 * (4 * 256 + 2 * 16)
    whole = tfg.Occlusion(model, patch_size=4, fill=0.0, max_memory=None)
    small = tfg.Occlusion(model, patch_size=4, fill=0.0, max_memory=3 * item)
    assert (whole.chunk_size, small.chunk_size) == (64, 3)
    images = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(small.explain(images).cams, whole.explain(images).cams,
                               atol=1e-6)
    assert tfg.Occlusion(model, patch_size=4).chunk_size == 64  # tiny: the batch size cap
    with pytest.raises(ValueError, match="max_memory"):
        tfg.Occlusion(model, max_memory=0)
