"""Ablation-CAM: gradient-free channel weights from how much the class score drops when each
channel of the layer is zeroed.

Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional Network via
Gradient-free Localization", WACV 2020, Eq. 2-3: `w_k = (y_c - y_c^k) / y_c`, `y_c^k` the
class score with channel `k` of the layer set to zero, and the map `ReLU(sum_k w_k A^k)`.

Only the part of the network *after* the explained layer runs for the ablated copies: that
head is built once, from the re-traced graph, as a model from the layer's output to the
explained output; the layer's activations are computed once. Where the head cannot be
separated (a skip connection from before the layer reaches the output; a subclassed model
or a layer inside a custom layer, reached by capture) each ablated copy runs the whole
network instead, with the layer's output multiplied by the channel mask during the pass.
"""

import dataclasses
import math
import types

import keras
import tensorflow as tf

from tf_gradcam import capture, core, inputs, layers, maps, scorecam


def head_model(model, path):
    """`features -> flat outputs` after the layer at `path`, or `None` when the outputs
    also depend on the image through another route (a skip connection around the layer)."""
    tracer, _, outputs = layers.trace_model(model, expand=layers._model_paths([path]))
    feature = next(tensor for p, _, tensor, _ in tracer.records if p == path)
    try:
        head = keras.Model(feature, keras.tree.flatten(outputs), name=f"{model.name}_head")
    except ValueError:  # "not connected to `inputs`": the head cannot be separated
        return None
    # Keras < 3.7 builds such a model anyway, with the image's own input layer left inside
    # it (and fails when it is called): more input layers than inputs means the same.
    entries = [layer for layer in head.layers if isinstance(layer, keras.layers.InputLayer)]
    return head if len(entries) <= len(head.inputs) else None


class _AblatedForward:
    """`[images, keep] -> flat outputs`: the user's model with the explained layer's output
    multiplied by `keep` `(batch, channels)`, the layer's call intercepted while the
    compiled function is traced (as `tf_gradcam.capture` records layers; the model and
    its layers are not modified)."""

    def __init__(self, model, layer):
        self.model, self.layer = model, layer

    def __call__(self, given, training=False):
        x, keep = given

        def ablate(out):
            return out * tf.cast(keep[:, None, None, :], out.dtype)

        with capture.recording([self.layer], replace=ablate):
            out = self.model(x, training=training)
        return keras.tree.flatten(out)


def _ablated_copies(activations, image, keep):
    """`activations[image] * keep` `(m, h, w, C)`: one broadcast multiply when the chunk
    holds one image's channels (always, when `batch_size` divides the channel count),
    else a gather first (a copy of 25 MB per 64 copies of ResNet50's last block saved)."""
    keep = tf.cast(keep[:, None, None, :], activations.dtype)
    return tf.cond(tf.reduce_all(tf.equal(image, image[0])),
                   lambda: activations[image[0]][tf.newaxis] * keep,
                   lambda: tf.gather(activations, image) * keep)


def feature_map(explainer, needs):
    """The explained layer's `LayerInfo`, or a ValueError when it is not 4D; `needs` starts
    the message (e.g. "Ablation-CAM zeroes each channel of")."""
    info = explainer.graph.targets[0]
    if not info.is_spatial:
        raise ValueError(
            f"{needs} a 4D feature map (batch, height, width, channels). Choose a "
            f"convolutional layer. Received: layer={explainer.layer!r} with output shape "
            f"{(None,) + info.shape}")
    return info


def forward_view(explainer, forward):
    """What `core.Explainer._forward(view, given)` needs to run `forward` (the head, or the
    ablated full model) as the explainer's graph: the explained output picked and its
    logits recovered behind a softmax, by the engine's own code."""
    return types.SimpleNamespace(
        graph=dataclasses.replace(explainer.graph, forward=forward, targets=()),
        model=explainer.model, score_source=explainer.score_source)


class AblationCAM(core.Explainer):
    """Ablation-CAM: each channel's weight is the relative drop of the class score when
    that channel of the layer is zeroed, `(y_c - y_c^k) / y_c`.

    The ablated copies run through the part of the network after the layer only (built
    once; for ResNet50's last block a pooling and a Dense layer), in balanced chunks of at
    most `batch_size` inside the compiled function, all K classes of `top_k` from each
    ablated pass. Where the head cannot be separated (skip connections from before the
    layer to the output) every ablated copy runs the whole network: `head_only` tells
    which. Graph models only (Functional, Sequential, nested ones).

    Args:
        model: As in `GradCAM`. It is never modified.
        layer: As in `GradCAM` (one 4D layer). Defaults to `None`.
        batch_size: Ablated copies per pass (32 keeps a chunk of ResNet50's last block in
            the CPU cache). Defaults to `32`.
        preprocess: As in `GradCAM`. Defaults to `None`.
        output: As in `GradCAM`. Defaults to `None`.
        target: As in `GradCAM`; the score is the explained logit (or target score).
            Defaults to `None`.
        full_forward: Run the whole network for every ablated copy even where the head can
            be separated (slower; the same result). Defaults to `False`.
        max_memory: Bound, in bytes, on the estimated memory of one chunk of ablated copies;
            `None` runs chunks of `batch_size`. Defaults to
            `tf_gradcam.maps.DEFAULT_MAX_MEMORY` (64 MiB).
        labels: Class names, as in `GradCAM`. Defaults to `None`.

    Raises:
        ValueError: Bad `batch_size`, a non-4D or several layers, or what `GradCAM`
            raises.

    Example:
    >>> cam = tfg.AblationCAM(model)
    >>> cam.head_only, cam(images).shape
    (True, (2, 64, 64))
    """

    method = "ablationcam"

    def __init__(self, model, layer=None, *, batch_size=32, preprocess=None, output=None,
                 target=None, full_forward=False, max_memory=maps.DEFAULT_MAX_MEMORY,
                 labels=None):
        if isinstance(layer, (list, tuple)):
            raise ValueError("Ablation-CAM explains one layer; pass a single name or layer. "
                             f"Received: layer={layer!r}")
        self.batch_size = inputs.positive_int("batch_size", batch_size)
        self._use_graph(model, layer, preprocess, output=output, target=target, labels=labels)
        self._remember(locals())
        info = feature_map(self, "Ablation-CAM zeroes each channel of")
        self.channels = int(info.shape[-1])
        head = None if full_forward or self.graph.captured else head_model(model, info.path)
        #: Whether the ablated copies run only the layers after the explained one.
        self.head_only = head is not None
        forward = head if head is not None else _AblatedForward(model, info.layer)
        # One ablated copy: its activations and the few the head keeps alive, or a whole
        # forward pass where the head cannot be separated.
        item = (3 * 4 * math.prod(info.shape) if self.head_only
                else maps.forward_bytes(self.graph.layers, self.input_shape))
        #: Ablated copies per pass: `batch_size`, or fewer within `max_memory`.
        self.chunk_size = maps.chunk_size(item, max_memory, self.batch_size)
        self._ablated = forward_view(self, forward)
        self.compute = self._compile(self._compute)

    def _ablated_scores(self, x, activations, classes, mask):
        """`indices (m,) -> (m, K)` float32 scores of the classes with one channel zeroed;
        index = image * channels + channel."""
        channels = self.channels

        def scores(index):
            image, channel = index // channels, index % channels
            keep = 1.0 - tf.one_hot(channel, channels, dtype=tf.float32)  # (m, channels)
            if self.head_only:
                given = _ablated_copies(activations, image, keep)
            else:
                given = [tf.gather(x, image), keep]
            _, logits, outputs = core.Explainer._forward(self._ablated, given)
            region = None if mask is None else tf.gather(mask, image)
            return self.target.select(logits, outputs, tf.gather(classes, image), region)[1]

        return scores

    def _compute(self, images, class_index, mask=None):
        x = self._preprocess(images)
        features, logits, outputs = self._forward(x)
        classes, base = self.target.select(logits, outputs, class_index, mask)
        n, count = tf.shape(classes)[0], tf.shape(classes)[1]
        activations = features[0]
        ablated = maps.chunked(self._ablated_scores(x, activations, classes, mask),
                               n * self.channels, self.chunk_size, width=count)
        ablated = tf.reshape(ablated, [n, self.channels, count])
        reference = base[:, tf.newaxis, :]
        weights = tf.math.divide_no_nan(reference - ablated, reference)  # (N, C, K)
        cams, heatmaps = scorecam.weighted_maps(tf.cast(activations, tf.float32), weights,
                                                tf.shape(images)[1:3])
        return self._result(heatmaps, cams, classes, base, logits, outputs)
