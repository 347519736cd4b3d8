"""Deletion and Insertion (Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of
Black-box Models", BMVC 2018, Sec. 4.1): the class probability as the most relevant pixels are
removed from the image, or inserted into a blurred copy, and the area under that curve."""

import numbers

import numpy as np
import tensorflow as tf

from tf_gradcam import maps
from tf_gradcam.metrics import _common

#: RISE's insertion substrate: a Gaussian blur, sigma 5 pixels, in an 11 x 11 window.
BLUR_SIGMA, BLUR_SIZE = 5.0, 11


def _build(ref, batch_size, insert, blur):
    explainer = ref()

    def curve(images, heatmaps, classes, counts, fill, seed):
        explained = ref()
        ranks = _common.pixel_ranks(heatmaps, seed)
        substrate = (_common.gaussian_blur(images, BLUR_SIGMA, BLUR_SIZE) if blur
                     else tf.fill(tf.shape(images), fill))
        points = tf.shape(counts)[0]

        def score(index):
            image, point = index // points, index % points
            shown = tf.gather(ranks, image) < tf.gather(counts, point)[:, None, None]
            x, base = tf.gather(images, image), tf.gather(substrate, image)
            shown = shown[..., tf.newaxis]
            x = tf.where(shown, x, base) if insert else tf.where(shown, base, x)
            return explained.class_probability(x, tf.gather(classes, image))

        total = tf.shape(images)[0] * points
        return tf.reshape(maps.chunked(score, total, batch_size), [-1, points])

    return curve, [
        _common.image_spec(explainer), tf.TensorSpec((None, None, None), tf.float32),
        tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((), tf.float32), tf.TensorSpec((2,), tf.int32)]


def _check_baseline(baseline):
    if isinstance(baseline, str) and baseline == "blur":
        return True, 0.0
    if (isinstance(baseline, numbers.Real) and not isinstance(baseline, bool)
            and np.isfinite(baseline)):
        return False, float(baseline)
    raise ValueError("`baseline` must be a number (a raw pixel value, before the explainer's "
                     f"`preprocess`) or \"blur\". Received: baseline={baseline!r}")


def perturbation_curve(explainer, images, explanation, *, insert, steps=100, baseline=0.0,
                       class_index=None, batch_size=64, seed=0):
    """The class probability after each of `steps` portions of pixels is removed (deletion)
    or inserted (insertion), most relevant first.

    Returns:
        `(fractions, curves)`: float64 `(steps + 1,)` fractions of the pixels changed, from 0
        to 1, and float64 `(N, steps + 1)` class probabilities.
    """
    batch, heatmaps, classes = _common.checked_inputs(explainer, images, explanation,
                                                      class_index)
    steps = _common.positive_int("steps", steps)
    batch_size = _common.positive_int("batch_size", batch_size)
    blur, fill = _check_baseline(baseline)
    pixels = heatmaps.shape[1] * heatmaps.shape[2]
    if steps > pixels:
        raise ValueError(f"`steps` cannot exceed the {pixels} pixels of an image. "
                         f"Received: steps={steps}")
    counts = (np.arange(steps + 1) * pixels) // steps  # `steps` (nearly) equal portions
    function = _common.compiled(explainer, ("curve", batch_size, insert, blur),
                                lambda ref: _build(ref, batch_size, insert, blur))
    curves = function(batch, heatmaps, tf.constant(classes), tf.constant(counts, tf.int32),
                      tf.constant(fill, tf.float32), tf.constant([int(seed), 0], tf.int32))
    return counts / pixels, curves.numpy().astype(np.float64)


_ARGS = """Args:
        explainer: The explainer whose model, preprocessing and class semantics score the
            images (its `class_probability`).
        images: `(N, H, W, C)` (or one image), as the explainer receives them.
        explanation: The `Explanation` to judge, or heatmaps `(N, H, W)`; only the order of
            their values matters (equal values are taken in a random, seeded order).
        steps: Number of equal portions of the pixels; the curve has `steps + 1` points
            (`steps + 1` forward passes per image). Defaults to `100`.
        baseline: {baseline}
        class_index: The class of each map; needed when `explanation` is an array.
            Defaults to `None` (the explanation's classes).
        batch_size: Perturbed images per forward pass. Defaults to `64`.
        seed: Seed of the order among pixels of equal value. Defaults to `0`.
        return_per_image: Return a `MetricResult` with each image's area (`per_image`), the
            fractions of pixels (`x`) and each image's curve (`curves`). Defaults to `False`.

    Returns:
        The mean area under the curves, a float in [0, 1] (trapezoid rule over the fraction
        of pixels).

    Raises:
        ValueError: `steps` < 1 or more than the pixels, a bad `baseline`, heatmaps that do
            not match the images or are NaN, bad images or classes."""


def deletion(explainer, images, explanation, *, steps=100, baseline=0.0, class_index=None,
             batch_size=64, seed=0, return_per_image=False):
    return _metric(False, explainer, images, explanation, steps, baseline, class_index,
                   batch_size, seed, return_per_image)


def insertion(explainer, images, explanation, *, steps=100, baseline="blur", class_index=None,
              batch_size=64, seed=0, return_per_image=False):
    return _metric(True, explainer, images, explanation, steps, baseline, class_index,
                   batch_size, seed, return_per_image)


def _metric(insert, explainer, images, explanation, steps, baseline, class_index, batch_size,
            seed, return_per_image):
    x, curves = perturbation_curve(explainer, images, explanation, insert=insert, steps=steps,
                                   baseline=baseline, class_index=class_index,
                                   batch_size=batch_size, seed=seed)
    return _common.finish(_common.trapezoid(x, curves), return_per_image, x=x, curves=curves)


deletion.__doc__ = f"""Deletion AUC: remove the most relevant pixels first; lower is better.

    The pixels are set to `baseline` in order of decreasing heatmap value, `steps` equal
    portions at a time, and the class probability is measured after each portion (Petsiuk
    et al., RISE, BMVC 2018). A faithful map makes the probability collapse early.

    {_ARGS.format(baseline='What replaces a removed pixel: a raw pixel value (before the '
                  'explainer`s `preprocess`) or `"blur"` (a blurred copy of the image). '
                  'Defaults to `0.0` (black).')}

    Example:
    >>> from tf_gradcam import metrics
    >>> cam = tfg.GradCAM(model)
    >>> auc = metrics.deletion(cam, images, cam.explain(images), steps=16)
    >>> 0.0 <= auc <= 1.0
    True
    """

insertion.__doc__ = f"""Insertion AUC: insert the most relevant pixels first; higher is better.

    Starting from `baseline` (a blurred copy of the image, as in RISE), the image's own pixels
    are put back in order of decreasing heatmap value, `steps` equal portions at a time, and
    the class probability is measured after each portion (Petsiuk et al., RISE, BMVC 2018).

    {_ARGS.format(baseline='The starting image: `"blur"` (Gaussian blur, sigma 5 px, '
                  '11 x 11 window, as in RISE) or a raw pixel value. Defaults to `"blur"`.')}

    Example:
    >>> from tf_gradcam import metrics
    >>> cam = tfg.GradCAM(model)
    >>> result = metrics.insertion(cam, images, cam.explain(images), steps=16,
    ...                            return_per_image=True)
    >>> result.curves.shape, result.x[[0, -1]]
    ((2, 17), array([0., 1.]))
    """
