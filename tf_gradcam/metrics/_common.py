"""What every metric shares: input checks, the result type, compiled-function caching and
the TF helpers that order pixels and blur images."""

import dataclasses
import functools
import numbers
import weakref

import numpy as np
import tensorflow as tf

from tf_gradcam import inputs


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """A metric's aggregate with the per-image values it was computed from.

    Every metric returns `value` alone (a Python float) unless called with
    `return_per_image=True`, which returns this object.

    Attributes:
        value: The aggregate over the images, a Python float.
        per_image: float64 `(N,)`, each image's value (`value` is their mean, except where
            a metric's docstring says otherwise; NaN for images a metric had to skip).
        x: `(K,)` the positions of `curves`: fractions of pixels removed (deletion,
            insertion), percentiles (ROAD), thresholds (MaxBoxAcc), cascade steps
            (randomization check); `None` for single-number metrics.
        curves: float64 `(N, K)`, each image's value at each position of `x`, or `None`.
        details: Further named arrays (e.g. ROAD's `"morf"` and `"lerf"` curves).
    """

    value: float
    per_image: np.ndarray
    x: np.ndarray = None
    curves: np.ndarray = None
    details: dict = dataclasses.field(default_factory=dict)


def finish(per_image, return_per_image, value=None, **fields):
    """`value` (default: the mean of the finite `per_image`) as a float, or a `MetricResult`."""
    per_image = np.asarray(per_image, np.float64)
    if value is None:
        value = float(np.nanmean(per_image)) if np.isfinite(per_image).any() else float("nan")
    if not return_per_image:
        return float(value)
    return MetricResult(float(value), per_image, **fields)


def heatmap_batch(explanation, name="explanation"):
    """`(heatmaps, class_index or None)` from an `Explanation` or a heatmap array.

    Heatmaps come back as float32 `(N, H, W)`; a single map `(H, W)` gets a batch axis.

    Raises:
        ValueError: Not 2D/3D (e.g. Guided Grad-CAM's RGB maps), empty, or non-finite.
    """
    classes = getattr(explanation, "class_index", None)
    maps = getattr(explanation, "heatmaps", explanation)
    if isinstance(maps, tf.Tensor):
        maps = maps.numpy()
    try:
        maps = np.asarray(maps, np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an `Explanation` or heatmaps (N, H, W) of numbers. "
                         f"Received: {name}={type(explanation).__name__}") from None
    if maps.ndim == 2:
        maps = maps[np.newaxis]
        classes = None if classes is None else np.reshape(classes, (1,))
    if maps.ndim != 3 or 0 in maps.shape:
        hint = (" With several classes per image (N, K, H, W) judge one at a time: "
                "`exp.heatmaps[:, k]` with `class_index=exp.class_index[:, k]`. Reduce RGB maps "
                "(Guided Grad-CAM's) to one channel first, e.g. `np.abs(maps - "
                "np.median(maps, axis=(1, 2, 3), keepdims=True)).mean(-1)`."
                if maps.ndim == 4 else "")
        raise ValueError(f"Heatmaps must be (N, H, W) or one (H, W) map.{hint} "
                         f"Received: heatmaps.shape={maps.shape}")
    if not np.isfinite(maps).all():
        raise ValueError("Heatmaps contain NaN or infinite values, so they rank no pixels. "
                         "Recompute them (an explainer's maps are always finite) or replace "
                         f"the NaNs. Received: heatmaps with {int((~np.isfinite(maps)).sum())} "
                         "non-finite values")
    return maps, classes


def gray_maps(heatmaps):
    """Heatmaps as `(N, H, W)` in [0, 1]: RGB maps (Guided Grad-CAM's, where 0 is mapped to
    a mid value) become each pixel's mean distance from the image's median, min-max scaled."""
    maps = np.asarray(heatmaps, np.float32)
    if maps.ndim != 4:
        return maps
    median = np.median(maps, axis=(1, 2, 3), keepdims=True)
    maps = np.abs(maps - median).mean(-1)
    low = maps.min(axis=(1, 2), keepdims=True)
    spread = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, spread, out=np.zeros_like(maps), where=spread > 0)


def checked_inputs(explainer, images, explanation, class_index=None):
    """Validate what a model-based metric receives.

    Returns:
        `(images, heatmaps, classes)`: float32 `(N, H, W, C)`, float32 `(N, H, W)` and int32
        `(N,)` (explicit classes, never -1).

    Raises:
        ValueError: Bad images, heatmaps that do not match them, or no class to score.
    """
    batch, _ = inputs.image_batch(images, explainer.input_shape)
    batch = np.asarray(batch, np.float32)
    maps, classes = heatmap_batch(explanation)
    if maps.shape != batch.shape[:3]:
        raise ValueError(
            f"The heatmaps must match the images: one (H, W) map per image, so shape "
            f"{batch.shape[:3]} for these images. Explain the same images, or resize the maps "
            f"to the images (`tf.image.resize`). Received: heatmaps.shape={maps.shape}")
    if class_index is not None:
        classes = class_index
    if classes is None:
        raise ValueError("Heatmaps given as an array do not say which class they explain: pass "
                         "`class_index=` (one int per image) or the `Explanation` itself. "
                         "Received: class_index=None")
    classes = class_vector(classes, batch.shape[0], getattr(explainer, "num_classes", None))
    return batch, maps, classes


def class_vector(class_index, n, num_classes):
    """`class_index` (an int or N ints) as int32 `(N,)`, every entry a valid class.

    Raises:
        ValueError: Not integers, the wrong length, or out of range.
    """
    values = np.asarray(class_index.numpy() if hasattr(class_index, "numpy") else class_index)
    if values.ndim == 0:
        values = np.full((n,), values)
    if (values.ndim != 1 or len(values) != n or values.dtype.kind not in "iu"
            or (values < 0).any()
            or (num_classes is not None and (values >= num_classes).any())):
        raise ValueError(
            f"`class_index` must give one class per image: {n} ints in [0, {num_classes}). "
            f"Received: class_index={np.asarray(class_index).tolist()!r}")
    return values.astype(np.int32)


def positive_int(name, value):
    return inputs.positive_int(name, value)


def check_in_range(name, value, low, high):
    """`value` as a float if `low <= value <= high`; else ValueError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or not low <= value <= high):
        raise ValueError(f"`{name}` must be a number in [{low}, {high}]. "
                         f"Received: {name}={value!r}")
    return float(value)


# Compiled functions, one per explainer and configuration, alive as long as the explainer.
# The function reaches the explainer through a weak reference, so the cache never keeps it.
_COMPILED = weakref.WeakKeyDictionary()


def compiled(explainer, key, build):
    """The compiled function for `(explainer, key)`, made on first use.

    `build(explainer_ref)` returns `(python_function, input_signature)`. `key` holds only
    the settings that change the graph (chunk size, kind of baseline), so repeated metric
    calls on one explainer reuse one trace. The function is wrapped in a
    `functools.partial`: TensorFlow's frequent-retracing warning counts traces per code
    object, and one trace for each of many explainers is not retracing."""
    functions = _COMPILED.setdefault(explainer, {})
    if key not in functions:
        function, signature = build(weakref.ref(explainer))
        functions[key] = tf.function(functools.partial(function), autograph=False,
                                     input_signature=signature)
    return functions[key]


def image_spec(explainer):
    return tf.TensorSpec((None,) + tuple(explainer.input_shape), tf.float32)


def pixel_ranks(heatmaps, seed):
    """Rank of each pixel by decreasing heatmap value, ties broken at random (seeded).

    Args:
        heatmaps: float32 `(N, H, W)`.
        seed: int32 `(2,)` tensor for the stateless tie-breaking.

    Returns:
        int32 `(N, H, W)`: 0 for the most relevant pixel. Equal values get a random order
        rather than the scan order, which would delete a constant map from the top row down.
    """
    shape = tf.shape(heatmaps)
    flat = tf.reshape(heatmaps, [shape[0], -1])
    shuffle = tf.argsort(tf.random.stateless_uniform(tf.shape(flat), seed), axis=-1)
    shuffled = tf.gather(flat, shuffle, batch_dims=1)
    order = tf.gather(shuffle, tf.argsort(-shuffled, axis=-1, stable=True), batch_dims=1)
    ranks = tf.argsort(order, axis=-1, stable=True)  # inverse permutation
    return tf.reshape(tf.cast(ranks, tf.int32), shape)


def gaussian_blur(images, sigma, size):
    """Separable Gaussian blur of `(N, H, W, C)` images, window `size`, mirrored borders."""
    radius = size // 2
    known = [d for d in images.shape[1:3] if d is not None]
    if known:  # mirrored padding needs fewer rows than the image has
        radius = min(radius, min(known) - 1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    channels = images.shape[-1]
    row = tf.constant(np.tile(kernel[None, :, None, None], (1, 1, channels, 1)))
    col = tf.constant(np.tile(kernel[:, None, None, None], (1, 1, channels, 1)))
    mode = "SYMMETRIC"
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode)
    out = tf.nn.depthwise_conv2d(padded, row, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, col, [1, 1, 1, 1], "VALID")


def trapezoid(x, y):
    """Area under `y` `(..., K)` over `x` `(K,)` by the trapezoid rule (NumPy)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return ((y[..., 1:] + y[..., :-1]) * np.diff(x) / 2).sum(-1)
