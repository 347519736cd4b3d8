"""`tfg.load_model` against the models' own predictions: Keras 2 files built here with
`tf_keras` (skipped without it), Keras 3 files, SavedModels with and without Keras metadata,
and the errors for paths that hold no model."""

import json
import shutil
import sys

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import loading
from tests.conftest import conv_gap_dense
from tests.test_core import textbook_gradcam

# Writing the legacy files under test is the point here: Keras' "HDF5 is legacy" notice.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are saving your model as an HDF5 file:UserWarning")
NO_TF_KERAS = "tf_keras is not installed (the `legacy` extra): no Keras 2 file can be built"
#: Loaded Keras 2 models must predict what tf_keras predicts (float32, same weights).
ATOL = 1e-5


@pytest.fixture(scope="module")
def k2():
    return pytest.importorskip("tf_keras", reason=NO_TF_KERAS)


def _randomize(model, seed=0):
    """Random weights everywhere (BatchNorm statistics too), so that a weight loaded into the
    wrong place changes the predictions."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "variance" in weight.name:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0, 0.3, shape)
        weight.assign(value.astype("float32"))
    return model


def _sequential(k2):
    """Conv, BatchNorm, DepthwiseConv2D (`groups`), SeparableConv2D (`kernel_*`), Dropout."""
    L = k2.layers
    return _randomize(k2.Sequential([
        k2.Input((16, 16, 3)),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        L.BatchNormalization(name="bn"),
        L.DepthwiseConv2D(3, padding="same", activation="relu", name="depthwise"),
        L.SeparableConv2D(6, 3, activation="relu", name="separable"),
        L.GlobalAveragePooling2D(name="gap"),
        L.Dropout(0.2, name="dropout"),
        L.Dense(3, name="head"),
    ], name="keras2_sequential"))


def _transfer(k2):
    """The transfer-learning shape: a MobileNetV2 base nested in a Functional model, called
    with `training=False`, then pooling, Dropout and a softmax Dense."""
    L = k2.layers
    base = k2.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35,
                                       include_top=False, weights=None)
    image = k2.Input((32, 32, 3), name="image")
    x = base(image, training=False)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.3, name="dropout")(x)
    out = L.Dense(4, activation="softmax", name="head")(x)
    return _randomize(k2.Model(image, out, name="keras2_transfer"))


def _slash_names(k2):
    """Layer names with `/` (MobileNetV3 writes `Conv/BatchNorm`), which Keras 3 forbids."""
    L = k2.layers
    image = k2.Input((16, 16, 3))
    x = L.Conv2D(4, 3, name="stem/conv")(image)
    x = L.BatchNormalization(name="stem/bn")(x)
    x = L.ReLU(name="stem/relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return _randomize(k2.Model(image, L.Dense(2, name="head/dense")(x)))


def _tutorial(k2):
    """TensorFlow's transfer-learning tutorial model: augmentation Sequential,
    `mobilenet_v2.preprocess_input` and arithmetic on tensors (`TFOpLambda`s), a nested
    MobileNetV2 base, then `tf.nn.relu(2 * x + 1)`, Dropout and Dense."""
    L = k2.layers
    base = k2.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35,
                                       include_top=False, weights=None)
    image = k2.Input((32, 32, 3))
    x = k2.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.2)])(image)
    x = k2.applications.mobilenet_v2.preprocess_input(x)
    x = L.GlobalAveragePooling2D()(base(x, training=False))
    x = L.Dropout(0.2)(tf.nn.relu(x * 2.0 + 1.0))
    return _randomize(k2.Model(image, L.Dense(3)(x)))


def _mobilenet_v3(k2):
    """MobileNetV3Small: `/` in names, hard-swish written as `TFOpLambda` arithmetic."""
    return _randomize(k2.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), alpha=0.75, weights=None, classes=3,
        include_preprocessing=False))


def _more_layers(k2):
    """Other Keras 2 -> 3 differences: `Conv2DTranspose` (`groups`), `SpatialDropout2D`
    (`trainable`, `noise_shape`), Keras 2's `hard_sigmoid` (0.2 x + 0.5; Keras 3's is
    x / 6 + 0.5: silently different maps without the fix), `RandomFlip` (`rng_type`)."""
    L = k2.layers
    return _randomize(k2.Sequential([
        k2.Input((16, 16, 3)),
        L.RandomFlip("horizontal"),
        L.Conv2D(4, 3, activation="hard_sigmoid"),
        L.Conv2DTranspose(4, 3, strides=2, output_padding=1),
        L.LeakyReLU(0.2),
        L.SpatialDropout2D(0.1),
        L.Activation("hard_sigmoid"),
        L.GlobalAveragePooling2D(),
        L.Dense(3),
    ]))


def _mixed_precision(k2):
    """Layers with a `mixed_float16` policy (Keras 2 stores it as a `Policy` dict)."""
    L = k2.layers
    k2.mixed_precision.set_global_policy("mixed_float16")
    try:
        return _randomize(k2.Sequential([
            k2.Input((16, 16, 3)), L.Conv2D(4, 3, activation="relu"),
            L.GlobalAveragePooling2D(), L.Dense(3, dtype="float32")]))
    finally:
        k2.mixed_precision.set_global_policy("float32")


def _images(model, n=3, seed=1):
    shape = (n,) + tuple(model.input_shape[1:])
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def _split_at(model, name):
    """`x -> [A, y]`: a chain model (Sequential, or Functional without branches) run layer
    by layer, `A` the output of layer `name`."""
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    index = [layer.name for layer in chain].index(name) + 1

    def run(x):
        for layer in chain[:index]:
            x = layer(x, training=False)
        features = x
        for layer in chain[index:]:
            x = layer(x, training=False)
        return features, x
    return run


def _max_diff(original, loaded, images):
    # Inference on both sides (Keras 3's random layers augment unless told training=False).
    ours = np.asarray(loaded(images, training=False))
    return float(np.max(np.abs(original(images, training=False).numpy() - ours)))


@pytest.mark.parametrize("build", [_sequential, _transfer, _slash_names, _tutorial,
                                   _mobilenet_v3, _more_layers, _mixed_precision])
def test_keras2_h5_predicts_as_the_original(k2, build, tmp_path):
    original = build(k2)
    original.save(tmp_path / "model.h5")
    with pytest.raises(Exception):  # what the issue reports: Keras 3 alone cannot open them
        keras.saving.load_model(tmp_path / "model.h5", compile=False)
    loaded = tfg.load_model(tmp_path / "model.h5")
    images = _images(original)
    tolerance = 2e-3 if build is _mixed_precision else ATOL  # float16 inside either way
    assert _max_diff(original, loaded, images) <= tolerance
    assert not isinstance(loaded, type(original))  # a Keras 3 model, not the tf_keras one


def test_keras2_h5_gradcam_equals_textbook(k2, tmp_path):
    _sequential(k2).save(tmp_path / "model.h5")
    model = tfg.load_model(tmp_path / "model.h5")
    images = _images(model)
    exp = tfg.GradCAM(model, layer="separable").explain(images, class_index=[0, 1, 2])
    expected = textbook_gradcam(_split_at(model, "separable"), images, [0, 1, 2])
    assert expected.max() > 0  # not a vacuous all-zero comparison
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-6)


def test_keras2_nested_transfer_gradcam_equals_textbook(k2, tmp_path):
    # The nested base's last feature map, the softmax head's logits: written out by hand.
    _transfer(k2).save(tmp_path / "model.h5")
    model = tfg.load_model(tmp_path / "model.h5")
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    head = model.get_layer("head")
    images = _images(model)
    exp = tfg.GradCAM(model, layer="out_relu").explain(images, class_index=[0, 1, 2])
    features = keras.Model(base.input, [base.get_layer("out_relu").output, base.output])
    logits = keras.Model(base.input, [features.output[0], keras.ops.matmul(
        keras.ops.mean(features.output[1], axis=(1, 2)), head.kernel) + head.bias])
    expected = textbook_gradcam(logits, images, [0, 1, 2])
    assert expected.max() > 0
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-5)


def test_keras2_tutorial_model_gradcam_equals_textbook(k2, tmp_path):
    # TensorFlow ops on tensors come back as Keras layers the gradient flows through.
    _tutorial(k2).save(tmp_path / "model.h5")
    model = tfg.load_model(tmp_path / "model.h5")
    ops = [layer.function for layer in model.layers
           if isinstance(layer, loading.TensorFlowOp)]
    assert ops == ["math.truediv", "math.subtract", "math.multiply", "__operators__.add",
                   "nn.relu"]
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model)
                and "mobilenet" in layer.name)
    images = _images(model) * 127.5 + 127.5
    exp = tfg.GradCAM(model, layer="out_relu").explain(images, class_index=[0, 1, 2])
    expected = textbook_gradcam(_split_at(model, base.name), images, [0, 1, 2])
    assert expected.max() > 0
    np.testing.assert_allclose(exp.cams, expected, rtol=1e-4, atol=1e-5)


def test_keras2_config_is_pure_and_keeps_keras3_configs(k2, tmp_path):
    _sequential(k2).save(tmp_path / "k2.h5")
    with h5py.File(tmp_path / "k2.h5", "r") as handle:
        config = json.loads(handle.attrs["model_config"])
    before = json.dumps(config)
    fixed = loading.keras2_config(config)
    assert json.dumps(config) == before  # the argument is not modified
    depthwise = next(e for e in fixed["config"]["layers"] if e["class_name"] == "DepthwiseConv2D")
    assert "groups" not in depthwise["config"]
    keras3 = json.loads(conv_gap_dense().to_json())
    assert loading.keras2_config(keras3) == keras3


def test_code_layers_are_refused_not_executed(k2, tmp_path):
    L = k2.layers
    image = k2.Input((8, 8, 3))
    x = L.Lambda(lambda t: t * 2.0, name="double")(image)
    k2.Model(image, L.Dense(2)(L.Flatten()(x))).save(tmp_path / "lambda.h5")
    with pytest.raises(ValueError, match=r"`Lambda`.*never executes.*Received: path='.*"
                                         r"lambda\.h5', layer='double'$"):
        tfg.load_model(tmp_path / "lambda.h5")
    flat = L.Flatten()(image)
    product = flat * L.Dense(192)(flat)  # two tensors: not a constant argument
    k2.Model(image, L.Dense(2)(product)).save(tmp_path / "product.h5")
    with pytest.raises(ValueError, match=r"`TFOpLambda`.*constant arguments.*Received: "
                                         r"path='.*product\.h5', layer='tf.math.multiply\w*'$"):
        tfg.load_model(tmp_path / "product.h5")


def test_keras2_savedmodel_is_rebuilt_and_checked(k2, tmp_path):
    original = _sequential(k2)
    original.save(tmp_path / "saved")
    model = tfg.load_model(tmp_path / "saved")
    assert not any(isinstance(layer, keras.layers.TFSMLayer) for layer in model.layers)
    images = _images(original)
    assert _max_diff(original, model, images) <= ATOL
    exp = tfg.GradCAM(model, layer="separable").explain(images, class_index=1)
    np.testing.assert_allclose(exp.cams, textbook_gradcam(_split_at(model, "separable"),
                                                          images, [1] * 3),
                               rtol=1e-4, atol=1e-6)


def test_rebuilt_savedmodel_that_disagrees_with_its_signature_is_refused(
        k2, tmp_path, monkeypatch):
    _sequential(k2).save(tmp_path / "saved")
    real = loading._load_h5

    def off_by_one(*args):  # a rebuild that lost something: outputs shifted by 1
        model = real(*args)
        return keras.Model(model.inputs[0], model.outputs[0] + 1.0)
    monkeypatch.setattr(loading, "_load_h5", off_by_one)
    with pytest.raises(ValueError, match=r"does not reproduce.*max abs diff 1\.0.*"
                                         r"Received: path='.*saved'$"):
        tfg.load_model(tmp_path / "saved")


def test_keras2_savedmodel_without_tf_keras_is_wrapped(k2, tmp_path, monkeypatch):
    _sequential(k2).save(tmp_path / "saved")
    monkeypatch.setitem(sys.modules, "tf_keras.protobuf", None)  # as if not installed
    with pytest.warns(loading.SavedModelWarning, match=r"tf_keras. is not installed.*legacy"):
        model = tfg.load_model(tmp_path / "saved")
    assert any(isinstance(layer, keras.layers.TFSMLayer) for layer in model.layers)


@pytest.fixture
def exported(tmp_path):
    """A SavedModel without Keras metadata (what `model.export` and TF Serving use)."""
    original = conv_gap_dense(size=16)
    original.export(tmp_path / "exported", verbose=False)
    return original, tmp_path / "exported"


def test_savedmodel_without_metadata_is_wrapped_and_occlusion_works(exported):
    original, path = exported
    with pytest.warns(loading.SavedModelWarning, match="no Keras metadata.*Occlusion"):
        wrapped = tfg.load_model(path)
    images = np.random.default_rng(3).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(wrapped(images), original(images), atol=1e-6)
    got = tfg.Occlusion(wrapped, patch_size=4).explain(images, class_index=[0, 2])
    want = tfg.Occlusion(original, patch_size=4).explain(images, class_index=[0, 2])
    assert np.ptp(want.cams) > 0
    np.testing.assert_allclose(got.cams, want.cams, rtol=1e-4, atol=1e-5)


def test_gradcam_on_wrapped_savedmodel_says_why_and_what_to_do(exported):
    with pytest.warns(loading.SavedModelWarning):
        wrapped = tfg.load_model(exported[1])
    with pytest.raises(ValueError, match=r"no layer with a 4D.*TFSMLayer.*hidden inside.*"
                                         r"legacy.*model\.keras.*Occlusion.*"
                                         r"Received: layer=None$"):
        tfg.GradCAM(wrapped)
    with pytest.raises(ValueError) as plain:  # a model without a SavedModel: no such hint
        tfg.GradCAM(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
    assert "TFSMLayer" not in str(plain.value)


def test_keras3_files_load_as_keras_does(tmp_path):
    model = conv_gap_dense()
    images = np.random.default_rng(4).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    model.save(tmp_path / "model.h5")
    shutil.copyfile(tmp_path / "model.keras", tmp_path / "model.bin")  # suffix lost
    for name in ("model.keras", "model.h5", "model.bin"):
        loaded = tfg.load_model(str(tmp_path / name))
        np.testing.assert_allclose(loaded(images), model(images), atol=1e-6)


def test_bad_paths_and_files_say_what_and_how(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    model = conv_gap_dense()
    model.save(tmp_path / "model.h5")
    data = (tmp_path / "model.h5").read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 3])
    model.save_weights(tmp_path / "only.weights.h5")
    model.save(tmp_path / "model.keras")
    data = (tmp_path / "model.keras").read_bytes()
    (tmp_path / "broken.keras").write_bytes(data[: len(data) // 2])
    cases = {
        "missing.keras": "No model file or SavedModel directory",
        "folder": "not a SavedModel",
        "notes.txt": "neither a `.keras` archive nor an HDF5",
        "truncated.h5": "cannot be read.*truncated",
        "only.weights.h5": "weights only.*load_weights",
        "broken.keras": "Keras could not load the model",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=rf"{message}.*Received: path='.*{name}'$"):
            tfg.load_model(tmp_path / name)
    with pytest.raises(TypeError, match=r"Received: path=3$"):
        tfg.load_model(3)


def _photos(folder, size, n=2, seed=4):
    """`n` random uint8 RGB PNGs of `size`x`size` in `folder`; returns them as an array."""
    import cv2

    folder.mkdir()
    images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return images


def _cli(capsys, *args):
    from tests.test_cli import run_here

    return run_here(capsys, "explain", *args, "--no-report")


def _rows(out):
    from tests.test_cli import read_csv

    return sorted(read_csv(out), key=lambda row: row["image"])


def test_cli_explains_a_keras2_h5_file(k2, tmp_path, capsys):
    # What the issue reports: `tf-gradcam explain --model model.h5` on a Keras 2 file with a
    # DepthwiseConv2D. The summary holds the original tf_keras model's own logits.
    original = _sequential(k2)
    original.save(tmp_path / "model.h5")
    images = _photos(tmp_path / "photos", 16)
    result = _cli(capsys, tmp_path / "photos", "--model", tmp_path / "model.h5",
                  "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    rows = _rows(tmp_path / "out")
    logits = original(images.astype("float32"), training=False).numpy()
    assert [r["class_index"] for r in rows] == list(logits.argmax(axis=1))
    np.testing.assert_allclose([r["score"] for r in rows], logits.max(axis=1), rtol=1e-4,
                               atol=1e-4)
    assert all(r["error"] == "" and (tmp_path / "out" / r["overlay"]).is_file() for r in rows)


def test_cli_explains_a_savedmodel_with_occlusion_and_says_why_not_gradcam(tmp_path, capsys):
    # A SavedModel without Keras metadata, for pixels in 0-255 (what the CLI reads), 32x32:
    # occlusion's default 16-pixel patches give a 2x2 map of an unsaturated softmax.
    keras.utils.set_random_seed(5)
    L = keras.layers
    original = keras.Sequential([keras.Input((32, 32, 3)), L.Rescaling(1 / 255),
                                 L.Conv2D(6, 3, activation="relu"), L.GlobalAveragePooling2D(),
                                 L.Dense(3)])
    path = tmp_path / "exported"
    original.export(path, verbose=False)
    images = _photos(tmp_path / "photos", 32)
    with pytest.warns(loading.SavedModelWarning):
        refused = _cli(capsys, tmp_path / "photos", "--model", path, "--out", tmp_path / "no")
    assert refused.returncode != 0
    assert "TFSMLayer" in refused.stderr and "Occlusion" in refused.stderr
    with pytest.warns(loading.SavedModelWarning):
        result = _cli(capsys, tmp_path / "photos", "--model", path, "--method", "occlusion",
                      "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    rows = _rows(tmp_path / "out")
    logits = original(images.astype("float32")).numpy().astype("float64")
    assert [r["class_index"] for r in rows] == list(logits.argmax(axis=1))
    # Occlusion explains the probability (its `score="probability"` default): the softmax.
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose([r["score"] for r in rows],
                               (exp / exp.sum(axis=1, keepdims=True)).max(axis=1), rtol=1e-5)
    # The map through the wrapped SavedModel is the original model's occlusion map.
    want = tfg.Occlusion(original).explain(images.astype("float32"))
    assert np.ptp(want.heatmaps) > 0
    np.testing.assert_allclose([r["heatmap_mean"] for r in rows],
                               want.heatmaps.mean(axis=(1, 2)), atol=1e-3)
    assert all((tmp_path / "out" / r["overlay"]).is_file() for r in rows)
