"""Score-CAM: gradient-free weights from how much each activation map alone keeps the class.

Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
Networks", CVPR Workshops 2020 (Algorithm 1). Faster Score-CAM keeps only the `top_k`
channels of highest spatial variance.
"""

import math
import numbers

import tensorflow as tf

from tf_gradcam import core, inputs, maps


class ScoreCAM(core.Explainer):
    """Score-CAM: each upsampled, min-max normalised activation map masks the input, and the
    class probability of that masked input becomes the map's weight.

    One forward pass per channel and image, run in balanced chunks of at most `chunk_size`
    inside the compiled function (traced once; no padded passes): the smaller of
    `batch_size` and the number of masked images whose estimated forward-pass memory fits
    in `max_memory` (as in `Occlusion`).

    Args:
        model: As in `GradCAM`. It is never modified.
        layer: As in `GradCAM` (one layer). Defaults to `None`.
        batch_size: The most masked images per forward pass. Defaults to `64`.
        top_k: Keep only the `top_k` channels of highest spatial variance per image (Faster
            Score-CAM), so 2048-channel layers stay practical; `None` keeps all. Defaults to
            `None`.
        preprocess: As in `GradCAM`; the masks multiply the preprocessed input. Defaults to
            `None`.
        max_memory: Bound, in bytes, on the estimated memory of one chunk of masked images;
            `None` runs chunks of `batch_size`. Defaults to
            `tf_gradcam.maps.DEFAULT_MAX_MEMORY` (64 MiB).
        labels: Class names, as in `GradCAM`. Defaults to `None`.

    Raises:
        ValueError: Bad `batch_size`, `top_k` or `max_memory`, or what `GradCAM` raises for
            model and layer.

    Example:
    >>> exp = tfg.ScoreCAM(model, top_k=64).explain(images)
    """

    method = "scorecam"
    #: Masked copies per channel, averaged (noisy or scaled ones for SS-CAM and IS-CAM).
    samples = 1

    def _masks(self, masks, channel, sample):
        """The masks `(m, H, W, 1)` of copy `sample` `(m,)` of `channel` `(m,)` (its rank
        among the kept channels): Score-CAM uses them as they are."""
        del channel, sample
        return masks

    def __init__(self, model, layer=None, *, batch_size=64, top_k=None, preprocess=None,
                 output=None, target=None, max_memory=maps.DEFAULT_MAX_MEMORY,
                 labels=None):
        if isinstance(layer, (list, tuple)):
            raise ValueError("Score-CAM explains one layer; pass a single name or layer. "
                             f"Received: layer={layer!r}")
        self.batch_size = inputs.positive_int("batch_size", batch_size)
        if top_k is not None:
            inputs.positive_int("top_k", top_k)
        self._use_graph(model, layer, preprocess, output=output, target=target, labels=labels)
        self._remember(locals())
        if not self.graph.targets[0].is_spatial:
            raise ValueError(
                "Score-CAM masks the image with each channel's map, so it needs a 4D feature "
                f"map. Received: layer={self.layer!r} with output shape "
                f"{(None,) + self.graph.targets[0].shape}")
        channels = self.graph.targets[0].shape[-1]
        self.top_k = None if top_k is None else min(int(top_k), channels)
        #: Masked images per forward pass: `batch_size`, or fewer within `max_memory`.
        self.chunk_size = maps.chunk_size(
            maps.forward_bytes(self.graph.layers, self.input_shape), max_memory,
            self.batch_size)
        self.compute = self._compile(self._compute)

    def _compute(self, images, class_index, mask=None):
        x = self._preprocess(images)
        features, logits, outputs = self._forward(x)
        classes, scores = self.target.select(logits, outputs, class_index, mask)
        n, count = tf.shape(classes)[0], tf.shape(classes)[1]
        activations = tf.cast(features[0], tf.float32)
        if self.top_k is not None:
            variance = tf.math.reduce_variance(activations, axis=[1, 2])
            keep = tf.math.top_k(variance, self.top_k).indices
            activations = tf.gather(activations, keep, axis=3, batch_dims=1)
        k = tf.shape(activations)[3]
        size = tf.shape(images)[1:3]
        per_channel = tf.transpose(activations, [0, 3, 1, 2])  # (N, k, h, w)

        def channel_score(index):  # (n,) -> (n, K): all K classes from one masked pass
            index, sample = index // self.samples, index % self.samples
            image, channel = index // k, index % k
            chosen = tf.gather_nd(per_channel, tf.stack([image, channel], axis=1))
            masks = self._masks(maps.normalize(maps.upsample(chosen, size))[..., tf.newaxis],
                                channel, sample)
            masked = tf.gather(x, image) * tf.cast(masks, x.dtype)
            _, masked_logits, masked_outputs = self._forward(masked)
            return self.target.class_probabilities(
                masked_logits, masked_outputs, tf.gather(classes, image),
                None if mask is None else tf.gather(mask, image))

        weights = maps.chunked(channel_score, n * k * self.samples, self.chunk_size,
                               width=count)
        weights = tf.reduce_mean(tf.reshape(weights, [n, k, self.samples, count]), axis=2)
        cams, heatmaps = weighted_maps(activations, weights, size)
        return self._result(heatmaps, cams, classes, scores, logits, outputs)


def weighted_maps(activations, weights, size):
    """`(cams, heatmaps)` from float32 activations `(N, h, w, C)` and channel weights
    `(N, C, K)`: `ReLU(sum_c w_c A^c)` `(N, K, h, w)`, and those upsampled to `size` and
    normalised, `(N, K, H, W)`."""
    cams = tf.nn.relu(tf.einsum("nhwc,nck->nkhw", activations, weights))
    n, count = tf.shape(weights)[0], tf.shape(weights)[2]
    flat = tf.reshape(cams, tf.concat([[n * count], tf.shape(cams)[2:]], 0))
    heatmaps = tf.reshape(maps.normalize(maps.upsample(flat, size)),
                          tf.concat([[n, count], size], 0))
    return cams, heatmaps


def non_negative(name, value):
    """`value` as a float if it is a finite number >= 0 (not a bool); else ValueError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return float(value)


def noise_seed(seed):
    """`seed` if it is `None` or an int (not a bool); else ValueError."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"`seed` must be None or an int. Received: seed={seed!r}")
    return None if seed is None else int(seed)


class SSCAM(ScoreCAM):
    """SS-CAM, smoothed Score-CAM (Wang, Naidu et al., "SS-CAM: Smoothed Score-CAM for
    Sharper Visual Feature Localization", arXiv:2006.14255, 2020): each channel's weight is
    the mean class probability over `n_samples` masked inputs whose normalised mask carries
    Gaussian noise, `x * (M_k + N(0, std^2))`.

    Noise on the masks with torch-cam's defaults (35 samples, `std=2.0`). `n_samples` times
    the work of `ScoreCAM`, in the same chunked, compiled passes (`std=0` gives Score-CAM
    exactly). With an int `seed` the noise of copy s of the channel ranked j is drawn from
    seed `(seed, j * n_samples + s)`: the same on every call and for an image alone or in any
    batch (torch-cam draws new noise each time: `seed=None`).

    Args:
        model: As in `ScoreCAM`.
        layer: As in `ScoreCAM`. Defaults to `None`.
        batch_size: As in `ScoreCAM`. Defaults to `64`.
        top_k: As in `ScoreCAM`. Defaults to `None`.
        preprocess: As in `ScoreCAM`. Defaults to `None`.
        output: As in `ScoreCAM`. Defaults to `None`.
        target: As in `ScoreCAM`. Defaults to `None`.
        max_memory: As in `ScoreCAM`. Defaults to `maps.DEFAULT_MAX_MEMORY`.
        labels: As in `ScoreCAM`. Defaults to `None`.
        n_samples: Noisy copies per channel. Defaults to `35`.
        std: Standard deviation of the noise added to the [0, 1] masks. Defaults to `2.0`.
        seed: An int for reproducible noise, `None` for new noise on each call. Defaults
            to `0`.

    Raises:
        ValueError: Bad `n_samples`, `std` or `seed`, or what `ScoreCAM` raises.

    Example:
    >>> exp = tfg.SSCAM(model, n_samples=4, std=0.5).explain(images)
    """

    method = "sscam"

    def __init__(self, model, layer=None, *, batch_size=64, top_k=None, preprocess=None,
                 output=None, target=None, max_memory=maps.DEFAULT_MAX_MEMORY,
                 labels=None, n_samples=35, std=2.0, seed=0):
        self.samples = inputs.positive_int("n_samples", n_samples)
        self.std = non_negative("std", std)
        self.seed = noise_seed(seed)
        super().__init__(model, layer, batch_size=batch_size, top_k=top_k,
                         preprocess=preprocess, output=output, target=target,
                         max_memory=max_memory, labels=labels)
        self._settings.update(n_samples=n_samples, std=std, seed=seed)

    def _masks(self, masks, channel, sample):
        shape = tf.shape(masks)
        if self.seed is None:
            return masks + tf.random.normal(shape, stddev=self.std, dtype=masks.dtype)
        seeds = tf.stack([tf.fill(tf.shape(channel), self.seed),
                          channel * self.samples + sample], axis=1)
        noise = tf.map_fn(lambda pair: tf.random.stateless_normal(shape[1:], pair), seeds,
                          fn_output_signature=tf.float32)
        return masks + self.std * tf.cast(noise, masks.dtype)


class ISCAM(ScoreCAM):
    """IS-CAM, integrated Score-CAM (Naidu et al., "IS-CAM: Integrated Score-CAM for
    axiomatic-based explanations", arXiv:2010.03023, 2020): each channel's weight is the
    mean class probability over `n_samples` inputs masked by growing multiples of the
    normalised mask, `x * c_i M_k`.

    The multiples are torch-cam's: `c_i = sum_{j<=i} j / N = i (i + 1) / (2 N)` for
    `i = 1..N` (default `N = 10`, so up to 5.5 M_k); `n_samples=1` gives Score-CAM exactly.
    `n_samples` times the work of `ScoreCAM`.

    Args:
        model: As in `ScoreCAM`.
        layer: As in `ScoreCAM`. Defaults to `None`.
        batch_size: As in `ScoreCAM`. Defaults to `64`.
        top_k: As in `ScoreCAM`. Defaults to `None`.
        preprocess: As in `ScoreCAM`. Defaults to `None`.
        output: As in `ScoreCAM`. Defaults to `None`.
        target: As in `ScoreCAM`. Defaults to `None`.
        max_memory: As in `ScoreCAM`. Defaults to `maps.DEFAULT_MAX_MEMORY`.
        labels: As in `ScoreCAM`. Defaults to `None`.
        n_samples: Integration steps. Defaults to `10`.

    Raises:
        ValueError: Bad `n_samples`, or what `ScoreCAM` raises.

    Example:
    >>> exp = tfg.ISCAM(model, n_samples=3).explain(images)
    """

    method = "iscam"

    def __init__(self, model, layer=None, *, batch_size=64, top_k=None, preprocess=None,
                 output=None, target=None, max_memory=maps.DEFAULT_MAX_MEMORY,
                 labels=None, n_samples=10):
        self.samples = inputs.positive_int("n_samples", n_samples)
        super().__init__(model, layer, batch_size=batch_size, top_k=top_k,
                         preprocess=preprocess, output=output, target=target,
                         max_memory=max_memory, labels=labels)
        self._settings.update(n_samples=n_samples)

    def _masks(self, masks, channel, sample):
        del channel
        step = tf.cast(sample + 1, masks.dtype)
        return masks * (step * (step + 1.0) / (2.0 * self.samples))[:, None, None, None]
