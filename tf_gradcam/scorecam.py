"""Score-CAM: gradient-free weights from how much each activation map alone keeps the class.

Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
Networks", CVPR Workshops 2020 (Algorithm 1). Faster Score-CAM keeps only the `top_k`
channels of highest spatial variance.
"""

import tensorflow as tf

from tf_gradcam import core, inputs, maps


class ScoreCAM(core.Explainer):
    """Score-CAM: each upsampled, min-max normalised activation map masks the input, and the
    class probability of that masked input becomes the map's weight.

    One forward pass per channel and image, run in balanced chunks of at most `batch_size`
    inside the compiled function (traced once; no padded passes).

    Args:
        model: As in `GradCAM`. It is never modified.
        layer: As in `GradCAM` (one layer). Defaults to `None`.
        batch_size: Masked images per forward pass. Defaults to `64`.
        top_k: Keep only the `top_k` channels of highest spatial variance per image (Faster
            Score-CAM), so 2048-channel layers stay practical; `None` keeps all. Defaults to
            `None`.
        preprocess: As in `GradCAM`; the masks multiply the preprocessed input. Defaults to
            `None`.
        labels: Class names, as in `GradCAM`. Defaults to `None`.

    Raises:
        ValueError: Bad `batch_size` or `top_k`, or what `GradCAM` raises for model and layer.

    Example:
    >>> exp = tfg.ScoreCAM(model, top_k=64).explain(images)
    """

    method = "scorecam"

    def __init__(self, model, layer=None, *, batch_size=64, top_k=None, preprocess=None,
                 output=None, target=None, labels=None):
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
            image, channel = index // k, index % k
            chosen = tf.gather_nd(per_channel, tf.stack([image, channel], axis=1))
            masks = maps.normalize(maps.upsample(chosen, size))[..., tf.newaxis]
            masked = tf.gather(x, image) * tf.cast(masks, x.dtype)
            _, masked_logits, masked_outputs = self._forward(masked)
            return self.target.class_probabilities(
                masked_logits, masked_outputs, tf.gather(classes, image),
                None if mask is None else tf.gather(mask, image))

        weights = maps.chunked(channel_score, n * k, self.batch_size, width=count)
        weights = tf.reshape(weights, [n, k, count])
        cams = tf.nn.relu(tf.einsum("nhwc,nck->nkhw", activations, weights))
        flat = tf.reshape(cams, tf.concat([[n * count], tf.shape(cams)[2:]], 0))
        heatmaps = tf.reshape(maps.normalize(maps.upsample(flat, size)),
                              tf.concat([[n, count], size], 0))
        return self._result(heatmaps, cams, classes, scores, logits, outputs)
