"""GradCAM against independent truth: the textbook formula, CAM, and known object places."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import synthetic
from tests.conftest import conv_gap_dense, nested_base

layers = keras.layers


def textbook_gradcam(feature_model, images, classes):
    """Grad-CAM written out from the paper, eagerly, one image at a time.

    `feature_model` maps images to `[A, y]` with `y` the pre-softmax scores.
    """
    cams = []
    for image, c in zip(images, classes):
        x = tf.constant(image[None], tf.float32)
        with tf.GradientTape() as tape:
            a, y = feature_model(x)
            score = y[0, c]
        g = tape.gradient(score, a)[0].numpy()
        a = a[0].numpy()
        alpha = g.sum(axis=(0, 1)) / (g.shape[0] * g.shape[1])  # Eq. 1
        cams.append(np.maximum((alpha * a).sum(axis=-1), 0.0))  # Eq. 2
    return np.stack(cams)


def linear_twin(model):
    """The same network with a linear head, sharing nothing but copied weights."""
    twin = conv_gap_dense(activation=None, size=model.input_shape[1],
                          classes=model.output_shape[-1])
    twin.set_weights(model.get_weights())
    return twin


def test_matches_textbook_formula():
    model = conv_gap_dense()
    images = np.random.default_rng(1).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    exp = tfg.GradCAM(model, layer="conv").explain(images, class_index=[0, 1, 2])
    reference = keras.Model(model.input, [model.get_layer("conv").output, model.output])
    expected = textbook_gradcam(reference, images, [0, 1, 2])
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-6)


def test_equals_cam_on_conv_gap_dense():
    # On conv -> GAP -> Dense, dy^c/dA^k_ij = W[k, c] / (h*w): Grad-CAM is CAM (paper, Sec. 3.1).
    model = conv_gap_dense()
    images = np.random.default_rng(2).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    exp = tfg.GradCAM(model).explain(images, class_index=1)
    activations = keras.Model(model.input, model.get_layer("conv").output)(images).numpy()
    weights = model.get_layer("head").kernel.numpy()[:, 1]
    h, w = activations.shape[1:3]
    cam = np.maximum((activations * weights / (h * w)).sum(-1), 0)
    np.testing.assert_allclose(exp.cams, cam, rtol=1e-4, atol=1e-6)


def test_heatmap_is_resized_and_minmax_normalised_cam():
    model = conv_gap_dense()
    images = np.random.default_rng(3).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    exp = tfg.GradCAM(model).explain(images)
    for cam, heat in zip(exp.cams, exp.heatmaps):
        up = tf.image.resize(cam[..., None], (12, 12), "bilinear")[..., 0].numpy()
        np.testing.assert_allclose(heat, (up - up.min()) / (up.max() - up.min()), atol=1e-5)
        assert heat.min() == pytest.approx(0.0) and heat.max() == pytest.approx(1.0)


def test_top1_class_scores_and_predictions():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(4).uniform(0, 1, (5, 12, 12, 3)).astype("float32")
    exp = tfg.GradCAM(model).explain(images)
    predictions = model(images).numpy()
    np.testing.assert_allclose(exp.predictions, predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(exp.class_index, predictions.argmax(-1))
    logits = linear_twin(model)(images).numpy()
    np.testing.assert_allclose(exp.scores, logits[np.arange(5), exp.class_index], rtol=1e-5)


@pytest.mark.parametrize("ending", ["dense_softmax", "softmax_layer", "activation_layer"])
def test_softmax_models_explain_the_logit(ending):
    keras.utils.set_random_seed(5)
    inp = keras.Input((12, 12, 3))
    x = layers.Conv2D(6, 3, activation="relu", name="conv")(inp)
    x = layers.GlobalAveragePooling2D()(x)
    if ending == "dense_softmax":
        out = layers.Dense(3, activation="softmax")(x)
    else:
        x = layers.Dense(3)(x)
        out = layers.Softmax()(x) if ending == "softmax_layer" else layers.Activation(
            "softmax")(x)
    model = keras.Model(inp, out)
    images = np.random.default_rng(5).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    exp = tfg.GradCAM(model).explain(images, class_index=[0, 2])
    logits = keras.Model(inp, [model.get_layer("conv").output,
                               model.layers[-2].output if ending != "dense_softmax" else
                               _dense_logits(model, x)])
    expected = textbook_gradcam(logits, images, [0, 2])
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-6)
    assert "softmax" in tfg.GradCAM(model).score_source


def _dense_logits(model, pooled):
    dense = model.layers[-1]
    return keras.ops.matmul(pooled, dense.kernel) + dense.bias


def test_saturated_softmax_still_gives_a_map():
    model = conv_gap_dense(activation="softmax")
    kernel, bias = model.get_layer("head").get_weights()
    model.get_layer("head").set_weights([kernel * 1e4, bias])
    images = np.random.default_rng(6).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    assert np.max(model(images).numpy()) == 1.0  # saturated: d softmax / d logit == 0
    exp = tfg.GradCAM(model).explain(images)
    assert np.all(np.isfinite(exp.heatmaps)) and exp.heatmaps.max() == pytest.approx(1.0)
    twin = linear_twin(model)
    np.testing.assert_allclose(exp.cams, tfg.GradCAM(twin).explain(images).cams, rtol=1e-4)


def _nested_models():
    base = nested_base()
    sequential = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(
        3, activation="softmax")], name="seq_transfer")
    base2 = nested_base()
    inp = keras.Input((16, 16, 3))
    x = base2(inp, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    functional = keras.Model(inp, layers.Dense(3, activation="softmax")(x),
                             name="func_transfer")
    return {"sequential": sequential, "functional": functional}


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("layer", ["b_conv2", "base/b_relu", None])
def test_nested_base_matches_flat_textbook(kind, layer, images_16):
    model = _nested_models()[kind]
    base = model.get_layer("base")
    exp = tfg.GradCAM(model, layer=layer).explain(images_16, class_index=[0, 1, 2, 0])
    target = base.get_layer((layer or "b_relu").split("/")[-1])
    # Independent reference: a flat functional copy that calls the same layers by hand.
    inp = keras.Input((16, 16, 3))
    x, feature = inp, None
    for inner in base.layers:
        x = inner(x)
        if inner is target:
            feature = x
    pooled = layers.GlobalAveragePooling2D()(x)
    head = model.layers[-1]
    logits = keras.ops.matmul(pooled, head.kernel) + head.bias
    expected = textbook_gradcam(keras.Model(inp, [feature, logits]), images_16, [0, 1, 2, 0])
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-6)
    assert exp.layer == "base/" + target.name


def test_layer_object_inside_nested_model(images_16):
    model = _nested_models()["functional"]
    inner = model.get_layer("base").get_layer("b_conv1")
    cam = tfg.GradCAM(model, layer=inner)
    assert cam.layer == "base/b_conv1"
    assert cam(images_16).shape == (4, 16, 16)


def test_nested_model_itself_as_layer(images_16):
    model = _nested_models()["sequential"]
    by_model = tfg.GradCAM(model, layer="base").explain(images_16).cams
    by_leaf = tfg.GradCAM(model, layer="b_relu").explain(images_16).cams
    np.testing.assert_allclose(by_model, by_leaf, rtol=1e-6)


def test_sequential_without_input_after_a_call():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([layers.Conv2D(4, 3, activation="relu", name="c"),
                              layers.GlobalAveragePooling2D(), layers.Dense(2)])
    images = np.random.default_rng(7).uniform(0, 1, (3, 10, 10, 3)).astype("float32")
    model(images[:1])
    exp = tfg.GradCAM(model).explain(images)  # batch 3, though it was built on batch 1
    assert exp.layer == "c" and exp.heatmaps.shape == (3, 10, 10)
    reference = keras.Model(model.inputs[0], [model.get_layer("c").output, model.outputs[0]])
    np.testing.assert_allclose(exp.cams, textbook_gradcam(reference, images, exp.class_index),
                               rtol=1e-4, atol=1e-6)


def test_unbuilt_sequential_is_a_clear_error():
    model = keras.Sequential([layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(),
                              layers.Dense(2)])
    with pytest.raises(ValueError, match="has not been built.*Received: model="):
        tfg.GradCAM(model)


def test_fully_convolutional_model_takes_any_size():
    inp = keras.Input((None, None, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="c")(inp)
    model = keras.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling2D()(x)))
    cam = tfg.GradCAM(model)
    assert cam(np.ones((2, 20, 30, 3), "float32")).shape == (2, 20, 30)
    assert cam(np.ones((1, 9, 7, 3), "float32")).shape == (1, 9, 7)
    assert cam.compute.experimental_get_tracing_count() == 1


def test_batch_independence():
    model = conv_gap_dense(activation="softmax")
    images = np.random.default_rng(8).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    cam = tfg.GradCAM(model)
    together = cam.explain(images, class_index=[2, 0, 1])
    for i, c in enumerate([2, 0, 1]):
        alone = cam.explain(images[i], class_index=c)
        np.testing.assert_allclose(together.heatmaps[i], alone.heatmaps, atol=1e-5)
        np.testing.assert_allclose(together.cams[i], alone.cams, rtol=1e-5, atol=1e-7)
    chunked = cam.explain(images, class_index=[2, 0, 1], batch_size=2)
    np.testing.assert_allclose(chunked.heatmaps, together.heatmaps, atol=1e-6)


def test_single_image_drops_the_batch_axis():
    model = conv_gap_dense()
    exp = tfg.GradCAM(model).explain(np.ones((12, 12, 3), np.uint8) * 100)
    assert exp.heatmaps.shape == (12, 12) and exp.cams.shape == (10, 10)
    assert exp.class_index.shape == () and exp.predictions.shape == (3,)


def test_traced_once_across_batch_sizes():
    model = conv_gap_dense()
    cam = tfg.GradCAM(model)
    for n in (1, 3, 8):
        cam(np.zeros((n, 12, 12, 3), "float32"), class_index=0)
    assert cam.compute.experimental_get_tracing_count() == 1


def test_no_positive_evidence_gives_zeros_not_nan():
    model = conv_gap_dense(activation=None)
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([-np.abs(kernel), bias])  # every channel lowers every score
    exp = tfg.GradCAM(model).explain(np.ones((2, 12, 12, 3), "float32"), class_index=0)
    np.testing.assert_array_equal(exp.cams, 0.0)
    np.testing.assert_array_equal(exp.heatmaps, 0.0)


def test_counterfactual_negates_the_gradients():
    model = conv_gap_dense()
    images = np.random.default_rng(9).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    activations = keras.Model(model.input, model.get_layer("conv").output)(images).numpy()
    weights = model.get_layer("head").kernel.numpy()[:, 0] / 100.0
    expected = np.maximum(-(activations * weights).sum(-1), 0)
    exp = tfg.GradCAM(model, counterfactual=True).explain(images, class_index=0)
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-6)


def test_user_model_is_not_modified():
    model = _nested_models()["sequential"]
    images = np.random.default_rng(10).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    config, weights = model.get_config(), [w.copy() for w in model.get_weights()]
    before = model(images).numpy()
    activation = model.layers[-1].activation
    tfg.GradCAM(model, layer="b_conv1")(images)
    tfg.GradCAM(model)(images)
    assert model.get_config() == config
    assert model.layers[-1].activation is activation
    for old, new in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(model(images).numpy(), before)


def test_float32_and_mixed_float16_agree():
    images = np.random.default_rng(11).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    full = conv_gap_dense(activation="softmax", dtype="float32")
    half = conv_gap_dense(activation="softmax", dtype="mixed_float16")
    half.set_weights(full.get_weights())
    a = tfg.GradCAM(full).explain(images, class_index=1)
    b = tfg.GradCAM(half).explain(images, class_index=1)
    assert b.heatmaps.dtype == np.float32
    np.testing.assert_allclose(b.cams, a.cams, rtol=2e-2, atol=2e-3)
    assert np.corrcoef(a.heatmaps.ravel(), b.heatmaps.ravel())[0, 1] > 0.99


def test_saved_and_reloaded_model_gives_the_same_maps(tmp_path):
    model = _nested_models()["functional"]
    images = np.random.default_rng(12).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    a = tfg.GradCAM(model, layer="b_conv2").explain(images)
    b = tfg.GradCAM(loaded, layer="b_conv2").explain(images)
    np.testing.assert_allclose(b.heatmaps, a.heatmaps, atol=1e-6)


def _pointing_hits(heatmaps, boxes, margin=2):
    hits = 0
    for heat, (top, left, bottom, right) in zip(heatmaps, boxes):
        y, x = np.unravel_index(np.argmax(heat), heat.shape)
        hits += (top - margin <= y < bottom + margin) and (left - margin <= x < right + margin)
    return hits / len(heatmaps)


def test_pointing_game_on_two_object_scenes(shapes_model):
    scenes = synthetic.make_scenes(60, seed=123, both=True)
    cam = tfg.GradCAM(shapes_model)
    assert cam.layer == "conv3" and "sigmoid" in cam.score_source
    for c in (0, 1):
        hits = _pointing_hits(cam(scenes.images, class_index=c), scenes.boxes[:, c])
        # Chance (a random pixel inside the object's box) is about 7%.
        assert hits >= 0.9, f"class {c}: pointing accuracy {hits:.2f}"


def test_maps_are_class_discriminative(shapes_model):
    scenes = synthetic.make_scenes(20, seed=321, both=True)
    exp = tfg.GradCAM(shapes_model).explain
    square, cross = exp(scenes.images, 0).heatmaps, exp(scenes.images, 1).heatmaps
    assert np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1]
                    for a, b in zip(square, cross)]) < 0.3


def test_jit_compile_auto_is_xla_exactly_where_a_gpu_is_visible():
    gpu = bool(tf.config.list_logical_devices("GPU"))
    model = conv_gap_dense()
    images = np.random.default_rng(0).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    auto, xla, plain = (tfg.GradCAM(model, jit_compile=j) for j in ("auto", True, False))
    assert (auto.jit_compile, xla.jit_compile, plain.jit_compile) == (gpu, True, False)
    assert auto.with_model(model).jit_compile == gpu
    np.testing.assert_allclose(xla(images), plain(images), atol=1e-5)
    for bad in ("yes", None, 1):
        with pytest.raises(ValueError, match="jit_compile"):
            tfg.GradCAM(model, jit_compile=bad)


def test_several_classes_match_one_class_at_a_time():
    # The K gradients come from one tf.while_loop over the class columns; each must equal
    # the single-class gradient of the same image (and the loop must not retrace).
    model = conv_gap_dense(classes=4)
    images = np.random.default_rng(3).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    cam = tfg.GradCAM(model)
    classes = np.array([[0, 2, 3], [1, 1, 0], [3, 2, 1]])
    several = cam.explain(images, classes).cams
    for j in range(3):
        np.testing.assert_allclose(several[:, j], cam.explain(images, classes[:, j]).cams,
                                   rtol=1e-5, atol=1e-7)
    # One trace for several classes per image (the loop), one for a single class (no loop);
    # other K and N reuse them.
    assert cam.compute.experimental_get_tracing_count() == 2
    cam.explain(images[:2], classes[:2, :2])
    cam.explain(images[:1], 3)
    assert cam.compute.experimental_get_tracing_count() == 2
