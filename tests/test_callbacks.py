"""GradCAMCallback: overlays in TensorBoard event files, one per epoch, from the live model."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import conv_gap_dense
from tf_gradcam import synthetic
from tf_gradcam.callbacks import GradCAMCallback


def read_images(log_dir):
    """{tag: [(step, uint8 image or text, description), ...]} from the event files in log_dir."""
    found = {}
    for path in sorted(pathlib.Path(log_dir).glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    _, _, png = tf.make_ndarray(value.tensor)
                    found.setdefault(value.tag, []).append(
                        (event.step, tf.io.decode_png(png).numpy(), value.metadata.summary_description))
                elif value.metadata.plugin_data.plugin_name == "text":
                    text = tf.make_ndarray(value.tensor).item().decode()
                    found.setdefault(value.tag, []).append((event.step, text, None))
    return found


def small_scene_model(size=64):
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential([
        keras.Input((size, size, 3)), layers.Rescaling(1 / 255.0),
        layers.Conv2D(8, 3, activation="relu"), layers.Conv2D(8, 3, activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(2)])


def test_two_epochs_two_different_maps(tmp_path):
    model = small_scene_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    scenes = synthetic.make_scenes(256, seed=0)
    x, y = scenes.images, scenes.labels
    callback = GradCAMCallback(x[:1], tmp_path, class_index=1, class_names=list(synthetic.CLASS_NAMES))
    before = [layer.name for layer in model.layers], model.outputs[0].name
    model.fit(x.astype("float32"), y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    assert ([layer.name for layer in model.layers], model.outputs[0].name) == before

    found = read_images(tmp_path)
    images = found["gradcam/image_0"]
    assert [step for step, _, _ in images] == [0, 1]
    first, second = images[0][1], images[1][1]
    assert first.shape == second.shape == (64, 64, 3)
    assert np.abs(first.astype(int) - second.astype(int)).max() > 0  # the model changed
    assert "class 1 'cross': score" in images[0][2]
    texts = found["gradcam/image_0/prediction"]
    assert [step for step, _, _ in texts] == [0, 1] and "probability" in texts[1][1]
    assert callback.explainer.compute.experimental_get_tracing_count() == 1


def test_schedule_and_model_untouched(tmp_path):
    model = conv_gap_dense(size=12, classes=3, activation="softmax")
    weights = [w.copy() for w in model.get_weights()]
    images = np.random.default_rng(1).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    callback = GradCAMCallback(images, tmp_path, every_n_epochs=2, layer="conv")
    callback.set_model(model)
    for epoch in range(4):
        callback.on_epoch_end(epoch)
    callback.on_train_end()
    found = read_images(tmp_path)
    assert sorted(t for t in found if "prediction" not in t) == [f"gradcam/image_{i}"
                                                                 for i in range(3)]
    assert [step for step, _, _ in found["gradcam/image_2"]] == [1, 3]
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    assert model.layers[-1].activation is keras.activations.softmax


def test_bad_arguments(tmp_path):
    images = np.zeros((1, 12, 12, 3), "uint8")
    with pytest.raises(ValueError, match="every_n_epochs"):
        GradCAMCallback(images, tmp_path, every_n_epochs=0)
    with pytest.raises(ValueError, match="Unknown method"):
        GradCAMCallback(images, tmp_path, method="grad-cam")
    with pytest.raises(ValueError, match="Unknown colormap"):
        GradCAMCallback(images, tmp_path, colormap="nope")
    with pytest.raises(ValueError, match="batch"):
        GradCAMCallback(np.zeros((12, 12), "uint8"), tmp_path)
