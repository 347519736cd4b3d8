"""Smooth Grad-CAM++: Grad-CAM++ with derivatives averaged over noisy copies of the input.

Omeiza et al., "Smooth Grad-CAM++: An Enhanced Inference Level Visualization Technique for
Deep Convolutional Neural Network Models", arXiv:1908.01224, 2019: the first, second and
third derivatives of Grad-CAM++ (Eq. 19, exponential closed form: `g`, `g^2`, `g^3`) are
each averaged over `n_samples` copies of the input with Gaussian noise (SmoothGrad), and
the activations are the clean image's.
"""

import tensorflow as tf

from tf_gradcam import core, inputs, maps, methods, scorecam


def smooth_gradcam_plus_plus_weights(activations, gradients):
    """Grad-CAM++ weighting from derivatives averaged over S noisy copies.

    Args:
        activations: float32 `(M, h, w, C)`, the clean image's activations.
        gradients: float32 `(M, S, h, w, C)`, the class gradients of the S noisy copies.

    Returns:
        float32 `(M, h, w, C)`: `w_k A^k` with `alpha = D2 / (2 D2 + sum_ab A_ab D3)` and
        `w_k = sum_ij alpha_ij ReLU(D1_ij)`, `Dp` the mean of `g^p` over the copies. With
        one copy this is `methods.gradcam_plus_plus_weights`.
    """
    d1, d2, d3 = (tf.reduce_mean(gradients ** p, axis=1) for p in (1, 2, 3))
    total = tf.reduce_sum(activations, axis=[1, 2], keepdims=True)
    alpha = tf.math.divide_no_nan(d2, 2.0 * d2 + total * d3)
    return tf.reduce_sum(alpha * tf.nn.relu(d1), axis=[1, 2], keepdims=True) * activations


class SmoothGradCAMPlusPlus(core.GradientCAM):
    """Smooth Grad-CAM++: Grad-CAM++ from gradients averaged over `n_samples` noisy copies
    of the (preprocessed) input, all copies in one batched forward and backward pass.

    torch-cam's defaults: 4 copies, noise `N(0, 0.3^2)` added to the model's input (after
    `preprocess`). torch-cam takes `ReLU(g)` of its last copy only; here every derivative
    is averaged, as in the paper. `std=0` gives Grad-CAM++ exactly.

    Args:
        model: As in `GradientCAM`.
        layer: As in `GradientCAM`. Defaults to `None`.
        preprocess: As in `GradientCAM`. Defaults to `None`.
        output: As in `GradientCAM`. Defaults to `None`.
        target: As in `GradientCAM`. Defaults to `None`.
        reshape: As in `GradientCAM`. Defaults to `None`.
        counterfactual: As in `GradientCAM`. Defaults to `False`.
        eigen_smooth: As in `GradientCAM`. Defaults to `False`.
        jit_compile: As in `GradientCAM`. Defaults to `False`. (`augment` is not offered:
            the noisy copies already smooth the map.)
        n_samples: Noisy copies per image. Defaults to `4`.
        std: Standard deviation of the Gaussian noise, in the model input's units. Defaults
            to `0.3`.
        seed: An int makes the noise reproducible: copy s of every image gets the same
            noise, `tf.random.stateless_normal((n_samples, H, W, C), (seed, 0))[s]`, on every
            call and whatever the batch; `None` draws new noise for each copy and call (as
            torch-cam). Defaults to `0`.

    Raises:
        ValueError: Bad `n_samples`, `std` or `seed`, or what `GradientCAM` raises.

    Example:
    >>> heatmaps = tfg.SmoothGradCAMPlusPlus(model, n_samples=4, seed=0)(images)
    """

    method = "smoothgradcam++"
    #: With one noise-free copy the method is Grad-CAM++ (what `cam_function` computes).
    weighting = staticmethod(methods.gradcam_plus_plus_weights)

    def __init__(self, model, layer=None, *, preprocess=None, output=None, target=None,
                 reshape=None, counterfactual=False, eigen_smooth=False, jit_compile="auto",
                 labels=None, n_samples=4, std=0.3, seed=0):
        self.n_samples = inputs.positive_int("n_samples", n_samples)
        self.std = scorecam.non_negative("std", std)
        self.seed = scorecam.noise_seed(seed)
        super().__init__(model, layer, preprocess=preprocess, output=output, target=target,
                         reshape=reshape, counterfactual=counterfactual,
                         eigen_smooth=eigen_smooth, jit_compile=jit_compile, labels=labels)
        self._settings.update(n_samples=n_samples, std=std, seed=seed)
        self._settings.pop("augment", None)

    def _noise(self, x):
        """Noise for `tf.repeat(x, n_samples, axis=0)`."""
        if self.seed is None:
            return tf.random.normal(tf.shape(x) * [self.n_samples, 1, 1, 1], stddev=self.std)
        copies = tf.random.stateless_normal(
            tf.concat([[self.n_samples], tf.shape(x)[1:]], 0), seed=[self.seed, 0])
        return self.std * tf.tile(copies, [tf.shape(x)[0], 1, 1, 1])

    def _compute(self, images, class_index, mask=None):
        x = self._preprocess(images)
        features, logits, outputs = self._forward(x)
        classes, scores = self.target.select(logits, outputs, class_index, mask)
        n, k, s = tf.shape(scores)[0], tf.shape(scores)[1], self.n_samples
        noisy = tf.repeat(x, s, axis=0)  # image i's copies at rows i*s .. i*s + s-1
        noisy = noisy + tf.cast(self._noise(x), noisy.dtype)
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            tape.watch(noisy)
            noisy_features, noisy_logits, noisy_outputs = self._forward(noisy)
            _, noisy_scores = self.target.select(
                noisy_logits, noisy_outputs, tf.repeat(classes, s, axis=0),
                None if mask is None else tf.repeat(mask, s, axis=0))
        combine = methods.combine_principal if self.eigen_smooth else self.combine
        size = tf.shape(images)[1:3]
        cams, heatmaps = [], 0.0
        for activation, source, grid in zip(features, noisy_features, self._grids):
            gradient = core._class_gradients(tape, noisy_scores, source)  # (N*S, K, ...)
            gradient = grid(tf.reshape(  # (N*S*K, h, w, C), rows ordered (image, copy, k)
                tf.cast(gradient, tf.float32), tf.concat([[-1], tf.shape(source)[1:]], 0)))
            gradient = tf.reshape(gradient, tf.concat([[n, s, k], tf.shape(gradient)[1:]], 0))
            gradient = tf.reshape(tf.transpose(gradient, [0, 2, 1, 3, 4, 5]),
                                  tf.concat([[n * k, s], tf.shape(gradient)[3:]], 0))
            if self.counterfactual:
                gradient = -gradient
            activation = grid(tf.repeat(tf.cast(activation, tf.float32), k, axis=0))
            cam = combine(smooth_gradcam_plus_plus_weights(activation, gradient))
            heatmaps += maps.normalize(maps.upsample(cam, size))
            cams.append(core._per_class(cam, n, k))
        if len(cams) > 1:
            heatmaps = maps.normalize(heatmaps / len(cams))
        return self._result(core._per_class(heatmaps, n, k),
                            cams[0] if len(cams) == 1 else cams, classes, scores, logits,
                            outputs)

