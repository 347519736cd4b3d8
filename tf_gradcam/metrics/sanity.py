"""Model randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018, Sec. 3.1): a map that explains the model must change when the model's learned
weights are replaced by random ones, layer after layer from the top (cascading)."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tf_gradcam.metrics import _common


def weighted_layers(model):
    """The layers holding weights, nested models unrolled, from the output to the input."""
    found = []

    def walk(layer):
        children = getattr(layer, "layers", None)
        if isinstance(layer, keras.Model) and children is not None:
            for child in children:
                walk(child)
        elif layer.trainable_weights:  # not Dropout's seed state, say
            found.append(layer)

    walk(model)
    return found[::-1]


def _reinitialise(layer, seed):
    """Draw new values for every float weight of `layer` (moving statistics included) from
    its own initializers (seeded)."""
    for index, variable in enumerate(layer.weights):
        if "float" not in str(variable.dtype):
            continue
        name = variable.path.rsplit("/", 1)[-1]
        initializer = getattr(layer, f"{name}_initializer", None)
        if initializer is None:  # no initializer of its own: Glorot for kernels, 0 for vectors
            initializer = ("glorot_uniform" if len(variable.shape) > 1 else "zeros")
        initializer = keras.initializers.get(initializer)
        config = initializer.get_config()
        if "seed" in config:
            config["seed"] = seed * 1000 + index
            initializer = initializer.__class__.from_config(config)
        variable.assign(tf.cast(initializer(variable.shape, "float32"), variable.dtype))


def rank_correlation(a, b):
    """Spearman rank correlation of each pair of maps `(N, H, W)` (average ranks for ties);
    0 where a map is constant."""
    def ranks(values):
        flat = values.reshape(len(values), -1)
        out = np.empty(flat.shape, np.float64)
        for i, row in enumerate(flat):
            _, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
            ends = np.cumsum(counts)
            out[i] = ((ends - (counts - 1) / 2.0))[inverse]
        return out

    ra, rb = ranks(a), ranks(b)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    norm = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    return np.divide((ra * rb).sum(1), norm, out=np.zeros(len(ra)), where=norm > 0)


def structural_similarity(a, b):
    """SSIM of each pair of maps `(N, H, W)` in [0, 1] (`tf.image.ssim`, window up to 11)."""
    size = max(1, min(11, a.shape[1], a.shape[2]))
    return tf.image.ssim(tf.constant(a[..., None], tf.float32),
                         tf.constant(b[..., None], tf.float32), max_val=1.0,
                         filter_size=size).numpy().astype(np.float64)


def randomization_check(explainer, images, explanation, *, steps=None, seed=0,
                        class_index=None, return_per_image=False):
    """Cascading model randomisation: how much the maps still look like the trained model's.

    The explainer's model is copied (`keras.models.clone_model` + its weights; the user's
    model is never touched), the copy's weighted layers are re-initialised from the top down
    with their own initializers, and after each step the maps are recomputed (the same
    classes) and compared to `explanation` by Spearman rank correlation and SSIM (Adebayo et
    al., NeurIPS 2018). A method that passes loses the correlation as soon as the top layers
    are random; one that keeps it (e.g. guided backpropagation) shows the input, not the
    model.

    Args:
        explainer: The explainer to check; it must support `with_model` (every built-in
            one does).
        images: `(N, H, W, C)` (or one image), as the explainer receives them.
        explanation: The `Explanation` of the trained model to compare with; its classes
            are explained again after each step. RGB maps (Guided Grad-CAM's) are compared
            as `(N, H, W)` maps of each pixel's distance from the median.
        steps: How many maps along the cascade: `None` after every weighted layer, or an
            int: after that many evenly spaced points, the last with every layer random.
            Defaults to `None`.
        seed: Seed of the new weights. Defaults to `0`.
        class_index: The class of each map; needed when `explanation` is an array.
            Defaults to `None` (the explanation's classes).
        return_per_image: Return a `MetricResult` with each image's correlation when every
            layer is random (`per_image`), the number of layers randomised at each step
            (`x`), the correlations per image and step (`curves`) and in `details` the SSIM
            per image and step (`"ssim"`) and the layer names (`"layers"`, top first).
            Defaults to `False`.

    Returns:
        The mean Spearman rank correlation between the original maps and those of the fully
        randomised model, a float in [-1, 1]; near 0 passes the check.

    Raises:
        ValueError: Bad `steps`, a model that cannot be cloned (e.g. subclassed), or what
            the explainer raises for the images.

    Example:
    >>> from tf_gradcam import metrics
    >>> cam = tfg.GradCAM(model)
    >>> result = metrics.randomization_check(cam, images, cam.explain(images), steps=2,
    ...                                      return_per_image=True)
    >>> result.curves.shape
    (2, 2)
    """
    maps = getattr(explanation, "heatmaps", explanation)
    if np.ndim(maps) == 4 and np.shape(maps)[-1] == np.shape(images)[-1]:  # RGB maps
        gray = _common.gray_maps(maps)
        explanation = (dataclasses.replace(explanation, heatmaps=gray)
                       if dataclasses.is_dataclass(explanation) else gray)
    batch, heatmaps, classes = _common.checked_inputs(explainer, images, explanation,
                                                      class_index)
    try:
        copy = keras.models.clone_model(explainer.model)
        copy.set_weights(explainer.model.get_weights())
    except Exception as err:  # noqa: BLE001 - report any cloning failure the same way
        raise ValueError(
            "The randomization check works on a copy of the model made by "
            "`keras.models.clone_model`, which failed for this model (subclassed models "
            "cannot be cloned without a `clone_function`). Received: "
            f"model={explainer.model.name!r} ({type(err).__name__}: {err})") from err
    layers = weighted_layers(copy)
    if not layers:
        raise ValueError(f"The model has no weights to randomise. Received: "
                         f"model={explainer.model.name!r}")
    if steps is None:
        marks = list(range(1, len(layers) + 1))
    else:
        steps = _common.positive_int("steps", steps)
        marks = sorted({int(np.ceil(len(layers) * (s + 1) / steps)) for s in range(steps)})
    randomised = explainer.with_model(copy)
    correlations, similarities, done = [], [], 0
    for mark in marks:
        for layer in layers[done:mark]:
            _reinitialise(layer, seed + layers.index(layer))
        done = mark
        maps = np.asarray(randomised.explain(batch, classes).heatmaps, np.float32)
        maps = _common.gray_maps(maps)  # RGB maps (Guided Grad-CAM) to one channel
        correlations.append(rank_correlation(heatmaps, maps))
        similarities.append(structural_similarity(heatmaps, maps))
    curves = np.stack(correlations, axis=1)
    return _common.finish(curves[:, -1], return_per_image, x=np.asarray(marks), curves=curves,
                          details={"ssim": np.stack(similarities, axis=1),
                                   "layers": [layer.name for layer in layers]})
