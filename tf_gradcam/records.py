"""The summary schema: one row per explained (image, class), shared by `tf-gradcam explain` and
the Apache Beam pipeline, so both write the same columns.

A row is a plain dict with exactly the keys of `FIELDS`, in that order, whose values are already
JSON-safe (str, int, float, list, `None`). An image that could not be read or explained gets
one failure row: its `image` and `error` set, `None` in every numeric column and `""` in the
text ones. Explained rows have `error == ""`.

Columns:
    image: The input's path (or URI) as the run was given it.
    rank: 1 for the image's top-1 class (or the class asked for), 2 for the next, ...
    class_index: The explained class.
    class_name: The class's name from the labels, `""` without labels.
    score: The explained score (the logit for models ending in a softmax/sigmoid).
    probability: The model's probability of that class (`Explanation.probabilities`), `None`
        where the explained output is not a classifier.
    heatmap_mean: Mean of the heatmap in [0, 1] (the fraction of the image the map covers).
    heatmap_peak_yx: `[y, x]` of the heatmap's maximum, in the photo's own pixels where the
        row knows the photo's size (`original_height`, `original_width`), else in the pixels
        of the heatmap.
    layer: The explained layer (several joined by ",").
    method: Registry name of the method.
    overlay: Path of the written overlay, `""` when none was written.
    original_width: Width of the photo as its file declares it, `None` where unknown (e.g.
        a file that could not be read).
    original_height: Its height, likewise.
    note: What was done to the input to fit the model (grayscale to RGB, 16 to 8 bits, ...).
    error: Why the image failed, `""` when it was explained.
    box: `[y1, x1, y2, x2]` of the explained detection (`--target detection`), in the photo's
        own pixels where the row knows the photo's size, else in the model input's pixels;
        `None` for other targets (added in 0.3, after `error`, so earlier columns keep their
        places).
"""

import math
import pathlib
import typing

import numpy as np

#: Column names of the summary, in order (CSV header, JSON Lines keys, Parquet schema).
FIELDS = ("image", "rank", "class_index", "class_name", "score", "probability", "heatmap_mean",
          "heatmap_peak_yx", "layer", "method", "overlay", "original_width", "original_height",
          "note", "error", "box")

_TEXT_FIELDS = ("class_name", "layer", "method", "overlay", "note", "error")


class Explained(typing.NamedTuple):
    """One explained class of one image: what a summary row and an overlay are made from."""

    rank: int
    class_index: int
    score: float
    probability: typing.Optional[float]  # None where the output is not a classifier
    heatmap: np.ndarray
    box: typing.Optional[tuple] = None  # (y1, x1, y2, x2) of an explained detection


def explained(explanation, i, first_rank=1):
    """The explained classes of image `i` of a batch `Explanation`, best rank first.

    Handles both layouts: one class per image (`class_index` `(N,)`, `heatmaps` `(N, H, W)`
    or `(N, H, W, 3)` for Guided Grad-CAM) and several (`class_index` `(N, K)`, `heatmaps`
    `(N, K, H, W)`).

    Args:
        explanation: A batch `Explanation` (with a batch axis).
        i: Index of the image in the batch.
        first_rank: Rank of the first class found there (for batches explained one rank at a
            time). Defaults to `1`.

    Returns:
        A list of `Explained`, one per class.

    Example:
    >>> from tf_gradcam import records
    >>> exp = tfg.GradCAM(model).explain(images)
    >>> [(e.rank, e.class_index == int(exp.class_index[0])) for e in records.explained(exp, 0)]
    [(1, True)]
    """
    classes = np.asarray(explanation.class_index[i])
    several = classes.ndim == 1
    classes = classes.reshape(-1)
    scores = np.asarray(explanation.scores[i]).reshape(-1)
    probabilities = (None if explanation.probabilities is None
                     else np.asarray(explanation.probabilities[i]))
    result = []
    for k, c in enumerate(classes):
        c = int(c)
        result.append(Explained(
            rank=first_rank + k, class_index=c, score=float(scores[k]),
            probability=None if probabilities is None else float(probabilities[c]),
            heatmap=explanation.heatmaps[i][k] if several else explanation.heatmaps[i]))
    return result


def row(image, item, *, layer, method, overlay="", note="", labels=None, original_size=None):
    """The summary row of one explained class of one image.

    Args:
        image: The input's path or URI (`str` or `pathlib.Path`).
        item: An `Explained` (from `explained`).
        layer: The explained layer's name, or a list of names.
        method: Registry name of the method.
        overlay: Path of the written overlay. Defaults to `""` (none written).
        note: What was done to the input to fit the model. Defaults to `""`.
        labels: Class names, `labels[c]` for class `c`. Defaults to `None` (no names).
        original_size: `(height, width)` of the photo; the heatmap's peak is scaled from the
            heatmap's pixels to the photo's. Defaults to `None` (unknown: the peak stays in
            the heatmap's pixels). `item.box` is written as given (the caller maps it).

    Returns:
        A dict with the keys of `FIELDS`, JSON-safe values.

    Example:
    >>> from tf_gradcam import records
    >>> exp = tfg.GradCAM(model).explain(images)
    >>> r = records.row("a.png", records.explained(exp, 0)[0], layer=exp.layer,
    ...                 method=exp.method, labels=["square", "cross"])
    >>> r["class_name"] == ["square", "cross"][int(exp.class_index[0])], r["error"]
    (True, '')
    """
    heat = np.asarray(item.heatmap)
    if heat.ndim == 3:  # Guided Grad-CAM: an RGB map
        heat = heat.mean(-1)
    c = int(item.class_index)
    peak = np.unravel_index(int(heat.argmax()), heat.shape)
    if original_size is not None:  # the pixel of the photo under the heatmap's peak pixel
        peak = [min(int(v * n / m), n - 1) for v, n, m in zip(peak, original_size, heat.shape)]
    return {
        "image": str(image), "rank": int(item.rank), "class_index": c,
        "class_name": str(labels[c]) if labels is not None and 0 <= c < len(labels) else "",
        "score": float(item.score),
        "probability": None if item.probability is None else float(item.probability),
        "heatmap_mean": float(heat.mean()),
        "heatmap_peak_yx": [int(v) for v in peak],
        "layer": ",".join(layer) if isinstance(layer, (list, tuple)) else str(layer),
        "method": str(method), "overlay": str(overlay or ""),
        "original_width": None if original_size is None else int(original_size[1]),
        "original_height": None if original_size is None else int(original_size[0]),
        "note": str(note or ""), "error": "",
        "box": None if item.box is None else [round(float(v), 2) for v in item.box]}


def explanation_rows(explanation, i, image, *, overlays=None, note="", labels=None):
    """The summary rows of image `i` of a batch `Explanation`, one per explained class.

    Args:
        explanation: A batch `Explanation`.
        i: Index of the image in the batch.
        image: The input's path or URI.
        overlays: Overlay paths, one per explained class of the image, in rank order.
            Defaults to `None` (no overlays written).
        note: What was done to the input to fit the model. Defaults to `""`.
        labels: Class names. Defaults to `None`.

    Returns:
        A list of row dicts (keys `FIELDS`).

    Raises:
        ValueError: `overlays` does not have one path per explained class.

    Example:
    >>> from tf_gradcam import records
    >>> exp = tfg.GradCAM(model).explain(images)
    >>> rows = records.explanation_rows(exp, 1, "b.png")
    >>> len(rows), rows[0]["rank"], rows[0]["class_index"] == int(exp.class_index[1])
    (1, 1, True)
    """
    items = explained(explanation, i)
    overlays = [""] * len(items) if overlays is None else list(overlays)
    if len(overlays) != len(items):
        raise ValueError(
            f"Image {i} has {len(items)} explained classes but {len(overlays)} overlay paths "
            f"were given; pass one path per class (or `overlays=None`). "
            f"Received: overlays={overlays!r}")
    return [row(image, item, layer=explanation.layer, method=explanation.method,
                overlay=path, note=note, labels=labels) for item, path in zip(items, overlays)]


def failure_row(image, error, note="", original_size=None):
    """The one summary row of an image that could not be read or explained.

    Args:
        image: The input's path or URI.
        error: Why it failed (a message or an exception).
        note: What was done to the input before it failed. Defaults to `""`.
        original_size: `(height, width)` from the file's header when it was read (e.g. an
            image refused as too large). Defaults to `None`.

    Returns:
        A row dict (keys `FIELDS`): `None` in the numeric columns, `""` in the text ones.

    Example:
    >>> from tf_gradcam import records
    >>> records.failure_row("empty.png", "the file is empty (0 bytes)")["error"]
    'the file is empty (0 bytes)'
    """
    if isinstance(error, BaseException) and not isinstance(error, ValueError):
        error = f"{type(error).__name__}: {error}"  # ValueErrors carry a full message already
    result = {name: ("" if name in _TEXT_FIELDS else None) for name in FIELDS}
    error = " ".join(str(error).split()) or "unknown error"  # one line: greppable, CSV-safe
    result.update(image=str(image), note=str(note or ""), error=error)
    if original_size is not None:
        result.update(original_height=int(original_size[0]), original_width=int(original_size[1]))
    return result


def json_safe(value):
    """`value` with NumPy scalars and arrays, paths and tuples turned into JSON types.

    Non-finite floats become `None` (JSON has no NaN). Dicts and lists are converted
    recursively; a new object is returned, the input is not modified.

    Example:
    >>> from tf_gradcam import records
    >>> records.json_safe({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], 'c': None}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def csv_values(record):
    """The CSV cells of a row, in `FIELDS` order: lists as JSON, `None` as an empty cell.

    Example:
    >>> from tf_gradcam import records
    >>> records.csv_values(records.failure_row("x.png", "bad"))[:3]
    ['x.png', '', '']
    """
    import json

    cells = []
    for name in FIELDS:
        value = json_safe(record.get(name))
        if value is None:
            cells.append("")
        elif isinstance(value, list):
            cells.append(json.dumps(value))
        elif isinstance(value, float):
            cells.append(repr(value))
        else:
            cells.append(str(value))
    return cells


def from_csv(cells):
    """A row dict from the CSV cells `csv_values` wrote (types restored).

    Example:
    >>> from tf_gradcam import records
    >>> exp = tfg.GradCAM(model).explain(images)
    >>> r = records.explanation_rows(exp, 0, "a.png")[0]
    >>> records.from_csv(records.csv_values(r)) == r
    True
    """
    import json

    record = dict(zip(FIELDS, cells))
    for name in FIELDS:
        value = record.get(name, "")
        if name in _TEXT_FIELDS or name == "image":
            record[name] = value
        elif value == "":
            record[name] = None
        elif name in ("rank", "class_index", "original_width", "original_height"):
            record[name] = int(value)
        elif name in ("heatmap_peak_yx", "box"):
            record[name] = json.loads(value)
        else:
            record[name] = float(value)
    return record
