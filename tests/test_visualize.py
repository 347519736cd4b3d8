"""overlay / colorize: exact pixels, any dtype and size, inputs untouched, clear errors."""

import matplotlib
import numpy as np
import pytest

import tf_gradcam as tfg


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
