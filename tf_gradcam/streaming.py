"""Explain a whole `tf.data.Dataset`, one batch at a time, in constant memory.

The explainer's one compiled function has a free batch dimension, so every batch (the last,
smaller one included) runs the same trace; results are yielded batch by batch and nothing is
kept, so memory does not grow with the dataset.
"""

import numpy as np
import tensorflow as tf

from tf_gradcam import inputs

#: `class_index=LABELS` explains, for each image, the class its label names.
LABELS = "labels"


def explain_dataset(explainer, dataset, class_index=None, *, batch_size=None,
                    return_inputs=False):
    """Explain every batch of a `tf.data.Dataset`; yields one `Explanation` per batch.

    The dataset yields image batches `(N, H, W, C)`, or tuples `(images, labels)` /
    `(images, labels, sample_weights)` as given to `model.fit` (extra entries are ignored).
    Batches are explained as the dataset gives them (call `dataset.batch(...)` first, or pass
    `batch_size=`); the explainer's compiled function is traced at most once for the whole
    dataset, and nothing is kept between batches.

    Args:
        explainer: Any explainer (`tfg.GradCAM(model)`, `tfg.METHODS[name](model)`, ...).
        dataset: A `tf.data.Dataset` of image batches or `(images, labels, ...)` tuples;
            images uint8 or float, in the pixel range the model (or `preprocess=`) expects.
        class_index: `None` for each image's top-1 class, an int for that class on every
            image, or `"labels"` for the class each image's label names: integer labels
            `(N,)` / `(N, 1)` are class indices, one-hot or multi-hot labels `(N, classes)`
            give their largest entry (the first positive class of a multi-hot label).
            Defaults to `None`.
        batch_size: `None` to explain the batches as the dataset gives them (an unbatched
            dataset is then an error); an int to batch an unbatched dataset, or re-batch a
            batched one, to this many images. Defaults to `None`.
        return_inputs: Yield `(element, explanation)` pairs, the element as NumPy arrays
            (the images, or the `(images, labels, ...)` tuple), e.g. to draw overlays.
            Defaults to `False`.

    Returns:
        A generator of `Explanation`s (or `(element, Explanation)` pairs), one per batch, each
        with a batch axis.

    Raises:
        TypeError: `dataset` is not a `tf.data.Dataset`, or its elements are neither an image
            tensor nor a tuple starting with one.
        ValueError: Unbatched images without `batch_size=`, `class_index="labels"` on a
            dataset without labels, labels that cannot be read as classes, or any problem
            `explainer.explain` reports for a batch (image size, class range, ...).

    Example:
    >>> from tf_gradcam.streaming import explain_dataset
    >>> data = tf.data.Dataset.from_tensor_slices(images).batch(1)
    >>> cam = tfg.GradCAM(model)
    >>> [exp.heatmaps.shape for exp in explain_dataset(cam, data)]
    [(1, 64, 64), (1, 64, 64)]
    >>> cam.compute.experimental_get_tracing_count()
    1
    """
    dataset, has_labels = _prepare(dataset, class_index, batch_size)
    return _explain_batches(explainer, dataset, class_index, has_labels, return_inputs)


def _explain_batches(explainer, dataset, class_index, has_labels, return_inputs):
    for element in dataset.prefetch(tf.data.AUTOTUNE):
        images = element[0] if has_labels else element
        if class_index == LABELS:
            classes = labels_to_classes(element[1], explainer.num_classes)
        else:
            classes = class_index
        explanation = explainer.explain(images, classes)
        if return_inputs:
            yield tf.nest.map_structure(lambda t: t.numpy(), element), explanation
        else:
            yield explanation


def _prepare(dataset, class_index, batch_size):
    """Check the dataset's element structure once, before any batch runs; batch if asked."""
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            "`dataset` must be a `tf.data.Dataset` (for NumPy arrays call `explainer.explain` "
            "or wrap them with `tf.data.Dataset.from_tensor_slices(images).batch(32)`). "
            f"Received: dataset={type(dataset).__name__}")
    spec = dataset.element_spec
    has_labels = isinstance(spec, (tuple, list))
    image_spec = spec[0] if has_labels else spec
    if not isinstance(image_spec, tf.TensorSpec) or (has_labels and len(spec) < 2):
        raise TypeError(
            "The dataset's elements must be image batches or tuples `(images, labels, ...)`; "
            "map other structures first, e.g. `dataset.map(lambda d: (d['image'], "
            f"d['label']))`. Received: dataset.element_spec={spec}")
    if isinstance(class_index, str) and class_index != LABELS:
        raise ValueError(f"`class_index` must be None, an int, or {LABELS!r}. "
                         f"Received: class_index={class_index!r}")
    if class_index == LABELS and not has_labels:
        raise ValueError(
            f"`class_index={LABELS!r}` needs a dataset of `(images, labels)` tuples; this "
            f"one yields images only. Received: dataset.element_spec={spec}")
    rank = image_spec.shape.rank
    if batch_size is not None:
        batch_size = inputs.positive_int("batch_size", batch_size)
        dataset = dataset.batch(batch_size) if rank == 3 else dataset.rebatch(batch_size)
    elif rank == 3:
        raise ValueError(
            "The dataset yields single images (height, width, channels); explain_dataset "
            "explains batches. Batch it (`dataset.batch(32)`) or pass `batch_size=32`. "
            f"Received: dataset.element_spec={spec}")
    elif rank is not None and rank != 4:
        raise ValueError(
            "The dataset's images must be batches (batch, height, width, channels). "
            f"Received: images of shape {image_spec.shape}")
    return dataset, has_labels


def labels_to_classes(labels, num_classes):
    """One class index per image from a batch of labels.

    Args:
        labels: Class indices `(N,)` or `(N, 1)` (integers, or floats holding whole
            numbers), or one-hot / multi-hot / score
            labels `(N, num_classes)` (their largest entry is the class).
        num_classes: Width of the model's prediction.

    Returns:
        int32 NumPy array `(N,)`.

    Raises:
        ValueError: Labels of another shape, or fractional labels that are not
            `(N, num_classes)`.

    Example:
    >>> from tf_gradcam.streaming import labels_to_classes
    >>> labels_to_classes(np.array([[0.0, 1.0], [1.0, 1.0]]), 2)
    array([1, 0], dtype=int32)
    """
    values = np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == num_classes and num_classes > 1:
        return np.argmax(values, axis=1).astype(np.int32)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim == 1 and (values.dtype.kind in "iu" or (
            values.dtype.kind == "f" and np.all(values == np.round(values)))):
        return values.astype(np.int32)  # class indices (float ones, e.g. 0.0 / 1.0, too)
    raise ValueError(
        "Labels must be integer class indices (N,) or (N, 1), or one-hot / multi-hot "
        f"labels (N, {num_classes}). Received: labels of shape {values.shape} and dtype "
        f"{values.dtype}")
