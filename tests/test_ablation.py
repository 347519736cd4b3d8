"""Ablation-CAM against its definition, each channel zeroed and the model re-run in NumPy."""

import keras
import numpy as np
import pytest

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense
from tests.test_any_model import SubclassedCNN

layers = keras.layers


def textbook_ablation(a, head, classes):
    """Zero each channel of the activations `a`, then GAP and the Dense `head` in NumPy."""
    kernel, bias = (w.numpy() for w in head.weights)
    cams = []
    for act, c in zip(a, classes):
        base = act.mean((0, 1)) @ kernel[:, c] + bias[c]
        weights = []
        for k in range(act.shape[-1]):
            ablated = act.copy()
            ablated[..., k] = 0.0
            weights.append((base - (ablated.mean((0, 1)) @ kernel[:, c] + bias[c])) / base)
        cams.append(np.maximum(act @ np.array(weights), 0.0))
    return np.stack(cams)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).uniform(0, 1, (3, 12, 12, 3)).astype("float32")


def test_weights_match_zeroing_each_channel_by_hand(images):
    model = conv_gap_dense(activation="softmax")  # the logits are explained
    cam = tfg.AblationCAM(model, batch_size=4)
    assert cam.head_only
    exp = cam.explain(images, class_index=[0, 1, 2])
    a = keras.Model(model.input, model.get_layer("conv").output)(images).numpy()
    np.testing.assert_allclose(exp.cams, textbook_ablation(a, model.get_layer("head"),
                                                           [0, 1, 2]), rtol=1e-4, atol=1e-6)
    assert cam.compute.experimental_get_tracing_count() == 1


def test_head_and_full_forward_agree_with_top_k(images):
    model = conv_gap_dense(classes=5)
    head, full = tfg.AblationCAM(model), tfg.AblationCAM(model, full_forward=True)
    assert head.head_only and not full.head_only
    a, b = head.explain(images, top_k=3), full.explain(images, top_k=3)
    np.testing.assert_allclose(a.cams, b.cams, rtol=1e-5, atol=1e-6)
    for k in range(3):  # each of the K maps is the single-class one
        one = head.explain(images, class_index=a.class_index[:, k])
        np.testing.assert_allclose(a.cams[:, k], one.cams, rtol=1e-5, atol=1e-6)


def skip_model():
    """A skip connection from before 'conv2' reaches the output around it."""
    keras.utils.set_random_seed(4)
    inp = keras.Input((12, 12, 3))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    b = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(a)
    x = layers.GlobalAveragePooling2D()(layers.Add(name="add")([a, b]))
    return keras.Model(inp, layers.Dense(3, name="head")(x))


def test_skip_connection_falls_back_to_full_forward_passes(images):
    model = skip_model()
    cam = tfg.AblationCAM(model, layer="conv2")
    assert not cam.head_only
    exp = cam.explain(images, class_index=1)
    a = keras.Model(model.input, model.get_layer("conv1").output)(images).numpy()
    b = keras.Model(model.input, model.get_layer("conv2").output)(images).numpy()
    kernel, bias = (w.numpy() for w in model.get_layer("head").weights)
    for cam_map, aa, bb in zip(exp.cams, a, b):
        base = (aa + bb).mean((0, 1)) @ kernel[:, 1] + bias[1]
        drop = bb.mean((0, 1)) * kernel[:, 1]  # zeroing channel k removes its term only
        np.testing.assert_allclose(cam_map, np.maximum(bb @ (drop / base), 0.0),
                                   rtol=1e-4, atol=1e-6)


def test_subclassed_model_runs_full_forward_passes(images):
    model = SubclassedCNN()
    batch = np.random.default_rng(5).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    model(batch)
    cam = tfg.AblationCAM(model)
    assert not cam.head_only
    exp = cam.explain(batch, class_index=[0, 2])
    a = model.features_and_logits(batch)[0].numpy()
    np.testing.assert_allclose(exp.cams, textbook_ablation(a, model.head, [0, 2]),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"layer": ["conv"]},
                                    {"layer": "gap"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received:"):
        tfg.AblationCAM(conv_gap_dense(), **kwargs)
