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
    return _colours(_levels(heatmap), colormap)


def _levels(heatmap):
    """The LUT entry of each value, `round(clip(v, 0, 1) * 255)` (in float64), as uint8."""
    from tf_gradcam import geometry

    heat = geometry.as_heatmap(heatmap, np.float64)
    heat = np.clip(heat, 0.0, 1.0, out=np.empty_like(heat))
    heat *= 255.0
    return np.rint(heat, out=heat).astype(np.uint8)


def _colours(levels, colormap):
    """`LUT[levels]` `(H, W, 3)`, by OpenCV's table lookup (a NumPy gather of 3-byte rows
    costs ~10x more on a photo)."""
    return cv2.LUT(cv2.cvtColor(levels, cv2.COLOR_GRAY2RGB), _lut(colormap)[:, None, :])


def overlay(image, heatmap, alpha=0.4, colormap="jet", *, caption=None, colorbar=False):
    """Blend a coloured heatmap over an image, optionally captioned and with a colour bar.

    Args:
        image: `(H, W, 3)`, `(H, W, 1)`, `(H, W)` or RGBA, any size and aspect ratio; uint8,
            or float (see `to_uint8_rgb` for how float ranges are read).
        heatmap: `(h, w)` values in [0, 1] (clipped); resized bilinearly to the image's size
            when it differs. (To undo a crop or letterbox, map it with
            `tfg.geometry.to_original` first.)
        alpha: Weight of the heatmap colour, in [0, 1]. Defaults to `0.4`.
        colormap: matplotlib colormap name. Defaults to `"jet"`.
        caption: Text drawn in the top-left corner, white on an opaque dark box, its size
            scaled to the image (legible from 64 px to 50 megapixels; lines that do not fit
            are shortened with "..."); several lines split at `"\\n"`; non-ASCII letters are
            reduced to ASCII (`caption_text` builds the usual one). Only the pixels inside
            `caption_box(shape, caption)` change. Defaults to `None` (no caption).
        colorbar: Draw the colormap's scale (0 at the bottom, 1 at the top) at the right
            edge, inside `colorbar_box(shape)`. Defaults to `False`.

    Returns:
        uint8 RGB `(H, W, 3)`: `(1 - alpha) * image + alpha * colormap(heatmap)`, rounded
        (to within one grey level where that is exactly halfway), then the caption and
        colour bar. The inputs are not modified.

    Raises:
        ValueError: Bad shapes, NaN/inf values, `alpha` outside [0, 1], unknown colormap.
        TypeError: Non-numeric data, or a caption that is not a string.

    Example:
    >>> picture = tfg.overlay(image, tfg.GradCAM(model)(image), alpha=0.5, colormap="turbo")
    >>> picture.shape, picture.dtype
    ((64, 64, 3), dtype('uint8'))
    >>> captioned = tfg.overlay(image, tfg.GradCAM(model)(image), caption="square 97.0%",
    ...                         colorbar=True)
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not (
            0.0 <= float(alpha) <= 1.0):
        raise ValueError(f"`alpha` is the heatmap's weight, a number in [0, 1]. "
                         f"Received: alpha={alpha!r}")
    if caption is not None and not isinstance(caption, str):
        raise TypeError(f"`caption` is the text to draw (a str; lines split at \\n). "
                        f"Received: caption={caption!r}")
    rgb = to_uint8_rgb(image)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim == 2 and heat.shape != rgb.shape[:2] and 0 not in heat.shape:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    # OpenCV's uint8 blend (float32 inside, rounded to nearest): ~15x a NumPy float blend
    # on a photo. Where the exact value is a half (alpha 0.7: 0.7 * 5 = 3.5) float rounding
    # decides, and OpenCV's may differ from NumPy's by one grey level.
    picture = cv2.addWeighted(rgb, 1.0 - float(alpha), colorize(heat, colormap),
                              float(alpha), 0.0)
    if colorbar:
        _draw_colorbar(picture, colormap)
    if caption:
        _draw_caption(picture, caption)
    return picture


# Captions: OpenCV's Hershey font (no font files), sized from the image's short side.
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BOX = (24, 24, 24)          # the opaque box behind text
_TEXT = (255, 255, 255)
_MIN_TEXT = 8                # px: the smallest cap height drawn


def _ascii_lines(caption):
    import unicodedata

    text = unicodedata.normalize("NFKD", caption).encode("ascii", "ignore").decode("ascii")
    return [" ".join(line.split()) for line in text.split("\n")] or [""]


def _text_height(shape):
    """Cap height in px for an image of `shape`: 4.5% of the short side, at least 8 px."""
    return max(_MIN_TEXT, 0.045 * min(shape[:2]))


def _layout(shape, caption):
    """`(lines, scale, thickness, line_step, pad, box)` of a caption on an image of `shape`:
    the font scaled to the image, shrunk (not below `_MIN_TEXT`) to fit its width, lines
    still too long shortened with "..."."""
    height, width = shape[:2]
    lines = _ascii_lines(caption)
    cap = cv2.getTextSize("H", _FONT, 1.0, 1)[0][1]
    scale, _, pad = _font(shape)
    room = max(1, width - 3 * pad)

    def size(text, s):
        thickness = max(1, round(1.6 * s))
        return cv2.getTextSize(text, _FONT, s, thickness)

    widest = max(size(line, scale)[0][0] for line in lines)
    if widest > room:
        scale = max(_MIN_TEXT / cap, scale * room / widest)
    fitted = []
    for line in lines:
        while line and size(line, scale)[0][0] > room:
            line = line[:-4].rstrip() + "..." if len(line) > 4 else line[:-1]
        fitted.append(line)
    (_, text_h), base = size("Hg", scale)
    thickness = max(1, round(1.6 * scale))
    step = text_h + base + max(1, pad // 2)
    box_w = min(width, max(size(line, scale)[0][0] for line in fitted) + 2 * pad)
    box_h = min(height, step * len(fitted) - max(1, pad // 2) + 2 * pad)
    top = left = min(pad, max(0, height - box_h), max(0, width - box_w))
    return fitted, scale, thickness, step, pad, (top, left, top + box_h, left + box_w)


def caption_box(shape, caption):
    """`(top, left, bottom, right)` of the box `overlay(..., caption=caption)` draws on an
    image of `shape` `(H, W, ...)`: the only pixels a caption changes.

    Example:
    >>> tfg.visualize.caption_box((224, 224), "tabby 81.2%")
    (4, 4, 25, 76)
    """
    return _layout(shape, caption)[-1]


def _draw_caption(picture, caption):
    """Draw on `picture` (uint8 RGB, modified) inside `caption_box` only."""
    lines, scale, thickness, step, pad, (top, left, bottom, right) = _layout(
        picture.shape, caption)
    if bottom <= top or right <= left:
        return
    # Drawn on a canvas the size of the box, then pasted: nothing outside the box changes.
    canvas = np.empty((bottom - top, right - left, 3), np.uint8)
    canvas[:] = _BOX
    (_, text_h), _ = cv2.getTextSize("Hg", _FONT, scale, thickness)
    for i, line in enumerate(lines):
        cv2.putText(canvas, line, (pad, pad + text_h + i * step), _FONT, scale, _TEXT,
                    thickness, cv2.LINE_AA)
    picture[top:bottom, left:right] = canvas


def _font(shape):
    """`(scale, thickness, pad)` of the text on an image of `shape` (before fitting)."""
    text = _text_height(shape)
    scale = text / cv2.getTextSize("H", _FONT, 1.0, 1)[0][1]
    return scale, max(1, round(1.6 * scale)), max(2, round(0.4 * text))


def colorbar_box(shape):
    """`(top, left, bottom, right)` of the colour bar `overlay(..., colorbar=True)` draws
    on an image of `shape`: at the right edge, vertically centred, 40% of the height.

    Example:
    >>> tfg.visualize.colorbar_box((224, 224))
    (67, 188, 157, 220)
    """
    height, width = shape[:2]
    scale, thickness, pad = _font(shape)
    (label_w, label_h), _ = cv2.getTextSize("0", _FONT, scale, thickness)
    box_w = min(width, max(round(1.2 * label_h), 3) + label_w + 3 * pad)
    box_h = min(height, max(round(0.4 * height), 4 * label_h + 4 * pad))
    top = (height - box_h) // 2
    left = max(0, width - box_w - pad)
    return top, left, top + box_h, left + box_w


def _draw_colorbar(picture, colormap):
    """Draw on `picture` (uint8 RGB, modified) inside `colorbar_box` only."""
    top, left, bottom, right = colorbar_box(picture.shape)
    scale, thickness, pad = _font(picture.shape)
    (_, label_h), _ = cv2.getTextSize("0", _FONT, scale, thickness)
    canvas = np.empty((bottom - top, right - left, 3), np.uint8)
    canvas[:] = _BOX
    bar_w = max(round(1.2 * label_h), 3)
    bar_top, bar_bottom = pad, canvas.shape[0] - pad
    if bar_bottom - bar_top >= 2:
        values = np.linspace(1.0, 0.0, bar_bottom - bar_top)
        canvas[bar_top:bar_bottom, pad:pad + bar_w] = _lut(colormap)[
            np.round(values * 255).astype(np.intp)][:, None]
        x = 2 * pad + bar_w
        cv2.putText(canvas, "1", (x, bar_top + label_h), _FONT, scale, _TEXT, thickness,
                    cv2.LINE_AA)
        cv2.putText(canvas, "0", (x, bar_bottom), _FONT, scale, _TEXT, thickness, cv2.LINE_AA)
    picture[top:bottom, left:right] = canvas


def caption_text(class_name=None, probability=None, method=None, class_index=None):
    """The usual caption: `"Egyptian cat (285) 62.3%\\ngradcam"`.

    Args:
        class_name: The class's name; a comma-separated synonym list (the ImageNet names)
            is cut at its first comma. Defaults to `None`.
        probability: The class probability in [0, 1], shown as a percentage. Defaults to
            `None` (not shown).
        method: The method's name, on the second line. Defaults to `None`.
        class_index: The class index, shown in parentheses after the name (alone as
            "class 285" without a name). Defaults to `None`.

    Returns:
        A `str` for `overlay(..., caption=)`.

    Example:
    >>> tfg.visualize.caption_text("tabby, tabby cat", 0.4123, "gradcam", 281)
    'tabby (281) 41.2%\\ngradcam'
    """
    name = str(class_name).split(",")[0].strip() if class_name else ""
    index = None if class_index is None else int(class_index)
    if name and index is not None:
        first = f"{name} ({index})"
    else:
        first = name or ("" if index is None else f"class {index}")
    if probability is not None and np.isfinite(probability):
        first = f"{first} {100.0 * float(probability):.1f}%".strip()
    return "\n".join(line for line in (first, method or "") if line)


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
