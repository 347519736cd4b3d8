"""TF ops shared by every explainer: pick the classes, resize and normalise maps.

All functions take and return tensors, so they run inside the explainers' `tf.function`
(on the GPU when there is one) and inside exported SavedModels.
"""

import tensorflow as tf

#: Relative range under which a map counts as constant during normalisation.
FLAT_TOLERANCE = 1e-6


def select_classes(class_index, logits):
    """Replace -1 entries of `class_index` with each row's top-1 class.

    Args:
        class_index: int32 `(N,)`, -1 where the top-1 class is wanted.
        logits: float `(N, classes)`.

    Returns:
        `(classes, scores)`: int32 `(N,)` and the float32 logit of each chosen class.
    """
    top1 = tf.argmax(logits, axis=-1, output_type=tf.int32)
    classes = tf.where(class_index < 0, top1, class_index)
    scores = tf.gather(tf.cast(logits, tf.float32), classes, batch_dims=1)
    return classes, scores


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


def probabilities(logits, outputs, squashed):
    """Class probabilities: the model's outputs when it ends in a softmax/sigmoid
    (`squashed`), else the softmax of its logits (the sigmoid for a single output)."""
    if squashed:
        return tf.cast(outputs, tf.float32)
    if logits.shape[-1] == 1:
        return tf.sigmoid(logits)
    return tf.nn.softmax(logits, axis=-1)


def chunked(fn, total, batch_size):
    """Apply `fn(indices)` to `range(total)` in balanced chunks; concatenate the results.

    The work is split into `ceil(total / batch_size)` chunks of (nearly) equal size, none
    larger than `batch_size`, inside one `tf.while_loop`: the model called by `fn` is traced
    once for any size, and no forward pass is spent on padding (a 197-patch image at batch
    size 64 runs chunks of 50, 50, 50, 47 instead of four padded chunks of 64).

    Args:
        fn: Maps int32 indices `(n,)` to a float32 tensor `(n,)`.
        total: Scalar int32 tensor, the number of items.
        batch_size: Python int, the largest chunk.

    Returns:
        float32 `(total,)`.
    """
    steps = (total + batch_size - 1) // batch_size
    per_step = (total + tf.maximum(steps, 1) - 1) // tf.maximum(steps, 1)

    def body(step, results):
        start = step * per_step
        indices = tf.range(start, tf.minimum(start + per_step, total))
        return step + 1, results.write(step, fn(indices))

    _, results = tf.while_loop(
        lambda step, _: step < steps, body,
        [tf.constant(0), tf.TensorArray(tf.float32, size=steps, infer_shape=False,
                                        element_shape=tf.TensorShape([None]))])
    return tf.reshape(results.concat(), [total])
