"""TF ops shared by every explainer: resize and normalise maps, chunked loops, token grids.

All functions take and return tensors, so they run inside the explainers' `tf.function`
(on the GPU when there is one) and inside exported SavedModels.
"""

import math
import numbers

import tensorflow as tf

#: Relative range under which a map counts as constant during normalisation.
FLAT_TOLERANCE = 1e-6

#: Default bound, in bytes, on the estimated memory of one chunk of masked forward passes
#: (occlusion, Score-CAM, Ablation-CAM): 64 MiB (0.3.0: 96 MiB; on ResNet50, CPU, chunks of 7
#: instead of 11 run at the same speed and keep the peak lower: benchmarks/results.md).
DEFAULT_MAX_MEMORY = 64 * 2 ** 20

#: Layer outputs counted as alive at once at the forward pass's peak (the largest one, its
#: input, a residual branch, ...). Measured on ResNet50 (CPU), each occluded copy adds
#: about 1x its largest activation plus 4x its input to the peak RSS; 2x is the margin.
_LIVE_OUTPUTS = 2
#: Copies of the input per masked item: the gathered image, its filler or mask, the masked
#: result and the preprocessed copy.
_INPUT_COPIES = 4


def upsample(maps, size):
    """Bilinear resize of `(N, h, w)` maps to `size = (H, W)`; returns `(N, H, W)`."""
    resized = tf.image.resize(maps[..., tf.newaxis], size, method="bilinear")
    return resized[..., 0]


def normalize(maps):
    """Per-map min-max scaling of `(N, H, W)` maps to [0, 1], without division by zero.

    A constant map carries no spatial information: it becomes all zeros, or all ones when
    its value is positive (uniform positive evidence). The result is never NaN for finite
    input.
    """
    low = tf.reduce_min(maps, axis=[1, 2], keepdims=True)
    high = tf.reduce_max(maps, axis=[1, 2], keepdims=True)
    spread = high - low
    scale = tf.maximum(tf.abs(high), tf.abs(low))
    flat = spread <= FLAT_TOLERANCE * scale
    scaled = (maps - low) / tf.where(flat, tf.ones_like(spread), spread)
    constant = tf.cast(maps > 0, maps.dtype) * tf.ones_like(maps)
    return tf.where(flat, constant, scaled)


def chunked(fn, total, batch_size, width=None):
    """Apply `fn(indices)` to `range(total)` in balanced chunks; concatenate the results.

    The work is split into `ceil(total / batch_size)` chunks of (nearly) equal size, none
    larger than `batch_size`, inside one `tf.while_loop`: the model called by `fn` is traced
    once for any size, and no forward pass is spent on padding (a 197-patch image at batch
    size 64 runs chunks of 50, 50, 50, 47 instead of four padded chunks of 64).

    Args:
        fn: Maps int32 indices `(n,)` to a float32 tensor `(n,)`, or `(n, width)`.
        total: Scalar int32 tensor, the number of items.
        batch_size: Python int, the largest chunk.
        width: `None` when `fn` returns `(n,)`; else the (scalar, maybe dynamic) size of
            its second axis. Defaults to `None`.

    Returns:
        float32 `(total,)`, or `(total, width)`.
    """
    steps = (total + batch_size - 1) // batch_size
    per_step = (total + tf.maximum(steps, 1) - 1) // tf.maximum(steps, 1)

    def body(step, results):
        start = step * per_step
        indices = tf.range(start, tf.minimum(start + per_step, total))
        return step + 1, results.write(step, fn(indices))

    _, results = tf.while_loop(
        lambda step, _: step < steps, body,
        [tf.constant(0), tf.TensorArray(
            tf.float32, size=steps, infer_shape=False,
            element_shape=tf.TensorShape([None] if width is None else [None, None]))])
    return tf.reshape(results.concat(), [total] if width is None else [total, width])


def forward_bytes(layer_infos, input_shape, item_size=4):
    """Estimated peak bytes one masked image costs in a chunked forward pass.

    Args:
        layer_infos: The model's `LayerInfo`s (`explainer.graph.layers`); their output
            shapes (batch axis dropped) give the activations' sizes. Unknown sizes count 0.
        input_shape: The image shape `(H, W, C)` (fully known).
        item_size: Bytes per value. Defaults to `4` (float32).

    Returns:
        int: `item_size * (4 * input size + 2 * largest layer output)`: the masked copies
        of the input and the few activations alive at once at the peak.
    """
    def size(shape):
        dims = [d for d in shape if d is not None]
        return math.prod(dims) if len(dims) == len(shape) else 0

    largest = max((size(info.shape) for info in layer_infos), default=0)
    return item_size * (_INPUT_COPIES * size(input_shape) + _LIVE_OUTPUTS * largest)


def chunk_size(item_bytes, max_memory=DEFAULT_MAX_MEMORY, limit=None):
    """The most items per chunk whose estimated memory fits in `max_memory`.

    Args:
        item_bytes: Estimated bytes of one item (see `forward_bytes`).
        max_memory: The budget in bytes, or `None` for no budget. Defaults to
            `DEFAULT_MAX_MEMORY` (64 MiB).
        limit: The largest chunk allowed whatever the budget (the explainer's
            `batch_size`), or `None`. Defaults to `None`.

    Returns:
        int >= 1: `min(limit, max_memory // item_bytes)`, at least 1 (one item always runs,
        even over budget).

    Raises:
        ValueError: `max_memory` is not a positive number or `None`.

    Example:
    >>> from tf_gradcam import maps
    >>> maps.chunk_size(10 * 2**20, max_memory=256 * 2**20, limit=64)
    25
    """
    if max_memory is None:
        return int(limit) if limit is not None else 2 ** 31 - 1
    if (isinstance(max_memory, bool) or not isinstance(max_memory, numbers.Real)
            or not max_memory > 0 or not math.isfinite(max_memory)):
        raise ValueError(
            "`max_memory` must be a positive number of bytes (e.g. `512 * 2**20` for 512 "
            f"MiB) or None for no bound. Received: max_memory={max_memory!r}")
    fits = max(1, int(max_memory // max(int(item_bytes), 1)))
    return fits if limit is None else min(int(limit), fits)


def token_grid(info, reshape=None):
    """The function that lays a layer's output out as `(M, h, w, D)` feature maps.

    Args:
        info: The layer's `LayerInfo` (its output shape decides).
        reshape: `None` (automatic) or a function `(M, T, D) -> (M, h, w, D)`.

    Returns:
        A function on `(M, ...)` tensors: the identity for 4D feature maps; for tokens
        `(M, T, D)` it drops the first r tokens (class/register tokens; the smallest r in
        0..8 with `T - r` a perfect square) and reshapes to `(M, s, s, D)`.

    Raises:
        ValueError: Tokens that no r in 0..8 makes square, without a `reshape` function (a
            token count known only at run time fails then, with `InvalidArgumentError`).
    """
    if reshape is not None:
        if not callable(reshape):
            raise TypeError("`reshape` must be None or a function (N, T, D) -> (N, h, w, D). "
                            f"Received: reshape={reshape!r}")
        return reshape
    if info.is_spatial:
        return lambda x: x
    tokens, channels = info.shape
    if tokens is None:  # known only when the graph runs: choose r in the graph
        return lambda x: _dynamic_grid(x, channels)
    for extra in range(9):
        side = int(round(max((tokens or 0) - extra, 0) ** 0.5))
        if tokens is not None and side > 0 and side * side == tokens - extra:
            return lambda x, r=extra, s=side: tf.reshape(x[:, r:], [-1, s, s, channels])
    raise ValueError(
        f"Layer {info.path!r} outputs {tokens} tokens; no count of leading class/register "
        "tokens in 0..8 leaves a square grid, so its tokens cannot be laid out as a map "
        "automatically. Pass `reshape=fn` mapping (N, T, D) to (N, h, w, D), or choose "
        f"another layer. Received: layer={info.path!r}, reshape=None")


def _dynamic_grid(x, channels):
    """`token_grid` for a token count known only at run time."""
    total = tf.shape(x)[1]
    extra = tf.range(9)
    side = tf.cast(tf.round(tf.sqrt(tf.cast(tf.maximum(total - extra, 0), tf.float32))),
                   tf.int32)
    square = tf.logical_and(side * side == total - extra, side > 0)
    tf.debugging.assert_equal(tf.reduce_any(square), True, message=(
        "no count of leading class/register tokens in 0..8 leaves a square grid; pass "
        "`reshape=fn` to the explainer"))
    first = tf.argmax(tf.cast(square, tf.int32), output_type=tf.int32)
    return tf.reshape(x[:, first:], [-1, side[first], side[first], channels])
