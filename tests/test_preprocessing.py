"""Named preprocessing equals the Keras applications' own functions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_gradcam import preprocessing

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")


@pytest.mark.parametrize("name, reference", [
    ("resnet50", keras.applications.resnet50.preprocess_input),
    ("mobilenet_v2", keras.applications.mobilenet_v2.preprocess_input),
    ("efficientnet", keras.applications.efficientnet.preprocess_input),
])
def test_matches_keras_applications(name, reference):
    ours = preprocessing.get(name)(tf.constant(PIXELS)).numpy()
    np.testing.assert_allclose(ours, reference(PIXELS.copy()), rtol=1e-5, atol=1e-4)


def test_scale_and_lite():
    np.testing.assert_allclose(preprocessing.get("scale:0.5,-1")(tf.constant(PIXELS)).numpy(),
                               PIXELS * 0.5 - 1, rtol=1e-6)
    lite = preprocessing.get("efficientnet_lite")(tf.constant(PIXELS)).numpy()
    np.testing.assert_allclose(lite, (PIXELS - 127.0) / 128.0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec, error", [("nope", ValueError), ("scale:1", ValueError),
                                         (3, TypeError)])
def test_errors(spec, error):
    with pytest.raises(error, match="Received: preprocess="):
        preprocessing.get(spec)
