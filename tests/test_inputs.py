"""Bad images get a clear error before anything runs; good ones in any dtype work."""

import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import inputs
from tests.conftest import conv_gap_dense


@pytest.fixture(scope="module", params=["gradcam", "occlusion"])
def cam(request):
    extra = {"patch_size": 4} if request.param == "occlusion" else {}
    return tfg.METHODS[request.param](conv_gap_dense(), **extra)


@pytest.mark.parametrize("images, message", [
    (np.zeros((12, 12)), "add a channel axis"),
    (np.zeros((1, 1, 12, 12, 3)), "Received: images.shape=(1, 1, 12, 12, 3)"),
    (np.zeros((2, 12, 12, 1)), "channels is 1"),
    (np.zeros((2, 13, 12, 3)), "height is 13"),
    (np.zeros((0, 12, 12, 3)), "batch is empty"),
    (np.full((1, 12, 12, 3), np.nan), "NaN or infinite"),
    (tf.fill((1, 12, 12, 3), np.inf), "NaN or infinite"),
])
def test_bad_images_raise_value_error(cam, images, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cam(images)


@pytest.mark.parametrize("images", [np.zeros((1, 12, 12, 3), bool),
                                    np.full((1, 12, 12, 3), "a")])
def test_non_numeric_images_raise_type_error(cam, images):
    with pytest.raises(TypeError, match="Received: images.dtype="):
        cam(images)


def test_dtypes_and_containers_agree(cam):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 12, 12, 3))
    expected = cam(pixels.astype("float32"))
    for variant in (pixels.astype(np.uint8), pixels.astype(np.float64), pixels.tolist(),
                    tf.constant(pixels, tf.int32)):
        np.testing.assert_allclose(cam(variant), expected, atol=1e-6)


def test_input_is_not_modified(cam):
    images = np.random.default_rng(1).uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    copy = images.copy()
    cam(images)
    np.testing.assert_array_equal(images, copy)


def test_image_batch_marks_single_images():
    batch, single = inputs.image_batch(np.zeros((4, 5, 3), np.uint8), (None, None, 3))
    assert single and batch.shape == (1, 4, 5, 3) and batch.dtype == np.float32
    tensor, _ = inputs.image_batch(tf.zeros((2, 4, 5, 3), tf.uint8), (None, None, 3))
    assert isinstance(tensor, tf.Tensor) and tensor.dtype == tf.float32
