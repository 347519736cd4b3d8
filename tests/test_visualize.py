"""overlay / colorize: exact pixels, any dtype and size, inputs untouched, clear errors."""

import matplotlib
import numpy as np
import pytest

import tf_gradcam as tfg
from tf_gradcam import visualize


def test_lut_is_matplotlib_colormap():
    lut = tfg.colormap_lut("jet")
    expected = np.round(matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255)
    np.testing.assert_array_equal(lut, expected)
    assert lut[0, 2] > 100 and lut[0, 0] == 0  # blue for low, red for high
    assert lut[255, 0] > 100 and lut[255, 2] == 0


def test_overlay_is_alpha_blend_of_image_and_colour():
    image = np.full((2, 2, 3), 100, np.uint8)
    heat = np.array([[0.0, 1.0], [0.5, 0.0]])
    out = tfg.overlay(image, heat, alpha=0.25, colormap="gray")
    expected = np.round(0.75 * 100 + 0.25 * np.array([[0, 255], [128, 0]]))
    np.testing.assert_array_equal(out[..., 0], expected)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)


@pytest.mark.parametrize("alpha", [0.4, 0.3, 0.7, 0.37])
def test_overlay_matches_the_float_formula_on_every_pair_of_levels(alpha):
    # Every (image value, heatmap level) pair once, in an odd-sized image (OpenCV's vector
    # loop and its scalar tail): the float64 formula, rounded, except where it is exactly
    # halfway between two grey levels (then either neighbour is right).
    values, levels = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    image = np.repeat(values.reshape(256, 256, 1), 3, axis=-1).astype(np.uint8)[:, :255]
    heat = (levels / 255.0)[:, :255]
    colours = tfg.colormap_lut("viridis")[levels[:, :255]].astype(np.float64)
    exact = (1 - alpha) * image + alpha * colours
    out = tfg.overlay(image, heat, alpha=alpha, colormap="viridis").astype(np.float64)
    halfway = np.abs(exact - np.floor(exact) - 0.5) < 1e-6
    assert np.all(np.abs(out - exact) <= 0.5 + 1e-6) and np.all(
        (out == np.round(exact)) | halfway)
    np.testing.assert_array_equal(tfg.colorize(heat, "viridis"), colours.astype(np.uint8))


def test_overlay_float_images_and_other_heatmap_size():
    heat = np.random.default_rng(0).uniform(0, 1, (4, 4))
    unit = np.random.default_rng(1).uniform(0, 1, (16, 16, 3))
    as_uint8 = np.round(unit * 255).astype(np.uint8)
    np.testing.assert_array_equal(tfg.overlay(unit, heat), tfg.overlay(as_uint8, heat))
    assert tfg.overlay(unit[..., 0], heat).shape == (16, 16, 3)          # grayscale
    assert tfg.overlay(unit * 2 - 1, heat).shape == (16, 16, 3)          # [-1, 1] input


def test_overlay_leaves_inputs_untouched():
    image = np.random.default_rng(2).uniform(0, 1, (8, 8, 3))
    heat = np.random.default_rng(3).uniform(0, 1, (8, 8))
    image_copy, heat_copy = image.copy(), heat.copy()
    tfg.overlay(image, heat)
    np.testing.assert_array_equal(image, image_copy)
    np.testing.assert_array_equal(heat, heat_copy)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"alpha": 1.5}, ValueError, "Received: alpha=1.5"),
    ({"colormap": "nope"}, ValueError, "Unknown colormap 'nope'"),
    ({"heatmap": np.full((4, 4), np.nan)}, ValueError, "NaN"),
    ({"heatmap": np.zeros((2, 4, 4))}, ValueError, "heatmap.shape"),
    ({"image": np.zeros((4, 4, 5))}, ValueError, "image.shape"),
    ({"image": np.full((4, 4, 3), "x")}, TypeError, "image.dtype"),
])
def test_overlay_errors(kwargs, error, message):
    args = {"image": np.zeros((4, 4, 3), np.uint8), "heatmap": np.zeros((4, 4))}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        tfg.overlay(**args)


def test_plot_panels_titles_and_pixels():
    image = np.random.default_rng(4).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    heats = np.random.default_rng(5).uniform(0, 1, (2, 8, 8))
    figure = tfg.plot(image, heats, ["a", "b"], alpha=0.5)
    axes = figure.axes
    assert [a.get_title() for a in axes] == ["image", "a", "b"]
    np.testing.assert_array_equal(axes[0].images[0].get_array(), image)
    np.testing.assert_array_equal(axes[2].images[0].get_array(),
                                  tfg.overlay(image, heats[1], alpha=0.5))
    assert len(tfg.plot(image, heats[0], show_image=False).axes) == 1
    with pytest.raises(ValueError, match="one title per heatmap"):
        tfg.plot(image, heats, ["only one"])


# --- captions and colour bars ------------------------------------------------------------

CAPTION = "Egyptian cat (285) 62.3%\ngradcam"


def _box_mask(shape, box):
    top, left, bottom, right = box
    mask = np.zeros(shape[:2], bool)
    mask[top:bottom, left:right] = True
    return mask


@pytest.mark.parametrize("shape", [(64, 64), (224, 224), (300, 451), (451, 300), (40, 900),
                                   (1536, 2048)])
def test_caption_changes_pixels_only_inside_its_box(shape):
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    heat = rng.uniform(0, 1, (7, 7))
    plain = tfg.overlay(image, heat)
    captioned = tfg.overlay(image, heat, caption=CAPTION)
    box = visualize.caption_box(shape, CAPTION)
    inside = _box_mask(shape, box)
    changed = np.any(plain != captioned, axis=-1)
    assert changed.any() and not changed[~inside].any()
    top, left, bottom, right = box
    assert 0 <= top < bottom <= shape[0] and 0 <= left < right <= shape[1]
    region = captioned[top:bottom, left:right].astype(int)
    # opaque: the box is the box colour or text, whatever the image below was
    assert ((region == 24).all(-1) | (region.min(-1) > 24)).all()
    assert (region > 200).all(-1).sum() > 20               # white text was drawn


def test_caption_scales_with_the_image_and_fits_it():
    small = visualize.caption_box((224, 224), CAPTION)
    large = visualize.caption_box((2240, 2240), CAPTION)
    assert 8 <= (large[2] - large[0]) / (small[2] - small[0]) <= 12   # about 10x
    assert (large[2] - large[0]) > 100                      # legible on a big photo
    narrow = visualize.caption_box((200, 60), "a very long class name that cannot fit 99.9%")
    assert narrow[3] <= 60


def test_colorbar_shows_the_colormap_inside_its_box_only():
    image = np.full((300, 451, 3), 128, np.uint8)
    heat = np.zeros((10, 10))
    plain = tfg.overlay(image, heat, colormap="viridis")
    barred = tfg.overlay(image, heat, colormap="viridis", colorbar=True)
    box = visualize.colorbar_box(image.shape)
    changed = np.any(plain != barred, axis=-1)
    assert changed.any() and not changed[~_box_mask(image.shape, box)].any()
    lut = tfg.colormap_lut("viridis")
    region = barred[box[0]:box[2], box[1]:box[3]]
    column = region[:, region.shape[1] // 4 if region.shape[1] > 8 else 2]
    colours = {tuple(c) for c in column}
    assert tuple(lut[255]) in colours and tuple(lut[0]) in colours   # top 1, bottom 0
    rows_of = {tuple(c): i for i, c in enumerate(column)}
    assert rows_of[tuple(lut[255])] < rows_of[tuple(lut[0])]


def test_caption_and_colorbar_leave_inputs_untouched_and_check_types():
    image = np.zeros((50, 80, 3), np.uint8)
    heat = np.zeros((5, 5))
    tfg.overlay(image, heat, caption="x\ny", colorbar=True)
    assert not image.any() and not heat.any()
    with pytest.raises(TypeError, match="Received: caption=3"):
        tfg.overlay(image, heat, caption=3)
    assert np.array_equal(tfg.overlay(image, heat, caption=""), tfg.overlay(image, heat))


def test_non_ascii_caption_is_drawn_as_ascii():
    image = np.zeros((100, 200, 3), np.uint8)
    heat = np.zeros((5, 5))
    assert np.array_equal(tfg.overlay(image, heat, caption="caf\u00e9 50%"),
                          tfg.overlay(image, heat, caption="cafe 50%"))


def test_caption_text():
    assert visualize.caption_text("tabby, tabby cat", 0.4123, "gradcam", 281) == \
        "tabby (281) 41.2%\ngradcam"
    assert visualize.caption_text(None, 0.5, None, 3) == "class 3 50.0%"
    assert visualize.caption_text("dog") == "dog"
    assert visualize.caption_text(None, None, "occlusion") == "occlusion"
