"""Export an explainer as a TensorFlow SavedModel that TF Serving loads as is.

Four signatures, all pure TF ops (no `tf.py_function`, NumPy or OpenCV), so they run on the
server's GPU when there is one. TF Serving needs every input of a signature in every request,
so the top-1 signatures take the images alone:

- `serving_default`: `images` float32 `[None, H, W, C]` -> `predictions`, `class_index`,
  `scores`, `heatmaps` `[None, H, W]` (and `probabilities` for classifiers), top-1 class.
- `explain_class`: `images` and `class_index` int32 `[None]` (-1 = top-1) -> the same.
- `explain_image`: `image_bytes` tf.string `[None]` (JPEG/PNG/BMP/GIF; base64 in the REST
  JSON) -> the same plus `overlay_png`: the heatmap blended over the decoded image with a
  colormap lookup table, encoded as PNG.
- `explain_image_class`: `image_bytes` and `class_index` -> the same as `explain_image`.

The bytes signatures read each image's size from its header (JPEG, PNG, GIF, BMP) before
decoding it and refuse an image of more than `max_pixels` pixels with a request error
(`InvalidArgumentError`: TF Serving answers 400), so a small file declaring a huge image
cannot make the server allocate gigabytes.

Segmentation models are explained over each class's predicted region.
"""

import pathlib

import keras
import tensorflow as tf

from tf_gradcam import files, targets, visualize

OUTPUT_KEYS = ("predictions", "probabilities", "class_index", "scores", "heatmaps")
SIGNATURES = ("serving_default", "explain_class", "explain_image", "explain_image_class")


def _overlay(images_uint8, heatmaps, lut, alpha):
    index = tf.cast(tf.round(tf.clip_by_value(heatmaps, 0.0, 1.0) * 255.0), tf.int32)
    colours = tf.gather(lut, index)
    blended = (1.0 - alpha) * tf.cast(images_uint8, tf.float32) + alpha * colours
    return tf.cast(tf.clip_by_value(tf.round(blended), 0.0, 255.0), tf.uint8)


def _number(data, start, count, big_endian):
    """The unsigned integer in bytes `start .. start + count` of `data` (int64)."""
    digits = tf.cast(tf.io.decode_raw(tf.strings.substr(data, start, count), tf.uint8),
                     tf.int64)
    powers = tf.constant([256 ** i for i in range(count)], tf.int64)
    return tf.reduce_sum(digits * (powers[::-1] if big_endian else powers))


def header_pixels(data):
    """Height x width an encoded image declares in its header, in TF ops, without decoding
    it (JPEG: its SOF marker; PNG: IHDR; GIF: the screen descriptor; BMP: the info header);
    0 for anything else (`tf.io.decode_image` then rejects it)."""
    padded = tf.strings.join([data, tf.constant(b"\0" * 32)])  # short files read zeros
    head = tf.strings.substr(padded, 0, 4)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    def png():
        return _number(padded, 16, 4, True) * _number(padded, 20, 4, True)

    def gif():
        return _number(padded, 6, 2, False) * _number(padded, 8, 2, False)

    def bmp():  # height is signed (negative = top-down): take its magnitude
        height = _number(padded, 22, 4, False)
        height = tf.where(height >= 2 ** 31, 2 ** 32 - height, height)
        return _number(padded, 18, 4, False) * height

    return tf.case([(tf.io.is_jpeg(data), jpeg),
                    (tf.equal(head, b"\x89PNG"), png),
                    (tf.equal(tf.strings.substr(padded, 0, 3), b"GIF"), gif),
                    (tf.equal(tf.strings.substr(padded, 0, 2), b"BM"), bmp)],
                   default=lambda: tf.constant(0, tf.int64), exclusive=False)


class _Signatures:
    """The two serving functions of one explainer (plain TF ops end to end)."""

    def __init__(self, explainer, colormap, alpha, max_pixels):
        self._explainer = explainer
        self._max_pixels = int(max_pixels)
        self._lut = tf.constant(visualize.colormap_lut(colormap), tf.float32)
        self._alpha = float(alpha)
        height, width, channels = explainer.input_shape
        if height is None or width is None:
            raise ValueError(
                "Export needs a model with a fixed input height and width (the bytes "
                "signature resizes to it). Wrap the model with a fixed `keras.Input(shape)`. "
                f"Received: model input shape={explainer.input_shape}")
        self.size, self.channels = (height, width), channels

    def specs(self):
        images = tf.TensorSpec([None, *self.size, self.channels], tf.float32, name="images")
        data = tf.TensorSpec([None], tf.string, name="image_bytes")
        classes = tf.TensorSpec([None], tf.int32, name="class_index")
        return {"serving_default": [images], "explain_class": [images, classes],
                "explain_image": [data], "explain_image_class": [data, classes]}

    def explain_class(self, images, class_index):
        n = tf.shape(images)[0]
        args = [images, tf.reshape(class_index, [n, 1])]
        if self._explainer.target.takes_mask:  # the predicted region of each class
            args.append(tf.fill([n, 1, 1], targets.PREDICTED_REGION))
        result = self._explainer.compute(*args)
        return {key: (result[key] if key in ("predictions", "probabilities")
                      else result[key][:, 0])
                for key in OUTPUT_KEYS if key in result and tf.is_tensor(result[key])}

    def serving_default(self, images):
        return self.explain_class(images, tf.fill([tf.shape(images)[0]], -1))

    def _decode(self, data):
        pixels = header_pixels(data)
        check = tf.debugging.assert_less_equal(
            pixels, tf.constant(self._max_pixels, tf.int64), message=(
                f"image too large: its header declares more than {self._max_pixels} pixels "
                "(the export's max_pixels); send a smaller image"))
        with tf.control_dependencies([check]):
            data = tf.identity(data)
        image = tf.io.decode_image(data, channels=self.channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), self.size, antialias=True)
        return tf.clip_by_value(tf.round(image), 0.0, 255.0)

    def explain_image(self, image_bytes):
        return self.explain_image_class(image_bytes, tf.fill([tf.shape(image_bytes)[0]], -1))

    def explain_image_class(self, image_bytes, class_index):
        images = tf.map_fn(self._decode, image_bytes, fn_output_signature=tf.TensorSpec(
            [*self.size, self.channels], tf.float32))
        result = self.explain_class(images, class_index)
        rgb = tf.cast(images, tf.uint8)
        if self.channels == 1:
            rgb = tf.image.grayscale_to_rgb(rgb)
        overlays = _overlay(rgb[..., :3], result["heatmaps"], self._lut, self._alpha)
        result["overlay_png"] = tf.map_fn(tf.io.encode_png, overlays,
                                          fn_output_signature=tf.string)
        return result


def export_saved_model(explainer, export_dir, *, colormap="jet", alpha=0.4,
                       max_pixels=files.DEFAULT_MAX_PIXELS):
    """Write `explainer` as a SavedModel with the `serving_default`, `explain_class`,
    `explain_image` and `explain_image_class` signatures (see the module docstring).

    The explainer's own preprocessing (`preprocess=` given to it) is part of both signatures:
    clients send raw pixels (0-255) or encoded image files.

    Args:
        explainer: A `GradCAM` (or any registered explainer) built on a model with a fixed
            input size.
        export_dir: Target folder. TF Serving expects `.../MODEL_NAME/VERSION/`, e.g.
            `models/gradcam/1`. It must not exist or be empty.
        colormap: Colormap of `overlay_png`. Defaults to `"jet"`.
        alpha: Heatmap weight in `overlay_png`, in [0, 1]. Defaults to `0.4`.
        max_pixels: The bytes signatures refuse images whose header declares more pixels
            (height x width) than this, before decoding them. Defaults to
            `tf_gradcam.files.DEFAULT_MAX_PIXELS` (100 megapixels).

    Returns:
        The export folder as a `pathlib.Path`.

    Raises:
        ValueError: A non-empty `export_dir`, a model without a fixed input size, a bad
            `alpha`, colormap or `max_pixels`.

    Example:
    >>> path = tfg.export_saved_model(tfg.GradCAM(model), "models/gradcam/1")
    >>> path.name
    '1'
    """
    export_dir = pathlib.Path(export_dir)
    if export_dir.exists() and any(export_dir.iterdir()):
        raise ValueError(
            f"Export folder {str(export_dir)!r} is not empty; pick a new version folder "
            f"(TF Serving layout: .../model_name/<version>/). Received: export_dir="
            f"{str(export_dir)!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be a number in [0, 1]. Received: alpha={alpha!r}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"`max_pixels` must be a positive int (height x width). Received: "
                         f"max_pixels={max_pixels!r}")
    if getattr(explainer, "method", None) == "guided-gradcam":
        raise ValueError(
            "Export serves 2D heatmaps (and their overlays); Guided Grad-CAM returns image-sized "
            "RGB maps. Export a `GradCAM` instead. Received: explainer=GuidedGradCAM")
    signatures = _Signatures(explainer, colormap, alpha, max_pixels)
    # No `archive.track(model)`: `add_endpoint` tracks the variables the endpoints use, and
    # tracking the model as well stored every weight twice (37.6 instead of 18.8 MiB).
    archive = keras.export.ExportArchive()
    for name, spec in signatures.specs().items():
        archive.add_endpoint(name, getattr(signatures, name), input_signature=spec)
    archive.write_out(str(export_dir), verbose=False)
    return export_dir
