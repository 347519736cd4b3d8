"""Guided backpropagation and Guided Grad-CAM.

Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015
(guided backpropagation); Selvaraju et al., ICCV 2017, Sec. 3.2 (Guided Grad-CAM = guided
backpropagation x upsampled Grad-CAM).

Caveat, measured by Adebayo et al. ("Sanity Checks for Saliency Maps", NeurIPS 2018) and by
`tests/test_guided.py` here: guided backpropagation barely changes when the model's top layers
are re-initialised at random - it behaves like an edge detector of the *input* - while
Grad-CAM changes completely. Use the Grad-CAM factor for *where*, not the guided one.

The guided gradient (only positive gradients through positive ReLU inputs) is applied to the
model's own ReLU / ReLU6 ops while the compiled function is traced, with a gradient override
scoped to that trace: the user's model and its layers are not modified or copied.
"""

import tensorflow as tf

from tf_gradcam import core, inputs, methods
from tf_gradcam.classes import class_matrix

#: Op type -> name of its guided gradient.
_GUIDED_OPS = {"Relu": "TfGradcamGuidedRelu", "Relu6": "TfGradcamGuidedRelu6"}
_registered = []


def guided_relu_grad(op, grad):
    """Guided ReLU: the positive part of the incoming gradient, where the input is > 0."""
    return tf.nn.relu(grad) * tf.cast(op.outputs[0] > 0, grad.dtype)


def guided_relu6_grad(op, grad):
    """Guided ReLU6: as ReLU, and zero where the unit is saturated (input >= 6), where
    ReLU6's own derivative is zero (MobileNet, EfficientNet-Lite)."""
    output = op.outputs[0]
    return tf.nn.relu(grad) * tf.cast((output > 0) & (output < 6), grad.dtype)


def _register_guided_gradient():
    """Register the guided gradients once, on first use (nothing at import time)."""
    if _registered:
        return
    for name, function in zip(_GUIDED_OPS.values(), (guided_relu_grad, guided_relu6_grad)):
        try:
            tf.RegisterGradient(name)(function)
        except KeyError:  # registered already by an earlier import of this module
            pass
    _registered.append(True)


class GuidedGradCAM(core.GradientCAM):
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map.

    Same constructor and call as `GradCAM`. `explain` returns `heatmaps` of shape
    `(N, H, W, C)` (min-max scaled per image to [0, 1], so 0 maps to a mid value) and `cams`,
    the raw Grad-CAM. `guided_backprop(images, class_index)` gives the guided gradients alone.
    Only ReLU and ReLU6 activations are guided; a saturated ReLU6 (input >= 6) passes no
    gradient, as its own derivative. Other activations pass their ordinary gradient.

    Example:
    >>> picture = tfg.GuidedGradCAM(model)(image)  # (H, W, 3) in [0, 1], show with imshow
    """

    method = "guided-gradcam"
    weighting = staticmethod(methods.gradcam_weights)
    max_classes = 1

    def __init__(self, model, layer=None, **kwargs):
        _register_guided_gradient()
        super().__init__(model, layer, **kwargs)
        self._guided_fn = self._compile(self._guided)

    def _guided(self, images, classes, mask=None):
        x = self._preprocess(images)
        graph = tf.compat.v1.get_default_graph()
        with graph.gradient_override_map(_GUIDED_OPS):
            _, logits, outputs = self._forward(x)
        _, scores = self.target.select(logits, outputs, classes, mask)
        return tf.gradients(scores[:, 0], x)[0]

    def guided_backprop(self, images, class_index=None):
        """Guided backpropagation alone: gradients `(N, H, W, C)` of each image's class score
        with respect to its (preprocessed) pixels. Arguments as in `explain`."""
        batch, single = inputs.image_batch(images, self.input_shape)
        classes, _ = class_matrix(class_index, int(batch.shape[0]), self.num_classes)
        masks = self._mask_argument(None, len(classes))
        guided = self._guided_fn(*core._arguments(batch, classes, masks)).numpy()
        return guided[0] if single else guided

    def _compute(self, images, class_index, mask=None):
        result = super()._compute(images, class_index, mask)
        guided = self._guided(images, result["class_index"], mask)[:, tf.newaxis]
        product = guided * result["heatmaps"][..., tf.newaxis]
        low = tf.reduce_min(product, axis=[2, 3, 4], keepdims=True)
        high = tf.reduce_max(product, axis=[2, 3, 4], keepdims=True)
        spread = high - low
        result["heatmaps"] = tf.where(spread > 0, (product - low) / tf.where(
            spread > 0, spread, 1.0), tf.zeros_like(product))
        return result
