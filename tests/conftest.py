"""Shared small models and data for the tests."""

import os
import pathlib

import keras
import numpy as np
import pytest

from tf_gradcam import synthetic

layers = keras.layers
REAL_MODEL_ENV = "TF_GRADCAM_IMAGENET_MODEL"


def conv_gap_dense(activation=None, size=12, channels=3, classes=3, seed=0, dtype=None):
    """Input -> Conv2D(relu) 'conv' -> GAP -> Dense 'head' (the textbook CAM network)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels), name="image")
    x = layers.Conv2D(6, 3, activation="relu", name="conv", dtype=dtype)(inp)
    x = layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(x)
    out = layers.Dense(classes, activation=activation, name="head", dtype=dtype)(x)
    return keras.Model(inp, out, name="conv_gap_dense")


def nested_base(size=16, seed=1):
    """A small convolutional base, the stand-in for a keras.applications backbone."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((size, size, 3)),
        layers.Conv2D(4, 3, activation="relu", name="b_conv1"),
        layers.Conv2D(5, 3, name="b_conv2"),
        layers.ReLU(name="b_relu"),
    ], name="base")


@pytest.fixture
def images_16():
    return np.random.default_rng(0).uniform(0, 1, (4, 16, 16, 3)).astype("float32")


@pytest.fixture(scope="session")
def shapes_model():
    """The two-object CNN, trained here on generated scenes (about 20 s on 2 cores)."""
    return synthetic.train_model(n=3000, epochs=8, seed=0)


@pytest.fixture(scope="session")
def real_model_path():
    path = os.environ.get(REAL_MODEL_ENV)
    if not path or not pathlib.Path(path).is_file():
        pytest.skip(f"the real ImageNet model is not available: set {REAL_MODEL_ENV} to "
                    "efficientnet_lite0_imagenet.keras (.ci/run does so when "
                    "../shared/models/ has it)")
    return path


@pytest.fixture(scope="session")
def real_model(real_model_path):
    return keras.saving.load_model(real_model_path, compile=False)
