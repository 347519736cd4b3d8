"""FullGrad: input-gradient x input plus every convolution / BatchNorm bias-gradient.

Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization",
NeurIPS 2019 (Eq. 3 and Sec. 4, FullGrad saliency): `psi(|grad_x S * x|) + sum_l sum_c
psi(|grad_{z_l} S * b_l|)` with `psi` a min-max rescale and bilinear upsampling. The outputs
of all those layers are captured in the one compiled trace (the engine's multi-layer capture,
`layer=` a list), and their gradients come from the same backward pass.
"""

import keras
import tensorflow as tf

from tf_gradcam import capture, core, maps

#: Layers whose bias enters the full-gradient sum (4D feature maps only, as in the paper).
BIAS_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
               keras.layers.SeparableConv2D, keras.layers.BatchNormalization)
#: Element-wise activation ops a convolution may fuse; the bias sits on their input.
_ACTIVATION_OPS = ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus",
                   "Softsign", "LeakyRelu")
_NORMALIZE = ("image", "channel")


def _has_bias(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        spec = getattr(layer, "input_spec", None)
        return getattr(spec, "ndim", None) == 4 and layer.axis in (-1, 3, [3], [-1])
    return bool(getattr(layer, "use_bias", False)) and getattr(layer, "bias", None) is not None


def bias_layers(model):
    """The layers of `model` (nested ones included) whose bias FullGrad uses, in order."""
    return [layer for _, layer in capture.deep_layers(model)
            if isinstance(layer, BIAS_LAYERS) and _has_bias(layer)]


def bias(layer):
    """The layer's bias as a float32 tensor `(channels,)`; for BatchNorm in inference the
    effective one, `beta - mean * gamma / sqrt(var + eps)`."""
    if not isinstance(layer, keras.layers.BatchNormalization):
        return tf.cast(layer.bias, tf.float32)
    mean = tf.cast(layer.moving_mean, tf.float32)
    scale = tf.math.rsqrt(tf.cast(layer.moving_variance, tf.float32) + layer.epsilon)
    if layer.scale:
        scale *= tf.cast(layer.gamma, tf.float32)
    offset = tf.cast(layer.beta, tf.float32) if layer.center else 0.0
    return offset - mean * scale


def _pre_activation(tensor, layer):
    """The tensor the bias is added to: the layer's output, or the input of its fused
    activation (a convolution with `activation="relu"`)."""
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return tensor
    source = tensor
    while source.op.type in ("Cast", "Identity") and source.op.inputs:
        source = source.op.inputs[0]
    if source.op.type in _ACTIVATION_OPS:
        return source.op.inputs[0]
    raise ValueError(
        f"FullGrad needs the pre-activation output of layer {layer.name!r}, but its fused "
        f"activation {getattr(activation, '__name__', activation)!r} is not one element-wise "
        f"op ({', '.join(_ACTIVATION_OPS)}). Build the layer with a separate Activation "
        f"layer, or use another method. Received: layer={layer.name!r}")


def _rescale(values, per_channel):
    """`psi`: min-max rescale of `(M, h, w, C)` per map (over `h, w, C`), or per channel
    (over `h, w`), to [0, 1]."""
    axes = [1, 2] if per_channel else [1, 2, 3]
    low = tf.reduce_min(values, axis=axes, keepdims=True)
    high = tf.reduce_max(values - low, axis=axes, keepdims=True)
    return (values - low) / (high + 1e-6)


class FullGrad(core.GradientCAM):
    """FullGrad (Srinivas & Fleuret, NeurIPS 2019): `|input-gradient x input|` plus, for
    every convolution / BatchNorm layer, `|bias-gradient x bias|`, each rescaled to [0, 1],
    summed over channels, upsampled and summed.

    One forward and one backward pass (gradients with respect to the input and every
    bias layer's output, from the same tape). It explains the whole network, so `layer=`
    must stay `None`; `Explanation.layer` lists the bias layers and `cams` is the summed map
    at the input resolution.

    Args:
        model: As in `GradientCAM`.
        layer: Must be `None` (every bias layer is explained). Defaults to `None`.
        **kwargs: As in `GradientCAM` (`preprocess`, `output`, `target`, `augment`,
            `jit_compile`); the gradient x input term uses the preprocessed input.
        normalize: `"image"` rescales each layer's `|g * b|` over all its channels and
            positions (the paper's code, idiap/fullgrad-saliency); `"channel"` each channel
            on its own (pytorch-grad-cam's `FullGrad`). Defaults to `"image"`.

    Raises:
        ValueError: `layer` is given, a bad `normalize`, a model without bias layers or
            with a convolution whose fused activation is not element-wise.

    Example:
    >>> heatmaps = tfg.FullGrad(model)(images)
    """

    method = "fullgrad"

    def __init__(self, model, layer=None, *, normalize="image", **kwargs):
        if normalize not in _NORMALIZE:
            raise ValueError(f"`normalize` must be one of {list(_NORMALIZE)}. Received: "
                             f"normalize={normalize!r}")
        self.normalize = normalize
        super().__init__(model, layer, **kwargs)
        self._settings["normalize"] = normalize
        self._settings.pop("layer", None)

    def _layers(self, model, layer):
        if layer is not None:
            raise ValueError(
                "FullGrad sums the bias-gradients of every convolution and BatchNorm layer, so "
                f"it takes no `layer=`; leave it None. Received: layer={layer!r}")
        found = bias_layers(model)
        if not found:
            raise ValueError(
                "FullGrad needs convolution or BatchNorm layers with a bias on 4D feature "
                f"maps; this model has none. Use another method. Received: model="
                f"{getattr(model, 'name', model)!r}")
        return found

    def _maps(self, images, class_index, mask):
        x = self._preprocess(images)
        tape, features, logits, outputs, classes, scores = self._taped_forward(
            x, class_index, mask)
        n, k = tf.shape(scores)[0], tf.shape(scores)[1]
        size = tf.shape(images)[1:3]
        per_channel = self.normalize == "channel"

        sources = [x] + [_pre_activation(f, info.layer)
                         for f, info in zip(features, self.graph.targets)]
        gradients = core._class_gradients(tape, scores, sources)
        weights = [tf.repeat(tf.cast(x, tf.float32), k, axis=0)] + [
            bias(info.layer) for info in self.graph.targets]

        def term(source, gradient, weight):  # psi(|g * weight|) summed over channels
            gradient = tf.reshape(tf.cast(gradient, tf.float32),
                                  tf.concat([[n * k], tf.shape(source)[1:]], 0))
            if self.counterfactual:
                gradient = -gradient
            part = _rescale(tf.abs(gradient * weight), per_channel)
            return maps.upsample(tf.reduce_sum(part, axis=-1), size)

        cam = tf.add_n([term(*parts) for parts in zip(sources, gradients, weights)])
        heatmaps = maps.normalize(cam)
        return ([core._per_class(cam, n, k)], core._per_class(heatmaps, n, k), classes, scores,
                logits, outputs)
