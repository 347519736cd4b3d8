"""Keras callbacks: Grad-CAM overlays in TensorBoard while a model trains."""

import keras
import numpy as np

from tf_gradcam import inputs, registry, visualize


class GradCAMCallback(keras.callbacks.Callback):
    """Write Grad-CAM overlays of fixed images to TensorBoard after every n-th epoch.

    The explainer is built once, from the model being trained, the first time maps are
    written; it shares the model's layers and weights, so each epoch shows the current
    model, and it never changes the model (no layer, weight or activation is touched;
    the maps run in inference mode). Each image gets a stable tag `gradcam/image_<i>`
    (one image per epoch step, so TensorBoard's step slider shows the maps evolving), and
    its class, score and probability go into the image's description and into a text
    summary `gradcam/image_<i>/prediction` at the same step.

    Args:
        images: One image `(H, W, C)` or a batch `(N, H, W, C)` the model takes (uint8 or
            float, in the pixel range the model or `preprocess=` expects). A few images
            (up to ~10) keep TensorBoard readable.
        log_dir: Folder for the event files (TensorBoard's `--logdir`); may be the same one
            a `keras.callbacks.TensorBoard` writes to (it writes to `train/` and
            `validation/` below it).
        class_index: `None` for each image's current top-1 class, an int for that class on
            every image, or one int per image. Defaults to `None`.
        every_n_epochs: Write after epochs `n, 2n, ...` (1-based); the summary step is the
            0-based epoch, as Keras' TensorBoard callback uses. Defaults to `1`.
        method: A registry name (`tfg.METHODS`). Defaults to `"gradcam"`.
        layer: The layer to explain, as for `tfg.GradCAM`; `None` finds it. Defaults to
            `None`.
        preprocess: As for `tfg.GradCAM`. Defaults to `None`.
        class_names: Names shown next to the class indices. Defaults to `None`.
        alpha: Heatmap opacity of the overlay. Defaults to `0.4`.
        colormap: A matplotlib colormap name. Defaults to `"jet"`.

    Raises:
        ValueError: Bad images or `every_n_epochs` (at construction); a layer or class the
            model does not have (at the first write).

    Example:
    >>> import tempfile
    >>> from tf_gradcam.callbacks import GradCAMCallback
    >>> callback = GradCAMCallback(images, tempfile.mkdtemp(), class_index=0)
    >>> callback.set_model(model)
    >>> callback.on_epoch_end(0)
    >>> callback.explainer.method
    'gradcam'
    """

    def __init__(self, images, log_dir, class_index=None, every_n_epochs=1, method="gradcam",
                 layer=None, *, preprocess=None, class_names=None, alpha=0.4, colormap="jet"):
        super().__init__()
        batch, _ = inputs.image_batch(images, (None, None, None))  # checks rank, values
        #: The images as a float32 batch `(N, H, W, C)` (a copy).
        self.images = np.array(batch, np.float32)
        original = np.asarray(images).reshape(self.images.shape)  # its own dtype and range
        self._pictures = [visualize.to_uint8_rgb(image) for image in original]
        self.log_dir = str(log_dir)
        self.class_index = class_index
        self.every_n_epochs = inputs.positive_int("every_n_epochs", every_n_epochs)
        self.method = registry.get(method).method
        self.layer = layer
        self.preprocess = preprocess
        self.class_names = None if class_names is None else list(class_names)
        self.alpha = alpha
        self.colormap = colormap
        visualize.colormap_lut(colormap)  # an unknown name fails now, not after an epoch
        #: The explainer, built from `self.model` at the first write.
        self.explainer = None
        self._writer = None

    def _build(self):
        if self.explainer is None:
            self.explainer = registry.get(self.method)(self.model, self.layer,
                                                       preprocess=self.preprocess)
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        """Write the overlays if `epoch + 1` is a multiple of `every_n_epochs`."""
        if (epoch + 1) % self.every_n_epochs == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        """Close the event file (a later `fit` opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, step):
        """Explain the images with the current model and write them at summary step `step`.

        Returns:
            The `Explanation` that was written.
        """
        import tensorflow as tf

        self._build()
        exp = self.explainer.explain(self.images, self.class_index)
        with self._writer.as_default(step=int(step)):
            for i, picture in enumerate(self._pictures):
                heatmap = exp.heatmaps[i]
                if heatmap.ndim == 3:  # Guided Grad-CAM: an image-sized RGB map
                    overlay = visualize.to_uint8_rgb(heatmap)
                else:
                    overlay = visualize.overlay(picture, heatmap, self.alpha, self.colormap)
                text = self._describe(exp, i)
                tf.summary.image(f"gradcam/image_{i}", overlay[None],
                                 description=f"{self.explainer.method}, {text}")
                tf.summary.text(f"gradcam/image_{i}/prediction", text)
        self._writer.flush()
        return exp

    def _describe(self, exp, i):
        c = int(exp.class_index[i])
        name = (f" '{self.class_names[c]}'" if self.class_names and c < len(self.class_names)
                else "")
        text = f"class {c}{name}: score {float(exp.scores[i]):.3f}"
        if exp.probabilities is not None:  # None where the output is not a classifier
            text += f", probability {float(exp.probabilities[i][c]):.3f}"
        return text
