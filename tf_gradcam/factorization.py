"""Deep Feature Factorization: the concepts a layer's activations are made of.

Collins, Achanta & Süsstrunk, "Deep Feature Factorization For Concept Discovery", ECCV
2018: the activations of all positions of one or many images, `(positions, channels)`, are
factorised by non-negative matrix factorisation (NMF) into `K` concepts, `A ~= W H`: each
row of `H` `(K, channels)` is a concept in the layer's feature space, each column of `W` its
spatial map. As in pytorch-grad-cam's `DeepFeatureFactorization`, each concept also gets
class scores: the concept vector at every position, run through the part of the network
after the layer (for a GAP + Dense head: the Dense layer on the concept).

Unlike the CAM methods it explains no class, so it is not in `METHODS`.
"""

import dataclasses
import warnings

import numpy as np
import tensorflow as tf

from tf_gradcam import ablation, core, inputs, maps, visualize


@dataclasses.dataclass(frozen=True)
class Factorization:
    """What `DeepFeatureFactorization` found.

    Attributes:
        heatmaps: float32 `(N, K, H, W)`: each concept's map, upsampled to the image size and
            min-max normalised per image and concept.
        maps: float32 `(N, K, h, w)`: the raw NMF maps `W` at the layer's resolution.
        concepts: float32 `(K, channels)`: the concepts `H` in the layer's feature space
            (shifted back by the offset that made the activations non-negative).
        class_scores: float32 `(K, classes)`: the explained output's logits for each
            concept, or `None` where the network after the layer cannot be separated.
        top_classes: int `(K, top)`: each concept's best classes, best first, or `None`.
        relative_error: `||A - W H|| / ||A||` of the factorisation (Frobenius norms).
        layer: Name of the factorised layer.
    """

    heatmaps: np.ndarray
    maps: np.ndarray
    concepts: np.ndarray
    class_scores: object
    top_classes: object
    relative_error: float
    layer: str


class DeepFeatureFactorization(core.Explainer):
    """Deep Feature Factorization (Collins et al., ECCV 2018) of a layer's activations.

    The layer's activations are computed in one compiled pass; the NMF (scikit-learn's
    `NMF`) runs on the CPU over all positions of all images at once, so concepts are shared
    across the images of a call.

    Args:
        model: As in `GradCAM`. It is never modified.
        layer: As in `GradCAM` (one 4D layer). Defaults to `None`.
        n_components: Number of concepts K. Defaults to `5`.
        top: Best classes kept per concept in `top_classes`. Defaults to `3`.
        preprocess: As in `GradCAM`. Defaults to `None`.
        output: As in `GradCAM`: the output whose logits score the concepts. Defaults to
            `None`.
        max_iter: NMF iterations at most. Defaults to `500`.
        random_state: Seed of the NMF initialisation. Defaults to `0`.

    Raises:
        ValueError: Bad `n_components`, `top` or `max_iter`, a non-4D or several layers, or
            what `GradCAM` raises.

    Example:
    >>> dff = tfg.DeepFeatureFactorization(model, n_components=3)
    >>> found = dff(images)
    >>> found.heatmaps.shape, found.concepts.shape, found.top_classes.shape
    ((2, 3, 64, 64), (3, 48), (3, 2))
    """

    method = "dff"

    def __init__(self, model, layer=None, *, n_components=5, top=3, preprocess=None,
                 output=None, max_iter=500, random_state=0):
        if isinstance(layer, (list, tuple)):
            raise ValueError("Deep Feature Factorization factorises one layer; pass a single "
                             f"name or layer. Received: layer={layer!r}")
        self.n_components = inputs.positive_int("n_components", n_components)
        self.top = inputs.positive_int("top", top)
        self.max_iter = inputs.positive_int("max_iter", max_iter)
        self.random_state = random_state
        self._use_graph(model, layer, preprocess, output=output)
        self._remember(locals())
        info = ablation.feature_map(self, "Deep Feature Factorization factorises")
        head = None if self.graph.captured else ablation.head_model(model, info.path)
        self._head = None if head is None else ablation.forward_view(self, head)
        self._activations = tf.function(
            lambda images: tf.cast(self._forward(self._preprocess(images))[0][0], tf.float32),
            autograph=False, input_signature=self._signature()[:1])
        if head is not None:
            self._concept_logits = tf.function(
                self._logits, autograph=False,
                input_signature=[tf.TensorSpec((None,) + tuple(info.shape), tf.float32)])

    def _logits(self, features):
        _, logits, _ = core.Explainer._forward(self._head, features)
        return tf.cast(logits, tf.float32)

    def explain(self, images):
        """Factorise the layer's activations over `images` into concepts.

        Args:
            images: One image `(H, W, C)` or a batch `(N, H, W, C)`, as for `GradCAM`.

        Returns:
            A `Factorization` (with an N axis even for one image).

        Raises:
            ValueError: Bad images, or fewer positions than concepts.
        """
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning

        batch, _ = inputs.image_batch(images, self.input_shape)
        activations = self._activations(batch).numpy()
        n, h, w, channels = activations.shape
        flat = activations.reshape(-1, channels).astype(np.float64)
        if flat.shape[0] < self.n_components:
            raise ValueError(
                f"{flat.shape[0]} positions cannot be factorised into {self.n_components} "
                "concepts; pass more images or a smaller `n_components`. "
                f"Received: n_components={self.n_components}")
        offset = np.minimum(flat.min(axis=0), 0.0)  # NMF needs non-negative activations
        shifted = flat - offset
        nmf = NMF(self.n_components, init="nndsvda", max_iter=self.max_iter,
                  random_state=self.random_state)
        with warnings.catch_warnings():  # the error below says how good the fit is
            warnings.simplefilter("ignore", ConvergenceWarning)
            weights = nmf.fit_transform(shifted)
        parts = nmf.components_
        norm = np.linalg.norm(shifted)
        error = float(np.linalg.norm(shifted - weights @ parts) / norm) if norm else 0.0
        raw = weights.reshape(n, h, w, -1).transpose(0, 3, 1, 2).astype(np.float32)
        size = tf.shape(batch)[1:3]
        heatmaps = maps.normalize(maps.upsample(tf.reshape(raw, [-1, h, w]), size))
        heatmaps = tf.reshape(heatmaps, [n, self.n_components, -1, tf.shape(batch)[2]])
        concepts = (parts + offset).astype(np.float32)
        scores = top = None
        if self._head is not None:
            tiled = np.broadcast_to(concepts[:, None, None, :],
                                    (self.n_components, h, w, channels))
            scores = self._concept_logits(tf.constant(tiled)).numpy()
            top = np.argsort(-scores, axis=1, kind="stable")[:, :self.top]
        return Factorization(heatmaps=heatmaps.numpy(), maps=raw, concepts=concepts,
                             class_scores=scores, top_classes=top, relative_error=error,
                             layer=self.layer)

    def __call__(self, images):
        """The `Factorization` of `images`; see `explain`."""
        return self.explain(images)


def dff(model, images, n_components=5, **kwargs):
    """Deep Feature Factorization of `images` in one call.

    Args:
        model: As in `GradCAM`.
        images: As for `DeepFeatureFactorization.explain`.
        n_components: Number of concepts. Defaults to `5`.
        **kwargs: The other arguments of `DeepFeatureFactorization` (`layer=`, `top=`, ...).

    Returns:
        A `Factorization`.

    Example:
    >>> found = tfg.dff(model, images, n_components=2)
    >>> found.maps.shape
    (2, 2, 16, 16)
    """
    return DeepFeatureFactorization(model, n_components=n_components, **kwargs)(images)


def show_factorization(image, heatmaps, *, alpha=0.5, colormap="hsv"):
    """Colour each pixel of `image` by the concept whose map is strongest there.

    The anchor is pytorch-grad-cam's `show_factorization_on_image`: concept `i` gets colour
    `i` of `colormap` (spread over the colormap), shaded by its normalised map value, and
    the picture is blended over the image.

    Args:
        image: `(H, W, 3)` (or as `tfg.overlay` takes), uint8 or float.
        heatmaps: `(K, H, W)` concept maps in [0, 1] of this image, e.g.
            `factorization.heatmaps[i]`.
        alpha: Weight of the concept colours, in [0, 1]. Defaults to `0.5`.
        colormap: matplotlib colormap the K colours are taken from. Defaults to `"hsv"`.

    Returns:
        uint8 RGB `(H, W, 3)`. The inputs are not modified.

    Raises:
        ValueError: `heatmaps` is not `(K, H, W)` at the image's size, or a bad `alpha`.

    Example:
    >>> found = tfg.dff(model, images, n_components=3)
    >>> tfg.show_factorization(images[0], found.heatmaps[0]).shape
    (64, 64, 3)
    """
    rgb = visualize.to_uint8_rgb(image).astype(np.float32)
    heat = np.clip(np.asarray(heatmaps, np.float32), 0.0, 1.0)
    if heat.ndim != 3 or heat.shape[1:] != rgb.shape[:2]:
        raise ValueError(
            f"`heatmaps` must be (concepts, {rgb.shape[0]}, {rgb.shape[1]}), one map per "
            f"concept at the image's size. Received: heatmaps.shape={np.shape(heatmaps)}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be a number in [0, 1]. Received: alpha={alpha!r}")
    lut = visualize.colormap_lut(colormap).astype(np.float32)
    palette = lut[np.arange(len(heat)) * 256 // len(heat)]  # (K, 3): colour i of K
    winner = heat.argmax(axis=0)
    strength = np.take_along_axis(heat, winner[None], axis=0)[0]
    colours = palette[winner] * strength[..., None]
    blended = (1.0 - alpha) * rgb + alpha * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def concept_labels(factorization, class_names=None):
    """One legend line per concept: its best classes with their softmax scores.

    Args:
        factorization: A `Factorization` with class scores.
        class_names: Sequence of class names, or `None` for indices. Defaults to `None`.

    Returns:
        A list of K strings, e.g. `"tabby 0.62, tiger cat 0.21"`.

    Raises:
        ValueError: The factorization has no class scores.

    Example:
    >>> tfg.concept_labels(tfg.dff(model, images, n_components=2))[0].count(",")
    1
    """
    if factorization.class_scores is None:
        raise ValueError("This factorization has no class scores (the network after the "
                         "layer could not be separated). Received: class_scores=None")
    scores = factorization.class_scores
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[c]))
    return [", ".join(f"{names(c)} {p[c]:.2f}" for c in top)
            for p, top in zip(probabilities, factorization.top_classes)]
