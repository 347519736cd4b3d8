"""Fails loudly when a Keras release moves the one private name tf_gradcam relies on."""

import keras

from tf_gradcam import _keras_compat


def test_functional_class_is_what_keras_model_builds():
    inp = keras.Input((4, 4, 3))
    model = keras.Model(inp, keras.layers.Flatten()(inp))
    assert isinstance(model, _keras_compat.functional_class())
    assert _keras_compat.is_unrollable(model)
    assert not _keras_compat.is_unrollable(keras.layers.Dense(2))


def test_graph_operations_lists_layers_and_ops():
    inp = keras.Input((3,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, keras.ops.relu(dense(inp)))
    ops = _keras_compat.graph_operations(model)
    assert dense in ops and len(ops) == 3  # input layer, dense, relu op
