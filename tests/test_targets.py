"""Targets: several classes per image, binary, multi-label, segmentation, regression,
target functions and multi-output models, each against the score written out by hand with
`tf.GradientTape` on the same model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense

L = keras.layers


def textbook(model_fn, images, layer_model, score_fn):
    """Grad-CAM from the paper with an arbitrary score: `score_fn(outputs) -> (N,)`.

    `layer_model` maps images to `[A, outputs]`; one image at a time, eagerly.
    """
    cams = []
    for image in images:
        x = tf.constant(image[None], tf.float32)
        with tf.GradientTape() as tape:
            a, outputs = layer_model(x)
            score = score_fn(outputs)[0]
        g = tape.gradient(score, a)[0].numpy()
        cams.append(np.maximum((g.mean(axis=(0, 1)) * a[0].numpy()).sum(-1), 0.0))
    return np.stack(cams)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(7).uniform(0, 1, (4, 12, 12, 3)).astype("float32")


# --- several classes per image -------------------------------------------------------


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam", "occlusion"])
def test_each_of_k_maps_equals_a_single_class_call(images, method):
    model = conv_gap_dense(activation="softmax", classes=5)
    kwargs = {"patch_size": 4} if method == "occlusion" else {}
    cam = tfg.METHODS[method](model, **kwargs)
    many = cam.explain(images, top_k=3)
    assert many.heatmaps.shape == (4, 3, 12, 12) and many.class_index.shape == (4, 3)
    order = np.argsort(-model(images).numpy(), axis=1)[:, :3]
    np.testing.assert_array_equal(many.class_index, order)  # best first
    for k in range(3):
        one = cam.explain(images, class_index=many.class_index[:, k])
        np.testing.assert_allclose(many.heatmaps[:, k], one.heatmaps, atol=1e-5)
        np.testing.assert_allclose(many.cams[:, k], one.cams, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(many.scores[:, k], one.scores, rtol=1e-5, atol=1e-6)
    explicit = cam.explain(images, class_index=np.tile([[4, 0]], (4, 1)))
    np.testing.assert_array_equal(explicit.class_index, [[4, 0]] * 4)
    # K and N are free; gradient CAMs trace one class per image apart (no loop over classes).
    traces = {"gradcam": 2, "gradcam++": 2, "scorecam": 1, "occlusion": 1}[method]
    assert cam.compute.experimental_get_tracing_count() == traces


def test_top_k_probabilities_and_single_image(images):
    model = conv_gap_dense(activation=None, classes=5)
    exp = tfg.GradCAM(model).explain(images[0], top_k=2)
    assert exp.heatmaps.shape == (2, 12, 12) and exp.class_index.shape == (2,)
    want = tf.nn.softmax(model(images[:1])).numpy()[0]
    np.testing.assert_allclose(exp.probabilities, want, rtol=1e-5)
    assert exp.probabilities[exp.class_index[0]] == want.max()


def test_guided_gradcam_takes_one_class(images):
    cam = tfg.GuidedGradCAM(conv_gap_dense())
    with pytest.raises(ValueError, match="at most 1 class per image.*Received: 2 classes"):
        cam.explain(images, top_k=2)


# --- binary and multi-label ----------------------------------------------------------


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_binary_classifier_explains_both_classes(images, activation):
    model = conv_gap_dense(activation=activation, classes=1, seed=3)
    linear = conv_gap_dense(activation=None, classes=1, seed=3)
    linear.set_weights(model.get_weights())
    cam = tfg.GradCAM(model)
    assert cam.num_classes == 2
    feature = keras.Model(linear.input, [linear.get_layer("conv").output, linear.output])
    z = linear(images).numpy()[:, 0]
    for c, sign in ((1, 1.0), (0, -1.0)):
        exp = cam.explain(images, class_index=c)
        np.testing.assert_allclose(exp.scores, sign * z, rtol=1e-5, atol=1e-6)
        want = textbook(None, images, feature, lambda y, s=sign: s * y[:, 0])
        np.testing.assert_allclose(exp.cams, want, rtol=1e-4, atol=1e-6)
    auto = cam.explain(images)
    np.testing.assert_array_equal(auto.class_index, (z > 0).astype(int))
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(auto.probabilities, np.stack([1 - p, p], 1), rtol=1e-5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        cam.explain(images, class_index=2)


def test_multi_label_sigmoid_classifier(images):
    model = conv_gap_dense(activation="sigmoid", classes=4, seed=4)
    linear = conv_gap_dense(activation=None, classes=4, seed=4)
    linear.set_weights(model.get_weights())
    exp = tfg.GradCAM(model).explain(images, class_index=2)
    np.testing.assert_allclose(exp.scores, linear(images).numpy()[:, 2], rtol=1e-5)
    np.testing.assert_allclose(exp.probabilities, model(images).numpy(), rtol=1e-6)


def test_regression_target_and_function_target_agree_with_the_tape(images):
    keras.utils.set_random_seed(5)
    inp = keras.Input((12, 12, 3))
    a = L.Conv2D(6, 3, activation="relu", name="conv")(inp)
    out = L.Dense(2, name="value")(L.GlobalAveragePooling2D()(a))
    model = keras.Model(inp, out)
    feature = keras.Model(inp, [a, out])
    want = textbook(None, images, feature, lambda y: y[:, 1])
    named = tfg.GradCAM(model, target=tfg.targets.Regression(index=1)).explain(images)
    function = tfg.GradCAM(model, target=lambda y, c: y[:, 1]).explain(images)
    for exp in (named, function):
        np.testing.assert_allclose(exp.cams, want, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(exp.scores, model(images).numpy()[:, 1], rtol=1e-5)
    assert named.probabilities is None


# --- multi-output models ---------------------------------------------------------------


@pytest.fixture(scope="module")
def two_heads():
    keras.utils.set_random_seed(6)
    inp = keras.Input((12, 12, 3))
    a = L.Conv2D(6, 3, activation="relu", name="conv")(inp)
    pooled = L.GlobalAveragePooling2D()(a)
    cls = L.Dense(3, activation="softmax", name="cls")(pooled)
    box = L.Dense(4, name="box")(pooled)
    return keras.Model(inp, {"cls": cls, "box": box}), keras.Model(inp, [a, cls, box])


def test_output_by_name_is_a_classifier(two_heads, images):
    model, feature = two_heads
    exp = tfg.GradCAM(model, output="cls").explain(images, class_index=1)
    logits = keras.Model(model.input, model.get_layer("cls").input)(images).numpy()
    kernel, bias = model.get_layer("cls").get_weights()
    np.testing.assert_allclose(exp.scores, (logits @ kernel + bias)[:, 1], rtol=1e-4)
    assert exp.probabilities.shape == (4, 3)
    by_index = tfg.GradCAM(model, output=1).explain(images, class_index=1)  # sorted: box, cls
    np.testing.assert_allclose(by_index.cams, exp.cams, rtol=1e-5)


def test_function_target_receives_every_output(two_heads, images):
    model, feature = two_heads
    seen = {}

    def box_area(outputs, class_index):
        seen["keys"] = sorted(outputs)
        box = outputs["box"]
        return box[:, 2] * box[:, 3]

    exp = tfg.GradCAM(model, target=box_area).explain(images)
    assert seen["keys"] == ["box", "cls"] and exp.probabilities is None
    want = textbook(None, images, keras.Model(model.input, [feature.outputs[0],
                                                            feature.outputs[2]]),
                    lambda b: b[:, 2] * b[:, 3])
    np.testing.assert_allclose(exp.cams, want, rtol=1e-4, atol=1e-6)
    assert sorted(exp.predictions) == ["box", "cls"]


def test_multi_output_without_output_or_target_lists_the_outputs(two_heads):
    with pytest.raises(ValueError, match=r"2 outputs \['box', 'cls'\].*Received: output=None"):
        tfg.GradCAM(two_heads[0])
    with pytest.raises(ValueError, match=r"Unknown output 'nope'.*Received: output='nope'"):
        tfg.GradCAM(two_heads[0], output="nope")


# --- segmentation --------------------------------------------------------------------


def segmenter(activation="softmax"):
    """Per-pixel classifier: class 0 fires where the red channel is high, class 1 elsewhere;
    1x1 convolutions, so a pixel's logits depend on that pixel only."""
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(2, 1, activation="relu", name="features")(inp)
    out = L.Conv2D(2, 1, activation=activation, name="logits")(a)
    model = keras.Model(inp, out)
    model.get_layer("features").set_weights([np.array([[[[1.0, -1.0], [0, 0], [0, 0]]]]),
                                             np.array([0.0, 0.5])])
    model.get_layer("logits").set_weights([np.array([[[[4.0, 0.0], [0.0, 1.0]]]]),
                                           np.array([-1.0, 0.0])])
    return model


def red_square():
    image = np.zeros((1, 8, 8, 3), np.float32)
    image[0, 2:5, 3:7, 0] = 1.0
    return image


def test_segmentation_explains_the_predicted_region_of_the_class():
    model = segmenter()
    image = red_square()
    cam = tfg.GradCAM(model, layer="features")
    assert "softmax" in cam.score_source and cam.num_classes == 2
    exp = cam.explain(image, class_index=0)
    conv = model.get_layer("logits")

    def score(a):  # sum of class 0's pre-softmax logits over the pixels predicted as 0
        logits = conv.convolution_op(a, conv.kernel) + conv.bias
        region = tf.cast(tf.argmax(logits, -1) == 0, tf.float32)
        return tf.reduce_sum(logits[..., 0] * region, axis=[1, 2])

    want = textbook(None, image, keras.Model(model.input, [model.get_layer("features").output,
                                                           model.get_layer("features").output]),
                    score)
    np.testing.assert_allclose(exp.cams[0], want[0], rtol=1e-4, atol=1e-6)
    region = exp.heatmaps[0] > 0.5
    assert region[2:5, 3:7].all() and region.sum() <= 20  # the square, not the background


def test_segmentation_mask_and_top_class():
    model = segmenter(activation=None)
    image = red_square()
    cam = tfg.GradCAM(model, layer="features")
    logits = model(image).numpy()[0]
    mask = np.zeros((8, 8), bool)
    mask[0, 0] = mask[3, 4] = True
    exp = cam.explain(image, class_index=0, mask=mask)
    assert exp.scores[0] == pytest.approx(logits[0, 0, 0] + logits[3, 4, 0], rel=1e-5)
    top = cam.explain(image)  # the class covering most pixels: background (1)
    assert int(top.class_index[0]) == 1
    with pytest.raises(ValueError, match=r"`mask` must be \(1, 8, 8\)"):
        cam.explain(image, class_index=0, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        cam.explain(image, class_index=0, mask=-np.ones((8, 8)))
    with pytest.raises(ValueError, match="segmentation output"):
        tfg.GradCAM(conv_gap_dense()).explain(np.zeros((12, 12, 3)), mask=np.ones((2, 2)))


def test_bad_targets():
    with pytest.raises(TypeError, match="Received: target=int"):
        tfg.GradCAM(conv_gap_dense(), target=3)
    with pytest.raises(ValueError, match="Received: output shape=\\(None, 3\\)"):
        tfg.GradCAM(conv_gap_dense(), target=tfg.targets.Segmentation())
    with pytest.raises(ValueError, match="out of range"):
        tfg.GradCAM(conv_gap_dense(), target=tfg.targets.Regression(index=3))


def test_target_function_gets_the_class_vector_of_the_call(images):
    model = conv_gap_dense(activation=None, classes=4)
    ranks = set()

    def chosen_logit(outputs, class_index):
        ranks.add(class_index.shape.rank)
        return tf.gather(outputs, tf.maximum(class_index, 0), batch_dims=1)

    cam = tfg.GradCAM(model, target=chosen_logit)
    single = cam.explain(images, class_index=[0, 1, 2, 3])
    assert 1 in ranks  # (N,) for one class per image
    logits = model(images).numpy()
    np.testing.assert_allclose(single.scores, logits[np.arange(4), [0, 1, 2, 3]], rtol=1e-5)
    several = cam.explain(images, class_index=np.tile([[3, 1]], (4, 1)))
    np.testing.assert_allclose(several.scores, logits[:, [3, 1]], rtol=1e-5)
    np.testing.assert_allclose(several.cams[:, 0], cam.explain(images, class_index=3).cams,
                               rtol=1e-4, atol=1e-6)


def test_target_function_for_one_class_only(images):
    model = conv_gap_dense(activation=None, classes=4)

    def first_class_only(outputs, class_index):
        if class_index.shape.rank != 1:
            raise ValueError("one class per image")
        return tf.gather(outputs, tf.maximum(class_index, 0), batch_dims=1)

    cam = tfg.GradCAM(model, target=first_class_only)
    exp = cam.explain(images, class_index=2)
    np.testing.assert_allclose(exp.scores, model(images).numpy()[:, 2], rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one class per image"):
        cam.explain(images, class_index=np.tile([[0, 1]], (4, 1)))
