"""Layer resolution: automatic choice, names inside nested models, clear errors."""

import keras
import numpy as np
import pytest

import tf_gradcam as tfg
from tf_gradcam import layers as tl
from tests.conftest import conv_gap_dense, nested_base

L = keras.layers


def test_automatic_choice_is_last_spatial_layer_on_the_path():
    assert tfg.GradCAM(conv_gap_dense()).layer == "conv"
    base = nested_base()
    model = keras.Sequential([base, L.GlobalAveragePooling2D(), L.Dense(2)])
    assert tfg.GradCAM(model).layer == "base/b_relu"
    # A 4D reshape of the logits (1x1, no spatial information) is not a feature map.
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    x = L.Dense(3)(L.GlobalAveragePooling2D()(L.Conv2D(4, 3, name="c")(inp)))
    x = L.Flatten()(L.Reshape((1, 1, 3), name="r")(x))
    assert tfg.GradCAM(keras.Model(inp, L.Softmax()(x))).layer == "c"


def test_list_layers_and_candidates():
    base = nested_base()
    model = keras.Sequential([base, L.GlobalAveragePooling2D(name="gap"), L.Dense(2)])
    infos = tfg.list_layers(model)
    paths = [i.path for i in infos]
    assert paths[:4] == ["base/b_conv1", "base/b_conv2", "base/b_relu", "base"]
    assert [i.path for i in tfg.candidates(infos)] == paths[:4]
    assert infos[0].nested and not infos[4].nested and infos[0].shape == (14, 14, 4)


@pytest.mark.parametrize("layer, error, message", [
    ("nope", ValueError, r"'nope' is not part of the model. Pass `layer=` one of \['conv'\]"),
    ("gap", ValueError, r"output shape \(None, 6\); Grad-CAM needs a 4D"),
    ("head", ValueError, "needs a 4D feature map"),
    (3, TypeError, "Received: layer=int"),
    (keras.layers.Dense(2), ValueError, "is not part of the model"),
    ([], ValueError, "empty list"),
])
def test_bad_layers(layer, error, message):
    with pytest.raises(error, match=message):
        tfg.GradCAM(conv_gap_dense(), layer=layer)


def test_ambiguous_name_asks_for_the_qualified_one():
    inp = keras.Input((16, 16, 3))
    b1, b2 = nested_base(), nested_base()
    b2.name = "base_two"
    x = L.Concatenate()([b1(inp), b2(inp)])
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    with pytest.raises(ValueError, match=r"ambiguous.*\['base/b_relu', 'base_two/b_relu'\]"):
        tfg.GradCAM(model, layer="b_relu")
    assert tfg.GradCAM(model, layer="base_two/b_relu").layer == "base_two/b_relu"


def test_models_that_are_not_image_classifiers():
    with pytest.raises(TypeError, match="Received: model=str"):
        tfg.GradCAM("model.keras")
    dense_only = keras.Sequential([keras.Input((8,)), L.Dense(2)])
    with pytest.raises(ValueError, match="single image input"):
        tfg.GradCAM(dense_only)
    inp = keras.Input((8, 8, 3))
    tokens = keras.Model(inp, L.Reshape((64, 3))(L.Conv2D(3, 1)(inp)))
    with pytest.raises(ValueError, match=r"No automatic target.*Received: output shape"):
        tfg.GradCAM(tokens, layer=tokens.layers[1])


def test_multiple_layers_give_one_fused_map_and_one_cam_each():
    base = nested_base()
    model = keras.Sequential([base, L.GlobalAveragePooling2D(), L.Dense(2)])
    exp = tfg.GradCAM(model, layer=["b_conv1", "b_relu"]).explain(
        keras.random.uniform((2, 16, 16, 3), seed=1))
    assert exp.layer == ["base/b_conv1", "base/b_relu"]
    assert [c.shape for c in exp.cams] == [(2, 14, 14), (2, 12, 12)]
    assert exp.heatmaps.shape == (2, 16, 16)


def test_gradient_graph_reports_what_it_resolved():
    graph = tl.build_graph(conv_gap_dense(activation="softmax"))
    assert graph.output_shape == (None, 3) and graph.input_shape == (12, 12, 3)
    assert graph.score_source == "pre-softmax logits of Dense layer 'head'"


def test_vgg_explains_its_last_convolution_not_the_pool():
    model = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=3)
    assert tfg.GradCAM(model).layer == "block5_conv3"
    # A pooling layer over the input itself (no feature map before it) stays the choice.
    inp = keras.Input((8, 8, 3))
    x = L.AveragePooling2D(2, name="pool")(inp)
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    assert tfg.GradCAM(model).layer == "pool"


def test_no_compile_or_config_round_trip_is_needed():
    class NoConfig(L.Layer):  # a custom layer without get_config, never saved
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def call(self, x):
            return x * self.scale

    class Unserialisable(keras.losses.Loss):  # cannot be rebuilt from a config
        def __init__(self, weight):
            super().__init__()
            self.weight = weight

        def call(self, y_true, y_pred):
            return self.weight * keras.ops.mean((y_true - y_pred) ** 2)

        def get_config(self):
            raise TypeError("Unserialisable could not be deserialized")

    inp = keras.Input((10, 10, 3))
    x = NoConfig(2.0)(L.Conv2D(4, 3, activation="relu", name="conv")(inp))
    model = keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling2D()(x)))
    model.compile(optimizer="adam", loss=Unserialisable(0.5), metrics=[lambda t, p: p])
    assert "conv" in [i.path for i in tfg.list_layers(model)]
    cams = tfg.GradCAM(model, layer="conv").explain(np.ones((1, 10, 10, 3), "float32")).cams
    assert cams.shape == (1, 8, 8) and np.isfinite(cams).all()
    assert model.compiled and isinstance(model.loss, Unserialisable)
