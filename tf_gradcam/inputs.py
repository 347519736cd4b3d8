"""Check and batch the images given to an explainer."""

import numbers

import numpy as np
import tensorflow as tf

_NUMERIC_KINDS = "uif"  # unsigned, signed, float


def image_batch(images, input_shape):
    """Validate `images` against the model's input and return a float32 batch.

    Args:
        images: One image `(H, W, C)` or a batch `(N, H, W, C)`; NumPy array, tensor or
            nested list; any integer or float dtype.
        input_shape: The model's `(H, W, C)`; `None` entries accept any size.

    Returns:
        `(batch, single)`: float32 `(N, H, W, C)` (a NumPy array for NumPy input, so no TF
        op runs before the compiled function; a tensor for tensor input) and whether a single
        image was given (the caller then drops the batch axis of its results).

    Raises:
        TypeError: Non-numeric data (strings, bools, objects, complex).
        ValueError: Wrong rank, channels or size, an empty batch, or NaN/inf values.
    """
    if isinstance(images, tf.Tensor):
        dtype = images.dtype
        kind_ok = dtype.is_integer or dtype.is_floating
        shape = tuple(images.shape)
        dtype_name = dtype.name
    else:
        images = np.asarray(images)
        kind_ok = images.dtype.kind in _NUMERIC_KINDS
        shape = images.shape
        dtype_name = images.dtype.name
    if not kind_ok:
        raise TypeError(
            "Images must hold integer or float pixel values (uint8 0-255 or floats). "
            f"Received: images.dtype={dtype_name}")
    if len(shape) not in (3, 4):
        raise ValueError(
            "Images must be one image (height, width, channels) or a batch (batch, height, "
            "width, channels); add a channel axis to grayscale images with "
            f"`image[..., None]`. Received: images.shape={shape}")
    single = len(shape) == 3
    batch_shape = (1,) + tuple(shape) if single else tuple(shape)
    if batch_shape[0] == 0:
        raise ValueError(f"The batch is empty. Received: images.shape={shape}")
    expected = tuple(input_shape)
    for got, want, what in zip(batch_shape[1:], expected, ("height", "width", "channels")):
        if want is not None and got != want:
            raise ValueError(
                f"The model expects images of shape (height, width, channels) = {expected}, "
                f"but the images' {what} is {got}. Resize them first (e.g. "
                f"`tf.image.resize(images, {expected[:2]})`) or convert their channels. "
                f"Received: images.shape={shape}")
    if isinstance(images, tf.Tensor):
        batch = tf.reshape(tf.cast(images, tf.float32), batch_shape)
        finite = bool(tf.reduce_all(tf.math.is_finite(batch)))
    else:
        batch = np.asarray(images, np.float32).reshape(batch_shape)
        finite = bool(np.isfinite(batch).all())
    if not finite:
        raise ValueError(
            "Images contain NaN or infinite values; Grad-CAM of such an input is undefined. "
            f"Clean or re-preprocess them. Received: images with non-finite values, "
            f"shape={shape}")
    return batch, single


def positive_int(name, value):
    """Return `value` as an int if it is a positive integer (not a bool); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return int(value)
