"""The one place where tf_gradcam touches Keras internals.

Keras 3 has no public name for the class of graph-built models, which we need to step into
nested models. `tests/test_keras_compat.py` fails loudly if a Keras release moves it.
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
