"""Turn the user's `class_index` / `top_k` into a `(N, K)` matrix of classes to explain.

-1 in column `j` stands for the image's `(j + 1)`-th highest-scoring class, so `top_k=3` is a
row of three -1 and `None` a single -1: the ranking happens inside the compiled function,
in the same forward pass.
"""

import numbers

import numpy as np

TOP = -1


def _integer(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral)


def _check_one(value, num_classes, shown):
    if not _integer(value):
        raise TypeError(
            "`class_index` must be None, an int, a sequence of ints (one per image) or an "
            f"(N, K) array (K classes per image). Received: class_index={shown!r}")
    if num_classes is not None and not 0 <= int(value) < num_classes:
        raise ValueError(
            f"Class index {int(value)} is out of range: the model predicts {num_classes} "
            f"classes, so a class index is in [0, {num_classes - 1}]. "
            f"Received: class_index={shown!r}")
    return int(value)


def class_matrix(class_index, num_images, num_classes, top_k=None):
    """The classes to explain, one row per image.

    Args:
        class_index: `None` (each image's top-1 class), an int (that class for every
            image), a sequence / 1D array of `num_images` ints, or a 2D `(num_images, K)`
            array (K classes per image).
        num_images: Number of images in the batch.
        num_classes: Number of classes the explained output has, or `None` when any int
            is accepted (a custom `target=` function).
        top_k: Each image's `top_k` highest-scoring classes, best first; only with
            `class_index=None`. Defaults to `None`.

    Returns:
        `(classes, several)`: int32 `(num_images, K)` with `TOP` (-1) where a ranked class
        is wanted, and whether the caller asked for several classes per image (a 2D
        `class_index` or `top_k`), in which case results keep the K axis.

    Raises:
        TypeError: Non-integer values (floats, bools, strings).
        ValueError: Out-of-range values, a sequence of the wrong length, a bad `top_k`, or
            `top_k` together with `class_index`.
    """
    if top_k is not None:
        if class_index is not None:
            raise ValueError(
                "Pass either `class_index` or `top_k`, not both: `top_k` explains each "
                f"image's best classes. Received: class_index={class_index!r}, top_k={top_k!r}")
        if not _integer(top_k) or top_k < 1 or (num_classes is not None
                                                and top_k > num_classes):
            raise ValueError(
                f"`top_k` must be an int in [1, {num_classes}] (the number of classes). "
                f"Received: top_k={top_k!r}")
        return np.full((num_images, int(top_k)), TOP, np.int32), True
    if class_index is None:
        return np.full((num_images, 1), TOP, np.int32), False
    if _integer(class_index):
        value = _check_one(class_index, num_classes, class_index)
        return np.full((num_images, 1), value, np.int32), False
    if hasattr(class_index, "numpy"):
        class_index = class_index.numpy()
    if isinstance(class_index, (str, bytes)) or not hasattr(class_index, "__len__"):
        _check_one(class_index, num_classes, class_index)
    values = np.asarray(class_index)
    if values.ndim == 0:
        return class_matrix(values.item(), num_images, num_classes)
    if values.dtype.kind not in "iu" and values.size:
        for v in values.ravel().tolist():
            _check_one(v, num_classes, class_index)
    if values.ndim > 2 or len(values) != num_images or (values.ndim == 2
                                                       and values.shape[1] == 0):
        raise ValueError(
            f"`class_index` must give one class per image ({num_images} values for "
            f"{num_images} image(s)) or an ({num_images}, K) array of K classes per image. "
            f"Received: class_index={class_index!r} (shape {values.shape})")
    checked = np.asarray([_check_one(v, num_classes, class_index)
                          for v in values.ravel().tolist()], np.int32)
    return checked.reshape(num_images, -1), values.ndim == 2
