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


def test_sublayers_of_a_custom_layer_and_a_model():
    class Block(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.first = keras.layers.Dense(2, name="first")
            self.second = keras.layers.Dense(2, name="second")

        def call(self, x):
            return self.second(self.first(x))

    block = Block()
    assert [layer.name for layer in _keras_compat.sublayers(block)] == ["first", "second"]
    inp = keras.Input((3,))
    model = keras.Model(inp, block(inp))
    assert block in _keras_compat.sublayers(model)


def test_built_input_shapes_of_a_called_subclassed_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    assert _keras_compat.built_input_shapes(net) == []
    net(keras.ops.zeros((4, 3)))
    assert _keras_compat.built_input_shapes(net) == [(4, 3)]


def test_run_graph_replays_every_node_through_call_function():
    inp = keras.Input((3,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, {"out": keras.ops.relu(dense(inp))})
    seen = []

    def call_function(op, *args, **kwargs):
        seen.append(op)
        return op(*args, **kwargs)

    out = _keras_compat.run_graph(model, keras.Input((3,)), call_function)
    assert dense in seen and len(seen) == 2 and set(out) == {"out"}
