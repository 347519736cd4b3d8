"""`GradCAMModelHandler`: a tf_gradcam explainer as a Beam `ModelHandler` for `RunInference`."""

from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from tf_gradcam import records, registry


class GradCAMModelHandler(ModelHandler):
    """Explain images with `RunInference`: one explainer per worker, batches from Beam.

    Each example is one image `(H, W, C)` (NumPy, uint8 or float, at the model's input size
    and in the pixel range the model or `preprocess=` expects); for keyed examples
    `(key, image)` wrap the handler in `apache_beam.ml.inference.base.KeyedModelHandler`.
    The model is loaded once per worker (per process, or once per machine with
    `large_model=True`), with Keras' safe mode on, and the explainer built from it is traced
    once; Beam groups the examples into batches between `min_batch_size` and
    `max_batch_size`.

    Each `PredictionResult` carries the example and, as `inference`, a dict:
    `class_index` (int), `score` (float, the explained logit), `probability` (float, of that
    class), `probabilities` (float32 `(classes,)`; both `None` for outputs that are not class
    probabilities, e.g. regression), `heatmap` (float32 `(H, W)` in [0, 1]; `(H, W, 3)` for
    Guided Grad-CAM), `layer` and `method`; `model_id` is the model path.

    Args:
        model_path: A `.keras` file, local or on any Beam filesystem (`gs://`, `s3://`, ...).
        layer: The layer to explain, as for `tfg.GradCAM`; `None` finds it. Defaults to
            `None`.
        method: A registry name (`tfg.METHODS`). Defaults to `"gradcam"`.
        preprocess: As for `tfg.GradCAM` (a name such as `"resnet50"` or `"scale:A,B"` keeps
            the handler picklable). Defaults to `None`.
        class_index: `None` for each image's top-1 class, or an int for that class on every
            image; `RunInference(..., inference_args={"class_index": c})` overrides it.
            Defaults to `None`.
        explainer_kwargs: More keyword arguments for the explainer's constructor (e.g.
            `{"eigen_smooth": True}`). Defaults to `None`.
        min_batch_size: Smallest batch Beam forms. Defaults to `None` (Beam's default).
        max_batch_size: Largest batch Beam forms. Defaults to `None` (Beam's default).
        max_batch_duration_secs: Longest wait for a batch in streaming pipelines. Defaults
            to `None`.
        large_model: Load one model per machine, shared by its processes. Defaults to
            `False`.
        model_copies: Exact number of model copies per machine. Defaults to `None`.

    Raises:
        ValueError: Unknown method, or a `class_index` that is not `None` or an int.
    """

    def __init__(self, model_path, layer=None, method="gradcam", preprocess=None, *,
                 class_index=None, explainer_kwargs=None, min_batch_size=None,
                 max_batch_size=None, max_batch_duration_secs=None, large_model=False,
                 model_copies=None):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size,
                         max_batch_duration_secs=max_batch_duration_secs,
                         large_model=large_model, model_copies=model_copies)
        self._model_path = str(model_path)
        self._layer = layer
        self._method = registry.get(method).method
        self._preprocess = preprocess
        self._class_index = _check_class(class_index)
        self._explainer_kwargs = dict(explainer_kwargs or {})

    def load_model(self):
        """Load the model (safe mode) and build the explainer; Beam calls this once per
        worker."""
        model = load_keras_model(self._model_path)
        return registry.get(self._method)(model, self._layer, preprocess=self._preprocess,
                                          **self._explainer_kwargs)

    def run_inference(self, batch: Sequence[Any], model, inference_args: Optional[dict] = None
                      ) -> Iterable[PredictionResult]:
        """Explain one batch of images with the explainer `load_model` built."""
        class_index = self._class_index
        if inference_args and "class_index" in inference_args:
            class_index = _check_class(inference_args["class_index"])
        exp = model.explain(np.stack([np.asarray(x) for x in batch]), class_index)
        layer = ",".join(exp.layer) if isinstance(exp.layer, (list, tuple)) else str(exp.layer)
        results = []
        for i, example in enumerate(batch):
            item = records.explained(exp, i)[0]  # one class per image
            results.append(PredictionResult(example, {
                "class_index": item.class_index, "score": item.score,
                "probability": item.probability,
                "probabilities": None if exp.probabilities is None else exp.probabilities[i],
                "heatmap": item.heatmap, "layer": layer, "method": exp.method},
                model_id=self._model_path))
        return results

    def validate_inference_args(self, inference_args):
        """Only `class_index` is accepted as an inference argument."""
        unknown = set(inference_args or {}) - {"class_index"}
        if unknown:
            raise ValueError(
                "GradCAMModelHandler accepts only `class_index` in `inference_args`. "
                f"Received: inference_args keys {sorted(unknown)}")

    def get_num_bytes(self, batch):
        """Bytes of the images in a batch (Beam's throughput metrics)."""
        return sum(np.asarray(x).nbytes for x in batch)

    def get_metrics_namespace(self):
        """The namespace of this handler's Beam metrics."""
        return "tf_gradcam"

    def update_model_path(self, model_path=None):
        """Point at a new model file (Beam's automatic model refresh)."""
        if model_path:
            self._model_path = str(model_path)

    def __repr__(self):
        return (f"GradCAMModelHandler(model_path={self._model_path!r}, layer={self._layer!r}, "
                f"method={self._method!r})")


def load_keras_model(path):
    """Load a `.keras` file with Keras' safe mode, from a local path or any Beam filesystem.

    Remote files (`gs://`, `s3://`, `hdfs://`, ...) are copied to a local temporary file
    through `apache_beam.io.filesystems.FileSystems` first, so every filesystem Beam can read
    works, not only those `tf.io.gfile` knows.
    """
    import os
    import shutil
    import tempfile

    from tf_gradcam import loading

    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if FileSystems.get_scheme(str(path)) is None:
        return loading.load_model(path)
    # A remote file is copied first (the format is read from its first bytes, so a Keras 2
    # .h5 file loads too; a remote SavedModel directory is not copied).
    handle, local = tempfile.mkstemp(suffix=".keras")
    try:
        with os.fdopen(handle, "wb") as target, FileSystems.open(
                str(path), compression_type=CompressionTypes.UNCOMPRESSED) as source:
            shutil.copyfileobj(source, target)
        return loading.load_model(local)
    finally:
        os.unlink(local)


def _check_class(class_index):
    if class_index is None:
        return None
    if isinstance(class_index, (bool, np.bool_)) or not isinstance(class_index,
                                                                    (int, np.integer)):
        raise ValueError(
            "GradCAMModelHandler's `class_index` is None (top-1) or one int for every image. "
            f"Received: class_index={class_index!r}")
    return int(class_index)
