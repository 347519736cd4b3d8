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


def _weighted_sum(weights, activations):
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def _safe_divide(numerator, denominator):
    ok = tf.not_equal(denominator, 0.0)
    return tf.where(ok, numerator / tf.where(ok, denominator, 1.0), 0.0)


def gradcam_plus_plus(activations, gradients):
    """Grad-CAM++: pixel-wise weights `alpha` from higher-order terms, positive gradients.

    Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations for Deep
    Convolutional Networks", WACV 2018, Eq. 19 with the exponential score closed form:
    `alpha = g^2 / (2 g^2 + sum_ab A_ab g^3)`, `w_k = sum_ij alpha_ij ReLU(g_ij)`. The
    per-image factor `exp(S)` is left out; it cancels in the normalised heatmap.
    """
    g2 = tf.square(gradients)
    g3 = g2 * gradients
    total = tf.reduce_sum(activations, axis=[1, 2], keepdims=True)
    alpha = _safe_divide(g2, 2.0 * g2 + total * g3)
    weights = tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=[1, 2], keepdims=True)
    return _weighted_sum(weights, activations)


def hirescam(activations, gradients):
    """HiResCAM: `ReLU(sum_k g^k * A^k)`, element-wise instead of spatially averaged.

    Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks", arXiv:2011.08891, 2020.
    """
    return tf.nn.relu(tf.reduce_sum(gradients * activations, axis=-1))


def xgradcam(activations, gradients):
    """XGrad-CAM: `w_k = sum_ij(g^k_ij A^k_ij) / sum_ij A^k_ij`.

    Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
    CNNs", BMVC 2020.
    """
    numerator = tf.reduce_sum(gradients * activations, axis=[1, 2], keepdims=True)
    weights = _safe_divide(numerator, tf.reduce_sum(activations, axis=[1, 2], keepdims=True))
    return _weighted_sum(weights, activations)


def layercam(activations, gradients):
    """LayerCAM: `ReLU(sum_k ReLU(g^k) * A^k)`; meaningful on earlier layers too.

    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", IEEE TIP 2021.
    """
    return tf.nn.relu(tf.reduce_sum(tf.nn.relu(gradients) * activations, axis=-1))


def eigencam(activations, gradients):
    """Eigen-CAM: projection of the activations on their first principal component.

    Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
    IJCNN 2020. Class agnostic: the gradients are ignored. The component's sign is chosen
    so that the map correlates positively with the summed activations.
    """
    del gradients
    shape = tf.shape(activations)
    flat = tf.reshape(activations, [shape[0], shape[1] * shape[2], shape[3]])
    centred = flat - tf.reduce_mean(flat, axis=1, keepdims=True)
    _, _, v = tf.linalg.svd(centred, full_matrices=False)
    projection = tf.linalg.matvec(flat, v[..., 0])
    reference = tf.reduce_sum(flat, axis=-1)
    sign = tf.sign(tf.reduce_sum(projection * reference, axis=1, keepdims=True))
    projection = projection * tf.where(sign == 0, 1.0, sign)
    return tf.nn.relu(tf.reshape(projection, shape[:3]))
