"""Turn heatmaps into pictures: colormap lookup tables, overlays and figures.

Plain functions that never modify their inputs.
"""

import functools

import cv2
import numpy as np


@functools.lru_cache(maxsize=32)
def _lut(colormap):
    import matplotlib

    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(
            f"Unknown colormap {colormap!r}; use a matplotlib colormap name such as 'jet', "
            f"'turbo', 'inferno' or 'viridis'. Received: colormap={colormap!r}") from None
    table = np.round(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.uint8)
    table.flags.writeable = False
    return table


def colormap_lut(colormap="jet"):
    """The 256-entry RGB lookup table of a matplotlib colormap.

    Args:
        colormap: A matplotlib colormap name. Defaults to `"jet"` (blue = low, red = high).

    Returns:
        uint8 array `(256, 3)`; entry `i` is the colour of the value `i / 255`.

    Raises:
        ValueError: Unknown colormap name.
    """
    if not isinstance(colormap, str):
        raise TypeError(f"`colormap` must be a name. Received: colormap={colormap!r}")
    return _lut(colormap).copy()


def to_uint8_rgb(image):
    """An image as uint8 RGB `(H, W, 3)`, without modifying it.

    uint8 images are taken as they are. Float images in [0, 1] are scaled by 255, those in
    [0, 255] are rounded, and any other range (e.g. preprocessed [-1, 1]) is min-max scaled.
    Grayscale `(H, W)` or `(H, W, 1)` is repeated over three channels; RGBA drops alpha.

    Raises:
        ValueError: Wrong shape, or NaN/inf values.
        TypeError: Non-numeric data.
    """
    array = np.asarray(image)
    if array.dtype.kind not in "uif":
        raise TypeError(f"The image must hold numbers. Received: image.dtype={array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or 0 in array.shape:
        raise ValueError(
            "The image must be (height, width), (height, width, 1), (height, width, 3) or "
            f"(height, width, 4). Received: image.shape={np.shape(image)}")
    array = array[..., :3]
    if array.dtype == np.uint8:
        return array.copy()
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("The image contains NaN or infinite values. "
                         "Received: image with non-finite values")
    low, high = values.min(), values.max()
    if low >= 0 and high <= 1 and array.dtype.kind == "f":
        values = values * 255.0
    elif not (low >= 0 and high <= 255):
        values = (values - low) / max(high - low, 1e-12) * 255.0
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def colorize(heatmap, colormap="jet"):
    """Map a heatmap in [0, 1] to uint8 RGB colours `(H, W, 3)` with a colormap's LUT.

    Raises:
        ValueError: `heatmap` is not 2D or holds NaN/inf.
    """
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2 or 0 in heat.shape:
        raise ValueError("A heatmap is 2D (height, width). "
                         f"Received: heatmap.shape={np.shape(heatmap)}")
    if not np.all(np.isfinite(heat)):
        raise ValueError("The heatmap contains NaN or infinite values. "
                         "Received: heatmap with non-finite values")
    index = np.round(np.clip(heat, 0.0, 1.0) * 255.0).astype(np.intp)
    return _lut(colormap)[index]


def overlay(image, heatmap, alpha=0.4, colormap="jet"):
    """Blend a coloured heatmap over an image.

    Args:
        image: `(H, W, 3)`, `(H, W, 1)`, `(H, W)` or RGBA; uint8, or float (see
            `to_uint8_rgb` for how float ranges are read).
        heatmap: `(h, w)` values in [0, 1] (clipped); resized bilinearly to the image's size
            when it differs.
        alpha: Weight of the heatmap colour, in [0, 1]. Defaults to `0.4`.
        colormap: matplotlib colormap name. Defaults to `"jet"`.

    Returns:
        uint8 RGB `(H, W, 3)`: `(1 - alpha) * image + alpha * colormap(heatmap)`. The inputs
        are not modified.

    Raises:
        ValueError: Bad shapes, NaN/inf values, `alpha` outside [0, 1], unknown colormap.
        TypeError: Non-numeric data.

    Example:
    >>> picture = tfg.overlay(image, tfg.GradCAM(model)(image), alpha=0.5, colormap="turbo")
    >>> picture.shape, picture.dtype
    ((64, 64, 3), dtype('uint8'))
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not (
            0.0 <= float(alpha) <= 1.0):
        raise ValueError(f"`alpha` is the heatmap's weight, a number in [0, 1]. "
                         f"Received: alpha={alpha!r}")
    rgb = to_uint8_rgb(image)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim == 2 and heat.shape != rgb.shape[:2] and 0 not in heat.shape:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    colours = colorize(heat, colormap).astype(np.float32)
    blended = (1.0 - float(alpha)) * rgb.astype(np.float32) + float(alpha) * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def plot(image, heatmaps, titles=None, *, alpha=0.4, colormap="jet", show_image=True,
         panel_size=3.2):
    """A matplotlib Figure: the image, then one overlay per heatmap, side by side.

    Args:
        image: The image the heatmaps explain (any form `overlay` accepts).
        heatmaps: One heatmap `(h, w)`, a sequence of them, or an `Explanation` of one image.
        titles: One title per heatmap. Defaults to `None` (no titles).
        alpha: Heatmap weight. Defaults to `0.4`.
        colormap: matplotlib colormap name. Defaults to `"jet"`.
        show_image: Put the plain image first. Defaults to `True`.
        panel_size: Inches per panel. Defaults to `3.2`.

    Returns:
        A `matplotlib.figure.Figure` (not shown; Jupyter displays it when it is the cell's
        value).

    Raises:
        ValueError: `titles` of the wrong length, or what `overlay` raises.

    Example:
    >>> cam = tfg.GradCAM(model)
    >>> figure = tfg.plot(image, [cam(image, 0), cam(image, 1)], ["square", "cross"])
    >>> len(figure.axes)
    3
    """
    from matplotlib.figure import Figure

    if hasattr(heatmaps, "heatmaps"):
        heatmaps = heatmaps.heatmaps
    maps = [heatmaps] if np.ndim(heatmaps) == 2 else list(heatmaps)
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"`titles` needs one title per heatmap ({len(maps)}). "
                         f"Received: titles={titles!r}")
    panels = ([("image", to_uint8_rgb(image))] if show_image else []) + [
        (titles[i] if titles else "", overlay(image, m, alpha, colormap))
        for i, m in enumerate(maps)]
    figure = Figure(figsize=(panel_size * len(panels), panel_size + 0.4))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (title, picture) in zip(axes, panels):
        axis.imshow(picture)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    figure.tight_layout()
    return figure
