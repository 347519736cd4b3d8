"""fit / to_original: known pixels land on hand-computed pixels, both ways, for every fit."""

import cv2
import numpy as np
import pytest

from tf_gradcam import geometry

# A 300x600 photo (non-square) with a white 30x30 square at rows 60:90, columns 420:450
# (off-centre), in a 100x100 model. Scale factors are integers, so area averaging keeps
# the square's edges exact:
#   squash: rows / 3, columns / 6            -> rows 20:30, columns 70:75
#   crop:   columns 150:450 kept, all / 3     -> rows 20:30, columns 90:100
#   pad:    all / 6, 50 rows centred at 25    -> rows 35:40, columns 70:75
PHOTO = np.zeros((300, 600, 3), np.uint8)
PHOTO[60:90, 420:450] = 255
EXPECTED = {
    "squash": ((0, 0, 300, 600), (0, 0, 100, 100), (slice(20, 30), slice(70, 75))),
    "crop": ((0, 150, 300, 450), (0, 0, 100, 100), (slice(20, 30), slice(90, 100))),
    "pad": ((0, 0, 300, 600), (25, 0, 75, 100), (slice(35, 40), slice(70, 75))),
}
CENTRE = (75.0, 435.0)  # the square's centre in original (continuous) coordinates
CENTRE_IN_MODEL = {"squash": (25.0, 72.5), "crop": (25.0, 95.0), "pad": (37.5, 72.5)}


@pytest.mark.parametrize("fit", geometry.FITS)
def test_fit_puts_known_pixels_on_known_pixels(fit):
    model_image, where = geometry.fit(PHOTO, (100, 100), fit)
    source, target, square = EXPECTED[fit]
    assert (where.original_size, where.model_size, where.fit) == ((300, 600), (100, 100), fit)
    assert (where.source, where.target) == (source, target)
    expected = np.zeros((100, 100, 3), np.uint8)
    expected[square] = 255
    np.testing.assert_array_equal(model_image, expected)
    assert where.to_model(*CENTRE) == CENTRE_IN_MODEL[fit]
    assert where.to_original(*CENTRE_IN_MODEL[fit]) == CENTRE


@pytest.mark.parametrize("fit", geometry.FITS)
def test_to_original_puts_the_model_square_back_on_the_photo(fit):
    model_image, where = geometry.fit(PHOTO, (100, 100), fit)
    heat = geometry.to_original(model_image[..., 0] / 255.0, where)
    assert heat.shape == (300, 600) and heat.dtype == np.float32
    rows, cols = np.nonzero(heat > 0.5)
    # bilinear edges shift the half-maximum outline by at most a model pixel (3 or 6 px)
    assert abs(rows.min() - 60) <= 3 and abs(rows.max() + 1 - 90) <= 3
    assert abs(cols.min() - 420) <= 6 and abs(cols.max() + 1 - 450) <= 6
    assert heat[75, 435] == pytest.approx(1.0)
    centroid = np.array(np.nonzero(heat > 0.5)).mean(axis=1)
    np.testing.assert_allclose(centroid, [74.5, 434.5], atol=1.0)  # index of centre 75, 435


def test_crop_is_zero_outside_the_crop_and_pad_drops_the_bars():
    _, crop = geometry.fit(PHOTO, (100, 100), "crop")
    heat = geometry.to_original(np.ones((100, 100)), crop)
    assert (heat[:, :150] == 0).all() and (heat[:, 450:] == 0).all()
    assert (heat[:, 150:450] == 1).all()
    _, pad = geometry.fit(PHOTO, (100, 100), "pad")
    bars = np.zeros((100, 100))
    bars[:25], bars[75:] = 1.0, 1.0   # hot bars, cold photo: nothing of the bars comes back
    assert np.abs(geometry.to_original(bars, pad)).max() < 1e-6


def test_tall_photo_and_non_square_model():
    where = geometry.placement((451, 300), (224, 224), "crop")
    assert where.source == (75, 0, 375, 300)
    where = geometry.placement((300, 451), (224, 224), "pad")   # round(300 * 224 / 451) = 149
    assert where.target == (37, 0, 186, 224)
    where = geometry.placement((100, 100), (50, 200), "crop")   # keep 25 rows of 100
    assert where.source == (37, 0, 62, 100)
    where = geometry.placement((100, 100), (50, 200), "pad")
    assert where.target == (0, 75, 50, 125)
    model_image, _ = geometry.fit(np.ones((100, 100), np.uint8), (50, 200), "pad")
    assert model_image.shape == (50, 200) and model_image[:, 75:125].all()
    assert not model_image[:, :75].any() and not model_image[:, 125:].any()


def test_squash_is_todays_resize_both_ways():
    photo = np.random.default_rng(0).integers(0, 256, (300, 451, 3), dtype=np.uint8)
    model_image, where = geometry.fit(photo, (224, 224))
    np.testing.assert_array_equal(
        model_image, cv2.resize(photo, (224, 224), interpolation=cv2.INTER_AREA))
    heat = np.random.default_rng(1).uniform(0, 1, (224, 224)).astype(np.float32)
    np.testing.assert_allclose(
        geometry.to_original(heat, where),
        cv2.resize(heat, (451, 300), interpolation=cv2.INTER_LINEAR), atol=1e-3)


def test_max_size_caps_the_long_side_and_keeps_the_square_in_place():
    model_image, where = geometry.fit(PHOTO, (100, 100), "crop")
    heat = geometry.to_original(model_image[..., 0] / 255.0, where, max_size=200)
    assert heat.shape == (100, 200)                  # 300x600 scaled by 1/3
    rows, cols = np.nonzero(heat > 0.5)
    np.testing.assert_allclose([rows.mean(), cols.mean()], [74.5 / 3, 434.5 / 3], atol=1.0)
    assert geometry.to_original(heat, where, max_size=1000).shape == (300, 600)  # no upscale
    assert geometry.capped_size((3000, 4000), 2048) == (1536, 2048)
    assert geometry.capped_size((1, 30000), 100) == (1, 100)


def test_heatmap_of_another_size_covers_the_model_image():
    model_image, where = geometry.fit(PHOTO, (100, 100), "squash")
    small = cv2.resize(model_image[..., 0] / 255.0, (50, 50), interpolation=cv2.INTER_AREA)
    heat = geometry.to_original(small, where)
    assert np.unravel_index(np.argmax(heat), heat.shape)[0] in range(60, 90)
    assert np.unravel_index(np.argmax(heat), heat.shape)[1] in range(420, 450)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float16, np.float64, bool])
def test_fit_keeps_dtype_and_rank_and_leaves_the_input_alone(dtype):
    image = (np.arange(20 * 30).reshape(20, 30) % 2).astype(dtype)
    copy = image.copy()
    for fit in geometry.FITS:
        out, _ = geometry.fit(image, (10, 10), fit)
        assert out.shape == (10, 10) and out.dtype == image.dtype
        out, _ = geometry.fit(image[..., None], (10, 10), fit)
        assert out.shape == (10, 10, 1)
    np.testing.assert_array_equal(image, copy)
    assert geometry.fit(np.ones((20, 30, 7), np.float32), (5, 5))[0].shape == (5, 5, 7)


def test_uint16_values_survive():
    image = np.full((40, 60), 60000, np.uint16)
    out, _ = geometry.fit(image, (20, 20), "pad")
    assert out.max() == 60000 and out.min() == 0


def test_cap_size():
    image = np.zeros((3000, 4000, 3), np.uint8)
    assert geometry.cap_size(image, 400).shape == (300, 400, 3)
    assert geometry.cap_size(image, 400).dtype == np.uint8
    assert geometry.cap_size(image, 4000) is image
    assert geometry.cap_size(image, None) is image


def test_placement_dict_round_trip():
    _, where = geometry.fit(PHOTO, (100, 100), "pad")
    data = where.to_dict()
    assert data["target"] == [25, 0, 75, 100]
    assert geometry.Placement(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in data.items()}) == where


@pytest.mark.parametrize("call, error, message", [
    (lambda: geometry.fit(PHOTO, (100, 100), "stretch"), ValueError, "Received: fit='stretch'"),
    (lambda: geometry.fit(PHOTO, (0, 100)), ValueError, r"Received: size=\(0, 100\)"),
    (lambda: geometry.fit(PHOTO, 100), ValueError, "Received: size=100"),
    (lambda: geometry.fit(np.zeros((4,)), (2, 2)), ValueError, "image.shape"),
    (lambda: geometry.fit(np.full((4, 4), "x"), (2, 2)), TypeError, "image.dtype"),
    (lambda: geometry.cap_size(PHOTO, 0), ValueError, "Received: max_size=0"),
    (lambda: geometry.to_original(np.zeros((2, 4, 4)), geometry.placement((4, 4), (4, 4))),
     ValueError, "heatmap.shape"),
    (lambda: geometry.to_original(np.full((4, 4), np.nan), geometry.placement((4, 4), (4, 4))),
     ValueError, "NaN"),
    (lambda: geometry.to_original(np.zeros((4, 4)), (4, 4)), TypeError, "Received: placement"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
