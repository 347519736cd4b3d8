"""Where a photo goes in the model's input, and back: fit, map heatmaps to the original.

The model sees a fixed size `(h, w)`; a photo has its own `(H, W)`. `fit` makes the model's
image one of three ways and returns a `Placement` that says where the photo went;
`to_original` uses it to lay a model-resolution heatmap onto the photo's own pixels.

- `"squash"` (the default): resize to `(h, w)`, changing the aspect ratio.
- `"crop"`: cut the largest centred box of the model's aspect ratio, then resize it; the
  heatmap is 0 outside that box on the original.
- `"pad"`: letterbox: resize keeping the aspect ratio, centred on a canvas of zeros (black
  bars for uint8 pixels); the heatmap of the bars is dropped.

Coordinates are continuous pixel coordinates, `(row, column)`; pixel `i` covers `[i, i + 1)`
with its centre at `i + 0.5` (OpenCV's and scikit-image's resize convention). Plain functions
that never modify their inputs.
"""

import dataclasses

import numpy as np

#: The ways `fit` turns a photo into the model's image; the first is the default.
FITS = ("squash", "crop", "pad")

_CV2_DEPTHS = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the part of a photo the model sees lies, on the photo and in the model's image.

    The box `source` of the original maps linearly onto the box `target` of the model's
    image: the whole photo onto the whole input (`"squash"`), a centred crop onto the whole
    input (`"crop"`), the whole photo onto a centred box (`"pad"`).

    Attributes:
        original_size: `(H, W)` of the photo.
        model_size: `(h, w)` of the model's image.
        fit: One of `FITS`.
        source: `(top, left, bottom, right)` in original pixels (integers): the region of the
            photo the model sees.
        target: `(top, left, bottom, right)` in model pixels (integers): where that region
            lies in the model's image.
    """

    original_size: tuple
    model_size: tuple
    fit: str
    source: tuple
    target: tuple

    def _scales(self):
        (st, sl, sb, sr), (tt, tl, tb, tr) = self.source, self.target
        return (tb - tt) / (sb - st), (tr - tl) / (sr - sl)

    def to_model(self, row, column):
        """Original pixel coordinates -> model image coordinates (continuous; see module).

        Example:
        >>> _, where = tfg.geometry.fit(np.zeros((100, 200, 3)), (50, 50), "crop")
        >>> where.to_model(50.0, 100.0)
        (25.0, 25.0)
        """
        sy, sx = self._scales()
        return (self.target[0] + (row - self.source[0]) * sy,
                self.target[1] + (column - self.source[1]) * sx)

    def to_original(self, row, column):
        """Model image coordinates -> original pixel coordinates (inverse of `to_model`)."""
        sy, sx = self._scales()
        return (self.source[0] + (row - self.target[0]) / sy,
                self.source[1] + (column - self.target[1]) / sx)

    def to_dict(self):
        """JSON-ready: lists for the tuples. `Placement(**d)` reads it back."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


def _size(name, value):
    try:
        h, w = (int(v) for v in value)
        valid = (h, w) == tuple(value) and h > 0 and w > 0
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"`{name}` is (height, width), two positive integers. "
                         f"Received: {name}={value!r}")
    return h, w


def _image(image):
    array = np.asarray(image)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError("The image must be (height, width) or (height, width, channels). "
                         f"Received: image.shape={np.shape(image)}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"The image must hold numbers. Received: image.dtype={array.dtype}")
    return array


def as_heatmap(heatmap, dtype=np.float32):
    """A heatmap as a finite 2D array of `dtype` (`(H, W, 1)` is squeezed).

    Raises:
        ValueError: Not 2D, empty, or holding NaN/inf.
    """
    heat = np.asarray(heatmap, dtype=dtype)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2 or 0 in heat.shape:
        raise ValueError("A heatmap is 2D (height, width). "
                         f"Received: heatmap.shape={np.shape(heatmap)}")
    if not np.all(np.isfinite(heat)):
        raise ValueError("The heatmap contains NaN or infinite values. "
                         "Received: heatmap with non-finite values")
    return heat


def capped_size(size, max_size=None):
    """`(H, W)` scaled down (aspect kept, each side at least 1) so the long side is at most
    `max_size`; unchanged when it already fits or `max_size` is `None`.

    Example:
    >>> tfg.geometry.capped_size((3000, 4000), 2048)
    (1536, 2048)
    """
    h, w = _size("size", size)
    if max_size is None:
        return h, w
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < 1:
        raise ValueError(f"`max_size` caps the long side in pixels: a positive integer or "
                         f"None. Received: max_size={max_size!r}")
    scale = min(1.0, max_size / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _axis_weights(index, length):
    """Lower neighbour and weight of fractional `index`es into an axis of `length`, the
    edge replicated."""
    index = np.clip(index, 0.0, length - 1.0)
    low = np.minimum(np.floor(index).astype(np.intp), max(length - 2, 0))
    return low, np.minimum(low + 1, length - 1), (index - low).astype(np.float32)


def _bilinear(box, rows, cols):
    """`box` `(h, w)` sampled bilinearly at fractional `rows` x `cols` (edges replicated):
    exact float32 arithmetic (OpenCV's `warpAffine` interpolates with 1/32-pixel weights,
    which differ between OpenCV releases)."""
    y0, y1, wy = _axis_weights(rows, box.shape[0])
    x0, x1, wx = _axis_weights(cols, box.shape[1])
    top = box[y0][:, x0] * (1.0 - wx) + box[y0][:, x1] * wx
    bottom = box[y1][:, x0] * (1.0 - wx) + box[y1][:, x1] * wx
    return (top * (1.0 - wy)[:, None] + bottom * wy[:, None]).astype(np.float32)


def resize(image, size):
    """`image` `(H, W[, C])`, any numeric dtype, resized to `size` `(h, w)` by area
    averaging (OpenCV's `INTER_AREA`), same dtype and rank; returned as is when it already
    has that size."""
    import cv2

    array = _image(image)
    h, w = _size("size", size)
    if array.shape[:2] == (h, w):
        return array
    values = array if array.dtype.type in _CV2_DEPTHS else array.astype(np.float64)
    out = cv2.resize(values, (w, h), interpolation=cv2.INTER_AREA)
    out = out.reshape((h, w) + array.shape[2:])
    if out.dtype != array.dtype:
        if array.dtype.kind == "b":
            out = out >= 0.5
        elif array.dtype.kind in "iu":
            info = np.iinfo(array.dtype)
            out = np.clip(np.round(out), info.min, info.max)
        out = out.astype(array.dtype)
    return out


def cap_size(image, max_size):
    """An image scaled down (area averaging, aspect kept) so its long side is at most
    `max_size` pixels; the image itself when it already fits or `max_size` is `None`.

    Args:
        image: `(H, W[, C])`, any numeric dtype.
        max_size: The longest side allowed, in pixels, or `None` for no cap.

    Returns:
        The capped image, same dtype and rank.

    Raises:
        ValueError: Bad image shape or `max_size`.

    Example:
    >>> tfg.geometry.cap_size(np.zeros((3000, 4000, 3), np.uint8), 400).shape
    (300, 400, 3)
    """
    array = _image(image)
    return resize(array, capped_size(array.shape[:2], max_size))


def placement(original_size, model_size, fit="squash"):
    """The `Placement` `fit` uses for a photo of `original_size` in a model of
    `model_size` (without touching pixels: e.g. from an image file's header).

    Example:
    >>> tfg.geometry.placement((300, 451), (224, 224), "pad").target
    (37, 0, 186, 224)
    """
    (H, W), (h, w) = _size("original_size", original_size), _size("size", model_size)
    if fit not in FITS:
        raise ValueError(f"`fit` is how the image becomes the model's input size: one of "
                         f"{FITS}. Received: fit={fit!r}")
    source, target = (0, 0, H, W), (0, 0, h, w)
    if fit == "crop":
        if W * h > H * w:   # wider than the model's aspect: cut the sides
            cw = max(1, min(W, round(H * w / h)))
            left = (W - cw) // 2
            source = (0, left, H, left + cw)
        else:               # taller: cut top and bottom
            ch = max(1, min(H, round(W * h / w)))
            top = (H - ch) // 2
            source = (top, 0, top + ch, W)
    elif fit == "pad":
        scale = min(h / H, w / W)
        nh, nw = max(1, min(h, round(H * scale))), max(1, min(w, round(W * scale)))
        top, left = (h - nh) // 2, (w - nw) // 2
        target = (top, left, top + nh, left + nw)
    return Placement((H, W), (h, w), fit, source, target)


def fit(image, size, fit="squash"):  # noqa: A002 - the mode's name everywhere
    """The model's image of a photo, and where the photo went in it.

    Args:
        image: `(H, W[, C])` NumPy array, any numeric dtype (uint8 photos, 16-bit TIFF,
            float).
        size: The model's input `(h, w)`.
        fit: `"squash"` (plain resize, aspect ratio changed), `"crop"` (centred crop to the
            model's aspect ratio, then resize) or `"pad"` (letterbox: resize keeping the
            aspect ratio, centred on zeros). Defaults to `"squash"`.

    Returns:
        `(model_image, placement)`: `(h, w[, C])` in the image's dtype (area averaging), and
        the `Placement` that `to_original` needs to map a heatmap back.

    Raises:
        ValueError: Bad shape, `size` or `fit`.
        TypeError: Non-numeric image.

    Example:
    >>> photo = np.zeros((300, 451, 3), np.uint8)
    >>> model_image, where = tfg.geometry.fit(photo, (224, 224), fit="pad")
    >>> model_image.shape, where.original_size, where.target
    ((224, 224, 3), (300, 451), (37, 0, 186, 224))
    """
    array = _image(image)
    where = placement(array.shape[:2], size, fit)
    (st, sl, sb, sr), (tt, tl, tb, tr) = where.source, where.target
    content = resize(array[st:sb, sl:sr], (tb - tt, tr - tl))
    if where.target == (0, 0) + where.model_size:
        return content, where
    canvas = np.zeros(where.model_size + array.shape[2:], array.dtype)
    canvas[tt:tb, tl:tr] = content
    return canvas, where


def to_original(heatmap, placement, max_size=None):  # noqa: F811 - the argument's name
    """A model-resolution heatmap laid onto the photo's own pixels.

    Undoes `fit`: bilinear interpolation from the placement's `target` box of the heatmap
    onto its `source` box of the photo; outside a crop the heatmap is 0, padding is dropped.

    Args:
        heatmap: `(h', w')` values, at the model's input size (or any size: it is taken to
            cover the whole model image).
        placement: The `Placement` that `fit` returned.
        max_size: Cap the long side of the result (aspect kept), e.g. for a 50-megapixel
            photo. Defaults to `None` (the original size).

    Returns:
        float32 `(H, W)`, or the capped size (`capped_size(original_size, max_size)`).

    Raises:
        ValueError: A heatmap that is not 2D, NaN/inf values, a bad `max_size`.

    Example:
    >>> photo = np.zeros((300, 451, 3), np.uint8)
    >>> model_image, where = tfg.geometry.fit(photo, (224, 224), fit="crop")
    >>> tfg.geometry.to_original(np.ones((224, 224)), where, max_size=200).shape
    (133, 200)
    """
    import cv2

    if not isinstance(placement, Placement):
        raise TypeError(f"`placement` is what `fit` returned. "
                        f"Received: placement={placement!r}")
    heat = as_heatmap(heatmap)
    H, W = placement.original_size
    out_h, out_w = capped_size((H, W), max_size)
    # Only the heatmap's target box covers the photo (padding is dropped, not blended in).
    ky, kx = heat.shape[0] / placement.model_size[0], heat.shape[1] / placement.model_size[1]
    tt, tl, tb, tr = placement.target
    box = heat[round(tt * ky):max(round(tb * ky), round(tt * ky) + 1),
               round(tl * kx):max(round(tr * kx), round(tl * kx) + 1)]
    # Output pixel j has its centre at original x = (j + 0.5) * W / out_w; the source box
    # [sl, sr) spans the box's columns [0, box_w): index = (x - sl) * box_w / (sr - sl) - 0.5.
    st, sl, sb, sr = placement.source
    a_y, a_x = H / out_h * box.shape[0] / (sb - st), W / out_w * box.shape[1] / (sr - sl)
    b_y = (0.5 * H / out_h - st) * box.shape[0] / (sb - st) - 0.5
    b_x = (0.5 * W / out_w - sl) * box.shape[1] / (sr - sl) - 0.5
    out = _bilinear(box, a_y * np.arange(out_h) + b_y, a_x * np.arange(out_w) + b_x)
    if placement.fit == "crop":   # zero outside the crop, by each output pixel's centre
        rows = (np.arange(out_h) + 0.5) * (H / out_h)
        cols = (np.arange(out_w) + 0.5) * (W / out_w)
        out[(rows < st) | (rows >= sb), :] = 0.0
        out[:, (cols < sl) | (cols >= sr)] = 0.0
    return out
