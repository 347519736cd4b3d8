"""Capture any layer's output during the model's own forward pass.

Re-tracing (`layers.py`) reaches every layer that is a node of a Functional or Sequential
graph. Layers that are not graph nodes - the layers of a subclassed model, the blocks inside
a custom layer such as KerasHub's `ViTEncoder` - are reached here instead: while an explainer's
`tf.function` is *traced*, calls of the chosen layer objects record their inputs and
outputs, so the graph holds those tensors and the tape differentiates the score with respect
to them. The graph is traced once; nothing runs through this module afterwards.

How it stays safe: the user's model and layer objects are never touched (no instance
attribute, weight or config changes). For the duration of one trace, the `call` of the
recorded layers' *classes* is wrapped by a pass-through that records only for the layer
objects asked for and only in the tracing thread (a thread-local switch); other threads
calling the same model meanwhile run the original code path. The class attribute is
restored when the trace ends, and traces are serialised by a lock.
"""

import contextlib
import functools
import threading

import keras
import tensorflow as tf

from tf_gradcam import _keras_compat, sizes

_LOCK = threading.RLock()
_ACTIVE = threading.local()


def _wrap(call):
    @functools.wraps(call)
    def recording_call(self, *args, **kwargs):
        out = call(self, *args, **kwargs)
        watched = getattr(_ACTIVE, "watched", None)
        if watched is not None and id(self) in watched:
            _ACTIVE.records.append((self, args, out))
            if _ACTIVE.replace is not None:
                out = _ACTIVE.replace(out)
        return out
    return recording_call


@contextlib.contextmanager
def recording(layers, replace=None):
    """Record `(layer, args, output)` for every call of `layers` made in this thread;
    `replace(output)`, when given, is what those calls return instead (Ablation-CAM zeroes
    channels with it).

    Yields:
        The list the records are appended to, in call order.
    """
    with _LOCK:
        if getattr(_ACTIVE, "watched", None) is not None:
            raise RuntimeError("tf_gradcam: nested layer recording is not supported")
        classes = list(dict.fromkeys(type(layer) for layer in layers))
        originals = [(cls, cls.__dict__.get("call"), cls.call) for cls in classes]
        for cls, _, inherited in originals:
            setattr(cls, "call", _wrap(inherited))
        _ACTIVE.watched, _ACTIVE.records = {id(layer) for layer in layers}, []
        _ACTIVE.replace = replace
        try:
            yield _ACTIVE.records
        finally:
            for cls, own, _ in originals:
                if own is None:
                    delattr(cls, "call")
                else:
                    setattr(cls, "call", own)
            _ACTIVE.watched = _ACTIVE.records = _ACTIVE.replace = None


def deep_layers(model):
    """Every layer inside `model`, through nested models and custom layers, as
    `(path, layer)` in depth-first order; paths join names with "/"."""
    found, seen = [], set()

    def visit(layer, prefix):
        for child in _keras_compat.sublayers(layer):
            if id(child) in seen:
                continue
            seen.add(id(child))
            path = prefix + child.name
            found.append((path, child))
            visit(child, path + "/")

    visit(model, "")
    return found


def first_tensor(value):
    """The output tensor of a layer call, or `None` when it returns several."""
    flat = keras.tree.flatten(value)
    return flat[0] if len(flat) == 1 and isinstance(flat[0], tf.Tensor) else None


def undo_squashing(output):
    """`(logits, activation)` behind a graph tensor made by a softmax/sigmoid op, else
    `(output, "")`. Sees through casts and identities (mixed precision)."""
    tensor = output
    while tensor.op.type in ("Cast", "Identity") and tensor.op.inputs:
        tensor = tensor.op.inputs[0]
    kind = {"Softmax": "softmax", "Sigmoid": "sigmoid", "LogSoftmax": "log_softmax"}.get(
        tensor.op.type, "")
    return (tensor.op.inputs[0], kind) if kind else (output, "")


class Probe:
    """One symbolic pass of `model` (traced, never run) recording every layer call.

    Attributes:
        records: `(path, layer, shape, feeds)` per recorded layer in call order: `shape`
            the output shape without batch, `feeds` whether it reaches the model's output.
        structure: The model's output structure (tensor, list or dict) with `TensorSpec`s.
        output_paths: Paths of the layers whose output is a model output.
        calls: Path -> how many times the layer is called in one forward pass (a head
            shared by feature-pyramid levels: more than once).
        every_call_paths: With `every_call`, the paths of the layers that feed the score
            and every call of each shared layer (so they reach every pyramid level).
        activations: Per flat output, "softmax"/"sigmoid" when a graph op of that kind
            makes it (its input is then the logits), else "".

    Args:
        model: The model (called as is).
        input_shape: Its image shape without batch (`None` entries allowed).
        input_dtype: Its input dtype.
        score: `fn(outputs) -> scalar` (or a list of scalars: a layer feeds when it feeds
            each) whose dependence decides `feeds`: the explained score, so a sibling head
            it does not read is not "on the path". Defaults to `None` (the sum of every
            output).
        every_call: Also find which layers feed every call of a layer called several
            times (a head shared by feature-pyramid levels): `every_call_paths`.
            Defaults to `False`.
    """

    def __init__(self, model, input_shape, input_dtype, score=None, every_call=False):
        self.paths = deep_layers(model)
        by_id = {id(layer): path for path, layer in self.paths}
        self.records, found = [], {}

        def trace(x):
            with recording([layer for _, layer in self.paths]) as calls:
                out = model(x, training=False)
            flat = keras.tree.flatten(out)
            totals = [tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in flat])]
            if score is not None:
                totals = [tf.cast(t, tf.float32) for t in keras.tree.flatten(score(out))]
            firsts, seen, counts = [], set(), {}
            for layer, _, value in calls:
                counts[by_id[id(layer)]] = counts.get(by_id[id(layer)], 0) + 1
                tensor = first_tensor(value)
                if tensor is None or id(layer) in seen:
                    continue
                seen.add(id(layer))
                firsts.append((layer, tensor))
            found["calls"] = counts
            shared = [tf.reduce_sum(tf.cast(first_tensor(value), tf.float32))
                      for layer, _, value in calls if every_call
                      and counts[by_id[id(layer)]] > 1 and first_tensor(value) is not None
                      and first_tensor(value).shape.rank == 4]  # a head on feature maps
            tensors = [t for _, t in firsts]
            reached = [[g is not None for g in tf.gradients(total, tensors)]
                       for total in totals + shared] if firsts else []
            feeds = [all(column) for column in zip(*reached[:len(totals)])]
            found["every_call_paths"] = {
                by_id[id(layer)] for (layer, _), column in zip(firsts, zip(*reached))
                if all(column)}
            found["records"] = [(by_id[id(layer)], layer, tuple(t.shape[1:]), f)
                                for (layer, t), f in zip(firsts, feeds)]
            found["activations"] = [undo_squashing(t)[1] for t in flat]
            found["output_paths"] = {by_id[id(layer)] for layer, t in firsts
                                     if any(t is o for o in flat)}
            found["structure"] = keras.tree.map_structure(
                lambda t: tf.TensorSpec(t.shape, t.dtype), out)
            return totals[0]

        sizes.trace_with_fallback(
            lambda shape: tf.function(trace, autograph=False).get_concrete_function(
                tf.TensorSpec((None,) + shape, input_dtype)), input_shape)
        self.records = found["records"]
        self.structure = found["structure"]
        self.activations = found["activations"]
        self.output_paths = found["output_paths"]
        self.calls = found["calls"]
        self.every_call_paths = found["every_call_paths"]


class CapturedForward:
    """`x -> [features..., outputs...]` for layers reached by recording.

    The same convention as the re-traced sub-model, so the engine does not care how the
    features were captured. Call it only inside a `tf.function` (graph mode).

    Args:
        model: The user's model (called as is).
        layers: The layer objects whose outputs are the features, in order.
    """

    def __init__(self, model, layers):
        self.model, self.layers = model, list(layers)

    def __call__(self, x, training=False):
        with recording(self.layers) as calls:
            out = self.model(x, training=training)
        captured = {}
        for layer, _, value in calls:
            captured.setdefault(id(layer), first_tensor(value))
        features = [captured.get(id(layer)) for layer in self.layers]
        if any(f is None for f in features):
            raise ValueError(
                "The chosen layer was not called (or returned several tensors) during the "
                "model's forward pass, so there is no feature map to explain. Pick a layer "
                f"from `tfg.list_layers(model)`. Received: layer="
                f"{[layer.name for layer in self.layers]}")
        return [*features, *keras.tree.flatten(out)]
