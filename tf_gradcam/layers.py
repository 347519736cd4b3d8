"""Find the target layer and build the gradient sub-model, nested models included.

A Grad-CAM sub-model must return the target layer's feature maps *and* the class scores
from one graph. `keras.Model(model.inputs, [inner.output, model.output])` fails with a
"disconnected graph" when `inner` lives in a nested model (a transfer-learning base), and a
`keras.Sequential` built without an `Input` has no symbolic graph at all. This module
re-traces the user's model on a fresh `keras.Input`, calling the *same* layer objects (so the
weights are shared, never copied) and stepping *into* nested Sequential and Functional models,
so every layer's output - at any depth - lives in one graph together with the prediction.

The user's model is not modified: no attribute, activation, weight or config changes. (Keras
records each symbolic call as an extra inbound node of the layer; node 0, which `layer.output`
and the model's own graph use, is untouched.)
"""

import dataclasses

import keras

from tf_gradcam import _keras_compat

SQUASHING_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """A layer of the model as the explainer sees it.

    Attributes:
        path: Name qualified by the nested models holding it, e.g. `"base/top_conv"`.
        layer: The layer object itself (shared with the user's model).
        shape: Output shape without the batch dimension.
        nested: Whether the layer sits inside a nested model.
    """

    path: str
    layer: object
    shape: tuple
    nested: bool

    @property
    def is_spatial(self):
        """Whether the output is a 4D (batch, height, width, channels) feature map."""
        return len(self.shape) == 3


@dataclasses.dataclass(frozen=True)
class GradientGraph:
    """The sub-model and what was resolved to build it.

    Attributes:
        model: Functional model `images -> [feature_maps..., class_logits, predictions]`.
        targets: `LayerInfo` of each explained layer, in the order of the outputs.
        score_source: Human-readable description of the differentiated score.
        squashed: Whether the model's outputs are softmax/sigmoid probabilities.
        input_shape: Image shape the model accepts, without batch (entries may be `None`).
        num_classes: Width of the prediction.
        layers: Every layer found, in call order (for listings and error messages).
    """

    model: object
    targets: tuple
    score_source: str
    squashed: bool
    input_shape: tuple
    num_classes: int
    layers: tuple


class _Tracer:
    """Re-runs a model symbolically, recording every layer call it makes.

    Args:
        expand: Paths of the nested models to step into (`"base/"`); the others are called
            whole. Stepping only into the models that hold the target keeps layer names
            unique in the sub-model when two nested models share inner names.
    """

    def __init__(self, expand):
        self.expand = expand
        self.records = []  # (path, layer, tensor, nested) in call order
        self.producers = {}  # id(tensor) -> (layer, args, path) of the leaf call making it

    def call(self, layer, prefix, args, kwargs):
        path = prefix + layer.name
        if _keras_compat.is_unrollable(layer) and path + "/" in self.expand:
            out = self.unroll(layer, args[0] if args else kwargs.pop("inputs"), path + "/")
        else:
            out = layer(*args, **kwargs)
            for tensor in keras.tree.flatten(out):
                self.producers[id(tensor)] = (layer, args, path)
        if isinstance(layer, keras.layers.Layer) and not isinstance(out, (list, tuple, dict)):
            self.records.append((path, layer, out, bool(prefix)))
        return out

    def unroll(self, model, inputs, prefix=""):
        """Calls `model`'s layers one by one on `inputs`; returns its output tensor."""
        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in model.layers:
                x = self.call(layer, prefix, (x,), {})
            return x

        def call_function(op, *args, **kwargs):
            if isinstance(op, keras.layers.Layer):
                return self.call(op, prefix, args, kwargs)
            out = op(*args, **kwargs)  # a bare keras.ops operation inside the graph
            for tensor in keras.tree.flatten(out):
                self.producers[id(tensor)] = (op, args, prefix + op.name)
            return out

        clone = keras.models.clone_model(
            model, input_tensors=inputs, clone_function=lambda op: op,
            call_function=call_function)
        return clone.outputs[0] if len(clone.outputs) == 1 else clone.outputs


class _PreActivation(keras.layers.Layer):
    """The affine part of a `Dense` layer, using that layer's own variables (shared)."""

    def __init__(self, dense, **kwargs):
        super().__init__(name=f"{dense.name}_preactivation", dtype="float32", **kwargs)
        self.dense = dense

    def call(self, x):
        y = keras.ops.matmul(keras.ops.cast(x, "float32"),
                             keras.ops.cast(self.dense.kernel, "float32"))
        if self.dense.use_bias:
            y = y + keras.ops.cast(self.dense.bias, "float32")
        return y


def _activation_name(layer):
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, (keras.layers.Dense, keras.layers.Activation)):
        return getattr(layer.activation, "__name__", "")
    return ""


def _logits(output, tracer):
    """The pre-activation class scores behind `output`, where they came from, and whether
    `output` is their softmax/sigmoid (so probabilities)."""
    op, args, _ = tracer.producers.get(id(output), (None, (), ""))
    activation = _activation_name(op) if op is not None else ""
    if activation not in SQUASHING_ACTIVATIONS:
        return keras.ops.cast(output, "float32"), "model output", False
    if isinstance(op, keras.layers.Dense):
        logits = _PreActivation(op)(args[0])
        return logits, f"pre-{activation} logits of Dense layer {op.name!r}", True
    return (keras.ops.cast(args[0], "float32"),
            f"input of the {activation} layer {op.name!r}", True)


def _model_input(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Grad-CAM explains a Keras model; pass a `keras.Model` (Functional or "
            f"Sequential). Received: model={type(model).__name__}")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError) as err:
        raise ValueError(
            f"Model {model.name!r} has not been built, so its input shape is unknown. "
            "Start a Sequential model with `keras.Input(shape)`, or call the model once on a "
            f"batch (`model(images)`), before explaining it. Received: model={model.name!r}"
        ) from err
    if inputs is None or len(inputs) != 1 or len(inputs[0].shape) != 4:
        shapes = None if inputs is None else [tuple(t.shape) for t in inputs]
        raise ValueError(
            "Grad-CAM needs a model with a single image input of shape (batch, height, "
            "width, channels). Wrap a multi-input model in one that takes the image only. "
            f"Received: model input shapes={shapes}")
    return tuple(inputs[0].shape[1:]), inputs[0].dtype


def survey(model, prefix=""):
    """Every layer of `model`, nested ones included, without building one joint graph.

    Each nested model is traced on its own input, so two nested models may share inner
    layer names (Keras forbids that within one graph).

    Returns:
        `(infos, output_path)`: `LayerInfo`s in call order, and the path of the leaf layer
        that produces the model's output.
    """
    tracer, _, outputs = trace_model(model, expand=frozenset(), prefix=prefix)
    infos, seen = [], set()
    for path, layer, tensor, _ in tracer.records:
        if path in seen:  # a shared layer called twice: keep the first call
            continue
        seen.add(path)
        if _keras_compat.is_unrollable(layer):
            infos.extend(survey(layer, path + "/")[0])
        infos.append(LayerInfo(path, layer, tuple(tensor.shape[1:]), bool(prefix)))
    output_layer, _, output_path = tracer.producers.get(id(outputs), (None, (), ""))
    if _keras_compat.is_unrollable(output_layer):
        output_path = survey(output_layer, output_path + "/")[1]
    return tuple(infos), output_path


def _tensors_by_path(tracer):
    tensors = {}
    for path, _, tensor, _ in tracer.records:
        tensors.setdefault(path, tensor)  # a shared layer called twice: its first call
    return tensors


def _model_paths(paths):
    """The nested-model prefixes (`"a/", "a/b/"`) of layer paths, to step into."""
    return {"/".join(p.split("/")[:i]) + "/" for p in paths for i in range(1, p.count("/") + 1)}


def candidates(infos):
    """The layers Grad-CAM can explain: those with a 4D output.

    A Functional graph holds only what feeds its output and a Sequential is a chain, so every
    layer found by re-tracing the model is on the path to the prediction.
    """
    return [info for info in infos if info.is_spatial]


def _auto_target(infos):
    """The last spatial layer; a leaf wins over the nested model it ends."""
    usable = [i for i in candidates(infos)
              if not isinstance(i.layer, keras.layers.InputLayer)]
    informative = [i for i in usable if None in i.shape[:2] or i.shape[0] * i.shape[1] > 1]
    pool = informative or usable
    if not pool:
        raise ValueError(
            "The model has no layer with a 4D (batch, height, width, channels) output on the "
            "path to its prediction, so there is no feature map for Grad-CAM to explain. "
            "Received: layer=None")
    leaves = [i for i in pool if not _keras_compat.is_unrollable(i.layer)]
    return (leaves or pool)[-1]


def _names(infos, limit=12):
    names = [i.path for i in candidates(infos)]
    if len(names) > limit:
        names = names[: limit // 2] + ["..."] + names[-limit // 2:]
    return names


def resolve(infos, layer):
    """Return the `LayerInfo` that `layer` (None, name or Layer object) designates.

    Raises:
        ValueError: Unknown name, ambiguous name, non-spatial layer or one off the path.
        TypeError: `layer` is not a string, a Layer or None.
    """
    if layer is None:
        return _auto_target(infos)
    if isinstance(layer, str):
        matches = [i for i in infos if i.path == layer] or [
            i for i in infos if i.path.rsplit("/", 1)[-1] == layer]
        if len(matches) > 1:
            raise ValueError(
                f"Layer name {layer!r} is ambiguous: it exists in several nested models. "
                f"Pass the qualified name, one of {[m.path for m in matches]}. "
                f"Received: layer={layer!r}")
    elif isinstance(layer, keras.layers.Layer):
        matches = [i for i in infos if i.layer is layer]
    else:
        raise TypeError(
            "`layer` must be a layer name (str), a `keras.layers.Layer` of the model, or "
            f"None for the automatic choice. Received: layer={type(layer).__name__}")
    shown = layer if isinstance(layer, str) else getattr(layer, "name", layer)
    if not matches:
        raise ValueError(
            f"Layer {shown!r} is not part of the model. Pass `layer=` one of "
            f"{_names(infos)} (nested layers by their own or qualified name). "
            f"Received: layer={shown!r}")
    info = matches[0]
    if not info.is_spatial:
        raise ValueError(
            f"Layer {info.path!r} has output shape {(None,) + info.shape}; Grad-CAM needs a "
            f"4D feature map (batch, height, width, channels). Pass `layer=` one of "
            f"{_names(infos)}. Received: layer={shown!r}")
    return info


def trace_model(model, expand, prefix=""):
    """Re-trace `model` on a fresh input, stepping into the nested models in `expand`.

    Returns:
        `(tracer, inputs, outputs)`: the `_Tracer` with its records, and the new graph's
        input and (batch, classes) output tensors.
    """
    input_shape, input_dtype = _model_input(model)
    inputs = keras.Input(shape=input_shape, dtype=input_dtype)
    tracer = _Tracer(expand)
    outputs = tracer.unroll(model, inputs, prefix)
    if not prefix and (isinstance(outputs, (list, tuple, dict)) or len(outputs.shape) != 2):
        shape = [tuple(o.shape) for o in keras.tree.flatten(outputs)]
        raise ValueError(
            "Grad-CAM needs a classifier with one output of shape (batch, classes). For a "
            "multi-output model, build `keras.Model(model.inputs, model.outputs[i])` and "
            f"explain that. Received: model output shapes={shape}")
    return tracer, inputs, outputs


def list_layers(model):
    """Every layer of `model` (nested ones included) as `LayerInfo`, in call order.

    Args:
        model: A built `keras.Model`.

    Returns:
        A tuple of `LayerInfo`; `candidates(...)` of it are the explainable layers.

    Example:
    >>> [i.path for i in candidates(list_layers(model))][-1]
    'base/top_activation'
    """
    return survey(model)[0]


def build_gradient_graph(model, layer=None):
    """Build the sub-model `images -> [feature maps..., class logits, predictions]`.

    Args:
        model: A built `keras.Model` with one image input and one (batch, classes) output.
        layer: The layer to explain: name (own or qualified by its nested models), a
            `keras.layers.Layer`, a list of those (several layers, one map each), or `None`
            for the last 4D layer on the path to the prediction. Defaults to `None`.

    Returns:
        A `GradientGraph`.

    Raises:
        TypeError: `model` is not a Keras model or `layer` has the wrong type.
        ValueError: The model is unbuilt or not an image classifier, or `layer` is unknown,
            not spatial, or does not feed the prediction.
    """
    infos, output_path = survey(model)
    requested = layer if isinstance(layer, (list, tuple)) else [layer]
    if not requested:
        raise ValueError("`layer` is an empty list; pass at least one layer or None. "
                         "Received: layer=[]")
    targets = tuple(resolve(infos, item) for item in requested)
    # Trace once more, opening only the nested models that hold a target or the output.
    tracer, inputs, outputs = trace_model(
        model, expand=_model_paths([t.path for t in targets] + [output_path]))
    tensors = _tensors_by_path(tracer)
    logits, source, squashed = _logits(outputs, tracer)
    sub_model = keras.Model(
        inputs, [tensors[t.path] for t in targets] + [logits, outputs],
        name=f"{model.name}_gradcam")
    return GradientGraph(
        model=sub_model, targets=targets, score_source=source, squashed=squashed,
        input_shape=tuple(inputs.shape[1:]),
        num_classes=int(outputs.shape[-1]), layers=infos)


def build_score_graph(model):
    """Build `images -> [logits, outputs]` for gradient-free explainers.

    Returns:
        `(sub_model, squashed)`: `squashed` says whether the outputs are softmax/sigmoid
        probabilities (then `logits` are their pre-activation scores).
    """
    _, output_path = survey(model)
    tracer, inputs, outputs = trace_model(model, expand=_model_paths([output_path]))
    logits, _, squashed = _logits(outputs, tracer)
    outputs = keras.ops.cast(outputs, "float32")
    sub_model = keras.Model(inputs, [logits, outputs], name=f"{model.name}_scores")
    return sub_model, squashed
