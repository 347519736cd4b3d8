"""The one registry of explanation methods: it feeds the API, the CLI, export and tests.

The names are known without importing TensorFlow (the command line lists them in `--help`
before it loads anything); each class is imported on first use.
"""

import collections.abc
import importlib

#: Registry name -> `module.Class` of the explainer below `tf_gradcam` (the class's `method`).
_PLACES = {
    "gradcam": "core.GradCAM", "gradcam++": "core.GradCAMPlusPlus",
    "hirescam": "core.HiResCAM", "xgradcam": "core.XGradCAM", "layercam": "core.LayerCAM",
    "eigencam": "core.EigenCAM", "scorecam": "scorecam.ScoreCAM",
    "guided-gradcam": "guided.GuidedGradCAM", "occlusion": "occlusion.Occlusion",
    "ablationcam": "ablation.AblationCAM", "sscam": "scorecam.SSCAM",
    "iscam": "scorecam.ISCAM", "smoothgradcam++": "smoothing.SmoothGradCAMPlusPlus",
    "gradcam-elementwise": "core.GradCAMElementWise", "eigengradcam": "core.EigenGradCAM",
    "finercam": "core.FinerCAM", "shapleycam": "core.ShapleyCAM",
    "segeigencam": "core.SegEigenCAM", "fullgrad": "fullgrad.FullGrad",
    "kpcacam": "feature_methods.KPCACAM", "fem": "feature_methods.FEM",
}


class _Methods(collections.abc.Mapping):
    """Registry name -> explainer class; a class is imported when it is first looked up."""

    def __getitem__(self, name):
        module, cls = _PLACES[name].rsplit(".", 1)
        return getattr(importlib.import_module(f"tf_gradcam.{module}"), cls)

    def __iter__(self):
        return iter(_PLACES)

    def __len__(self):
        return len(_PLACES)

    def __repr__(self):
        return repr(dict(self))


#: Registry name -> explainer class.
METHODS = _Methods()


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
