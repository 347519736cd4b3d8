"""The one registry of explanation methods: it feeds the API, the CLI, export and tests."""

from tf_gradcam import (ablation, core, feature_methods, fullgrad, guided, occlusion,
                        scorecam, smoothing)

#: Registry name -> explainer class.
METHODS = {cls.method: cls for cls in (
    core.GradCAM, core.GradCAMPlusPlus, core.HiResCAM, core.XGradCAM, core.LayerCAM,
    core.EigenCAM, scorecam.ScoreCAM, guided.GuidedGradCAM, occlusion.Occlusion,
    ablation.AblationCAM, scorecam.SSCAM, scorecam.ISCAM, smoothing.SmoothGradCAMPlusPlus,
    core.GradCAMElementWise, core.EigenGradCAM, core.FinerCAM, core.ShapleyCAM,
    core.SegEigenCAM, fullgrad.FullGrad, feature_methods.KPCACAM, feature_methods.FEM)}


def get(name):
    """The explainer class registered as `name`.

    Raises:
        ValueError: Unknown name (the message lists the registered ones).
    """
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown method {name!r}. Use one of {sorted(METHODS)}. "
                         f"Received: method={name!r}") from None
