"""How gradients and activations become a class activation map: one function per method.

A method is a *weighting*: from the target layer's activations `A` and the class score's
gradients `g = dY/dA`, both float32 `(N, h, w, K)`, it returns the weighted activations
`(N, h, w, K)`. The map is then `ReLU(sum_k ...)` (`combine_sum`) or, with `eigen_smooth`,
the ReLU of their first principal component (`combine_principal`). Everything else
(forward pass, tape, resize, normalisation) is shared, and each image is independent.
"""

import tensorflow as tf


def _safe_divide(numerator, denominator):
    ok = tf.not_equal(denominator, 0.0)
    return tf.where(ok, numerator / tf.where(ok, denominator, 1.0), 0.0)


def _spatial_sum(x):
    return tf.reduce_sum(x, axis=[1, 2], keepdims=True)


def gradcam_weights(activations, gradients):
    """Grad-CAM: `w_k A^k` with `w_k` the spatial mean of `dY/dA^k`.

    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017 / IJCV 2019, Eq. 1-2.
    """
    return tf.reduce_mean(gradients, axis=[1, 2], keepdims=True) * activations


def gradcam_plus_plus_weights(activations, gradients):
    """Grad-CAM++: pixel-wise `alpha` from higher-order terms, positive gradients only.

    Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations for Deep
    Convolutional Networks", WACV 2018, Eq. 19 with the exponential score closed form:
    `alpha = g^2 / (2 g^2 + sum_ab A_ab g^3)`, `w_k = sum_ij alpha_ij ReLU(g_ij)`. The
    per-image factor `exp(S)` is left out; it cancels in the normalised heatmap.
    """
    g2 = tf.square(gradients)
    alpha = _safe_divide(g2, 2.0 * g2 + _spatial_sum(activations) * g2 * gradients)
    return _spatial_sum(alpha * tf.nn.relu(gradients)) * activations


def hirescam_weights(activations, gradients):
    """HiResCAM: `g^k * A^k` element-wise instead of spatially averaged.

    Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks", arXiv:2011.08891, 2020.
    """
    return gradients * activations


def xgradcam_weights(activations, gradients):
    """XGrad-CAM: `w_k = sum_ij(g^k_ij A^k_ij) / sum_ij A^k_ij`.

    Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
    CNNs", BMVC 2020.
    """
    weights = _safe_divide(_spatial_sum(gradients * activations), _spatial_sum(activations))
    return weights * activations


def layercam_weights(activations, gradients):
    """LayerCAM: `ReLU(g^k) * A^k`, per pixel; meaningful on earlier layers too.

    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", IEEE TIP 2021.
    """
    return tf.nn.relu(gradients) * activations


def eigencam_weights(activations, gradients):
    """Eigen-CAM: the activations themselves, combined by their first principal component.

    Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
    IJCNN 2020. Class agnostic: the gradients are ignored.
    """
    del gradients
    return activations


def combine_sum(weighted):
    """`ReLU(sum_k weighted^k)`: `(N, h, w, K) -> (N, h, w)`."""
    return tf.nn.relu(tf.reduce_sum(weighted, axis=-1))


def combine_principal(weighted):
    """ReLU of the projection on the first principal component over channels.

    The component's sign is chosen so that the map correlates positively with the channel
    sum (an SVD sign is arbitrary). `(N, h, w, K) -> (N, h, w)`.
    """
    shape = tf.shape(weighted)
    flat = tf.reshape(weighted, [shape[0], shape[1] * shape[2], shape[3]])
    centred = flat - tf.reduce_mean(flat, axis=1, keepdims=True)
    _, _, v = tf.linalg.svd(centred, full_matrices=False)
    projection = tf.linalg.matvec(flat, v[..., 0])
    reference = tf.reduce_sum(flat, axis=-1)
    sign = tf.sign(tf.reduce_sum(projection * reference, axis=1, keepdims=True))
    projection = projection * tf.where(sign == 0, 1.0, sign)
    return tf.nn.relu(tf.reshape(projection, shape[:3]))


def gradcam(activations, gradients):
    """Grad-CAM map `ReLU(sum_k w_k A^k)`, `(N, h, w)`; see `gradcam_weights`."""
    return combine_sum(gradcam_weights(activations, gradients))
