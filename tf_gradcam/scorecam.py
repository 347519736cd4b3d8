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

    Raises:
        ValueError: Bad `batch_size` or `top_k`, or what `GradCAM` raises for model and layer.

    Example:
    >>> exp = tfg.ScoreCAM(model, top_k=64).explain(images)
    """

    method = "scorecam"

    def __init__(self, model, layer=None, *, batch_size=64, top_k=None, preprocess=None):
        if isinstance(layer, (list, tuple)):
            raise ValueError("Score-CAM explains one layer; pass a single name or layer. "
                             f"Received: layer={layer!r}")
        self.batch_size = inputs.positive_int("batch_size", batch_size)
        if top_k is not None:
            inputs.positive_int("top_k", top_k)
        self._use_graph(model, layer, preprocess)
        channels = self.graph.targets[0].shape[-1]
        self.top_k = None if top_k is None else min(int(top_k), channels)
        self.compute = self._compile(self._compute)

    def _probability(self, x, classes):
        _, logits, outputs = self.graph.model(x, training=False)
        probabilities = maps.probabilities(logits, outputs, self.graph.squashed)
        return tf.gather(probabilities, classes, batch_dims=1)

    def _compute(self, images, class_index):
        x = self._preprocess(images)
        features, logits, outputs = self.graph.model(x, training=False)
        classes, scores = maps.select_classes(class_index, logits)
        activations = tf.cast(features, tf.float32)
        if self.top_k is not None:
            variance = tf.math.reduce_variance(activations, axis=[1, 2])
            keep = tf.math.top_k(variance, self.top_k).indices
            activations = tf.gather(activations, keep, axis=3, batch_dims=1)
        k = tf.shape(activations)[3]
        size = tf.shape(images)[1:3]
        per_channel = tf.transpose(activations, [0, 3, 1, 2])  # (N, k, h, w)

        def channel_score(index):
            image, channel = index // k, index % k
            chosen = tf.gather_nd(per_channel, tf.stack([image, channel], axis=1))
            masks = maps.normalize(maps.upsample(chosen, size))[..., tf.newaxis]
            masked = tf.gather(x, image) * tf.cast(masks, x.dtype)
            return self._probability(masked, tf.gather(classes, image))

        weights = maps.chunked(channel_score, tf.shape(images)[0] * k, self.batch_size)
        weights = tf.reshape(weights, [-1, 1, 1, k])
        cams = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))
        return {"heatmaps": maps.normalize(maps.upsample(cams, size)), "cams": cams,
                "class_index": classes, "scores": scores,
                "predictions": tf.cast(outputs, tf.float32)}
