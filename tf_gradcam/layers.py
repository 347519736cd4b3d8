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
import tensorflow as tf

from tf_gradcam import _keras_compat, capture, sizes, targets
from tf_gradcam import loading  # hidden_layers_hint: why a wrapped SavedModel has no layer

SQUASHING_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """A layer of the model as the explainer sees it.

    Attributes:
        path: Name qualified by the nested models holding it, e.g. `"base/top_conv"`.
        layer: The layer object itself (shared with the user's model).
        shape: Output shape without the batch dimension.
        nested: Whether the layer sits inside a nested model.
        inputs: Paths of the layers whose outputs this layer's call takes (graph models;
            empty where unknown).
        calls: How many times the layer is called in one forward pass (a head shared by
            feature-pyramid levels: several; such a layer is refused, see `resolve`).
    """

    path: str
    layer: object
    shape: tuple
    nested: bool
    inputs: tuple = ()
    calls: int = 1

    @property
    def is_spatial(self):
        """Whether the output is a 4D (batch, height, width, channels) feature map."""
        return len(self.shape) == 3

    @property
    def is_tokens(self):
        """Whether the output is a token sequence (batch, tokens, channels)."""
        return len(self.shape) == 2


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
        self.inputs = {}  # path -> paths of the layers its first call takes outputs of

    def call(self, layer, prefix, args, kwargs):
        path = prefix + layer.name
        self.inputs.setdefault(path, tuple(
            self.producers[id(t)][2] for t in keras.tree.flatten((args, kwargs))
            if id(t) in self.producers))
        if _keras_compat.is_unrollable(layer) and path + "/" in self.expand:
            given = args[0] if args else kwargs.pop("inputs")
            out = self.unroll(layer, keras.tree.flatten(given)[0], path + "/")
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

        # Keras' own graph walk, without `clone_model`: that re-compiles a compiled model
        # from its compile config (non-serialisable losses fail) and re-creates the model
        # object; here only the layers' calls are replayed, nothing is configured or saved.
        return _keras_compat.run_graph(model, inputs, call_function)


def survey(model, prefix=""):
    """Every layer of `model`, nested ones included, without building one joint graph.

    Each nested model is traced on its own input, so two nested models may share inner
    layer names (Keras forbids that within one graph).

    Returns:
        `(infos, output_paths, outputs)`: `LayerInfo`s in call order, for each flat output
        the path of the leaf layer that produces it, and the traced outputs (in the model's
        output structure).
    """
    tracer, _, outputs = trace_model(model, expand=frozenset(), prefix=prefix)
    infos, seen = [], set()
    calls = {}
    for path, *_ in tracer.records:
        calls[path] = calls.get(path, 0) + 1
    for path, layer, tensor, _ in tracer.records:
        if path in seen:  # a shared layer called twice: listed once, with its call count
            continue
        seen.add(path)
        if _keras_compat.is_unrollable(layer):
            infos.extend(survey(layer, path + "/")[0])
        infos.append(LayerInfo(path, layer, tuple(tensor.shape[1:]), bool(prefix),
                               tracer.inputs.get(path, ()), calls[path]))
    output_paths = []
    for output in keras.tree.flatten(outputs):
        output_layer, _, output_path = tracer.producers.get(id(output), (None, (), ""))
        if _keras_compat.is_unrollable(output_layer):
            output_path = survey(output_layer, output_path + "/")[1][0]
        output_paths.append(output_path)
    return tuple(infos), output_paths, outputs


def _tensors_by_path(tracer):
    tensors = {}
    for path, _, tensor, _ in tracer.records:
        tensors.setdefault(path, tensor)  # a shared layer called twice: its first call
    return tensors


def _model_paths(paths):
    """The nested-model prefixes (`"a/", "a/b/"`) of layer paths, to step into."""
    return {"/".join(p.split("/")[:i]) + "/" for p in paths for i in range(1, p.count("/") + 1)}


def candidates(infos):
    """The layers Grad-CAM can explain: 4D feature maps and `(batch, tokens, channels)`
    token sequences (reshaped to a grid; see `GradCAM`'s `reshape=`).

    A Functional graph holds only what feeds its output and a Sequential is a chain, so every
    layer found by re-tracing the model is on the path to the prediction.
    """
    return [info for info in infos if info.is_spatial or info.is_tokens]


def _feature_maps(infos, exclude):
    """`(usable, informative)`: the 4D layers that are neither inputs nor output layers
    (`exclude`: their paths), and those of them larger than 1x1."""
    usable = [i for i in infos if i.is_spatial and i.path not in exclude and i.calls == 1
              and not isinstance(i.layer, keras.layers.InputLayer)]
    return usable, [i for i in usable if None in i.shape[:2] or i.shape[0] * i.shape[1] > 1]


def _auto_target(infos, exclude=()):
    """The last spatial layer that is not an output layer (`exclude`: their paths); a leaf
    wins over the nested model it ends."""
    usable, informative = _feature_maps(infos, exclude)
    pool = informative or usable
    if not pool:
        raise ValueError(
            "The model has no layer with a 4D (batch, height, width, channels) output on the "
            "path to its prediction, so there is no feature map for Grad-CAM to explain. "
            "Received: layer=None")
    leaves = [i for i in pool if not _keras_compat.is_unrollable(i.layer)]
    return _before_pooling((leaves or pool)[-1], informative)


#: Layers that only downsample a feature map (VGG's `block5_pool` after `block5_conv3`).
_POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def _before_pooling(info, informative):
    """Skip trailing pooling layers whose input is itself an informative feature map: the
    Grad-CAM paper explains the last convolution (VGG16: `block5_conv3`, 14x14), not the
    max-pool that halves it."""
    by_path = {i.path: i for i in informative}
    while (isinstance(info.layer, _POOLING) and len(info.inputs) == 1
           and info.inputs[0] in by_path):
        info = by_path[info.inputs[0]]
    return info


def _names(infos, limit=12):
    names = [i.path for i in candidates(infos)]
    if len(names) > limit:
        names = names[: limit // 2] + ["..."] + names[-limit // 2:]
    return names


def resolve(infos, layer, exclude=()):
    """Return the `LayerInfo` that `layer` (None, name or Layer object) designates;
    `exclude` are the output layers' paths, never chosen automatically.

    Raises:
        ValueError: Unknown name, ambiguous name, non-spatial layer or one off the path.
        TypeError: `layer` is not a string, a Layer or None.
    """
    if layer is None:
        return _auto_target(infos, exclude)
    if isinstance(layer, str):
        matches = [i for i in infos if i.path == layer] or [
            i for i in infos if i.path.endswith("/" + layer)]  # own name or path suffix
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
    if info.calls > 1:
        once = [i.path for i in _feature_maps(infos, exclude)[1]][-3:]
        raise ValueError(
            f"Layer {info.path!r} is called {info.calls} times in one forward pass (a head "
            "shared by the feature-pyramid levels, say), so one map of it would explain an "
            "unstated one of its calls. Explain a layer called once - the feature maps "
            f"that feed it, e.g. {once} - or wrap one call in a model of its own. "
            f"Received: layer={shown!r}")
    if not (info.is_spatial or info.is_tokens):
        raise ValueError(
            f"Layer {info.path!r} has output shape {(None,) + info.shape}; Grad-CAM needs a "
            f"4D feature map (batch, height, width, channels) or tokens (batch, tokens, "
            f"channels). Pass `layer=` one of "
            f"{_names(infos)}. Received: layer={shown!r}")
    return info


def _is_graph_model(model):
    return isinstance(model, (keras.Sequential, _keras_compat.functional_class()))


def model_input(model):
    """`(shape, dtype)` of the model's single image input, batch axis dropped.

    Raises:
        TypeError: `model` is not a Keras model.
        ValueError: The model is not built, or does not take one 4D image input.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Grad-CAM explains a Keras model; pass a `keras.Model` (Functional, Sequential "
            f"or subclassed). Received: model={type(model).__name__}")
    if not _is_graph_model(model):
        shapes = _keras_compat.built_input_shapes(model)
        if not shapes:
            raise ValueError(
                f"Subclassed model {model.name!r} has not been called yet, so its input "
                "shape is unknown. Call it once on a batch of images (`model(images)`) "
                f"before explaining it. Received: model={model.name!r}")
        if len(shapes) != 1 or len(shapes[0]) != 4:
            raise ValueError(
                "Grad-CAM needs a model with a single image input of shape (batch, height, "
                "width, channels). Wrap a multi-input model in one that takes the image "
                f"only. Received: model input shapes={shapes}")
        return tuple(shapes[0][1:]), keras.backend.standardize_dtype(model.input_dtype)
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


def trace_model(model, expand, prefix=""):
    """Re-trace graph model `model` on a fresh input, stepping into the nested models in
    `expand`.

    Returns:
        `(tracer, inputs, outputs)`: the `_Tracer` with its records, and the new graph's
        input tensor and outputs (in the model's output structure).
    """
    input_shape, input_dtype = model_input(model)
    inputs = keras.Input(shape=input_shape, dtype=input_dtype)
    tracer = _Tracer(expand)
    outputs = tracer.unroll(model, inputs, prefix)
    return tracer, inputs, outputs


def _holds_custom_layers(infos):
    """Whether a leaf layer of the graph holds layers of its own (a custom layer)."""
    return any(not _keras_compat.is_unrollable(i.layer) and _keras_compat.sublayers(i.layer)
               for i in infos)


def _deep_infos(model, score=None, every_call=False):
    """`LayerInfo`s of every layer call that feeds the output (or `score(outputs)`, the
    explained score, and with `every_call` each call of a shared head), through custom
    layers."""
    input_shape, input_dtype = model_input(model)
    probe = capture.Probe(model, input_shape, input_dtype, score, every_call)
    infos = tuple(LayerInfo(path, layer, shape, "/" in path, calls=probe.calls.get(path, 1))
                  for path, layer, shape, feeds in probe.records if feeds)
    return infos, probe


def list_layers(model):
    """Every layer of `model` that feeds its output, in call order, as `LayerInfo`.

    Nested models and layers inside custom layers (e.g. KerasHub's transformer blocks)
    are included, with paths such as `"base/top_conv"` or `"vit_encoder/block_11/ln_1"`.

    Args:
        model: A built `keras.Model` (Functional, Sequential or subclassed).

    Returns:
        A tuple of `LayerInfo`; `candidates(...)` of it are the explainable layers.

    Example:
    >>> [i.path for i in tfg.candidates(tfg.list_layers(model))][-1]
    'conv3'
    """
    surveyed = _graph_survey(model)
    if surveyed is not None and not _holds_custom_layers(surveyed[0]):
        return surveyed[0]
    return _deep_infos(model)[0]


def _graph_survey(model):
    """`survey(model)` for a graph model; `None` for a subclassed one, or a dynamic-input
    model whose layers cannot be traced symbolically on an unknown height and width, or a
    graph whose nodes hide every feature map inside multi-output layers (these are then
    captured during the model's own forward pass)."""
    if not _is_graph_model(model):
        return None
    try:
        surveyed = survey(model)
    except sizes.TRACE_ERRORS:
        if not sizes.is_dynamic(model_input(model)[0]):
            raise
        return None
    # No explainable layer among the graph's nodes (D-FINE: one multi-output backbone
    # node): look inside the layers instead.
    return surveyed if candidates(surveyed[0]) else None


def _is_attention(layer):
    return (isinstance(layer, keras.layers.MultiHeadAttention)
            or "attention" in type(layer).__name__.lower())


def _auto_deep(infos, exclude=(), spatial_first=False):
    """Automatic layer through custom layers: for transformers the input of the last
    attention (its patch tokens still reach a class-token head), else the last feature
    map, else the last token layer. `spatial_first`: the last feature map wins (dense
    targets: detection, depth), so a query decoder's tokens are not chosen."""
    attention = [n for n, i in enumerate(infos) if _is_attention(i.layer) and i.calls == 1]
    if spatial_first and _feature_maps(infos, exclude)[1]:
        attention = []
    if attention:
        before = [i for i in infos[:attention[-1]]
                  if i.is_tokens and isinstance(i.layer, keras.layers.LayerNormalization)]
        before = before or [i for i in infos[:attention[-1]] if i.is_tokens]
        if before:
            return before[-1]
    spatial = _feature_maps(infos, exclude)[1]
    tokens = [i for i in infos if i.is_tokens]
    if spatial:
        return spatial[-1]
    if tokens:
        return tokens[-1]
    raise ValueError(
        "The model has no layer with a 4D (batch, height, width, channels) or token "
        "(batch, tokens, channels) output on the path to its prediction, so there is no "
        "feature map for Grad-CAM to explain. Received: layer=None")


def _output_names(structure, model):
    flat = keras.tree.flatten(structure)
    if isinstance(structure, dict):
        return [str(k) for k in keras.tree.flatten({k: k for k in structure})]
    names = list(getattr(model, "output_names", None) or [])
    if len(names) == len(flat) and len(set(names)) == len(names):
        return names
    return [str(i) for i in range(len(flat))]


def select_output(structure, model, output, target):
    """Index of the explained output among the flat outputs, or `None` for all of them
    (a target function without `output=`).

    Raises:
        ValueError: An unknown output, or a multi-output model with neither `output=` nor
            a target function.
    """
    names = _output_names(structure, model)
    count = len(names)
    if output is None:
        if count == 1:
            return 0
        if callable(target) and not isinstance(target, targets.Target) or getattr(
                target, "reads_all_outputs", False):
            return None
        raise ValueError(
            f"The model has {count} outputs {names}. Pass `output=` one of them (a name or "
            "an index) to explain it as a classifier, or a function "
            "`target=fn(outputs, class_index)` that reads them all. Received: output=None")
    if isinstance(output, str) and output in names:
        return names.index(output)
    if isinstance(output, int) and not isinstance(output, bool) and -count <= output < count:
        return output % count
    raise ValueError(
        f"Unknown output {output!r}: the model's outputs are {names} (or indices 0 to "
        f"{count - 1}). Received: output={output!r}")


def _activation_name(layer):
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", "")


@dataclasses.dataclass(frozen=True)
class Graph:
    """How an explainer reaches the model: resolved once, in its constructor.

    Attributes:
        forward: `x -> [features..., outputs...]` (flat outputs), callable inside a
            `tf.function`; the re-traced sub-model, or a `capture.CapturedForward`.
        targets: `LayerInfo` of each explained layer, in the order of the features.
        structure: The model's output structure, to re-pack the flat outputs.
        output_index: Which flat output is explained, `None` for all (target function).
        output_shape: Shape of the explained output, batch axis included.
        squashed: Whether the explained output is a softmax/sigmoid (its logits are then
            recovered from the graph and differentiated).
        score_source: Human-readable description of the differentiated score.
        input_shape: Image shape without batch (entries may be `None`).
        input_dtype: The model's input dtype.
        layers: Every layer found, in call order (for listings and error messages).
        captured: Whether the features are captured during the model's own forward pass
            (subclassed models, layers inside custom layers) instead of re-traced.
    """

    forward: object
    targets: tuple
    structure: object
    output_index: object
    output_shape: tuple
    squashed: bool
    score_source: str
    input_shape: tuple
    input_dtype: str
    layers: tuple
    captured: bool


def _needs_deep(infos, requested):
    """Whether a requested layer (or the automatic choice) is out of the graph's reach."""
    for item in requested:
        if item is None:
            spatial = [n for n, i in enumerate(infos) if i.is_spatial]
            tokens = [n for n, i in enumerate(infos) if i.is_tokens]
            if tokens and (not spatial or tokens[-1] > spatial[-1]):
                return True
        elif isinstance(item, str):
            if not any(i.path == item or i.path.endswith("/" + item) for i in infos):
                return True
        elif isinstance(item, keras.layers.Layer):
            if not any(i.layer is item for i in infos):
                return True
    return False


def build_graph(model, layer=None, *, output=None, target=None, features=True):
    """Resolve the layer(s) and the explained output, and build the forward function.

    Graph models (Functional, Sequential, nested ones) are re-traced so every graph node is
    reachable; subclassed models and layers inside custom layers are captured during the
    model's own forward pass (`tf_gradcam.capture`).

    Args:
        model: A built `keras.Model` with one image input.
        layer: The layer to explain: name (own, or a path through nested models and custom
            layers), a `keras.layers.Layer`, a list of those, or `None` for the automatic
            choice. Defaults to `None`.
        output: The explained output of a multi-output model (name or index). Defaults to
            `None`.
        target: The `target=` of the explainer (only checked here: a function may read all
            outputs). Defaults to `None`.
        features: Whether feature maps are needed (`False` for occlusion). Defaults to
            `True`.

    Returns:
        A `Graph`.

    Raises:
        TypeError: `model` is not a Keras model or `layer` has the wrong type.
        ValueError: The model is unbuilt, `layer` is unknown or has no usable output, or
            the output is unknown.
    """
    input_shape, input_dtype = model_input(model)
    requested = layer if isinstance(layer, (list, tuple)) else [layer]
    if not requested:
        raise ValueError("`layer` is an empty list; pass at least one layer or None. "
                         "Received: layer=[]")
    for item in requested:
        if item is not None and not isinstance(item, (str, keras.layers.Layer)):
            raise TypeError(
                "`layer` must be a layer name (str), a `keras.layers.Layer` of the model, or "
                f"None for the automatic choice. Received: layer={type(item).__name__}")
    # Dense targets (detection, depth) are resolved on the captured pass: it reaches the
    # layers inside custom layers (necks, heads), checks which layers the score depends on
    # (not a sibling head) and how often each is called.
    dense = isinstance(target, (targets.Detection, targets.DenseRegression))
    surveyed = None if dense else _graph_survey(model)
    if surveyed is not None:
        if not (features and _needs_deep(surveyed[0], requested)):
            return _graph_path(model, surveyed, requested, output, target, features)
    return _captured_path(model, requested, output, target, features, input_shape,
                          input_dtype)


def _graph_path(model, surveyed, requested, output, target, features):
    infos, output_paths, structure = surveyed
    outputs = set(output_paths)
    output_prefixes = {p.rsplit("/", 1)[0] for p in outputs}
    exclude = outputs | {i.path for i in infos if i.path in output_prefixes}
    with loading.hidden_layers_hint(model):
        chosen = tuple(resolve(infos if item is not None else _automatic_pool(
            infos, target, structure), item, exclude) for item in requested) if features else ()
    index = select_output(structure, model, output, target)
    explained = output_paths if index is None else [output_paths[index]]
    tracer, inputs, outputs = trace_model(
        model, expand=_model_paths([t.path for t in chosen] + explained))
    tensors = _tensors_by_path(tracer)
    flat = keras.tree.flatten(outputs)
    squashed, source = False, "model output"
    if index is not None:
        producer, _, _ = tracer.producers.get(id(flat[index]), (None, (), ""))
        activation = _activation_name(producer) if producer is not None else ""
        if activation in SQUASHING_ACTIVATIONS:
            squashed = True
            source = (f"pre-{activation} logits of {type(producer).__name__} layer "
                      f"{producer.name!r}")
    sub_model = keras.Model(inputs, [tensors[t.path] for t in chosen] + flat,
                            name=f"{model.name}_gradcam")
    shape = tuple(flat[index if index is not None else 0].shape)
    return Graph(forward=sub_model, targets=chosen, structure=structure, output_index=index,
                 output_shape=shape, squashed=squashed, score_source=source,
                 input_shape=tuple(inputs.shape[1:]), input_dtype=inputs.dtype,
                 layers=infos, captured=False)


def _captured_path(model, requested, output, target, features, input_shape, input_dtype):
    infos, probe = _deep_infos(model, _dependency_score(target, output),
                               every_call=isinstance(target, targets.Detection))
    chosen = ()
    if features:
        dense = isinstance(target, (targets.Detection, targets.DenseRegression))
        pool = _automatic_pool(infos, target, probe.structure)
        if isinstance(target, targets.Detection):  # a layer that reaches every level
            pool = tuple(i for i in pool if i.path in probe.every_call_paths) or pool
        with loading.hidden_layers_hint(model):
            chosen = tuple(_auto_deep(pool, probe.output_paths, dense) if item is None
                           else resolve(infos, item) for item in requested)
    index = select_output(probe.structure, model, output, target)
    flat = keras.tree.flatten(probe.structure)
    activation = probe.activations[index] if index is not None else ""
    squashed = activation in SQUASHING_ACTIVATIONS
    source = f"pre-{activation} logits (input of the final {activation})" if squashed else (
        "model output")
    forward = capture.CapturedForward(model, [t.layer for t in chosen])
    shape = tuple(flat[index if index is not None else 0].shape)
    return Graph(forward=forward, targets=chosen, structure=probe.structure,
                 output_index=index, output_shape=shape, squashed=squashed,
                 score_source=source, input_shape=tuple(input_shape),
                 input_dtype=input_dtype, layers=infos, captured=True)


def _automatic_pool(infos, target, structure):
    """The layers the automatic choice picks from: for a dense target (detection, depth)
    not the predictions laid out as a map (a layer with as many values per image as an
    output: a detection head's logits before their reshape, a depth map's rescaling)."""
    if not isinstance(target, (targets.Detection, targets.DenseRegression)):
        return infos
    if isinstance(target, targets.Detection) and isinstance(structure, dict):
        structure = structure.get(target.keys(structure)[0], structure)  # the logits
    sizes_ = {_size(spec.shape[1:]) for spec in keras.tree.flatten(structure)}
    return tuple(i for i in infos if not (i.is_spatial and _size(i.shape) in sizes_)) or infos


def _size(shape):
    total = 1
    for dim in shape:
        if dim is None:
            return None
        total *= dim
    return total


def _dependency_score(target, output):
    """`fn(outputs) -> scalar`: what the explained score reads, for the layer survey (only a
    layer this depends on is on the path); `None` for every output."""
    if hasattr(target, "dependency_score"):
        return target.dependency_score
    if output is None and callable(target) and not isinstance(target, targets.Target):
        def score(outputs):
            first = keras.tree.flatten(outputs)[0]
            return tf.reduce_sum(tf.cast(
                target(outputs, -tf.ones([tf.shape(first)[0]], tf.int32)), tf.float32))
        return score
    return None


def automatic_layer(model):
    """The path of the layer `layer=None` chooses for `model` (what `tf-gradcam layers`
    marks), through nested models and custom layers.

    Example:
    >>> tfg.layers.automatic_layer(model)
    'conv3'
    """
    # Any output will do (the layer does not depend on it): a target function takes them all.
    return build_graph(model, target=lambda outputs, class_index: outputs).targets[0].path
