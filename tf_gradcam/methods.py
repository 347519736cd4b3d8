"""How gradients and activations become a class activation map: one function per method.

Each function takes the target layer's activations `A` and the class score's gradients
`dY/dA`, both float32 `(N, h, w, K)`, and returns the raw map `(N, h, w)` for each image
independently. Everything else (forward pass, tape, resize, normalisation) is shared.
"""

import tensorflow as tf


def gradcam(activations, gradients):
    """Grad-CAM: `ReLU(sum_k w_k A^k)` with `w_k` the spatial mean of `dY/dA^k`.

    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017 / IJCV 2019, Eq. 1-2.
    """
    weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))
