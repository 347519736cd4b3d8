"""tf_gradcam: Grad-CAM and friends for Keras 3 / TensorFlow image models.

Example:
>>> import tf_gradcam as tfg
>>> cam = tfg.GradCAM(model)                 # the layer is found automatically
>>> heatmaps = cam(images)                   # (N, H, W) float32 in [0, 1]
>>> picture = tfg.overlay(images[0], heatmaps[0])

Names are imported on first use (PEP 562), so `import tf_gradcam` does not start
TensorFlow: the command line can quiet TensorFlow's start-up logging before it loads, and
nothing happens at import time.
"""

import importlib
from importlib import metadata as _metadata

#: Public name -> the module that defines it.
_EXPORTS = {
    "METHODS": "registry", "Explainer": "core", "Explanation": "core", "GradientCAM": "core",
    "GradCAM": "core", "GradCAMPlusPlus": "core", "HiResCAM": "core", "XGradCAM": "core",
    "LayerCAM": "core", "EigenCAM": "core", "GuidedGradCAM": "guided",
    "Occlusion": "occlusion", "ScoreCAM": "scorecam", "LayerInfo": "layers",
    "candidates": "layers", "list_layers": "layers", "export_saved_model": "export",
    "load_model": "loading",
    "colorize": "visualize", "colormap_lut": "visualize", "overlay": "visualize",
    "plot": "visualize", "show": "notebook", "load_labels": "labels",
    "write_report": "report",
    "AblationCAM": "ablation", "SSCAM": "scorecam", "ISCAM": "scorecam",
    "SmoothGradCAMPlusPlus": "smoothing", "DeepFeatureFactorization": "factorization",
    "Factorization": "factorization", "dff": "factorization",
    "show_factorization": "factorization", "concept_labels": "factorization",
    "GradCAMElementWise": "core", "EigenGradCAM": "core", "FinerCAM": "core",
    "ShapleyCAM": "core", "FullGrad": "fullgrad", "KPCACAM": "feature_methods",
    "FEM": "feature_methods", "SegEigenCAM": "core",
}
#: Submodules reachable as attributes, e.g. `tfg.targets.Regression`.
_SUBMODULES = ("callbacks", "geometry", "labels", "layers", "metrics", "streaming", "targets",
               "visualize")

try:
    __version__ = _metadata.version("tf_gradcam")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"tf_gradcam.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"tf_gradcam.{name}")
    else:
        raise AttributeError(f"module 'tf_gradcam' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
