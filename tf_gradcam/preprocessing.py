"""Named input preprocessing, applied to raw pixels (0-255, RGB) inside the graph.

The same names serve the Python API (`preprocess=`), the CLI (`--preprocess`) and the
export; each entry is plain TF ops, so it runs in the compiled function and in SavedModels.
TensorFlow is imported when a preprocessing first runs, so the command line can check names
before it loads TensorFlow.
"""

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _caffe(x):
    # keras.applications.resnet50.preprocess_input: RGB -> BGR, minus the ImageNet mean.
    import tensorflow as tf

    return x[..., ::-1] - tf.constant(_CAFFE_MEAN_BGR, x.dtype)


def _scale(scale, offset):
    def apply(x):
        return x * scale + offset
    return apply


PREPROCESSORS = {
    "none": lambda x: x,
    "resnet50": _caffe,
    "vgg16": _caffe,
    "mobilenet_v2": _scale(1 / 127.5, -1.0),
    "inception_v3": _scale(1 / 127.5, -1.0),
    # keras.applications.EfficientNet* rescale inside the model: raw pixels go in as is.
    "efficientnet": lambda x: x,
    # EfficientNet-Lite (and the model in ../shared/models): (x - 127) / 128.
    "efficientnet_lite": _scale(1 / 128.0, -127.0 / 128.0),
}


def get(spec):
    """Return the preprocessing callable for `spec`.

    Args:
        spec: `None` (no preprocessing), a callable `float32 images -> images` made of TF
            ops, one of `PREPROCESSORS`' names, or `"scale:A,B"` for `x * A + B`.

    Returns:
        A callable on float32 tensors `(N, H, W, C)` with pixel values 0-255.

    Raises:
        ValueError: Unknown name or a malformed `scale:` spec.
        TypeError: `spec` is neither None, a string nor callable.

    Example:
    >>> from tf_gradcam import preprocessing
    >>> preprocessing.get("scale:0.00392156862745098,0")(tf.constant([255.0])).numpy()
    array([1.], dtype=float32)
    """
    if spec is None:
        return PREPROCESSORS["none"]
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError("`preprocess` must be None, a callable or a name. "
                        f"Received: preprocess={spec!r}")
    if spec.startswith("scale:"):
        try:
            scale, offset = (float(v) for v in spec[len("scale:"):].split(","))
        except ValueError as err:
            raise ValueError(
                "A scale preprocessing is written `scale:A,B` (x * A + B), e.g. "
                f"`scale:0.0078125,-1`. Received: preprocess={spec!r}") from err
        return _scale(scale, offset)
    if spec not in PREPROCESSORS:
        raise ValueError(
            f"Unknown preprocessing {spec!r}. Use one of {sorted(PREPROCESSORS)}, "
            f"`scale:A,B`, or a callable. Received: preprocess={spec!r}")
    return PREPROCESSORS[spec]
