"""Is the explanation right? Faithfulness metrics, localisation protocols and sanity checks.

Model-based metrics take the explainer (it holds the model, the preprocessing and the class
semantics), the images as the explainer receives them and the explanation to judge; the
perturbed images are built and scored in TF ops inside one compiled function per explainer
and setting, in balanced chunks (`tf_gradcam.maps.chunked`), traced once. Localisation
metrics take heatmaps and ground truth only. Every metric returns its aggregate as a Python
float, or a `MetricResult` with the per-image values when called with
`return_per_image=True`.

| metric | paper | better |
|---|---|---|
| `average_drop` | Chattopadhay et al., WACV 2018 | lower |
| `increase_in_confidence` | Chattopadhay et al., WACV 2018 | higher |
| `deletion` | Petsiuk et al., BMVC 2018 | lower |
| `insertion` | Petsiuk et al., BMVC 2018 | higher |
| `road` | Rong et al., ICML 2022 | higher (combined) |
| `pointing_game` | Zhang et al., ECCV 2016 | higher |
| `localization_accuracy` | Selvaraju et al., ICCV 2017 | higher |
| `max_box_accuracy` | Choe et al., CVPR 2020 | higher |
| `randomization_check` | Adebayo et al., NeurIPS 2018 | lower (near 0) |
"""

from tf_gradcam.metrics._common import MetricResult
from tf_gradcam.metrics.confidence import average_drop, increase_in_confidence
from tf_gradcam.metrics.curves import deletion, insertion
from tf_gradcam.metrics.imputation import linear_imputation, road
from tf_gradcam.metrics.localization import (localization_accuracy, max_box_accuracy,
                                             pointing_game)
from tf_gradcam.metrics.sanity import randomization_check

#: Name -> (function, whether it needs the model, whether higher is better). The CLI and
#: the benchmark read it.
METRICS = {
    "average_drop": (average_drop, True, False),
    "increase_in_confidence": (increase_in_confidence, True, True),
    "deletion": (deletion, True, False),
    "insertion": (insertion, True, True),
    "road": (road, True, True),
    "pointing_game": (pointing_game, False, True),
    "localization_accuracy": (localization_accuracy, False, True),
    "max_box_accuracy": (max_box_accuracy, False, True),
    "randomization_check": (randomization_check, True, False),
}

__all__ = ["METRICS", "MetricResult", "average_drop", "deletion", "increase_in_confidence",
           "insertion", "linear_imputation", "localization_accuracy", "max_box_accuracy",
           "pointing_game", "randomization_check", "road"]
