"""explain_dataset: batches in, one Explanation per batch out, traced once."""

import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense
from tf_gradcam.streaming import explain_dataset, labels_to_classes


@pytest.fixture(scope="module")
def model():
    return conv_gap_dense(size=16, classes=3)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8),
            rng.integers(0, 3, (10,)).astype(np.int64))


def test_batches_match_explain_and_trace_once(model, data):
    images, _ = data
    cam = tfg.GradCAM(model)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)  # 4, 4, 2: a smaller last
    results = list(explain_dataset(cam, dataset))
    assert [len(r.class_index) for r in results] == [4, 4, 2]
    assert cam.compute.experimental_get_tracing_count() == 1
    expected = tfg.GradCAM(model).explain(images)
    np.testing.assert_allclose(np.concatenate([r.heatmaps for r in results]),
                               expected.heatmaps, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([r.class_index for r in results]),
                                  expected.class_index)


def test_labels_as_classes_and_fixed_class(model, data):
    images, labels = data
    cam = tfg.GradCAM(model)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    got = np.concatenate([r.class_index for r in explain_dataset(cam, dataset, "labels")])
    np.testing.assert_array_equal(got, labels)
    one_hot = tf.data.Dataset.from_tensor_slices((images, np.eye(3)[labels])).batch(5)
    got = np.concatenate([r.class_index for r in explain_dataset(cam, one_hot, "labels")])
    np.testing.assert_array_equal(got, labels)
    fixed = np.concatenate([r.class_index for r in explain_dataset(cam, dataset, 2)])
    assert (fixed == 2).all()
    assert cam.compute.experimental_get_tracing_count() == 1


def test_unbatched_needs_batch_size(model, data):
    images, labels = data
    cam = tfg.GradCAM(model)
    single = tf.data.Dataset.from_tensor_slices(images)
    with pytest.raises(ValueError, match="batch_size=32"):
        next(explain_dataset(cam, single))
    assert [len(r.class_index) for r in explain_dataset(cam, single, batch_size=6)] == [6, 4]
    rebatched = tf.data.Dataset.from_tensor_slices(images).batch(2)
    assert [len(r.class_index) for r in explain_dataset(cam, rebatched, batch_size=5)] == [5, 5]


def test_return_inputs(model, data):
    images, labels = data
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    (batch, batch_labels), exp = next(explain_dataset(tfg.GradCAM(model), dataset,
                                                      return_inputs=True))
    np.testing.assert_array_equal(batch, images[:8])
    np.testing.assert_array_equal(batch_labels, labels[:8])
    assert exp.heatmaps.shape == (8, 16, 16)


def test_errors(model, data):
    images, _ = data
    cam = tfg.GradCAM(model)
    images_only = tf.data.Dataset.from_tensor_slices(images).batch(2)
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        next(explain_dataset(cam, images))
    with pytest.raises(ValueError, match="needs a dataset of `\\(images, labels\\)`"):
        next(explain_dataset(cam, images_only, "labels"))
    with pytest.raises(ValueError, match="Received: class_index='label'"):
        next(explain_dataset(cam, images_only, "label"))
    as_dict = tf.data.Dataset.from_tensor_slices({"image": images}).batch(2)
    with pytest.raises(TypeError, match="d\\['image'\\]"):
        next(explain_dataset(cam, as_dict))
    wrong_size = tf.data.Dataset.from_tensor_slices(np.zeros((2, 8, 8, 3), "uint8")).batch(2)
    with pytest.raises(ValueError, match="expects images of shape"):
        next(explain_dataset(cam, wrong_size))


def test_labels_to_classes():
    np.testing.assert_array_equal(labels_to_classes(np.array([[2], [0]]), 3), [2, 0])
    np.testing.assert_array_equal(labels_to_classes(np.array([1.0, 0.0]), 3), [1, 0])
    np.testing.assert_array_equal(labels_to_classes(np.array([[0, 0, 1.0]]), 3), [2])
    with pytest.raises(ValueError, match="one-hot"):
        labels_to_classes(np.array([0.5, 0.2]), 3)
