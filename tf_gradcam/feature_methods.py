"""Feature-only CAMs: maps from the explained layer's activations alone (no class gradient).

They are `GradientCAM`s whose weighting ignores gradients (`uses_gradients = False`), so the
compiled function runs the forward pass only; like Eigen-CAM they are class agnostic (every
`class_index` gives the same map; `class_index`, `scores` and `top_k` are still reported).
"""

import functools
import numbers

from tf_gradcam import core, methods


class KPCACAM(core.GradientCAM):
    """KPCA-CAM (Karmani et al., MMSP 2024): the first *kernel* principal component of the
    activations over positions, in TF ops (kernel matrix, double centring,
    `tf.linalg.eigh`), as pytorch-grad-cam's `KPCA_CAM` computes it with scikit-learn.

    Args:
        model: As in `GradientCAM`.
        layer: As in `GradientCAM`. Defaults to `None`.
        **kwargs: The other arguments of `GradientCAM`; `center` defaults to `True` here
            (pytorch-grad-cam centres the positions before the kernel).
        kernel: `"sigmoid"` (pytorch-grad-cam's default), `"rbf"`, `"cosine"` or `"poly"`.
            Defaults to `"sigmoid"`.
        gamma: Kernel coefficient; `None` for `1 / channels` (scikit-learn). Defaults to
            `None`.
        coef0: Offset of the sigmoid and poly kernels. Defaults to `1.0`.
        degree: Degree of the poly kernel. Defaults to `3`.

    The cost is an eigendecomposition of an `(h*w, h*w)` matrix per image: negligible at
    7x7 or 14x14, cubic in the positions at high-resolution layers.

    Example:
    >>> heatmaps = tfg.KPCACAM(model, kernel="rbf")(images)
    """

    method = "kpcacam"
    weighting = staticmethod(methods.eigencam_weights)
    combine = staticmethod(methods.combine_kernel_principal)
    uses_gradients = False
    center = True

    def __init__(self, model, layer=None, *, kernel="sigmoid", gamma=None, coef0=1.0,
                 degree=3, **kwargs):
        if kernel not in methods.KERNELS:
            raise ValueError(f"`kernel` must be one of {list(methods.KERNELS)}. Received: "
                             f"kernel={kernel!r}")
        for name, value in (("gamma", gamma), ("coef0", coef0)):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, numbers.Real)):
                raise ValueError(f"`{name}` must be a number. Received: {name}={value!r}")
        if gamma is not None and not gamma > 0:
            raise ValueError(f"`gamma` must be positive. Received: gamma={gamma!r}")
        if isinstance(degree, bool) or not isinstance(degree, numbers.Integral) or degree < 1:
            raise ValueError(f"`degree` must be a positive int. Received: degree={degree!r}")
        self.kernel = dict(kernel=kernel, gamma=None if gamma is None else float(gamma),
                           coef0=float(coef0), degree=int(degree))
        super().__init__(model, layer, **kwargs)
        self._settings.update(self.kernel)

    def _combiner(self):
        return functools.partial(methods.combine_kernel_principal, center=self.center,
                                 **self.kernel)


class FEM(core.GradientCAM):
    """FEM, the Feature Explanation Method (Fuad et al., IPTA 2020): each channel weighted
    by the fraction of positions where it exceeds its mean + `k` standard deviations.

    Args:
        model: As in `GradientCAM`.
        layer: As in `GradientCAM`. Defaults to `None`.
        **kwargs: The other arguments of `GradientCAM`.
        k: The k-sigma threshold. Defaults to `2.0` (pytorch-grad-cam's `k=2`).

    Example:
    >>> heatmaps = tfg.FEM(model, k=1.0)(images)
    """

    method = "fem"
    weighting = staticmethod(methods.fem_weights)
    uses_gradients = False

    def __init__(self, model, layer=None, *, k=2.0, **kwargs):
        if isinstance(k, bool) or not isinstance(k, numbers.Real) or not k >= 0:
            raise ValueError(f"`k` must be a non-negative number. Received: k={k!r}")
        self.k = float(k)
        self.weighting = functools.partial(methods.fem_weights, k=self.k)
        super().__init__(model, layer, **kwargs)
        self._settings["k"] = self.k
