"""ROAD: Remove And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022), with its noisy linear imputation.

Removed pixels are not set to a constant (whose sharp edges leak the map's shape to the
model) but imputed: each removed pixel becomes the weighted mean of its 8 neighbours (1/6 for
the 4 direct ones, 1/12 for the diagonals, renormalised at the image border), which couples
all removed pixels into one sparse linear system, plus a little Gaussian noise. Instead of a
sparse direct solver on the CPU (pytorch-grad-cam, the paper's code) the system is solved in
TF ops by conjugate gradients on the whole chunk of images at once; it is symmetric positive
definite whenever every removed region touches a kept pixel.
"""

import numbers

import numpy as np
import tensorflow as tf

from tf_gradcam import maps
from tf_gradcam.metrics import _common

_KERNEL = np.array([[1, 2, 1], [2, 0, 2], [1, 2, 1]], np.float32) / 12.0
#: ROAD's percentiles (pytorch-grad-cam's `ROAD*Average` defaults).
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
ORDERS = ("combined", "morf", "lerf")


def _neighbours(values):
    channels = values.shape[-1]
    kernel = tf.constant(np.tile(_KERNEL[:, :, None, None], (1, 1, channels, 1)))
    return tf.nn.depthwise_conv2d(values, kernel, [1, 1, 1, 1], "SAME")


def _conjugate_gradients(images, mask, guess, tolerance, max_iterations):
    """Solve the imputation system for the `mask` pixels of `images`, starting at `guess`."""
    keep = 1.0 - mask
    degree = _neighbours(tf.ones_like(images[:1]))  # weight of the in-image neighbours

    def apply(u):
        return mask * (degree * u - _neighbours(mask * u))

    def dot(a, b):
        return tf.reduce_sum(a * b, axis=[1, 2], keepdims=True)

    rhs = mask * _neighbours(keep * images)
    u = mask * guess
    r = rhs - apply(u)
    p, rr = r, dot(r, r)
    limit = tf.square(tolerance) * tf.maximum(dot(rhs, rhs), 1e-12)

    def body(i, u, r, p, rr):
        ap = apply(p)
        alpha = tf.math.divide_no_nan(rr, dot(p, ap))
        u, r = u + alpha * p, r - alpha * ap
        new_rr = dot(r, r)
        p = r + tf.math.divide_no_nan(new_rr, rr) * p
        return i + 1, u, r, p, new_rr

    def running(i, u, r, p, rr):
        return tf.logical_and(i < max_iterations, tf.reduce_any(rr > limit))

    return tf.while_loop(running, body, [tf.constant(0), u, r, p, rr])[1]


def _pooled(values, keep):
    """Halve the resolution: each coarse pixel is the mean of its kept fine pixels and
    counts as kept when at least half of them are."""
    pool = lambda v: tf.nn.avg_pool2d(v, 2, 2, "SAME")  # noqa: E731
    share = pool(keep)
    return tf.math.divide_no_nan(pool(keep * values), share), tf.cast(share >= 0.5, tf.float32)


def _initial_guess(images, keep, levels, tolerance):
    """Coarse-to-fine start for the conjugate gradients (cascadic multigrid): the system is
    solved on a pyramid of halved images and each solution, upsampled, starts the next
    level, so the fine level only corrects details. Level 0 starts from the mean colour."""
    if levels == 0:
        return tf.math.divide_no_nan(tf.reduce_sum(keep * images, axis=[1, 2], keepdims=True),
                                     tf.reduce_sum(keep, axis=[1, 2], keepdims=True))
    coarse, coarse_keep = _pooled(images, keep)
    guess = _initial_guess(coarse, coarse_keep, levels - 1, tolerance)
    solved = _conjugate_gradients(coarse, 1.0 - coarse_keep, guess, tolerance, 200)
    solved = coarse_keep * coarse + (1.0 - coarse_keep) * solved
    return tf.image.resize(solved, tf.shape(images)[1:3], method="bilinear")


def linear_imputation(images, removed, *, noise=0.0, seed=(0, 0), tolerance=1e-4,
                      max_iterations=1000):
    """Impute the `removed` pixels of `images` by ROAD's noisy linear imputation (TF ops).

    Args:
        images: float32 `(N, H, W, C)` tensor.
        removed: bool or float `(N, H, W)`, true where a pixel is imputed.
        noise: Standard deviation of the Gaussian noise added to the imputed pixels, as a
            fraction of each image's pixel standard deviation (ROAD adds 0.01 to
            standardised inputs). Defaults to `0.0`.
        seed: Two ints (or an int32 `(2,)` tensor) seeding the noise. Defaults to `(0, 0)`.
        tolerance: Stop when every residual is below this fraction of its right-hand side.
            Defaults to `1e-4` (imputed values within about 0.1 of the exact solution
            on 0-255 pixels, below ROAD's noise).
        max_iterations: Conjugate-gradient iterations at most. Defaults to `1000`.

    Returns:
        float32 `(N, H, W, C)`: the kept pixels unchanged, the removed ones imputed.

    Example:
    >>> from tf_gradcam import metrics
    >>> hole = np.zeros((2, 64, 64), bool)
    >>> hole[:, 20:40, 20:40] = True
    >>> metrics.linear_imputation(images.astype("float32"), hole).shape
    TensorShape([2, 64, 64, 3])
    """
    images = tf.convert_to_tensor(images, tf.float32)
    mask = tf.cast(removed, tf.float32)[..., tf.newaxis]
    keep = 1.0 - mask
    side = min([d for d in images.shape[1:3] if d is not None] or [0])
    levels = max(0, int(np.log2(max(side, 1) / 16)))  # down to about 16 px
    guess = _initial_guess(images, keep, levels, tolerance)
    u = _conjugate_gradients(images, mask, guess, tolerance, max_iterations)
    if isinstance(noise, numbers.Real) and noise == 0:
        return keep * images + mask * u
    spread = tf.math.reduce_std(images, axis=[1, 2, 3], keepdims=True)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    jitter = tf.random.stateless_normal(tf.shape(images), seed) * spread * noise
    return keep * images + mask * (u + jitter)


def _build(ref, batch_size, orders):
    explainer = ref()

    def road_scores(images, heatmaps, classes, counts, noise, seed):
        explained = ref()
        ranks = _common.pixel_ranks(heatmaps, seed)
        pixels = tf.shape(heatmaps)[1] * tf.shape(heatmaps)[2]
        n, points = tf.shape(images)[0], tf.shape(counts)[0]
        per_image = 1 + len(orders) * points  # the image itself, then each order x point

        def score(index):
            image, item = index // per_image, index % per_image
            order, point = (item - 1) // points, (item - 1) % points
            count = tf.gather(counts, tf.maximum(point, 0))
            rank = tf.gather(ranks, image)
            most = rank < count[:, None, None]
            least = rank >= (pixels - count)[:, None, None]
            removed = most if orders == ("morf",) else least
            if len(orders) == 2:
                removed = tf.where((order == 0)[:, None, None], most, least)
            removed = tf.logical_and(removed, (item > 0)[:, None, None])
            x = linear_imputation(tf.gather(images, image), removed, noise=noise,
                                  seed=tf.stack([seed[0], index[0] + 1]))
            return explained.class_probability(x, tf.gather(classes, image))

        scores = tf.reshape(maps.chunked(score, n * per_image, batch_size), [n, per_image])
        return scores[:, :1], tf.reshape(scores[:, 1:], [n, len(orders), points])

    return road_scores, [
        _common.image_spec(explainer), tf.TensorSpec((None, None, None), tf.float32),
        tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((), tf.float32), tf.TensorSpec((2,), tf.int32)]


def road(explainer, images, explanation, *, percentiles=PERCENTILES, order="combined",
         noise=0.01, class_index=None, batch_size=64, seed=0, return_per_image=False):
    """ROAD: the change of class probability when pixels are imputed, not deleted.

    As pytorch-grad-cam's `ROADMostRelevantFirst` / `ROADLeastRelevantFirst` define them: at
    percentile `p`, MoRF imputes the pixels whose heatmap value is at or above the map's
    `p`-th percentile (the `100 - p` % most relevant) and LeRF those at or below its
    `(100 - p)`-th percentile (the `100 - p` % least relevant); the score is the class
    probability after imputation minus before, averaged over the percentiles, and
    `"combined"` is `(LeRF - MoRF) / 2` (pytorch-grad-cam's `ROADCombined`). Exactly
    `round((100 - p) / 100 * H * W)` pixels are imputed, ties in random (seeded) order.
    Imputation runs on the pixels the explainer receives, before its `preprocess`; being a
    weighted mean, it gives the same result as imputing after any per-channel affine
    preprocessing (Rong et al., ICML 2022; noisy linear imputation).

    Args:
        explainer: The explainer whose model, preprocessing and class semantics score the
            images (its `class_probability`).
        images: `(N, H, W, C)` (or one image), as the explainer receives them.
        explanation: The `Explanation` to judge, or heatmaps `(N, H, W)`.
        percentiles: Percentiles in [0, 100). Defaults to `(10, 20, ..., 90)`.
        order: `"morf"` (most relevant first: lower is better), `"lerf"` (least relevant
            first: higher, i.e. closer to 0, is better) or `"combined"` (higher is better).
            Defaults to `"combined"`.
        noise: Standard deviation of the noise on imputed pixels, as a fraction of each
            image's pixel standard deviation (ROAD's 0.01 on standardised inputs). Defaults
            to `0.01`.
        class_index: The class of each map; needed when `explanation` is an array.
            Defaults to `None` (the explanation's classes).
        batch_size: Imputed images per forward pass. Defaults to `64`.
        seed: Seed of the noise and of the order among equal heatmap values. Defaults to `0`.
        return_per_image: Return a `MetricResult` with each image's score (`per_image`), the
            percentiles (`x`), each image's curve for `order` (`curves`) and, in `details`,
            the `"morf"` and `"lerf"` curves that were computed. Defaults to `False`.

    Returns:
        The mean score over images and percentiles, a float in [-1, 1].

    Raises:
        ValueError: Bad percentiles, order or noise; heatmaps that do not match the images or
            are NaN; bad images or classes.

    Example:
    >>> from tf_gradcam import metrics
    >>> cam = tfg.GradCAM(model)
    >>> score = metrics.road(cam, images, cam.explain(images), percentiles=(20, 80))
    >>> -1.0 <= score <= 1.0
    True
    """
    if order not in ORDERS:
        raise ValueError(f"`order` must be one of {ORDERS}. Received: order={order!r}")
    values = np.asarray(percentiles, np.float64).reshape(-1)
    if (values.size == 0 or not np.isfinite(values).all() or values.min() < 0
            or values.max() >= 100):
        raise ValueError("`percentiles` must be one or more numbers in [0, 100). "
                         f"Received: percentiles={percentiles!r}")
    noise = _common.check_in_range("noise", noise, 0.0, 10.0)
    batch, heatmaps, classes = _common.checked_inputs(explainer, images, explanation,
                                                      class_index)
    batch_size = _common.positive_int("batch_size", batch_size)
    pixels = heatmaps.shape[1] * heatmaps.shape[2]
    counts = np.round((100.0 - values) / 100.0 * pixels).astype(np.int32)
    orders = ("morf", "lerf") if order == "combined" else (order,)
    function = _common.compiled(explainer, ("road", batch_size, orders),
                                lambda ref: _build(ref, batch_size, orders))
    base, scores = function(batch, heatmaps, tf.constant(classes), tf.constant(counts),
                            tf.constant(noise, tf.float32), tf.constant([int(seed), 0]))
    changes = scores.numpy().astype(np.float64) - base.numpy().astype(np.float64)[..., None]
    curves = dict(zip(orders, np.moveaxis(changes, 1, 0)))
    if order == "combined":
        curves["combined"] = (curves["lerf"] - curves["morf"]) / 2
    chosen = curves.pop(order)
    return _common.finish(chosen.mean(axis=1), return_per_image, x=values, curves=chosen,
                          details=curves)
