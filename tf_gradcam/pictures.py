"""The overlay files the command line and the Beam pipeline write: one picture per explained
class, at the photo's own size (capped), with a caption, from a model-resolution heatmap.

Both callers decode with `files.decode_photo`, fit the photo to the model with
`geometry.fit`, and hand the explained heatmap back here, so their outputs are the same.
"""

import typing

from tf_gradcam import geometry

#: Default cap of the overlay's long side, in pixels (`--max-size`).
DEFAULT_MAX_SIZE = 2048


class Prepared(typing.NamedTuple):
    """A photo ready for the model: what it sees, what the overlay is drawn on, and how they
    relate."""

    model_image: "typing.Any"  # uint8 (h, w, 3) at the model's input size
    display: "typing.Any"  # uint8 (H', W', 3): the photo at its own size, capped by max_size
    placement: geometry.Placement  # model image <-> display
    original_size: tuple  # (height, width) the file declares
    note: str


def prepare(photo, size, fit="squash", max_size=DEFAULT_MAX_SIZE):
    """The model's image and the overlay's canvas of a decoded `files.Photo`.

    Args:
        photo: A `files.Photo` (possibly decoded at reduced scale).
        size: The model's input `(h, w)`.
        fit: `"squash"`, `"crop"` or `"pad"` (`geometry.fit`). Defaults to `"squash"`.
        max_size: Cap of the overlay's long side, or `None` for the photo's full size.
            Defaults to `DEFAULT_MAX_SIZE`.

    Returns:
        A `Prepared`.
    """
    display = geometry.resize(photo.image, geometry.capped_size(photo.original_size, max_size))
    model_image, where = geometry.fit(display, size, fit)
    return Prepared(model_image, display, where, tuple(photo.original_size), photo.note)


def caption(class_index, probability, method, labels=None):
    """The caption of one overlay (`visualize.caption_text`): the class name and index (the
    index alone without labels), the probability and the method.

    Example:
    >>> from tf_gradcam import pictures
    >>> pictures.caption(1, 0.5, "gradcam", ["square", "cross"])
    'cross (1) 50.0%\\ngradcam'
    """
    from tf_gradcam import visualize

    c = int(class_index)
    name = str(labels[c]) if labels is not None and 0 <= c < len(labels) else None
    return visualize.caption_text(name, probability, method, c)


def overlay(prepared, heatmap, *, alpha=0.4, colormap="jet", caption=None, colorbar=False):
    """One overlay picture: the heatmap mapped back onto the display image, blended, with an
    optional caption and colour bar (`tfg.overlay`).

    Args:
        prepared: The `Prepared` photo.
        heatmap: The explained map at the model's resolution: `(h, w)` in [0, 1], or an
            `(h, w, 3)` image-sized map (Guided Grad-CAM), which is drawn as it is, mapped
            back the same way.
        alpha: Heatmap weight. Defaults to `0.4`.
        colormap: A matplotlib colormap name. Defaults to `"jet"`.
        caption: Text drawn on the picture, or `None`. Defaults to `None`.
        colorbar: Draw a colour bar. Defaults to `False`.

    Returns:
        `(picture, mapped)`: uint8 RGB at the display size, and the float32 heatmap on the
        display's pixels (gray for an RGB map).
    """
    import numpy as np

    from tf_gradcam import visualize

    extra = {"caption": caption} if caption else {}
    if colorbar:
        extra["colorbar"] = True
    heat = np.asarray(heatmap, np.float32)
    if heat.ndim == 3:  # Guided Grad-CAM: an RGB map; each channel goes back the same way
        rgb = np.stack([geometry.to_original(heat[..., k], prepared.placement)
                        for k in range(heat.shape[-1])], -1)
        picture = visualize.to_uint8_rgb(rgb)
        if caption:
            picture = visualize.overlay(picture, np.zeros(picture.shape[:2]), 0.0,
                                        caption=caption)  # the caption alone
        return picture, rgb.mean(-1)
    mapped = geometry.to_original(heat, prepared.placement)
    picture = visualize.overlay(prepared.display, mapped, alpha, colormap, **extra)
    return picture, mapped
