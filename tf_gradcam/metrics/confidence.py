"""Average Drop and Increase in Confidence (Chattopadhay et al., "Grad-CAM++: Generalized
Gradient-Based Visual Explanations for Deep Convolutional Networks", WACV 2018, Sec. 5.1)."""

import numpy as np
import tensorflow as tf

from tf_gradcam import maps
from tf_gradcam.metrics import _common


def _build(ref, batch_size):
    explainer = ref()

    def confidences(images, heatmaps, classes):
        n = tf.shape(images)[0]
        explained = ref()

        def score(index):  # items 0..N-1: the images; N..2N-1: the images times their map
            image = index % n
            x = tf.gather(images, image)
            masked = x * tf.gather(heatmaps, image)[..., tf.newaxis]
            x = tf.where((index >= n)[:, tf.newaxis, tf.newaxis, tf.newaxis], masked, x)
            return explained.class_probability(x, tf.gather(classes, image))

        both = maps.chunked(score, 2 * n, batch_size)
        return both[:n], both[n:]

    return confidences, [
        _common.image_spec(explainer), tf.TensorSpec((None, None, None), tf.float32),
        tf.TensorSpec((None,), tf.int32)]


def confidence_change(explainer, images, explanation, *, class_index=None, batch_size=64):
    """Class probability of each image (`Y`) and of the image times its map (`O`).

    Args:
        explainer: The explainer whose model, preprocessing and class semantics score the
            images (its `class_probability`).
        images: `(N, H, W, C)` (or one image), as the explainer receives them.
        explanation: The `Explanation` to judge, or heatmaps `(N, H, W)` in [0, 1].
        class_index: The class of each map; needed when `explanation` is an array.
            Defaults to `None` (the explanation's classes).
        batch_size: Images per forward pass. Defaults to `64`.

    Returns:
        `(Y, O)`: two float64 arrays `(N,)`.
    """
    batch, heatmaps, classes = _common.checked_inputs(explainer, images, explanation,
                                                      class_index)
    batch_size = _common.positive_int("batch_size", batch_size)
    if heatmaps.min() < 0 or heatmaps.max() > 1:
        raise ValueError("Average Drop multiplies the image by its map, so the map must lie in "
                         "[0, 1] (an explainer's heatmaps do). Normalise it first. Received: "
                         f"heatmaps in [{heatmaps.min():.3g}, {heatmaps.max():.3g}]")
    function = _common.compiled(explainer, ("confidence", batch_size),
                                lambda ref: _build(ref, batch_size))
    y, o = function(batch, heatmaps, tf.constant(classes))
    return y.numpy().astype(np.float64), o.numpy().astype(np.float64)


def average_drop(explainer, images, explanation, *, class_index=None, batch_size=64,
                 return_per_image=False):
    """Average Drop %: how much of the class probability the map alone keeps, lower is better.

    With `Y` the class probability of the image and `O` that of the image multiplied by its
    heatmap (broadcast over channels, applied to the pixels the explainer receives, before its
    `preprocess`), `100 / N * sum(max(0, Y - O) / Y)` (Chattopadhay et al., WACV 2018, Eq. 19).

    Args:
        explainer: The explainer whose model, preprocessing and class semantics score the
            images (its `class_probability`).
        images: `(N, H, W, C)` (or one image), as the explainer receives them.
        explanation: The `Explanation` to judge, or heatmaps `(N, H, W)` in [0, 1].
        class_index: The class of each map; needed when `explanation` is an array.
            Defaults to `None` (the explanation's classes).
        batch_size: Images per forward pass. Defaults to `64`.
        return_per_image: Return a `MetricResult` with each image's drop in % instead of the
            float. Defaults to `False`.

    Returns:
        The Average Drop in %, a float in [0, 100].

    Raises:
        ValueError: Heatmaps not matching the images, outside [0, 1] or NaN; bad images or
            classes.

    Example:
    >>> from tf_gradcam import metrics
    >>> cam = tfg.GradCAM(model)
    >>> drop = metrics.average_drop(cam, images, cam.explain(images))
    >>> 0.0 <= drop <= 100.0
    True
    """
    y, o = confidence_change(explainer, images, explanation, class_index=class_index,
                             batch_size=batch_size)
    drop = 100.0 * np.divide(np.maximum(0.0, y - o), y, out=np.zeros_like(y), where=y > 0)
    return _common.finish(drop, return_per_image)


def increase_in_confidence(explainer, images, explanation, *, class_index=None, batch_size=64,
                           return_per_image=False):
    """Increase in Confidence %: how often the map alone raises the class probability.

    `100 / N * sum(1[Y < O])`, with `Y` and `O` as in `average_drop` (Chattopadhay et al.,
    WACV 2018, Eq. 20). Higher is better.

    Args:
        explainer: The explainer whose model, preprocessing and class semantics score the
            images (its `class_probability`).
        images: `(N, H, W, C)` (or one image), as the explainer receives them.
        explanation: The `Explanation` to judge, or heatmaps `(N, H, W)` in [0, 1].
        class_index: The class of each map; needed when `explanation` is an array.
            Defaults to `None` (the explanation's classes).
        batch_size: Images per forward pass. Defaults to `64`.
        return_per_image: Return a `MetricResult` whose `per_image` is 100 where the
            probability rose and 0 elsewhere. Defaults to `False`.

    Returns:
        The Increase in Confidence in %, a float in [0, 100].

    Raises:
        ValueError: As `average_drop`.

    Example:
    >>> from tf_gradcam import metrics
    >>> cam = tfg.GradCAM(model)
    >>> rise = metrics.increase_in_confidence(cam, images, cam.explain(images))
    >>> rise in (0.0, 50.0, 100.0)
    True
    """
    y, o = confidence_change(explainer, images, explanation, class_index=class_index,
                             batch_size=batch_size)
    return _common.finish(100.0 * (y < o), return_per_image)
