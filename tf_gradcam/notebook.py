"""How an `Explanation` shows itself: a one-line text form and an HTML grid for Jupyter.

`tfg.show(exp, images)` gives the same grid for an explanation that holds no images, and a
matplotlib figure of it (`.figure()`).
"""

import base64
import html as _html

import numpy as np

#: Long side of a thumbnail in the HTML grid, in pixels (shown 120 px high).
THUMBNAIL = 160
_SHOWN = 120


def _shape(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    return tuple(np.shape(value))


def _listing(values, limit=8):
    array = np.asarray(values)
    if array.size <= limit:
        return repr(array.tolist())
    flat = array.reshape(-1).tolist()[:limit]
    return f"[{', '.join(repr(v) for v in flat)}, ...] (shape {array.shape})"


def text(exp):
    """The short text form of an `Explanation`: method, layer, shapes and classes."""
    parts = [f"method={exp.method!r}", f"layer={exp.layer!r}",
             f"heatmaps={_shape(exp.heatmaps)}", f"cams={_shape(exp.cams)}",
             f"class_index={_listing(exp.class_index)}"]
    if exp.class_names is not None:
        parts.append(f"class_names={_listing(exp.class_names)}")
    parts.append(f"scores={_shape(exp.scores)}")
    if exp.probabilities is not None:
        parts.append(f"probabilities={_shape(exp.probabilities)}")
    return f"Explanation({', '.join(parts)})"


def _items(exp, images):
    """`[(image or None, [(heatmap, class, name, probability)])]`, one entry per image."""
    heatmaps, classes = np.asarray(exp.heatmaps), np.asarray(exp.class_index)
    names = None if exp.class_names is None else np.asarray(exp.class_names)
    probs = None if exp.probabilities is None else np.asarray(exp.probabilities)
    pictures = None if images is None else np.asarray(images)
    rgb = heatmaps.ndim - classes.ndim == 3        # Guided Grad-CAM: (..., H, W, C) maps
    single = pictures is not None and pictures.ndim == 3 or (
        pictures is None and classes.ndim == 0)
    if single:   # give everything a batch axis of one
        heatmaps, classes = heatmaps[None], classes[None]
        names = None if names is None else names[None]
        probs = None if probs is None else probs[None]
        pictures = None if pictures is None else pictures[None]
    several = heatmaps.ndim - (3 if rgb else 2) == 2   # a K axis after the batch axis
    if not several:
        heatmaps, classes = heatmaps[:, None], classes[:, None]
        names = None if names is None else names[:, None]
    items = []
    for i in range(len(heatmaps)):
        row = []
        for k in range(heatmaps.shape[1]):
            c = int(classes[i, k])
            p = None
            if probs is not None and probs.ndim == 2 and 0 <= c < probs.shape[1]:
                p = float(probs[i, c])
            row.append((heatmaps[i, k], c, None if names is None else str(names[i, k]), p))
        items.append((None if pictures is None else pictures[i], row))
    return items


def _picture(image, heatmap, alpha, colormap):
    """uint8 RGB: the overlay, the heatmap alone without an image, or an RGB map as is."""
    from tf_gradcam import visualize

    if heatmap.ndim == 3:   # an RGB map in [0, 1] (Guided Grad-CAM)
        return visualize.to_uint8_rgb(np.clip(heatmap, 0.0, 1.0))
    if image is None:
        return visualize.colorize(heatmap, colormap)
    return visualize.overlay(image, heatmap, alpha, colormap)


def _png(picture, size=THUMBNAIL):
    import cv2

    from tf_gradcam import geometry

    small = geometry.cap_size(picture, size)
    ok, data = cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise RuntimeError("OpenCV could not encode a thumbnail as PNG")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def _label(c, name, p):
    first = f"{name.split(',')[0]} ({c})" if name else f"class {c}"
    return first + ("" if p is None else f" {100.0 * p:.1f}%")


_CELL = ("display:inline-block;margin:0 6px 6px 0;vertical-align:top;text-align:center;"
         "font:12px sans-serif")


def html(exp, images=None, *, alpha=0.4, colormap="jet", max_images=16):
    """The HTML grid of an `Explanation`: a row per image (the image, then an overlay per
    explained class, as embedded PNG thumbnails) with class names, probabilities, the
    method and the layer."""
    images = exp.images if images is None else images
    items = _items(exp, images)
    layer = ", ".join(exp.layer) if isinstance(exp.layer, (list, tuple)) else exp.layer
    head = (f"<div style='font:13px sans-serif;margin-bottom:4px'>"
            f"<b>{_html.escape(str(exp.method))}"
            f"</b> on layer <code>{_html.escape(str(layer))}</code>: {len(items)} image"
            f"{'' if len(items) == 1 else 's'}")
    if len(items) > max_images:
        head += f", showing the first {max_images}"
    rows = [head + "</div>"]
    for image, row in items[:max_images]:
        cells = []
        if image is not None:
            from tf_gradcam import visualize

            cells.append(_cell(_png(visualize.to_uint8_rgb(image)), "image"))
        for heatmap, c, name, p in row:
            cells.append(_cell(_png(_picture(image, heatmap, alpha, colormap)),
                               _label(c, name, p), title=name))
        rows.append(f"<div>{''.join(cells)}</div>")
    return f"<div class='tf-gradcam-explanation'>{''.join(rows)}</div>"


def _cell(src, caption, title=None):
    tip = f" title='{_html.escape(title, quote=True)}'" if title else ""
    return (f"<figure style='{_CELL}'{tip}><img src='{src}' style='display:block;"
            f"height:{_SHOWN}px;margin:auto'><figcaption>{_html.escape(caption)}"
            "</figcaption></figure>")


class Shown:
    """What `tfg.show` returns: Jupyter renders it as the HTML grid; `.figure()` draws the
    same grid with matplotlib."""

    def __init__(self, explanation, images=None, *, alpha=0.4, colormap="jet", max_images=16):
        self.explanation, self.images = explanation, images
        self.alpha, self.colormap, self.max_images = alpha, colormap, max_images

    def _repr_html_(self):
        return html(self.explanation, self.images, alpha=self.alpha, colormap=self.colormap,
                    max_images=self.max_images)

    def __repr__(self):
        return f"Shown({text(self.explanation)})"

    def figure(self, panel_size=2.4):
        """A `matplotlib.figure.Figure`: one row per image (at most `max_images`), the image
        then one overlay per class, titled with class name and probability."""
        from matplotlib.figure import Figure

        from tf_gradcam import visualize

        images = self.explanation.images if self.images is None else self.images
        items = _items(self.explanation, images)[:self.max_images]
        columns = max(len(row) for _, row in items) + (images is not None)
        figure = Figure(figsize=(panel_size * columns, (panel_size + 0.3) * len(items)))
        axes = figure.subplots(len(items), columns, squeeze=False)
        for axes_row, (image, row) in zip(axes, items):
            panels = [] if image is None else [("image", visualize.to_uint8_rgb(image))]
            panels += [(_label(c, name, p), _picture(image, h, self.alpha, self.colormap))
                       for h, c, name, p in row]
            for axis in axes_row:
                axis.axis("off")
            for axis, (title, picture) in zip(axes_row, panels):
                axis.imshow(picture)
                axis.set_title(title, fontsize=8)
        figure.tight_layout()
        return figure


def show(explanation, images=None, *, alpha=0.4, colormap="jet", max_images=16):
    """Show an `Explanation` in a notebook: a grid of overlays with class names and
    probabilities.

    Args:
        explanation: What `explain` returned.
        images: The images it explains; `None` uses the ones it keeps (`images`), or shows
            the heatmaps alone when it has none. Defaults to `None`.
        alpha: Heatmap weight of the overlays. Defaults to `0.4`.
        colormap: matplotlib colormap name. Defaults to `"jet"`.
        max_images: Show at most this many images. Defaults to `16`.

    Returns:
        An object Jupyter displays as the HTML grid; its `.figure()` is a matplotlib
        `Figure` of the same grid.

    Example:
    >>> shown = tfg.show(tfg.GradCAM(model, labels=["square", "cross"]).explain(images))
    >>> "square" in shown._repr_html_() or "cross" in shown._repr_html_()
    True
    >>> len(shown.figure().axes)
    4
    """
    if not hasattr(explanation, "heatmaps") or not hasattr(explanation, "class_index"):
        raise TypeError("`tfg.show` shows an `Explanation` (what `explain` returns). "
                        f"Received: explanation of type {type(explanation).__name__}")
    return Shown(explanation, images, alpha=alpha, colormap=colormap, max_images=max_images)
