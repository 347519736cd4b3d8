"""Models with a dynamic spatial input `(None, None, C)`: trace at concrete image sizes
where a layer cannot be traced with unknown height and width.

Most fully convolutional models trace once with a free height and width. Some layers do
Python arithmetic on the spatial shape and fail on an unknown one (KerasHub's
`DeepLabV3ImageSegmenter` with its default `image_shape=(None, None, 3)`: `UpSampling2D`
raises `OperatorNotAllowedInGraphError`). For those, the layer survey traces at
`TRACE_SIZE` and the explainer's compiled function is traced once per new image size
(height, width) it is called with; the batch size stays free, so a size seen before never
retraces.
"""

import tensorflow as tf

#: Height and width at which a dynamic-input model is surveyed when it cannot be traced
#: with unknown spatial dimensions.
TRACE_SIZE = 224

#: What tracing a shape-dependent layer on unknown dimensions raises.
TRACE_ERRORS = (TypeError, ValueError, NotImplementedError,
                tf.errors.OperatorNotAllowedInGraphError)


def is_dynamic(input_shape):
    """Whether the image's height or width is `None`."""
    return None in tuple(input_shape)[:2]


def concrete(input_shape, size=TRACE_SIZE):
    """`input_shape` with unknown height/width replaced by `size`."""
    height, width, *rest = tuple(input_shape)
    return (height or size, width or size, *rest)


def trace_with_fallback(trace, input_shape):
    """`trace(shape)` at the model's own shape; for a dynamic input that fails to trace,
    again at `concrete(input_shape)`. Returns what `trace` returns."""
    try:
        return trace(tuple(input_shape))
    except TRACE_ERRORS:
        if not is_dynamic(input_shape):
            raise
        return trace(concrete(input_shape))


class PerSizeFunction:
    """A compiled function with a free batch size that falls back to one trace per image
    size when its fully dynamic trace fails.

    Args:
        function: The `tf.function` (without an `input_signature`).
        signature: The `TensorSpec`s of its arguments; the first is the image batch
            `(None, H, W, C)` with `H` or `W` unknown.
    """

    def __init__(self, function, signature):
        self.function, self.signature = function, list(signature)
        self._by_size = {}
        self.per_size = None  # unknown until the first call; then True or False

    def _concrete(self, images):
        if self.per_size is not True:
            key = None
            specs = self.signature
        else:
            key = tuple(images.shape[1:3])
            specs = [tf.TensorSpec((None,) + key + tuple(self.signature[0].shape[3:]),
                                   self.signature[0].dtype, name=self.signature[0].name),
                     *self.signature[1:]]
        if key not in self._by_size:
            self._by_size[key] = self.function.get_concrete_function(*specs)
        return self._by_size[key]

    def __call__(self, images, *args):
        images = tf.convert_to_tensor(images)
        if self.per_size is None:
            try:
                result = self._concrete(images)(images, *args)
                self.per_size = False
                return result
            except TRACE_ERRORS:
                self.per_size = True  # a layer needs the size: trace per image size
        return self._concrete(images)(images, *args)

    def get_concrete_function(self, *specs):
        return self.function.get_concrete_function(*specs)

    def experimental_get_tracing_count(self):
        return self.function.experimental_get_tracing_count()
