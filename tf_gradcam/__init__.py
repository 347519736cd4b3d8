"""tf_gradcam: Grad-CAM and friends for Keras 3 / TensorFlow image models.

Example:
>>> import tf_gradcam as tfg
>>> cam = tfg.GradCAM(model)                 # the layer is found automatically
>>> heatmaps = cam(images)                   # (N, H, W) float32 in [0, 1]
>>> picture = tfg.overlay(images[0], heatmaps[0])
"""

from importlib import metadata as _metadata

from tf_gradcam import callbacks, streaming, targets

from tf_gradcam.core import (EigenCAM, Explainer, Explanation, GradCAM, GradCAMPlusPlus,
                            GradientCAM, HiResCAM, LayerCAM, XGradCAM)
from tf_gradcam.export import export_saved_model
from tf_gradcam.guided import GuidedGradCAM
from tf_gradcam.occlusion import Occlusion
from tf_gradcam.scorecam import ScoreCAM
from tf_gradcam.layers import LayerInfo, candidates, list_layers
from tf_gradcam.registry import METHODS
from tf_gradcam.visualize import colorize, colormap_lut, overlay, plot

try:
    __version__ = _metadata.version("tf_gradcam")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "METHODS", "EigenCAM", "Explainer", "Explanation", "GradCAM", "GradCAMPlusPlus",
    "GradientCAM", "GuidedGradCAM", "HiResCAM", "LayerCAM", "LayerInfo", "Occlusion", "ScoreCAM", "XGradCAM",
    "candidates", "colorize", "colormap_lut", "export_saved_model", "callbacks", "list_layers", "overlay", "plot", "streaming", "targets",
]
