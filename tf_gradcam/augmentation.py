"""Test-time augmentation for heatmaps: mirror and zoom the image, map each map back, average.

All TF ops with dynamic sizes, so it runs inside the explainers' compiled function.
"""

import tensorflow as tf

from tf_gradcam import maps

ZOOM_IN, ZOOM_OUT = 1.1, 0.9


def _scaled(size, factor):
    return tf.cast(tf.round(tf.cast(size, tf.float32) * factor), tf.int32)


def views(images):
    """The augmented copies of `(N, H, W, C)` images: mirrored, zoomed in, zoomed out."""
    n, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    mirrored = images[:, :, ::-1]
    margin = (1.0 - 1.0 / ZOOM_IN) / 2.0
    boxes = tf.tile([[margin, margin, 1.0 - margin, 1.0 - margin]], [n, 1])
    zoomed_in = tf.image.crop_and_resize(images, boxes, tf.range(n), tf.stack([height, width]))
    small_h, small_w = _scaled(height, ZOOM_OUT), _scaled(width, ZOOM_OUT)
    small = tf.image.resize(images, tf.stack([small_h, small_w]))
    top, left = (height - small_h) // 2, (width - small_w) // 2
    zoomed_out = tf.pad(small, [[0, 0], [top, height - small_h - top],
                                [left, width - small_w - left], [0, 0]], mode="SYMMETRIC")
    return tf.concat([mirrored, zoomed_in, zoomed_out], axis=0)


def map_back(heatmaps, n):
    """Undo `views` on their `(3N, H, W)` heatmaps; returns `(sum, coverage)`, each `(N, H, W)`."""
    height, width = tf.shape(heatmaps)[1], tf.shape(heatmaps)[2]
    mirrored, zoomed_in, zoomed_out = heatmaps[:n], heatmaps[n:2 * n], heatmaps[2 * n:]
    crop_h, crop_w = _scaled(height, 1.0 / ZOOM_IN), _scaled(width, 1.0 / ZOOM_IN)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    inner = maps.upsample(zoomed_in, tf.stack([crop_h, crop_w]))
    pad = [[0, 0], [top, height - crop_h - top], [left, width - crop_w - left]]
    zoomed_in = tf.pad(inner, pad)
    inner_coverage = tf.pad(tf.ones_like(inner), pad)
    small_h, small_w = _scaled(height, ZOOM_OUT), _scaled(width, ZOOM_OUT)
    top, left = (height - small_h) // 2, (width - small_w) // 2
    zoomed_out = maps.upsample(zoomed_out[:, top:top + small_h, left:left + small_w],
                               tf.stack([height, width]))
    total = mirrored[:, :, ::-1] + zoomed_in + zoomed_out
    coverage = 2.0 + inner_coverage
    return total, coverage


def averaged(heatmap_fn, images, classes, heatmaps):
    """Average `heatmaps` with those of the augmented views, mapped back; renormalised.

    Args:
        heatmap_fn: `(images, classes) -> (N, K, H, W)` heatmaps in [0, 1].
        images: float32 `(N, H, W, C)`, raw (before preprocessing).
        classes: int32 `(N, K)`, the classes of the unaugmented images (kept for the views).
        heatmaps: `(N, K, H, W)`, the unaugmented maps.
    """
    n, k = tf.shape(classes)[0], tf.shape(classes)[1]
    height, width = tf.shape(heatmaps)[2], tf.shape(heatmaps)[3]
    augmented = heatmap_fn(views(images), tf.tile(classes, [3, 1]))  # (3N, K, H, W)
    total, coverage = map_back(tf.reshape(augmented, [3 * n * k, height, width]), n * k)
    flat = tf.reshape(heatmaps, [n * k, height, width])
    averaged_maps = maps.normalize((flat + total) / (1.0 + coverage))
    return tf.reshape(averaged_maps, [n, k, height, width])
