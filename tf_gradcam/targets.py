"""Turn the user's `class_index` into one class per image (or -1: the top-1 class)."""

import numbers

import numpy as np

TOP1 = -1


def _check_one(value, num_classes, shown):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            "`class_index` must be None, an int, or a sequence of ints (one per image). "
            f"Received: class_index={shown!r}")
    if not 0 <= int(value) < num_classes:
        raise ValueError(
            f"Class index {int(value)} is out of range: the model predicts {num_classes} "
            f"classes, so a class index is in [0, {num_classes - 1}]. "
            f"Received: class_index={shown!r}")
    return int(value)


def class_indices(class_index, num_images, num_classes):
    """One class index per image, `TOP1` (-1) where the top-1 class is wanted.

    Args:
        class_index: `None` (each image's top-1 class), an int (that class for every image)
            or a sequence / 1D array of `num_images` ints.
        num_images: Number of images in the batch.
        num_classes: Width of the model's prediction.

    Returns:
        int32 NumPy array of shape `(num_images,)`.

    Raises:
        TypeError: Non-integer values (floats, bools, strings).
        ValueError: Out-of-range values or a sequence of the wrong length.
    """
    if class_index is None:
        return np.full((num_images,), TOP1, np.int32)
    if isinstance(class_index, numbers.Integral) and not isinstance(class_index, bool):
        return np.full((num_images,), _check_one(class_index, num_classes, class_index),
                       np.int32)
    if hasattr(class_index, "numpy"):
        class_index = class_index.numpy()
    if isinstance(class_index, (str, bytes)) or not hasattr(class_index, "__len__"):
        _check_one(class_index, num_classes, class_index)
    values = np.asarray(class_index)
    if values.ndim == 0:
        return class_indices(values.item(), num_images, num_classes)
    if values.ndim != 1 or len(values) != num_images:
        raise ValueError(
            f"`class_index` must give one class per image: {num_images} values for "
            f"{num_images} image(s). Received: class_index={class_index!r} "
            f"(shape {values.shape})")
    return np.asarray([_check_one(v, num_classes, class_index) for v in values.tolist()],
                      np.int32)
