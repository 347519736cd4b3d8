"""Faithfulness metrics against answers known by construction (tf_gradcam.metrics)."""

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import tensorflow as tf

from tf_gradcam import metrics


class RegionScore:
    """A stand-in explainer whose class-0 probability is the mean of one region's pixels
    (class 1: one minus that), so every metric's answer can be worked out by hand."""

    num_classes = 2

    def __init__(self, size=4, channels=1, region=(0, 0, None, None)):
        self.input_shape = (size, size, channels)
        self.region = region

    def class_probability(self, images, class_index):
        top, left, bottom, right = self.region
        p0 = tf.reduce_mean(images[:, top:bottom, left:right, :], axis=[1, 2, 3])
        return tf.where(class_index == 0, p0, 1.0 - p0)


# A 4x4 image whose rows hold 1, 0.5, 0.25 and 0, and a map that ranks the rows top first.
ROWS = np.repeat(np.array([1.0, 0.5, 0.25, 0.0], np.float32)[:, None], 4, axis=1)
IMAGE = ROWS[None, :, :, None]
RANKED = np.repeat(np.array([1.0, 0.6, 0.3, 0.0], np.float32)[:, None], 4, axis=1)[None]


def test_deletion_curve_and_area_by_hand():
    # Removing one row per step leaves means 7/16, 3/16, 1/16, 0, 0 (trapezoid: 0.1171875).
    result = metrics.deletion(RegionScore(), IMAGE, RANKED, class_index=[0], steps=4,
                              return_per_image=True)
    np.testing.assert_allclose(result.x, [0, .25, .5, .75, 1])
    np.testing.assert_allclose(result.curves[0], [7 / 16, 3 / 16, 1 / 16, 0, 0], atol=1e-6)
    assert result.value == pytest.approx(0.1171875, abs=1e-6)
    assert result.per_image.shape == (1,)
    # The reversed map deletes the empty rows first: a higher (worse) area.
    reversed_auc = metrics.deletion(RegionScore(), IMAGE, 1 - RANKED, class_index=[0], steps=4)
    assert reversed_auc > result.value


def test_deletion_of_the_reversed_map_by_hand():
    # Rows removed bottom first: means 7/16, 7/16, 6/16, 4/16, 0.
    auc = metrics.deletion(RegionScore(), IMAGE, 1 - RANKED, class_index=[0], steps=4)
    curve = np.array([7, 7, 6, 4, 0]) / 16
    assert auc == pytest.approx(((curve[1:] + curve[:-1]) / 2 * 0.25).sum(), abs=1e-6)


def test_insertion_curve_and_area_by_hand():
    # From a black image, one row per step: means 0, 4/16, 6/16, 7/16, 7/16.
    result = metrics.insertion(RegionScore(), IMAGE, RANKED, class_index=[0], steps=4,
                               baseline=0.0, return_per_image=True)
    np.testing.assert_allclose(result.curves[0], [0, 4 / 16, 6 / 16, 7 / 16, 7 / 16],
                               atol=1e-6)
    assert result.value == pytest.approx(0.3203125, abs=1e-6)


def test_constant_map_on_a_uniform_image_is_the_diagonal():
    # Whatever order ties are taken in, deleting k of 64 equal pixels leaves 1 - k/64.
    images = np.ones((2, 8, 8, 1), np.float32)
    flat = np.full((2, 8, 8), 0.5, np.float32)
    result = metrics.deletion(RegionScore(8), images, flat, class_index=[0, 0], steps=8,
                              return_per_image=True)
    np.testing.assert_allclose(result.curves, np.tile(1 - result.x, (2, 1)), atol=1e-6)
    assert result.value == pytest.approx(0.5, abs=1e-6)


def test_region_map_collapses_deletion_and_constant_map_sits_between():
    # The score depends on the top-left 4x4 block only (a quarter of the image).
    scorer = RegionScore(8, region=(0, 0, 4, 4))
    images = np.ones((1, 8, 8, 1), np.float32)
    region = np.zeros((1, 8, 8), np.float32)
    region[:, :4, :4] = 1.0
    steps = 8
    good = metrics.deletion(scorer, images, region, class_index=[0], steps=steps,
                            return_per_image=True)
    assert good.curves[0, 2] == pytest.approx(0.0)  # gone after a quarter of the pixels
    bad = metrics.deletion(scorer, images, 1 - region, class_index=[0], steps=steps)
    flat = metrics.deletion(scorer, images, np.full_like(region, 0.3), class_index=[0],
                            steps=steps, seed=1)
    assert good.value < flat < bad
    assert metrics.insertion(scorer, images, region, class_index=[0], steps=steps,
                             baseline=0.0) > metrics.insertion(
        scorer, images, 1 - region, class_index=[0], steps=steps, baseline=0.0)


def test_average_drop_and_increase_by_hand():
    scorer = RegionScore(8, region=(0, 0, 4, 4))
    images = np.ones((3, 8, 8, 1), np.float32)
    maps = np.zeros((3, 8, 8), np.float32)
    maps[0, :4, :4] = 1.0      # covers the region: no drop
    maps[1] = 0.5              # constant: keeps half of the probability
    maps[2, 4:, 4:] = 1.0      # misses the region: drops everything
    result = metrics.average_drop(scorer, images, maps, class_index=[0, 0, 0],
                                  return_per_image=True)
    np.testing.assert_allclose(result.per_image, [0, 50, 100], atol=1e-4)
    assert result.value == pytest.approx(50, abs=1e-4)
    assert metrics.increase_in_confidence(scorer, images, maps, class_index=[0, 0, 0]) == 0
    # Class 1 is 1 - mean: darkening the region raises it (from 0) except under map 0.
    per = metrics.increase_in_confidence(scorer, images, maps, class_index=[1, 1, 1],
                                         return_per_image=True).per_image
    np.testing.assert_array_equal(per, [0, 100, 100])


def scipy_imputation(image, removed):
    """The same noisy-linear system, assembled pixel by pixel and solved directly."""
    height, width = removed.shape
    weights = {(-1, -1): 1 / 12, (-1, 0): 1 / 6, (-1, 1): 1 / 12, (0, -1): 1 / 6,
               (0, 1): 1 / 6, (1, -1): 1 / 12, (1, 0): 1 / 6, (1, 1): 1 / 12}
    unknown = {p: i for i, p in enumerate(zip(*np.nonzero(removed)))}
    a = scipy.sparse.lil_matrix((len(unknown), len(unknown)))
    b = np.zeros((len(unknown), image.shape[-1]))
    for (y, x), i in unknown.items():
        for (dy, dx), w in weights.items():
            ny, nx = y + dy, x + dx
            if not (0 <= ny < height and 0 <= nx < width):
                continue
            a[i, i] += w
            if (ny, nx) in unknown:
                a[i, unknown[(ny, nx)]] -= w
            else:
                b[i] += w * image[ny, nx]
    solution = scipy.sparse.linalg.spsolve(a.tocsc(), b).reshape(len(unknown), -1)
    out = image.astype(np.float64).copy()
    for (y, x), i in unknown.items():
        out[y, x] = solution[i]
    return out


def test_linear_imputation_matches_a_direct_solve():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 12, 12, 3)).astype(np.float32)
    removed = rng.random((2, 12, 12)) < 0.6
    removed[1, 2:9, 3:11] = True  # a large hole
    ours = metrics.linear_imputation(images, removed).numpy()
    for i in range(2):
        np.testing.assert_allclose(ours[i], scipy_imputation(images[i], removed[i]),
                                   atol=0.05)
    np.testing.assert_array_equal(ours[~removed], images[~removed])


def test_coarse_to_fine_start_reaches_the_same_solution():
    # 64 px images are solved on a 32 and 16 px pyramid first; holes cover 90 % of one.
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    removed = np.ones((2, 64, 64), bool)
    removed[0, 28:34, 30:36] = False
    removed[1] = rng.random((64, 64)) < 0.5
    ours = metrics.linear_imputation(images, removed).numpy()
    for i in range(2):
        np.testing.assert_allclose(ours[i], scipy_imputation(images[i], removed[i]), atol=0.5)


def test_one_missing_pixel_is_the_weighted_mean_of_its_neighbours():
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1) ** 2
    removed = np.zeros((1, 3, 3), bool)
    removed[0, 1, 1] = True
    expected = (image[0, [0, 0, 2, 2], [0, 2, 0, 2], 0].sum() / 12
                + image[0, [0, 1, 1, 2], [1, 0, 2, 1], 0].sum() / 6)
    value = metrics.linear_imputation(image, removed).numpy()[0, 1, 1, 0]
    assert value == pytest.approx(expected, rel=1e-5)


def test_imputation_noise_is_seeded_and_scaled():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
    removed = np.zeros((1, 16, 16), bool)
    removed[0, 4:12, 4:12] = True
    clean = metrics.linear_imputation(images, removed).numpy()
    noisy = metrics.linear_imputation(images, removed, noise=0.1, seed=(3, 4)).numpy()
    again = metrics.linear_imputation(images, removed, noise=0.1, seed=(3, 4)).numpy()
    np.testing.assert_array_equal(noisy, again)
    spread = (noisy - clean)[0, 4:12, 4:12].std()
    assert spread == pytest.approx(0.1 * images.std(), rel=0.2)


def test_road_on_a_region_model():
    # A bright block on a dark background; the score is the block's mean brightness.
    scorer = RegionScore(16, region=(0, 0, 6, 6))
    images = np.full((1, 16, 16, 1), 0.2, np.float32)
    images[:, :6, :6] = 1.0
    images += np.random.default_rng(0).normal(0, 0.05, images.shape).astype(np.float32)
    region = np.zeros((1, 16, 16), np.float32)
    region[:, :6, :6] = 1.0 + np.random.default_rng(1).uniform(0, 1e-3, (6, 6))
    good = metrics.road(scorer, images, region, class_index=[0], order="lerf",
                        percentiles=(50, 80), return_per_image=True)
    # LeRF removes at most half the image, never the region: the score does not move.
    np.testing.assert_allclose(good.curves, 0.0, atol=1e-6)
    assert set(good.details) == set()
    combined = metrics.road(scorer, images, region, class_index=[0], return_per_image=True)
    assert set(combined.details) == {"morf", "lerf"}
    np.testing.assert_allclose(combined.curves,
                               (combined.details["lerf"] - combined.details["morf"]) / 2)
    # MoRF imputes the block from the dark background: the score falls at every percentile.
    assert (combined.details["morf"] < -0.1).all()
    flipped = metrics.road(scorer, images, 1 - region, class_index=[0])
    assert combined.value > 0.1 > flipped


def test_compiled_once_for_any_batch_steps_or_percentiles():
    scorer = RegionScore(8)
    rng = np.random.default_rng(0)
    for n, steps in ((1, 4), (3, 7), (5, 2)):
        images = rng.uniform(0, 1, (n, 8, 8, 1)).astype(np.float32)
        maps = rng.uniform(0, 1, (n, 8, 8)).astype(np.float32)
        metrics.deletion(scorer, images, maps, class_index=[0] * n, steps=steps, batch_size=4)
        metrics.road(scorer, images, maps, class_index=[0] * n, percentiles=(10, 50)[:steps],
                     batch_size=4)
        metrics.average_drop(scorer, images, maps, class_index=[1] * n, batch_size=4)
    functions = metrics._common._COMPILED[scorer]
    assert len(functions) == 3
    assert all(f.experimental_get_tracing_count() == 1 for f in functions.values())


def test_one_trace_per_explainer_is_not_reported_as_retracing(caplog):
    # TensorFlow warns when one code object traces 5+ times; six explainers are not that.
    images = np.ones((1, 8, 8, 1), np.float32)
    with caplog.at_level("WARNING", logger="tensorflow"):
        for _ in range(7):
            metrics.deletion(RegionScore(8), images, images[..., 0], class_index=[0], steps=2)
    assert "retracing" not in caplog.text


def test_chunking_does_not_change_the_numbers():
    scorer = RegionScore(8, region=(2, 2, 6, 6))
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 1, (3, 8, 8, 1)).astype(np.float32)
    maps = rng.uniform(0, 1, (3, 8, 8)).astype(np.float32)
    one = metrics.insertion(scorer, images, maps, class_index=[0, 1, 0], steps=5, batch_size=1,
                            return_per_image=True)
    many = metrics.insertion(scorer, images, maps, class_index=[0, 1, 0], steps=5,
                             batch_size=64, return_per_image=True)
    np.testing.assert_allclose(one.curves, many.curves, atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda s, x, m: metrics.deletion(s, x, m[:, :4], class_index=[0, 0]), "heatmaps.shape"),
    (lambda s, x, m: metrics.deletion(s, x, m[:1], class_index=[0, 0]), "heatmaps.shape"),
    (lambda s, x, m: metrics.deletion(s, x, np.where(m > 0.5, np.nan, m), class_index=[0, 0]),
     "non-finite"),
    (lambda s, x, m: metrics.deletion(s, x, m, class_index=[0, 0], steps=0), "steps=0"),
    (lambda s, x, m: metrics.insertion(s, x, m, class_index=[0, 0], steps=65), "steps=65"),
    (lambda s, x, m: metrics.deletion(s, x, m, class_index=[0, 0], baseline="grey"),
     "baseline='grey'"),
    (lambda s, x, m: metrics.deletion(s, x, m), "class_index=None"),
    (lambda s, x, m: metrics.average_drop(s, x, m * 2, class_index=[0, 0]), "heatmaps in"),
    (lambda s, x, m: metrics.road(s, x, m, class_index=[0, 0], percentiles=(50, 100)),
     "percentiles="),
    (lambda s, x, m: metrics.road(s, x, m, class_index=[0, 0], order="up"), "order='up'"),
    (lambda s, x, m: metrics.average_drop(s, x, m[..., None].repeat(3, -1),
                                          class_index=[0, 0]), "Guided"),
])
def test_bad_input_is_a_clear_value_error(call, match):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    maps = rng.uniform(0, 1, (2, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="Received: ") as info:
        call(RegionScore(8), images, maps)
    assert match in str(info.value)
