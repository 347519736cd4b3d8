"""The one place where tf_gradcam touches Keras internals.

Keras 3 has no public API for three things we need: the class of graph-built models (to step
into nested models), the layers a layer holds (to reach layers inside custom layers), and the
input shape a subclassed model was built with (to trace it). Each is one small function here;
`tests/test_keras_compat.py` fails loudly if a Keras release changes them, and
`pyproject.toml` bounds the Keras versions.
"""

import keras


def functional_class():
    """The class of graph-built (Functional) Keras models."""
    from keras.src.models.functional import Functional  # private: no public alias in Keras 3

    return Functional


def is_unrollable(layer):
    """Whether `layer` is a nested Sequential or single-input Functional model to step into."""
    if isinstance(layer, keras.Sequential):
        return True
    if not isinstance(layer, functional_class()):
        return False
    inputs = layer.inputs
    return inputs is not None and len(inputs) == 1 and len(layer.outputs) == 1


def graph_operations(functional_model):
    """Every operation (layers and bare `keras.ops` calls) in a Functional model's graph."""
    return functional_model.operations


def sublayers(layer):
    """The layers `layer` holds directly (graph layers of a model, attributes of a custom
    layer), in the order Keras tracks them."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def built_input_shapes(model):
    """The input shapes a subclassed model was built with (its first call), or `[]`."""
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    return [tuple(shape) for shape in shapes.values() if shape is not None]


def run_graph(functional_model, inputs, call_function):
    """Replay a Functional model's graph on `inputs` (one tensor), calling
    `call_function(operation, *args, **kwargs)` at each node; the outputs come back in
    the model's output structure. No config, compile or clone round trip."""
    flat = functional_model._run_through_graph(  # private: the walk `clone_model` uses
        [inputs], operation_fn=lambda op: op, call_fn=call_function)
    return keras.tree.pack_sequence_as(functional_model.output, keras.tree.flatten(flat))
