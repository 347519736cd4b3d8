"""Apache Beam: explain whole image collections with `RunInference`, on any Beam runner.

`GradCAMModelHandler` is a `ModelHandler` for `apache_beam.ml.inference.RunInference`;
`python -m tf_gradcam.beam --input ... --model ... --output ...` runs a ready pipeline (see
`tf_gradcam.beam.pipeline`). Needs the optional extra: `pip install "tf_gradcam[beam]"`.
Nothing here is imported by `import tf_gradcam`.
"""

try:
    import apache_beam  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "tf_gradcam.beam needs Apache Beam, an optional dependency that is not installed. "
        "Install the extra with `pip install \"tf_gradcam[beam]\"` (or `pip install "
        f"apache-beam`). Received: ImportError: {err}") from err

from tf_gradcam.beam.handler import GradCAMModelHandler
from tf_gradcam.beam.pipeline import ExplainImages, main, overlay_name

__all__ = ["ExplainImages", "GradCAMModelHandler", "main", "overlay_name"]
