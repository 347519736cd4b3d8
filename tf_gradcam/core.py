"""The explainer interface and the gradient-based CAM engine (Grad-CAM and its variants)."""

import dataclasses
import inspect

import numpy as np
import tensorflow as tf

from tf_gradcam import augmentation, inputs, layers, maps, methods, preprocessing, targets


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Everything an explainer computed for a batch.

    For a single image `(H, W, C)` every field drops its batch axis.

    Attributes:
        heatmaps: float32 `(N, H, W)` in [0, 1], at the input image size.
        cams: float32 `(N, h, w)` raw map at the explained layer's resolution, not normalised
            (for Grad-CAM `ReLU(sum_k w_k A^k)`); a list of those for several layers.
        class_index: int `(N,)`, the class each map explains.
        scores: float32 `(N,)`, the class score that was explained (the logit for models
            ending in a softmax/sigmoid).
        predictions: float32 `(N, classes)`, the model's own outputs.
        layer: Name of the explained layer (qualified by nested models), or a list of them.
        method: Registry name of the method.
    """

    heatmaps: np.ndarray
    cams: object
    class_index: np.ndarray
    scores: np.ndarray
    predictions: np.ndarray
    layer: object
    method: str


class Explainer:
    """Shared call, validation and batching of every explainer.

    Subclasses set `method` and implement `_compute(images, class_index)`, a TF function on a
    float32 batch and an int32 `(N,)` class vector (-1 = top-1) that returns a dict with
    `heatmaps`, `cams`, `class_index`, `scores` and `predictions` tensors.
    """

    method = None
    #: The model's image shape `(H, W, C)`; subclasses set it in `__init__`.
    input_shape = None
    #: Number of classes the model predicts.
    num_classes = None
    #: The explained layer's qualified name (or names).
    layer = None

    def _use_graph(self, model, layer, preprocess):
        """Build the gradient sub-model for `layer` and set the attributes it determines."""
        self.model = model
        self.graph = layers.build_gradient_graph(model, layer)
        self.input_shape = self.graph.input_shape
        self.num_classes = self.graph.num_classes
        self.layer = ([t.path for t in self.graph.targets] if isinstance(layer, (list, tuple))
                      else self.graph.targets[0].path)
        self.score_source = self.graph.score_source
        self._preprocess = preprocessing.get(preprocess)

    def _compile(self, function, jit_compile=False):
        """`function(images, class_index)` as the one `tf.function` of this explainer: free
        batch size, so it is traced once for every batch."""
        return tf.function(function, jit_compile=jit_compile, input_signature=[
            tf.TensorSpec((None,) + tuple(self.input_shape), tf.float32, name="images"),
            tf.TensorSpec((None,), tf.int32, name="class_index")])

    def compute(self, images, class_index):
        """The compiled computation: float32 images and int32 classes (-1 = top-1) in,
        a dict of tensors out. This is what `explain` runs and what export serves."""
        raise NotImplementedError

    def explain(self, images, class_index=None, *, batch_size=None):
        """Explain `images` and return everything that was computed.

        Args:
            images: One image `(H, W, C)` or a batch `(N, H, W, C)`; NumPy or tensor, uint8
                or float, in the pixel range the model (or `preprocess=`) expects.
            class_index: `None` for each image's top-1 class, an int for the same class on
                every image, or a sequence of N ints. Defaults to `None`.
            batch_size: Split the batch into chunks of this many images (same results, less
                memory); `None` runs the whole batch at once. Defaults to `None`.

        Returns:
            An `Explanation`.

        Raises:
            TypeError: Non-numeric images or non-integer class indices.
            ValueError: Wrong image rank, size or channels, NaN/inf pixels, class indices out
                of range or of the wrong length, or a bad `batch_size`.
            FloatingPointError: The model itself produced non-finite values.

        Example:
        >>> exp = tfg.GradCAM(model).explain(images)
        >>> exp.heatmaps.shape, exp.class_index
        ((2, 64, 64), array([1, 0], dtype=int32))
        """
        batch, single = inputs.image_batch(images, self.input_shape)
        n = int(batch.shape[0])
        classes = targets.class_indices(class_index, n, self.num_classes)
        batch_size = n if batch_size is None else inputs.positive_int("batch_size", batch_size)
        chunks = [self.compute(batch[i:i + batch_size], tf.constant(classes[i:i + batch_size]))
                  for i in range(0, n, batch_size)]
        result = {key: _concat([c[key] for c in chunks]) for key in chunks[0]}  # to NumPy
        for key in ("heatmaps", "predictions", "scores"):
            if not np.all(np.isfinite(result[key])):
                raise FloatingPointError(
                    f"The model produced non-finite {key} for finite input (overflow, e.g. "
                    "in float16?). Explain it in float32 or check the model. "
                    f"Received: non-finite {key}")
        if single:
            result = {k: _first(v) for k, v in result.items()}
        return Explanation(layer=self.layer, method=self.method, **result)

    def __call__(self, images, class_index=None):
        """Heatmaps `(N, H, W)` in [0, 1] (or `(H, W)` for one image); see `explain`."""
        return self.explain(images, class_index).heatmaps


def _concat(parts):
    if isinstance(parts[0], (list, tuple)):
        return [_concat(list(p)) for p in zip(*parts)]
    if len(parts) == 1:
        return parts[0].numpy()
    return np.concatenate([p.numpy() for p in parts], axis=0)


def _first(value):
    return [v[0] for v in value] if isinstance(value, list) else value[0]


class GradientCAM(Explainer):
    """Base of the gradient CAM methods: one forward and one backward pass per batch.

    A method subclass only sets `method` and `weighting(activations, gradients)` (see
    `tf_gradcam.methods`); everything else is built here, once.

    Args:
        model: A built `keras.Model` with one image input `(N, H, W, C)` and one output
            `(N, classes)`: Functional, Sequential, with nested models, ending in a softmax
            or not, float32 or mixed precision. It is never modified.
        layer: The layer to explain: its name (inside a nested model its own name, or the
            qualified `"base/layer"`), the layer object, or `None` for the last 4D layer on
            the path to the prediction. A list explains several layers and averages their
            normalised maps. Defaults to `None`.
        preprocess: Applied to the images inside the compiled function before the model:
            `None`, a callable of TF ops, or a name from `tf_gradcam.preprocessing`
            (`"resnet50"`, `"mobilenet_v2"`, `"efficientnet_lite"`, `"scale:A,B"`, ...).
            Defaults to `None`.
        counterfactual: Explain what would *lower* the class score, by negating the
            gradients (Grad-CAM paper, Sec. 6). Defaults to `False`.
        eigen_smooth: Combine the weighted activations by their first principal component
            instead of their sum: less noise, as in pytorch-grad-cam. Defaults to `False`.
        augment: Test-time augmentation: average the maps of the image, its mirror image and
            1.1x / 0.9x zooms, each mapped back to the image. Four times the work. Defaults
            to `False`.
        jit_compile: Compile the function with XLA. Defaults to `False`.

    Raises:
        TypeError: `model` is not a Keras model, or `layer` has the wrong type.
        ValueError: The model is not built or not an image classifier, or `layer` is
            unknown or not 4D (the message lists the candidates).
    """

    method = None
    #: `(activations, gradients) -> weighted activations`, all `(N, h, w, K)` float32.
    weighting = None
    #: How the weighted activations become a map; `combine_principal` for Eigen-CAM.
    combine = staticmethod(methods.combine_sum)

    @classmethod
    def cam_function(cls, activations, gradients):
        """Raw `(N, h, w)` map from float32 activations and gradients `(N, h, w, K)`."""
        return cls.combine(cls.weighting(activations, gradients))

    def __init__(self, model, layer=None, *, preprocess=None, counterfactual=False,
                 eigen_smooth=False, augment=False, jit_compile=False):
        self._use_graph(model, layer, preprocess)
        self.counterfactual = bool(counterfactual)
        self.eigen_smooth = bool(eigen_smooth)
        self.augment = bool(augment)
        self.compute = self._compile(self._compute, jit_compile)

    def __repr__(self):
        return (f"{type(self).__name__}(model={self.model.name!r}, layer={self.layer!r}, "
                f"score={self.score_source!r})")

    def _maps(self, images, class_index):
        """One forward and one backward pass: raw maps, heatmaps and the class scores."""
        x = self._preprocess(images)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            *features, logits, predictions = self.graph.model(x, training=False)
            classes, scores = maps.select_classes(class_index, logits)
        gradients = tape.gradient(scores, features)
        combine = methods.combine_principal if self.eigen_smooth else self.combine
        size = tf.shape(images)[1:3]
        cams, heatmaps = [], 0.0
        for activation, gradient in zip(features, gradients):
            gradient = tf.cast(gradient, tf.float32)
            if self.counterfactual:
                gradient = -gradient
            cam = combine(self.weighting(tf.cast(activation, tf.float32), gradient))
            cams.append(cam)
            heatmaps += maps.normalize(maps.upsample(cam, size))
        if len(cams) > 1:
            heatmaps = maps.normalize(heatmaps / len(cams))
        return cams, heatmaps, classes, scores, predictions

    def _compute(self, images, class_index):
        cams, heatmaps, classes, scores, predictions = self._maps(images, class_index)
        if self.augment:
            heatmaps = augmentation.averaged(
                lambda views, view_classes: self._maps(views, view_classes)[1],
                images, classes, heatmaps)
        return {"heatmaps": heatmaps, "cams": cams[0] if len(cams) == 1 else cams,
                "class_index": classes, "scores": scores,
                "predictions": tf.cast(predictions, tf.float32)}


def _method(name, weighting, summary, example_name, combine=methods.combine_sum):
    doc = (f"{summary}\n\nExample:\n>>> cam = tfg.{example_name}(model)\n"
           ">>> heatmaps = cam(images)  # (N, H, W) in [0, 1]\n\n"
           + inspect.cleandoc(GradientCAM.__doc__).split("\n\n", 2)[2])
    return type(example_name, (GradientCAM,), {
        "__doc__": doc, "method": name, "weighting": staticmethod(weighting),
        "combine": staticmethod(combine),
        "__module__": __name__})


GradCAM = _method("gradcam", methods.gradcam_weights, "Grad-CAM (Selvaraju et al., ICCV 2017): "
                  "`ReLU(sum_k w_k A^k)`, `w_k` the spatially averaged gradient.", "GradCAM")
GradCAMPlusPlus = _method("gradcam++", methods.gradcam_plus_plus_weights, "Grad-CAM++ (Chattopadhay "
                          "et al., WACV 2018): higher-order pixel weights.", "GradCAMPlusPlus")
HiResCAM = _method("hirescam", methods.hirescam_weights, "HiResCAM (Draelos & Carin, 2020): "
                   "element-wise gradient x activation.", "HiResCAM")
XGradCAM = _method("xgradcam", methods.xgradcam_weights, "XGrad-CAM (Fu et al., BMVC 2020): "
                   "activation-weighted gradients.", "XGradCAM")
LayerCAM = _method("layercam", methods.layercam_weights, "LayerCAM (Jiang et al., TIP 2021): "
                   "positive gradients x activation, per pixel.", "LayerCAM")
EigenCAM = _method("eigencam", methods.eigencam_weights, "Eigen-CAM (Muhammad & Yeasin, 2020): "
                   "first principal component of the activations; class agnostic.", "EigenCAM",
                   combine=methods.combine_principal)
