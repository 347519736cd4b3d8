"""Any Keras model: subclassed models, layers inside custom layers, vision transformers.

Layers that are not graph nodes are captured during the model's own forward pass while the
explainer's function is traced (`tf_gradcam.capture`); each case is checked against
Grad-CAM written out by hand with `tf.GradientTape` on the same layers.
"""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import capture
from tests.test_core import textbook_gradcam

L = keras.layers


class SubclassedCNN(keras.Model):
    """The style of the TF tutorials: layers as attributes, its own `call`."""

    def __init__(self, inline_softmax=False):
        super().__init__(name="subclassed_cnn")
        self.conv1 = L.Conv2D(4, 3, activation="relu", name="conv1")
        self.conv2 = L.Conv2D(6, 3, activation="relu", name="conv2")
        self.pool = L.GlobalAveragePooling2D(name="pool")
        self.head = L.Dense(3, name="head")
        self.inline_softmax = inline_softmax

    def call(self, x):
        logits = self.head(self.pool(self.conv2(self.conv1(x))))
        return tf.nn.softmax(logits) if self.inline_softmax else logits

    def features_and_logits(self, x):  # the same computation, written out for the test
        a = self.conv2(self.conv1(x))
        return a, self.head(self.pool(a))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(11).uniform(0, 1, (3, 12, 12, 3)).astype("float32")


@pytest.mark.parametrize("inline_softmax", [False, True])
def test_subclassed_cnn_matches_the_textbook(images, inline_softmax):
    keras.utils.set_random_seed(1)
    model = SubclassedCNN(inline_softmax)
    model(images)  # built by a call, as users do
    cam = tfg.GradCAM(model)
    assert cam.layer == "conv2"  # the last 4D layer reached in the forward pass
    exp = cam.explain(images, class_index=[0, 1, 2])
    expected = textbook_gradcam(model.features_and_logits, images, [0, 1, 2])
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-6)
    logits = model.features_and_logits(images)[1].numpy()
    np.testing.assert_allclose(exp.scores, logits[np.arange(3), [0, 1, 2]], rtol=1e-5)
    np.testing.assert_allclose(exp.probabilities, tf.nn.softmax(logits).numpy(), rtol=1e-5)
    if inline_softmax:  # seen in the graph: the pre-softmax logits are explained
        assert "softmax" in cam.score_source
    together = exp.heatmaps
    alone = np.stack([cam.explain(image, class_index=c).heatmaps
                      for image, c in zip(images, [0, 1, 2])])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert cam.compute.experimental_get_tracing_count() == 1


def test_uncalled_subclassed_model_says_call_it_first():
    with pytest.raises(ValueError, match="has not been called yet.*Received: model="):
        tfg.GradCAM(SubclassedCNN())


class WithBase(keras.Model):
    """A subclassed model holding a Functional base (transfer learning, subclassed style)."""

    def __init__(self):
        super().__init__(name="with_base")
        inp = keras.Input((12, 12, 3))
        self.base = keras.Model(inp, L.Conv2D(5, 3, activation="relu", name="top")(
            L.Conv2D(4, 3, activation="relu", name="bottom")(inp)), name="base")
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(2, activation="softmax")

    def call(self, x):
        return self.head(self.pool(self.base(x)))


def test_subclassed_model_holding_a_functional_base(images):
    keras.utils.set_random_seed(2)
    model = WithBase()
    model(images)
    cam = tfg.GradCAM(model, layer="base/bottom")
    assert cam.layer == "base/bottom" and "softmax" in cam.score_source
    bottom = model.base.get_layer("bottom")

    def features_and_logits(x):
        a = bottom(x)
        pooled = model.pool(model.base.get_layer("top")(a))
        return a, pooled @ model.head.kernel + model.head.bias

    exp = cam.explain(images, class_index=1)
    np.testing.assert_allclose(exp.cams, textbook_gradcam(features_and_logits, images, [1] * 3),
                               rtol=1e-4, atol=1e-6)
    assert tfg.GradCAM(model).layer == "base"  # automatic: the base's output


# --- a small vision transformer from Keras layers ---------------------------------------


class Block(L.Layer):
    """Pre-norm transformer block: its layers are not graph nodes of any model."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = L.LayerNormalization(name="norm1")
        self.attention = L.MultiHeadAttention(2, dim // 2, name="attention")
        self.norm2 = L.LayerNormalization(name="norm2")
        self.mlp = L.Dense(dim, activation="gelu", name="mlp")

    def call(self, x):
        y = self.norm1(x)
        x = x + self.attention(y, y)
        return x + self.mlp(self.norm2(x))


class TinyViT(keras.Model):
    """Patch embedding, a class token, 2 blocks, a head reading the class token only."""

    def __init__(self, dim=8, classes=3, patch=(4, 4)):
        super().__init__(name="tiny_vit")
        self.embed = L.Conv2D(dim, patch, strides=patch, name="embed")
        self.cls_token = self.add_weight(shape=(1, 1, dim), name="cls_token")
        self.blocks = [Block(dim, name=f"block_{i}") for i in range(2)]
        self.norm = L.LayerNormalization(name="norm")
        self.head = L.Dense(classes, name="head")

    def tokens(self, x):
        patches = self.embed(x)
        n = tf.shape(patches)[0]
        patches = tf.reshape(patches, [n, patches.shape[1] * patches.shape[2], patches.shape[3]])
        return tf.concat([tf.tile(self.cls_token, [n, 1, 1]), patches], axis=1)

    def call(self, x):
        x = self.tokens(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])

    def norm1_and_logits(self, x):  # written out: the last block's attention input
        x = self.blocks[0](self.tokens(x))
        last = self.blocks[1]
        y = last.norm1(x)
        x = x + last.attention(y, y)
        x = x + last.mlp(last.norm2(x))
        return y, self.head(self.norm(x)[:, 0])


def test_vision_transformer_tokens_against_the_textbook():
    keras.utils.set_random_seed(3)
    model = TinyViT()
    images = np.random.default_rng(12).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    model(images)
    cam = tfg.GradCAM(model)
    assert cam.layer == "block_1/norm1"  # the input of the last attention
    exp = cam.explain(images, class_index=[2, 0])
    cams = []
    for image, c in zip(images, [2, 0]):
        with tf.GradientTape() as tape:
            tokens, logits = model.norm1_and_logits(tf.constant(image[None]))
            tape.watch(tokens)
            score = logits[0, c]
        tokens, logits = model.norm1_and_logits(tf.constant(image[None]))
        with tf.GradientTape() as tape:
            tape.watch(tokens)
            last = model.blocks[1]
            x = model.blocks[0](model.tokens(tf.constant(image[None])))
            y = tokens
            x = x + last.attention(y, y)
            x = x + last.mlp(last.norm2(x))
            score = model.head(model.norm(x)[:, 0])[0, c]
        g = tape.gradient(score, tokens)[0, 1:].numpy().reshape(4, 4, -1)  # drop the class token
        a = tokens[0, 1:].numpy().reshape(4, 4, -1)
        cams.append(np.maximum((g.mean(axis=(0, 1)) * a).sum(-1), 0))
    np.testing.assert_allclose(exp.cams, np.stack(cams), rtol=1e-4, atol=1e-6)
    assert exp.heatmaps.shape == (2, 16, 16)
    # The last block's output reaches the head through the class token only: its patch
    # tokens get no gradient, which is why the automatic choice is the attention input.
    flat = tfg.GradCAM(model, layer="block_1").explain(images).cams
    assert np.allclose(flat, 0.0)


def test_token_reshape_options():
    keras.utils.set_random_seed(4)
    model = TinyViT()
    images = np.random.default_rng(13).uniform(0, 1, (1, 16, 16, 3)).astype("float32")
    model(images)
    custom = tfg.GradCAM(model, reshape=lambda t: tf.reshape(t[:, 1:], [-1, 2, 8, 8]))
    assert custom.explain(images).cams.shape == (1, 2, 8)
    odd = TinyViT()  # 3x11 patches + 1 class token = 34: 26..34 holds no square
    odd(np.zeros((1, 12, 44, 3), np.float32))
    with pytest.raises(ValueError, match="perfect|square.*Pass `reshape=fn`"):
        tfg.GradCAM(odd, layer="block_1/norm1")


# --- safety ---------------------------------------------------------------------------


def test_model_untouched_and_usable_from_another_thread(images):
    keras.utils.set_random_seed(5)
    model = TinyViT()
    x = np.random.default_rng(14).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    want = model(x).numpy()
    weights = [w.copy() for w in model.get_weights()]
    classes = {type(layer): dict(type(layer).__dict__) for _, layer in capture.deep_layers(model)}
    errors, stop = [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-5, atol=1e-6)
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)
                return

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        tfg.GradCAM(model).explain(x)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    for cls, attributes in classes.items():
        assert dict(cls.__dict__) == attributes  # `call` restored on every class
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_list_layers_reaches_inside_custom_layers():
    keras.utils.set_random_seed(6)
    model = TinyViT()
    model(np.zeros((1, 16, 16, 3), np.float32))
    paths = [info.path for info in tfg.candidates(tfg.list_layers(model))]
    assert "block_1/norm1" in paths and "block_0/attention" in paths and "embed" in paths


# --- KerasHub backbones (random weights, built offline) -------------------------------


def _with_head(backbone, shape, pool):
    inp = keras.Input(shape)
    return keras.Model(inp, L.Dense(4, activation="softmax")(pool(backbone(inp))))


def test_keras_hub_vit_backbone_photo_size():
    keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    keras.utils.set_random_seed(7)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(224, 224, 3), patch_size=16, num_layers=2, num_heads=2, hidden_dim=32,
        mlp_dim=64)
    model = _with_head(backbone, (224, 224, 3), lambda tokens: tokens[:, 0])
    cam = tfg.GradCAM(model)
    assert cam.layer.endswith("vit_encoder/transformer_block_2/ln_1")
    photo = np.random.default_rng(15).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    exp = cam.explain(photo, top_k=2)
    assert exp.heatmaps.shape == (2, 2, 224, 224) and exp.cams.shape == (2, 2, 14, 14)
    assert np.isfinite(exp.heatmaps).all() and exp.cams.max() > 0
    paths = [i.path for i in tfg.list_layers(model)]
    assert any(p.endswith("transformer_block_1/mha") for p in paths)


def test_keras_hub_cnn_backbone():
    keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    keras.utils.set_random_seed(8)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(32, 32, 3))
    model = _with_head(backbone, (32, 32, 3), L.GlobalAveragePooling2D())
    cam = tfg.GradCAM(model)
    images = np.random.default_rng(16).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    exp = cam.explain(images, class_index=[1, 3])
    assert cam.layer.startswith(backbone.name) and "softmax" in cam.score_source
    head = model.layers[-1]

    def features_and_logits(x):
        a = backbone(x)
        return a, L.GlobalAveragePooling2D()(a) @ head.kernel + head.bias

    want = textbook_gradcam(features_and_logits, images, [1, 3])
    np.testing.assert_allclose(exp.cams, want, rtol=1e-4, atol=1e-6)


def test_captured_models_export_and_every_method_runs(tmp_path):
    keras.utils.set_random_seed(9)
    images = np.random.default_rng(17).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    cnn, vit = SubclassedCNN(inline_softmax=True), TinyViT()
    cnn(images)
    vit(images)
    for name, model in (("cnn", cnn), ("vit", vit)):
        cam = tfg.GradCAM(model)
        loaded = tf.saved_model.load(str(tfg.export_saved_model(cam, tmp_path / name)))
        served = loaded.signatures["serving_default"](images=tf.constant(images))
        np.testing.assert_allclose(served["heatmaps"].numpy(), cam.explain(images).heatmaps,
                                   atol=1e-5)
    for method in ("gradcam++", "scorecam", "occlusion", "guided-gradcam"):
        kwargs = {"patch_size": 4} if method == "occlusion" else {}
        exp = tfg.METHODS[method](cnn, **kwargs).explain(images, class_index=[0, 2])
        assert np.isfinite(exp.heatmaps).all() and exp.class_index.tolist() == [0, 2]


def test_keras_hub_deeplab_dynamic_input_one_trace_per_size():
    pytest.importorskip("keras_hub", reason="keras-hub is a test dependency")
    from tests import keras_hub_models as hub

    model = hub.deeplab(size=None)
    assert model.input_shape == (None, None, None, 3)
    assert len(tfg.list_layers(model)) > 0
    cam = tfg.GradCAM(model)
    assert cam.layer == f"{model.backbone.name}/backbone_output_upsampling"
    # The reference: the backbone's own graph cut at that layer, then the segmenter's head;
    # the score is the class's logits summed over the pixels predicted as that class.
    backbone = model.backbone
    features = keras.Model(backbone.input, backbone.get_layer(cam.layer.split("/")[-1]).output)
    head = model.get_layer("segmentation_output")

    def forward(x):
        a = features(x, training=False)
        return a, head(a)

    rng = np.random.default_rng(9)
    for shape in ((2, 32, 32, 3), (1, 32, 48, 3)):  # two sizes, one explainer
        x = rng.uniform(0, 1, shape).astype("float32")
        exp = cam.explain(x)
        # Inference mode spelled out: called with `training=None`, this KerasHub model runs
        # its spatial-pyramid BatchNormalization on batch statistics (its outputs then
        # depend on the batch); the explainer, like `predict`, runs inference.
        logits = model(x, training=False).numpy()
        predicted = logits.argmax(axis=-1)
        area = np.stack([(predicted == c).sum(axis=(1, 2)) for c in range(3)], axis=1)
        np.testing.assert_array_equal(exp.class_index, area.argmax(axis=1))
        region = [predicted[i] == c for i, c in enumerate(exp.class_index)]
        np.testing.assert_allclose(
            exp.scores, [logits[i][r, c].sum() for i, (r, c) in
                         enumerate(zip(region, exp.class_index))], rtol=1e-4)
        want = hub.tape_gradcam(forward, x, lambda out, i: tf.reduce_sum(
            out[0, ..., exp.class_index[i]] * region[i]))
        assert exp.cams.shape == want.shape == shape[:3] and want.max() > 0
        assert exp.heatmaps.shape == shape[:3]
        assert hub.pearson(exp.cams, want) >= 0.999
        np.testing.assert_allclose(exp.cams, want, rtol=1e-3, atol=1e-4 * want.max())
    cam.explain(x[:1])  # a size seen before (other batch size): no retrace
    assert cam.compute.experimental_get_tracing_count() == 2
