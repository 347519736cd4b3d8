"""The explainer interface and the gradient-based CAM engine (Grad-CAM and its variants)."""

import dataclasses
import functools

import numpy as np
import tensorflow as tf

import keras

from tf_gradcam import (augmentation, capture, compiled, inputs, layers, maps, methods,
                        preprocessing, sizes, targets)
from tf_gradcam.classes import class_matrix
from tf_gradcam.labels import load_labels, names_of


@dataclasses.dataclass(frozen=True, repr=False)
class Explanation:
    """Everything an explainer computed for a batch.

    For a single image `(H, W, C)` every field drops its batch axis. With several classes
    per image (`top_k=K` or a 2D `class_index`) the per-class fields gain a K axis after the
    batch axis: `heatmaps` `(N, K, H, W)`, `cams` `(N, K, h, w)`, `class_index`,
    `class_names` and `scores` `(N, K)`.

    In a notebook an `Explanation` shows as a grid of overlays with class names,
    probabilities, layer and method (`_repr_html_`); its text form is a one-line summary.

    Attributes:
        heatmaps: float32 `(N, H, W)` in [0, 1], at the input image size.
        cams: float32 `(N, h, w)` raw map at the explained layer's resolution, not normalised
            (for Grad-CAM `ReLU(sum_k w_k A^k)`); a list of those for several layers.
        class_index: int `(N,)`, the class each map explains (0/1 for binary classifiers;
            what was passed for a target function).
        scores: float32 `(N,)`, the score that was explained (the logit for models ending
            in a softmax/sigmoid; minus the logit for class 0 of a binary classifier).
        predictions: float32 `(N, ...)`, the model's own (explained) output; the whole
            output structure for a target function without `output=`.
        layer: Name of the explained layer (qualified by nested models), or a list of them.
        method: Registry name of the method.
        probabilities: float32 `(N, classes)`, the model's class probabilities (its outputs
            when it ends in a softmax/sigmoid, else the softmax of its logits; `[1 - p, p]`
            for a binary classifier), or `None` where the output is not a classifier.
        class_names: str array shaped like `class_index`, the names of the explained
            classes when the explainer has `labels=`, else `None`.
        images: The images that were explained, as passed (kept by reference for the
            notebook view; not part of the text form or of comparisons), or `None`.
    """

    heatmaps: np.ndarray
    cams: object
    class_index: np.ndarray
    scores: np.ndarray
    predictions: object
    layer: object
    method: str
    probabilities: object = None
    class_names: object = None
    images: object = dataclasses.field(default=None, compare=False)

    def __repr__(self):
        from tf_gradcam import notebook

        return notebook.text(self)

    def _repr_html_(self):
        from tf_gradcam import notebook

        return notebook.html(self)


#: Per-class results: they gain a K axis with several classes per image.
_PER_CLASS = ("heatmaps", "cams", "class_index", "scores")


class Explainer:
    """Shared call, validation and batching of every explainer.

    Subclasses set `method` and implement `_compute(images, class_index[, mask])`, a TF
    function on a float32 batch and an int32 `(N, K)` class matrix (-1 in column j = the
    j-th best class) that returns a dict with `heatmaps`, `cams`, `class_index`, `scores`,
    `predictions` (and `probabilities`) tensors, each per-class one with a K axis.
    """

    method = None
    #: The model's image shape `(H, W, C)`; subclasses set it in `__init__`.
    input_shape = None
    #: Number of classes a `class_index` may name (`None` for a target function).
    num_classes = None
    #: The explained layer's qualified name (or names).
    layer = None
    #: The most classes per image one call may explain (`None`: any).
    max_classes = None

    #: Class names (`labels=`), `labels[c]` for class `c`, or `None`.
    labels = None

    def _use_graph(self, model, layer, preprocess, *, output=None, target=None,
                   features=True, labels=None):
        """Resolve layer, output, target and class names, and build the forward function,
        once."""
        self.model = model
        self.graph = layers.build_graph(model, layer, output=output, target=target,
                                        features=features)
        self.input_shape = self.graph.input_shape
        self.target = targets.resolve(target, self.graph.output_shape, self.graph.squashed)
        self.num_classes = self.target.num_classes
        paths = [t.path for t in self.graph.targets]
        self.layer = (paths if isinstance(layer, (list, tuple)) else paths[0]) if paths else None
        self.score_source = self.graph.score_source
        self._preprocess = preprocessing.get(preprocess)
        self.labels = load_labels(labels, self.num_classes)

    def _remember(self, settings):
        """Keep the constructor's settings for `with_model` (the layer by its path)."""
        self._settings = {k: v for k, v in settings.items()
                          if k not in ("self", "model", "__class__")}
        if self._settings.get("layer") is not None:
            self._settings["layer"] = self.layer
        if self._settings.get("labels") is not None:  # the names, not a file read again
            self._settings["labels"] = self.labels

    def with_model(self, model):
        """A new explainer of the same class and settings on `model` (same architecture).

        Example:
        >>> copy = keras.models.clone_model(model)
        >>> tfg.GradCAM(model).with_model(copy).layer
        'conv3'
        """
        return type(self)(model, **self._settings)

    def _forward(self, x):
        """`(features, logits, outputs)` of one forward pass on preprocessed `x`: the
        explained layers' outputs, the explained output's pre-activation logits and the
        output itself (the whole output structure for a target function)."""
        values = keras.tree.flatten(self.graph.forward(x, training=False))
        count = len(self.graph.targets)
        features, flat = list(values[:count]), list(values[count:])
        index = self.graph.output_index
        if index is None:
            return features, None, keras.tree.pack_sequence_as(self.graph.structure, flat)
        outputs = flat[index]
        if not self.graph.squashed:
            return features, outputs, outputs
        logits, found = capture.undo_squashing(outputs)
        if not found:
            raise ValueError(
                f"The model's output comes from a softmax/sigmoid ({self.score_source}), but "
                "that op is not in the traced graph, so its logits cannot be recovered. "
                "Explain a model ending in logits, or pass `target=` a function. "
                f"Received: model={self.model.name!r}")
        return features, logits, outputs

    def _result(self, heatmaps, cams, classes, scores, logits, outputs):
        """The dict every `_compute` returns (probabilities where the target has them)."""
        result = {"heatmaps": heatmaps, "cams": cams, "class_index": classes, "scores": scores,
                  "predictions": keras.tree.map_structure(
                      lambda t: tf.cast(t, tf.float32), outputs)}
        probabilities = self.target.probabilities(logits, outputs)
        if probabilities is not None:
            result["probabilities"] = probabilities
        return result

    def _signature(self, classes=None):
        """The compiled function's `TensorSpec`s; `classes`: a fixed number of classes per
        image (`None`: any)."""
        specs = [tf.TensorSpec((None,) + tuple(self.input_shape), tf.float32, name="images"),
                 tf.TensorSpec((None, classes), tf.int32, name="class_index")]
        if self.target.takes_mask:
            specs.append(tf.TensorSpec((None, None, None), tf.float32, name="mask"))
        return specs

    def _compile(self, function, jit_compile=False, one_class=False):
        """`function(images, class_index[, mask])` as this explainer's compiled function:
        free batch size and classes per image, traced once (on its first call: tracing is
        what the first call costs, and an explainer made but never called pays nothing).
        `one_class=True` adds a signature for one class per image, traced on the first call
        with one class (a gradient CAM then needs no loop over classes): one trace for one
        class per image, a second only if several are asked for. `jit_compile` is `True`,
        `False` or `"auto"` (see `resolve_jit_compile`); the choice is kept as
        `self.jit_compile`."""
        self.jit_compile = resolve_jit_compile(jit_compile)
        options = {"jit_compile": self.jit_compile,
                   # Plain TF ops and Python control flow on Python values only: no
                   # AutoGraph needed, which makes the one trace about 3x faster.
                   "autograph": False}
        # Exactly the signature's arguments, no `mask=None` default: binding a defaulted
        # argument costs every call about 70 us (a small model's whole backward pass).
        if self.target.takes_mask:
            def bound(images, class_index, mask):
                return function(images, class_index, mask)
        else:
            def bound(images, class_index):
                return function(images, class_index)
        if sizes.is_dynamic(self.input_shape):  # traced per image size if it must be
            return sizes.PerSizeFunction(tf.function(functools.partial(bound), **options),
                                         self._signature())
        signatures = ([self._signature(1)] if one_class else []) + [self._signature()]
        return compiled.SignatureFunction(bound, signatures, **options)

    def compute(self, images, class_index, mask=None):
        """The compiled computation: float32 images, an int32 `(N, K)` class matrix (-1 in
        column j = the j-th best class) and, for segmentation, a float32 `(N, H', W')`
        mask (-1 = the predicted region), in; a dict of tensors with a K axis out. This is
        what `explain` runs and what export serves."""
        raise NotImplementedError

    def class_probability(self, images, class_index):
        """Probability of one class per image, in TF ops (use it inside a `tf.function`).

        Args:
            images: float32 `(N, H, W, C)`, as the explainer receives them (before its
                `preprocess`).
            class_index: int32 `(N,)`, explicit classes.

        Returns:
            float32 `(N,)`: the class probability under this explainer's class semantics
            (softmax of logits, the model's own softmax/sigmoid, `1 - p` for class 0 of a
            binary classifier, the mean over the predicted region for segmentation), or the
            target score where there is no probability (regression, target functions).
        """
        _, logits, outputs = self._forward(self._preprocess(images))
        classes = tf.reshape(tf.cast(class_index, tf.int32), [-1, 1])
        return self.target.class_probabilities(logits, outputs, classes, None)[:, 0]

    def _mask_argument(self, mask, n):
        """The mask argument of the compiled function for `explain(..., mask=)`."""
        if not self.target.takes_mask:
            if mask is not None:
                raise ValueError(
                    f"`mask` selects a region of a segmentation output; this explainer's "
                    f"target is {self.target!r}. Received: mask with shape "
                    f"{np.shape(mask)}")
            return None
        shape = tuple(self.target.mask_shape)
        if mask is None:  # broadcast over the output: the predicted region everywhere
            return np.full((n, 1, 1), targets.PREDICTED_REGION, np.float32)
        values = np.asarray(mask)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"`mask` must be bool or numeric. Received: mask.dtype="
                            f"{values.dtype}")
        values = values.astype(np.float32)
        if values.ndim == 2:
            values = np.broadcast_to(values, (n,) + values.shape)
        if values.ndim != 3 or len(values) != n or any(
                want is not None and got != want for got, want in zip(values.shape[1:], shape)):
            raise ValueError(
                f"`mask` must be ({n}, {shape[0]}, {shape[1]}) (one region per image at the "
                f"output's resolution) or ({shape[0]}, {shape[1]}). Received: mask.shape="
                f"{np.shape(mask)}")
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError("`mask` must hold finite, non-negative weights. Received: mask "
                             f"with min {np.nanmin(values)}")
        return values

    def explain(self, images, class_index=None, *, top_k=None, mask=None, batch_size=None):
        """Explain `images` and return everything that was computed.

        Args:
            images: One image `(H, W, C)` or a batch `(N, H, W, C)`; NumPy or tensor, uint8
                or float, in the pixel range the model (or `preprocess=`) expects.
            class_index: `None` for each image's top-1 class, an int for the same class on
                every image, a sequence of N ints, or an `(N, K)` array for K classes per
                image. Defaults to `None`.
            top_k: Explain each image's `top_k` best classes, best first, in one forward
                pass (results gain a K axis). Defaults to `None`.
            mask: Segmentation only: `(N, H', W')` (or `(H', W')`) bool or float weights
                of the output pixels whose class logits are summed; `None` uses the pixels
                predicted as the class. Defaults to `None`.
            batch_size: Split the batch into chunks of this many images (same results, less
                memory); `None` runs the whole batch at once. Defaults to `None`.

        Returns:
            An `Explanation`.

        Raises:
            TypeError: Non-numeric images, non-integer class indices or a non-numeric mask.
            ValueError: Wrong image rank, size or channels, NaN/inf pixels, class indices out
                of range or of the wrong length, a bad `top_k`, `mask` or `batch_size`.
            FloatingPointError: The model itself produced non-finite values.

        Example:
        >>> exp = tfg.GradCAM(model).explain(images, top_k=2)
        >>> exp.heatmaps.shape, exp.class_index.shape, exp.probabilities.shape
        ((2, 2, 64, 64), (2, 2), (2, 2))
        """
        batch, single = inputs.image_batch(images, self.input_shape)
        n = int(batch.shape[0])
        classes, several = class_matrix(class_index, n, self.num_classes, top_k)
        if self.max_classes is not None and classes.shape[1] > self.max_classes:
            raise ValueError(
                f"{type(self).__name__} explains at most {self.max_classes} class per image "
                f"in one call; call it once per class. Received: {classes.shape[1]} classes")
        if mask is not None and getattr(self, "augment", False):
            raise ValueError(
                "`augment=True` mirrors and zooms the image, so an explicit `mask` would no "
                "longer match it; explain with `mask=None` (each view's predicted region) or "
                f"without augmentation. Received: mask with shape {np.shape(mask)}")
        masks = self._mask_argument(mask, n)
        batch_size = n if batch_size is None else inputs.positive_int("batch_size", batch_size)
        parts = [slice(None)] if batch_size >= n else [slice(i, i + batch_size)
                                                        for i in range(0, n, batch_size)]
        chunks = [self.compute(*_arguments(batch, classes, masks, part)) for part in parts]
        if len(chunks) == 1:  # one pass over the whole structure
            result = dict(keras.tree.map_structure(lambda t: t.numpy(), chunks[0]))
        else:
            result = {key: keras.tree.map_structure(lambda *parts: _concat(parts),
                                                    *[c[key] for c in chunks])
                      for key in chunks[0]}
        for key in ("heatmaps", "predictions", "scores", "probabilities"):
            if key in result and not all(np.all(np.isfinite(v))
                                         for v in keras.tree.flatten(result[key])):
                raise FloatingPointError(
                    f"The model produced non-finite {key} for finite input (overflow, e.g. "
                    "in float16?). Explain it in float32 or check the model. "
                    f"Received: non-finite {key}")
        if not several:
            for key in _PER_CLASS:
                result[key] = keras.tree.map_structure(lambda v: v[:, 0], result[key])
        if single:
            result = {k: keras.tree.map_structure(lambda v: v[0], v) for k, v in result.items()}
        return Explanation(layer=self.layer, method=self.method, images=images,
                           class_names=names_of(self.labels, result["class_index"]), **result)

    def explain_dataset(self, dataset, class_index=None, *, batch_size=None,
                        return_inputs=False):
        """Explain every batch of a `tf.data.Dataset`, one `Explanation` per batch (a
        generator; memory does not grow with the dataset).

        Args, Returns, Raises: see `tf_gradcam.streaming.explain_dataset`.

        Example:
        >>> data = tf.data.Dataset.from_tensor_slices(images).batch(2)
        >>> [e.heatmaps.shape for e in tfg.GradCAM(model).explain_dataset(data)]
        [(2, 64, 64)]
        """
        from tf_gradcam import streaming

        return streaming.explain_dataset(self, dataset, class_index, batch_size=batch_size,
                                         return_inputs=return_inputs)

    def __call__(self, images, class_index=None):
        """Heatmaps `(N, H, W)` in [0, 1] (or `(H, W)` for one image); see `explain`."""
        return self.explain(images, class_index).heatmaps


def resolve_jit_compile(jit_compile="auto"):
    """Whether an explainer compiles with XLA: `jit_compile` itself, or for `"auto"` whether
    TensorFlow sees a GPU (XLA wins there; on CPU it measured no gain on ResNet50 and 6-10x
    slower depthwise convolutions on EfficientNet-Lite0).

    Args:
        jit_compile: `True`, `False` or `"auto"`. Defaults to `"auto"`.

    Returns:
        bool.

    Raises:
        ValueError: Any other value.

    Example:
    >>> from tf_gradcam.core import resolve_jit_compile
    >>> resolve_jit_compile(True), resolve_jit_compile("auto") == bool(
    ...     tf.config.list_logical_devices("GPU"))
    (True, True)
    """
    if isinstance(jit_compile, (bool, np.bool_)):
        return bool(jit_compile)
    if isinstance(jit_compile, str) and jit_compile == "auto":
        return bool(tf.config.list_logical_devices("GPU"))
    raise ValueError("`jit_compile` must be True, False or \"auto\" (XLA where a GPU is "
                     f"visible). Received: jit_compile={jit_compile!r}")


def _arguments(batch, classes, masks, part=slice(None)):
    """The compiled function's arguments for `part` of the batch (the mask only where the
    target takes one), as tensors: `tf.constant` converts a NumPy array faster than a
    `tf.function` call does (about 50 us per argument, what a small model's call costs)."""
    whole = part == slice(None)
    args = [batch if whole else batch[part], classes if whole else classes[part]]
    if masks is not None:
        args.append(masks if whole else masks[part])
    return [a if isinstance(a, tf.Tensor) else tf.constant(a) for a in args]


def _concat(parts):
    if len(parts) == 1:
        return parts[0].numpy()
    return np.concatenate([p.numpy() for p in parts], axis=0)


class GradientCAM(Explainer):
    """Base of the gradient CAM methods: one forward and one backward pass per batch.

    A method subclass only sets `method` and `weighting(activations, gradients)` (see
    `tf_gradcam.methods`); everything else is built here, once.

    Args:
        model: A built `keras.Model` with one image input `(N, H, W, C)`: Functional,
            Sequential, with nested models, subclassed (called once), ending in a softmax or
            not, float32 or mixed precision. It is never modified.
        layer: The layer to explain: its name (inside a nested model or a custom layer its
            own name, or the path `"base/layer"`), the layer object, or `None` for the
            automatic choice (the last 4D layer feeding the prediction; for a vision
            transformer the input of its last attention). A list explains several layers and
            averages their normalised maps. Defaults to `None`.
        preprocess: Applied to the images inside the compiled function before the model:
            `None`, a callable of TF ops, or a name from `tf_gradcam.preprocessing`
            (`"resnet50"`, `"mobilenet_v2"`, `"efficientnet_lite"`, `"scale:A,B"`, ...).
            Defaults to `None`.
        output: The output to explain of a multi-output model: its name or index. Defaults
            to `None` (the only output).
        target: What to explain: `None` (automatic: `tfg.targets.Binary` for one unit,
            `Classifier` for `(N, classes)`, `Segmentation` for `(N, H', W', classes)`), a
            `tfg.targets` target, or a function `fn(outputs, class_index) -> scores` of TF
            ops. Defaults to `None`.
        reshape: For token layers `(N, T, D)` (vision transformers): `None` drops the
            leading class/register tokens (the smallest r in 0..8 with `T - r` a perfect
            square) and lays the rest out as an `s x s` grid; or a function
            `(N, T, D) -> (N, h, w, D)` of TF ops. Defaults to `None`.
        counterfactual: Explain what would *lower* the class score, by negating the
            gradients (Grad-CAM paper, Sec. 6). Defaults to `False`.
        eigen_smooth: Combine the weighted activations by their first principal component
            instead of their sum: less noise, as in pytorch-grad-cam. Defaults to `False`.
        center: For principal components (Eigen-CAM, Eigen-Grad-CAM, KPCA-CAM,
            `eigen_smooth`): subtract each channel's mean over positions before the
            decomposition, as pytorch-grad-cam does (`True`), or decompose the raw
            activations as the Eigen-CAM paper does (`False`). `None` takes the method's
            default (`False`; `True` for KPCA-CAM). Defaults to `None`.
        augment: Test-time augmentation: average the maps of the image, its mirror image and
            1.1x / 0.9x zooms, each mapped back to the image. Four times the work. Defaults
            to `False`.
        jit_compile: Compile the function with XLA: `True`, `False`, or `"auto"`: XLA
            where it wins, i.e. when TensorFlow sees a GPU (on CPU XLA measured 1.00x on
            ResNet50 and 6-10x *slower* on EfficientNet-Lite0's depthwise convolutions).
            The choice is kept as `explainer.jit_compile`. Defaults to `"auto"`.
        labels: Class names: a list (`labels[c]` names class `c`), the path of a text file
            with one name per line, or `"imagenet"` for the 1,000 ImageNet-1k names shipped
            with the package (see `tfg.labels.load_labels`). `Explanation.class_names`
            follows. Defaults to `None` (no names).

    Raises:
        TypeError: `model` is not a Keras model, or `layer`/`target` has the wrong type.
        ValueError: The model is not built, `layer` is unknown or has no usable output (the
            message lists the candidates), the output is unknown or has no automatic target,
            `labels` does not name one class per model output.
    """

    method = None
    #: `(activations, gradients) -> weighted activations`, all `(N, h, w, K)` float32.
    weighting = None
    #: How the weighted activations become a map; `combine_principal` for Eigen-CAM.
    combine = staticmethod(methods.combine_sum)
    #: Whether the weighting reads class gradients (else it gets `None`, no backward pass).
    uses_gradients = True
    #: The default of `center=` (principal components over centred positions).
    center = False
    #: How a principal component's sign is chosen (`methods.combine_principal`).
    sign = "sum"

    @classmethod
    def cam_function(cls, activations, gradients):
        """Raw `(N, h, w)` map from float32 activations and gradients `(N, h, w, K)`."""
        return cls.combine(cls.weighting(activations, gradients))

    def __init__(self, model, layer=None, *, preprocess=None, output=None, target=None,
                 reshape=None, counterfactual=False, eigen_smooth=False, center=None,
                 augment=False, jit_compile="auto", labels=None):
        self._use_graph(model, self._layers(model, layer), preprocess, output=output,
                        target=target, labels=labels)
        self._remember(locals())
        self._grids = [maps.token_grid(info, reshape) for info in self.graph.targets]
        self.counterfactual = bool(counterfactual)
        self.eigen_smooth = bool(eigen_smooth)
        if center is not None:
            self.center = bool(center)
        self.augment = bool(augment)
        self.compute = self._compile(self._compute, jit_compile, one_class=True)

    def __repr__(self):
        return (f"{type(self).__name__}(model={self.model.name!r}, layer={self.layer!r}, "
                f"target={self.target!r}, score={self.score_source!r})")

    def _layers(self, model, layer):
        """The layer(s) to capture, from the user's `layer=` (a method may choose its own)."""
        del model
        return layer

    def _combiner(self):
        """`weighted (N, h, w, K) -> map (N, h, w)` with this explainer's options."""
        if self.eigen_smooth or self.combine is methods.combine_principal:
            return functools.partial(methods.combine_principal, center=self.center,
                                     sign=self.sign)
        return self.combine

    def _explained_scores(self, classes, scores, logits, outputs):
        """What is differentiated: `(N, K)` scores from the selected classes (the target's
        scores; Finer-CAM compares them with similar classes). Runs inside the tape."""
        del classes, logits, outputs
        return scores

    def _gradients(self, tape, scores, activation):
        """`(N, K, ...)` gradients the weighting receives: `d scores / d activation`."""
        return _class_gradients(tape, scores, activation)

    def _taped_forward(self, x, class_index, mask):
        """Forward pass and scores under one (persistent) tape watching `x`."""
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            tape.watch(x)
            features, logits, outputs = self._forward(x)
            classes, scores = self.target.select(logits, outputs, class_index, mask)
            scores = self._explained_scores(classes, scores, logits, outputs)
        return tape, features, logits, outputs, classes, scores

    def _maps(self, images, class_index, mask):
        """One forward and one backward pass: raw maps, heatmaps and the class scores."""
        x = self._preprocess(images)
        tape, features, logits, outputs, classes, scores = self._taped_forward(
            x, class_index, mask)
        n, k = tf.shape(scores)[0], tf.shape(scores)[1]
        combine = self._combiner()
        size = tf.shape(images)[1:3]
        cams, heatmaps = [], 0.0
        for activation, grid in zip(features, self._grids):
            gradient = None
            if self.uses_gradients:
                gradient = self._gradients(tape, scores, activation)  # (N, K, ...)
                gradient = grid(tf.reshape(tf.cast(gradient, tf.float32),
                                           tf.concat([[n * k], tf.shape(activation)[1:]], 0)))
                if self.counterfactual:
                    gradient = -gradient
            activation = grid(tf.repeat(tf.cast(activation, tf.float32), k, axis=0))
            cam = combine(self.weighting(activation, gradient))  # (N*K, h, w)
            heatmaps += maps.normalize(maps.upsample(cam, size))
            cams.append(_per_class(cam, n, k))
        if len(cams) > 1:
            heatmaps = maps.normalize(heatmaps / len(cams))
        return cams, _per_class(heatmaps, n, k), classes, scores, logits, outputs

    def _compute(self, images, class_index, mask=None):
        cams, heatmaps, classes, scores, logits, outputs = self._maps(images, class_index, mask)
        if self.augment:  # the views explain their own predicted region (no explicit mask)
            heatmaps = augmentation.averaged(
                lambda views, view_classes: self._maps(
                    views, view_classes, None if mask is None else
                    tf.fill([tf.shape(views)[0], 1, 1], targets.PREDICTED_REGION))[1],
                images, classes, heatmaps)
        return self._result(heatmaps, cams[0] if len(cams) == 1 else cams, classes, scores,
                            logits, outputs)


def _class_gradients(tape, scores, source):
    """Gradients of each image's K scores `(N, K)` w.r.t. `source` `(N, ...)` (or each of
    a list of sources, all in the same backward passes): `(N, K, ...)`, all from the same
    forward pass: one backward pass per class column, in a `tf.while_loop`. Images are
    independent, so the gradient of column j's sum is each image's own gradient. Where the
    trace knows K = 1 (the one-class signature, see `Explainer._compile`) it is one pass
    without the loop (about 0.08 ms less per call).

    The backward graph is built once per trace, inside the loop: a `tf.cond` between a
    one-class pass and `batch_jacobian` would trace it twice (the tape walks back to the
    input) and made the first call about 1.5x slower on ResNet50.

    Raises:
        ValueError: The score does not depend on `source` (e.g. `source` is the output
            layer itself, after the softmax whose logits are explained).
    """
    several = isinstance(source, (list, tuple))
    sources = list(source) if several else [source]
    if scores.shape[1] == 1:  # one class per image, known when traced: one pass, no loop
        gradients = [g[:, tf.newaxis] for g in _score_gradient(tape, scores, sources)]
        return gradients if several else gradients[0]
    count = tf.shape(scores)[1]

    def body(j, *results):
        upstream = tf.one_hot(tf.fill(tf.shape(scores)[:1], j), count, dtype=scores.dtype)
        gradients = _score_gradient(tape, scores, sources, upstream)
        return (j + 1,) + tuple(r.write(j, g) for r, g in zip(results, gradients))

    _, *results = tf.while_loop(
        lambda j, *_: j < count, body,
        [tf.constant(0)] + [tf.TensorArray(s.dtype, size=count, element_shape=s.shape)
                            for s in sources])
    stacked = [tf.transpose(r.stack(), [1, 0] + list(range(2, len(s.shape) + 1)))
               for r, s in zip(results, sources)]
    return stacked if several else stacked[0]


def _score_gradient(tape, scores, source, upstream=None):
    """`d sum(upstream * scores) / d source` `(N, ...)` (all of `scores` when `upstream` is
    `None`: one class per image); a list of those for a list of sources (one backward
    pass); see `_class_gradients`."""
    listed = isinstance(source, list)
    gradients = tape.gradient(scores, source, output_gradients=upstream)
    for gradient, one in zip(gradients if listed else [gradients],
                             source if listed else [source]):
        if gradient is None:
            raise ValueError(
                "The explained score does not depend on the chosen layer's output, so there "
                "is no gradient to weight it with: the layer is the output layer itself (its "
                "pre-activation logits are explained) or does not feed the output. Choose an "
                f"earlier layer. Received: layer output {one.name!r}")
    return gradients


def _per_class(maps_, n, k):
    """`(N*K, ...)` -> `(N, K, ...)`."""
    return tf.reshape(maps_, tf.concat([[n, k], tf.shape(maps_)[1:]], 0))


class GradCAM(GradientCAM):
    """Grad-CAM (Selvaraju et al., ICCV 2017): `ReLU(sum_k w_k A^k)`, `w_k` the spatially
    averaged gradient. Constructor and call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.GradCAM(model)(images)  # (N, H, W) in [0, 1]
    """

    method = "gradcam"
    weighting = staticmethod(methods.gradcam_weights)


class GradCAMPlusPlus(GradientCAM):
    """Grad-CAM++ (Chattopadhay et al., WACV 2018): higher-order pixel weights of the
    positive gradients. Constructor and call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.GradCAMPlusPlus(model)(images)
    """

    method = "gradcam++"
    weighting = staticmethod(methods.gradcam_plus_plus_weights)

    def __init__(self, model, layer=None, *, eps=0.0, **kwargs):
        """`eps`: added to the alpha denominator where the gradient is non-zero; `0` is the
        paper's Eq. 19, `1e-6` pytorch-grad-cam's (different maps at inner layers, where
        logit gradients are ~1e-4). Other arguments: see `GradientCAM`."""
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
            raise ValueError("`eps` must be a non-negative number (0 = the paper's Eq. 19, "
                             f"1e-6 = pytorch-grad-cam). Received: eps={eps!r}")
        self.eps = float(eps)
        if self.eps:
            self.weighting = functools.partial(methods.gradcam_plus_plus_weights, eps=self.eps)
        super().__init__(model, layer, **kwargs)
        self._settings["eps"] = self.eps


class HiResCAM(GradientCAM):
    """HiResCAM (Draelos & Carin, 2020): element-wise gradient x activation, faithful to
    what the score depends on at each position. Constructor and call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.HiResCAM(model)(images)
    """

    method = "hirescam"
    weighting = staticmethod(methods.hirescam_weights)


class XGradCAM(GradientCAM):
    """XGrad-CAM (Fu et al., BMVC 2020): activation-weighted gradients. Constructor and
    call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.XGradCAM(model)(images)
    """

    method = "xgradcam"
    weighting = staticmethod(methods.xgradcam_weights)


class LayerCAM(GradientCAM):
    """LayerCAM (Jiang et al., TIP 2021): positive gradients x activation, per pixel; also
    meaningful on early layers. Constructor and call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.LayerCAM(model, layer="conv2")(images)
    """

    method = "layercam"
    weighting = staticmethod(methods.layercam_weights)


class EigenCAM(GradientCAM):
    """Eigen-CAM (Muhammad & Yeasin, 2020): the first principal component of the
    activations; class agnostic. Constructor and call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.EigenCAM(model)(images)
    """

    method = "eigencam"
    weighting = staticmethod(methods.eigencam_weights)
    combine = staticmethod(methods.combine_principal)
    uses_gradients = False


class GradCAMElementWise(GradientCAM):
    """Grad-CAM element-wise (pytorch-grad-cam): `sum_k ReLU(g^k * A^k)`, the ReLU applied
    to each gradient x activation product before the channel sum. Constructor and call: see
    `GradientCAM`.

    Example:
    >>> heatmaps = tfg.GradCAMElementWise(model)(images)
    """

    method = "gradcam-elementwise"
    weighting = staticmethod(methods.gradcam_elementwise_weights)


class EigenGradCAM(GradientCAM):
    """Eigen-Grad-CAM (pytorch-grad-cam): the first principal component of `g * A`, a class
    discriminative Eigen-CAM. Constructor and call: see `GradientCAM`.

    Example:
    >>> heatmaps = tfg.EigenGradCAM(model)(images)
    """

    method = "eigengradcam"
    weighting = staticmethod(methods.eigengradcam_weights)
    combine = staticmethod(methods.combine_principal)


def _classifier_logits(explainer, method):
    """Check that `explainer` explains a multi-class classifier (its logits are compared)."""
    if type(explainer.target) is not targets.Classifier or explainer.num_classes < 2:
        raise ValueError(
            f"{method} compares the explained class with the model's other classes, so it "
            "needs a classifier output (batch, classes) with at least 2 classes and the "
            "default `Classifier` target. Use `GradCAM` for other outputs. Received: "
            f"target={explainer.target!r}")


class FinerCAM(GradientCAM):
    """Finer-CAM (Zhang et al., CVPR 2025): Grad-CAM of `y_c - alpha * y_s` against the most
    similar classes `s`, which suppresses the evidence shared with them (fine-grained
    classes).

    The score, as pytorch-grad-cam's `FinerCAM` / `FinerWeightedTarget` computes it: the
    `comparisons` classes whose logits are closest to `y_c` (for the top-1 class: the next
    highest), and `sum_s p_s (y_c - alpha y_s) / (sum_s p_s + 1e-9)` with `p = softmax(y)`
    (differentiated as a whole). `Explanation.scores` holds that score. Works with `top_k`
    (each class gets its own comparison classes).

    Args:
        model: As in `GradientCAM`.
        layer: As in `GradientCAM`. Defaults to `None`.
        **kwargs: The other arguments of `GradientCAM`; the target must be the default
            `Classifier`.
        alpha: Strength of the comparison; `0` is Grad-CAM. Defaults to `1.0`.
        comparisons: How many similar classes are compared (at most classes - 1). Defaults
            to `3`.

    Raises:
        ValueError: A bad `alpha` or `comparisons`, or an output that is not a classifier.

    Example:
    >>> heatmaps = tfg.FinerCAM(model, comparisons=1)(images)
    """

    method = "finercam"
    weighting = staticmethod(methods.gradcam_weights)

    def __init__(self, model, layer=None, *, alpha=1.0, comparisons=3, **kwargs):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(
                alpha):
            raise ValueError(f"`alpha` must be a finite number. Received: alpha={alpha!r}")
        comparisons = inputs.positive_int("comparisons", comparisons)
        super().__init__(model, layer, **kwargs)
        _classifier_logits(self, "Finer-CAM")
        self.alpha = float(alpha)
        self.comparisons = min(comparisons, self.num_classes - 1)
        self._settings.update(alpha=self.alpha, comparisons=comparisons)

    def _explained_scores(self, classes, scores, logits, outputs):
        logits = tf.cast(logits, tf.float32)  # (N, C)
        chosen = tf.gather(logits, classes, batch_dims=1)  # (N, K)
        distance = tf.abs(logits[:, tf.newaxis] - chosen[..., tf.newaxis])  # (N, K, C)
        own = tf.one_hot(classes, self.num_classes, on_value=True, off_value=False)
        distance = tf.where(own, np.inf, distance)
        similar = tf.math.top_k(-distance, self.comparisons).indices  # (N, K, S)
        others = tf.gather(logits, similar, batch_dims=1)
        weights = tf.gather(tf.nn.softmax(logits), similar, batch_dims=1)
        return (tf.reduce_sum(weights * (scores[..., tf.newaxis] - self.alpha * others), -1)
                / (tf.reduce_sum(weights, -1) + 1e-9))


class ShapleyCAM(GradientCAM):
    """ShapleyCAM (Cai et al., 2025, "CAMs as Shapley Value-based Explainers"): Grad-CAM
    with the gradient corrected by the second-order term, `w_k = mean_ij(g - H A / 2)^k`,
    `H A` the Hessian-vector product of the score with the activations.

    As pytorch-grad-cam's `ShapleyCAM`: the Hessian-vector product is the gradient of
    `sum(g * A)` (A held constant) with respect to `A`, by a second tape over the first
    backward pass, inside the same compiled function (about twice Grad-CAM's backward cost).
    Where the score is piecewise linear in `A` (ReLU/pooling/Dense heads, explained logits)
    `H A` is 0 and the map is Grad-CAM's; `score="rest"` explains the paper's ReST score
    `y_c - CE(y, c) = 2 y_c - logsumexp(y)`, whose softmax term has curvature. One class per
    image per call.

    Args:
        model: As in `GradientCAM`.
        layer: As in `GradientCAM`. Defaults to `None`.
        **kwargs: The other arguments of `GradientCAM`.
        score: `"logit"` (the target's score, like every method) or `"rest"` (classifiers
            only). Defaults to `"logit"`.

    Example:
    >>> heatmaps = tfg.ShapleyCAM(model, score="rest")(images)
    """

    method = "shapleycam"
    weighting = staticmethod(methods.gradcam_weights)
    max_classes = 1

    def __init__(self, model, layer=None, *, score="logit", **kwargs):
        if score not in ("logit", "rest"):
            raise ValueError('`score` must be "logit" (the explained score) or "rest" '
                             f"(Cai et al.'s ReST). Received: score={score!r}")
        super().__init__(model, layer, **kwargs)
        if score == "rest":
            _classifier_logits(self, "ShapleyCAM(score='rest')")
        self.score = score
        self._settings["score"] = score

    def _explained_scores(self, classes, scores, logits, outputs):
        if self.score == "logit":
            return scores
        return 2.0 * scores - tf.reduce_logsumexp(tf.cast(logits, tf.float32), axis=-1,
                                                  keepdims=True)

    def _taped_forward(self, x, class_index, mask):
        outer = tf.GradientTape(watch_accessed_variables=False, persistent=True)
        with outer:
            outer.watch(x)  # a tape records only ops downstream of what it watches
            tape, *rest = super()._taped_forward(x, class_index, mask)
        return (tape, outer), *rest

    def _gradients(self, tape, scores, activation):
        tape, outer = tape
        with outer:  # record the first backward pass, to differentiate it again
            gradient = _score_gradient(tape, scores, activation)
            product = tf.reduce_sum(gradient * tf.stop_gradient(activation))
        curvature = outer.gradient(product, activation)
        if curvature is None:  # the gradient does not depend on A: no second-order term
            return gradient[:, tf.newaxis]
        return (gradient - 0.5 * curvature)[:, tf.newaxis]


class SegEigenCAM(GradientCAM):
    """Seg-Eigen-CAM (Chung & Ying, Applied Sciences 2025): the first principal component of
    `|g| * A` over centred positions, its sign chosen so that the largest magnitude is
    positive (Eq. 10-13; pytorch-grad-cam's `SegEigenCAM`). Made for segmentation targets;
    any target works. Constructor and call: see `GradientCAM` (`center` defaults to `True`).

    Example:
    >>> heatmaps = tfg.SegEigenCAM(model)(images)
    """

    method = "segeigencam"
    weighting = staticmethod(methods.segeigencam_weights)
    combine = staticmethod(methods.combine_principal)
    center = True
    sign = "max_abs"

    @classmethod
    def cam_function(cls, activations, gradients):
        return methods.combine_principal(cls.weighting(activations, gradients), center=True,
                                         sign="max_abs")
