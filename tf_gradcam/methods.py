"""How gradients and activations become a class activation map: one function per method.

A method is a *weighting*: from the target layer's activations `A` and the class score's
gradients `g = dY/dA`, both float32 `(N, h, w, K)`, it returns the weighted activations
`(N, h, w, K)`. The map is then `ReLU(sum_k ...)` (`combine_sum`) or, with `eigen_smooth`,
the ReLU of their first principal component (`combine_principal`; `combine_kernel_principal`
for kernel PCA). Feature-only methods (Eigen-CAM, KPCA-CAM, FEM) receive `gradients=None`.
Everything else (forward pass, tape, resize, normalisation) is shared, and each image is
independent.
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


def gradcam_plus_plus_weights(activations, gradients, eps=0.0):
    """Grad-CAM++: pixel-wise `alpha` from higher-order terms, positive gradients only.

    Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations for Deep
    Convolutional Networks", WACV 2018, Eq. 19 with the exponential score closed form:
    `alpha = g^2 / (2 g^2 + sum_ab A_ab g^3)`, `w_k = sum_ij alpha_ij ReLU(g_ij)`. The
    per-image factor `exp(S)` is left out; it cancels in the normalised heatmap.

    `eps > 0` adds `eps` to the denominator where `g != 0`, as pytorch-grad-cam does with
    `eps=1e-6`; where logit gradients are tiny (~1e-4, inner layers) that term dominates
    `2 g^2` and changes the map, so the default is the paper's `eps=0` (0/0 -> 0).
    """
    g2 = tf.square(gradients)
    denominator = 2.0 * g2 + _spatial_sum(activations) * g2 * gradients
    if eps:
        denominator = tf.where(tf.not_equal(gradients, 0.0), denominator + eps, 0.0)
    alpha = _safe_divide(g2, denominator)
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
    IJCNN 2020. Class agnostic: the gradients are ignored (and not computed).
    """
    del gradients
    return activations


def gradcam_elementwise_weights(activations, gradients):
    """Grad-CAM element-wise: `ReLU(g^k * A^k)` per position and channel, then summed.

    pytorch-grad-cam's `GradCAMElementWise`: HiResCAM with the ReLU moved inside the channel
    sum, so no channel's negative evidence cancels another's positive one.
    """
    return tf.nn.relu(gradients * activations)


def eigengradcam_weights(activations, gradients):
    """Eigen-Grad-CAM: `g * A`, combined by its first principal component.

    pytorch-grad-cam's `EigenGradCAM`: Eigen-CAM (Muhammad & Yeasin, IJCNN 2020) of the
    gradient-weighted activations, so the map is class discriminative.
    """
    return gradients * activations


def fem_weights(activations, gradients, k=2.0):
    """FEM: `w_c` = the fraction of positions where `A^c > mean_c + k std_c` (k-sigma rule).

    Fuad et al., "Features understanding in 3D CNNs for actions recognition in video",
    IPTA 2020 (the Feature Explanation Method); `k=2` as in pytorch-grad-cam. Gradient-free.
    """
    del gradients
    mean = tf.reduce_mean(activations, axis=[1, 2], keepdims=True)
    threshold = mean + k * tf.math.reduce_std(activations, axis=[1, 2], keepdims=True)
    selected = tf.cast(activations > threshold, activations.dtype)
    return tf.reduce_mean(selected, axis=[1, 2], keepdims=True) * activations


def combine_sum(weighted):
    """`ReLU(sum_k weighted^k)`: `(N, h, w, K) -> (N, h, w)`."""
    return tf.nn.relu(tf.reduce_sum(weighted, axis=-1))


def _positions(weighted, center):
    """`(N, h, w, K) -> (N, h*w, K)`, centred over positions when `center`."""
    shape = tf.shape(weighted)
    flat = tf.reshape(weighted, [shape[0], shape[1] * shape[2], shape[3]])
    if center:
        flat = flat - tf.reduce_mean(flat, axis=1, keepdims=True)
    return flat


def _oriented_map(projection, reference, shape):
    """ReLU of `projection` `(N, P)` with its (arbitrary) sign chosen so that it correlates
    positively with `reference` (or, for `reference=None`, so that its largest magnitude
    is positive: Seg-Eigen-CAM's Eq. 13), reshaped to `shape` `(N, h, w)`."""
    if reference is None:
        reference = tf.one_hot(tf.argmax(tf.abs(projection), axis=1), tf.shape(projection)[1])
    sign = tf.sign(tf.reduce_sum(projection * reference, axis=1, keepdims=True))
    projection = projection * tf.where(sign == 0, 1.0, sign)
    return tf.nn.relu(tf.reshape(projection, shape))


def segeigencam_weights(activations, gradients):
    """Seg-Eigen-CAM: `|g| * A` (Eq. 10), combined by its first principal component with the
    max-magnitude sign rule (Eq. 13); see `combine_principal(..., sign="max_abs")`.

    Chung & Ying, "Seg-Eigen-CAM: Eigen-Value-Based Visual Explanations for Semantic
    Segmentation Models", Applied Sciences 15(13), 7562, 2025.
    """
    return tf.abs(gradients) * activations


def combine_principal(weighted, center=False, sign="sum"):
    """ReLU of the projection on the first principal component over channels.

    With `center=False` (the Eigen-CAM paper, Sec. 3: `O = U S V^T`, map `O v_1`) the SVD
    and the projection use the raw `(h*w, K)` matrix; `center=True` subtracts each channel's
    mean over positions first, as pytorch-grad-cam's `get_2d_projection` does. The sign is
    chosen so that the map correlates positively with the channel sum (an SVD sign is
    arbitrary); `sign="max_abs"` makes the largest magnitude positive instead (Seg-Eigen-CAM).
    `(N, h, w, K) -> (N, h, w)`.
    """
    flat = _positions(weighted, center)
    _, _, v = tf.linalg.svd(flat, full_matrices=False)
    projection = tf.linalg.matvec(flat, v[..., 0])
    reference = None if sign == "max_abs" else tf.reduce_sum(_positions(weighted, False), -1)
    return _oriented_map(projection, reference, tf.shape(weighted)[:3])


#: Kernel PCA kernels and their defaults (scikit-learn's `KernelPCA`: `gamma=1/K`,
#: `coef0=1`, `degree=3`), on `(N, P, K)` position vectors -> `(N, P, P)`.
KERNELS = ("rbf", "sigmoid", "cosine", "poly")


def kernel_matrix(flat, kernel="sigmoid", gamma=None, coef0=1.0, degree=3):
    """The `(N, P, P)` kernel matrix of `(N, P, K)` position vectors.

    Args:
        flat: float32 `(N, P, K)`.
        kernel: One of `KERNELS`. Defaults to `"sigmoid"`.
        gamma: `None` for `1 / K` (scikit-learn). Defaults to `None`.
        coef0: Offset of the sigmoid and poly kernels. Defaults to `1.0`.
        degree: Degree of the poly kernel. Defaults to `3`.
    """
    if gamma is None:
        gamma = 1.0 / tf.cast(tf.shape(flat)[-1], flat.dtype)
    dot = tf.linalg.matmul(flat, flat, transpose_b=True)
    if kernel == "sigmoid":
        return tf.tanh(gamma * dot + coef0)
    if kernel == "poly":
        return tf.pow(gamma * dot + coef0, float(degree))
    if kernel == "cosine":
        norm = tf.norm(flat, axis=-1)
        return _safe_divide(dot, norm[:, :, None] * norm[:, None, :])
    squared = tf.reduce_sum(tf.square(flat), axis=-1)
    distance = squared[:, :, None] + squared[:, None, :] - 2.0 * dot
    return tf.exp(-gamma * tf.maximum(distance, 0.0))  # rbf


def combine_kernel_principal(weighted, kernel="sigmoid", gamma=None, coef0=1.0, degree=3,
                             center=True):
    """ReLU of the first kernel principal component of the positions.

    Karmani et al., "KPCA-CAM: Visual Explainability of Deep Computer Vision Models using
    Kernel PCA", MMSP 2024, as pytorch-grad-cam computes it: positions centred (`center`),
    kernel matrix `Kx` over positions, double-centred (`Kx - 1Kx - Kx1 + 1Kx1`), its top
    eigenvector `v` scaled by `sqrt(lambda)` (scikit-learn's `KernelPCA.fit_transform`).
    The sign follows the channel sum, as in `combine_principal`. `(N, h, w, K) -> (N, h, w)`.
    """
    flat = _positions(weighted, center)
    gram = kernel_matrix(flat, kernel, gamma, coef0, degree)
    row = tf.reduce_mean(gram, axis=2, keepdims=True)
    col = tf.reduce_mean(gram, axis=1, keepdims=True)
    gram = gram - row - col + tf.reduce_mean(gram, axis=[1, 2], keepdims=True)
    values, vectors = tf.linalg.eigh(gram)
    projection = vectors[..., -1] * tf.sqrt(tf.maximum(values[..., -1:], 0.0))
    reference = tf.reduce_sum(_positions(weighted, False), axis=-1)
    return _oriented_map(projection, reference, tf.shape(weighted)[:3])


def gradcam(activations, gradients):
    """Grad-CAM map `ReLU(sum_k w_k A^k)`, `(N, h, w)`; see `gradcam_weights`."""
    return combine_sum(gradcam_weights(activations, gradients))
