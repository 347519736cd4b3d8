"""Every way Keras lets a single-image model declare its input gives the same maps.

The zoo builds one architecture (a nested convolutional base, a softmax head) in each input
style users write - a bare tensor, `[x]`, `(x,)`, `{"image": x}`, a custom input name, a
model called on a new `keras.Input`, `keras.Model(base.inputs, base.output)` - sharing the
same weights, and the whole contract runs over it against the bare-tensor model.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import nested_base

L = keras.layers
SIZE = 16


def _reference():
    """Bare-tensor Functional model: nested Sequential base, GAP, softmax Dense."""
    base = nested_base(SIZE, seed=1)
    keras.utils.set_random_seed(2)
    inp = keras.Input((SIZE, SIZE, 3))
    out = L.Dense(3, activation="softmax", name="head")(
        L.GlobalAveragePooling2D(name="gap")(base(inp)))
    return keras.Model(inp, out, name="reference")


def _wrap(style, model):
    """`model`'s layers (the same objects) behind an input of the given style."""
    if style == "tensor":
        return model
    if style == "custom_name":
        inp = keras.Input((SIZE, SIZE, 3), name="my_pixels")
        return keras.Model(inp, model(inp))
    if style == "called_on_new_input":
        inp = keras.Input((SIZE, SIZE, 3))
        return keras.Model(inp, model(inp), name="caller")
    if style == "inputs_list":  # keras.Model(model.inputs, model.output), the Keras example
        return keras.Model(model.inputs, model.output)
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = model(inp)
    given = {"list": [inp], "tuple": (inp,), "dict": {"image": inp}}[style]
    return keras.Model(given, x)


def _nested_list_input():
    """A nested base built with a list input, inside a tensor-input model."""
    base = nested_base(SIZE, seed=1)
    inner_in = keras.Input((SIZE, SIZE, 3))
    listed = keras.Model([inner_in], base(inner_in), name="listed_base")
    keras.utils.set_random_seed(2)
    inp = keras.Input((SIZE, SIZE, 3))
    out = L.Dense(3, activation="softmax", name="head")(
        L.GlobalAveragePooling2D(name="gap")(listed([inp])))
    return keras.Model([inp], out)


STYLES = ["tensor", "list", "tuple", "dict", "custom_name", "called_on_new_input",
          "inputs_list", "nested_list"]


@pytest.fixture(scope="module")
def zoo():
    reference = _reference()
    models = {style: _wrap(style, reference) for style in STYLES if style != "nested_list"}
    nested = _nested_list_input()
    nested.set_weights(reference.get_weights())
    models["nested_list"] = nested
    return reference, models


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).uniform(0, 1, (3, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def reference_maps(zoo, images):
    return {layer: tfg.GradCAM(zoo[0], layer=layer).explain(images, class_index=[0, 1, 2])
            for layer in (None, "b_conv2", "base/b_relu")}


@pytest.mark.parametrize("style", STYLES)
def test_same_maps_as_the_bare_tensor_model(zoo, images, reference_maps, style):
    reference, models = zoo
    # Automatic, own name, qualified name: one explainer each, the same maps.
    for layer in ((None, "b_conv2", "base/b_relu") if style in ("list", "dict")
                  else (None, "base/b_relu")):
        want = reference_maps[layer]
        cam = tfg.GradCAM(models[style], layer=layer)
        got = cam.explain(images, class_index=[0, 1, 2])
        assert cam.layer.endswith(want.layer.rsplit("/", 1)[-1])
        assert "softmax" in cam.score_source  # the head's logits, whatever the input style
        np.testing.assert_allclose(got.cams, want.cams, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.heatmaps, want.heatmaps, atol=1e-5)
        np.testing.assert_allclose(got.probabilities, reference(images).numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("style", ["list", "dict", "nested_list"])
def test_batch_independence_and_one_trace(zoo, images, style):
    cam = tfg.GradCAM(zoo[1][style])
    together = cam.explain(images).heatmaps
    alone = np.stack([cam.explain(image).heatmaps for image in images])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert cam.compute.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("style", ["list", "dict"])
def test_export_of_every_input_style(zoo, images, style, tmp_path):
    cam = tfg.GradCAM(zoo[1][style])
    loaded = tf.saved_model.load(str(tfg.export_saved_model(cam, tmp_path / style)))
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(out["heatmaps"].numpy(), cam.explain(images).heatmaps,
                               atol=1e-4)


def test_user_models_keep_their_input_structure(zoo):
    _, models = zoo
    for style in ("list", "dict"):
        before = models[style].get_config()
        tfg.GradCAM(models[style])
        assert models[style].get_config() == before
