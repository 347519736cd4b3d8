"""KPCA-CAM against scikit-learn's KernelPCA, FEM against its k-sigma rule in NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.decomposition import KernelPCA

import tf_gradcam as tfg
from tf_gradcam import methods
from tests.conftest import conv_gap_dense


@pytest.fixture(scope="module")
def model():
    return conv_gap_dense(classes=4, seed=2)


@pytest.fixture(scope="module")
def activations_and_images(model):
    images = np.random.default_rng(8).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    a = keras.Model(model.input, model.get_layer("conv").output)(images).numpy()
    return a, images


@pytest.mark.parametrize("kernel", methods.KERNELS)
@pytest.mark.parametrize("center", [True, False])
def test_kpcacam_is_scikit_learns_first_kernel_component(model, activations_and_images,
                                                         kernel, center):
    a, images = activations_and_images
    cams = tfg.KPCACAM(model, kernel=kernel, center=center).explain(images).cams
    for cam, activation in zip(cams, a):
        flat = activation.reshape(-1, activation.shape[-1]).astype(np.float64)
        data = flat - flat.mean(0) if center else flat  # pytorch-grad-cam centres first
        component = KernelPCA(n_components=1, kernel=kernel).fit_transform(data)[:, 0]
        component *= np.sign(component @ flat.sum(-1)) or 1.0  # our sign: the channel sum
        np.testing.assert_allclose(cam.ravel(), np.maximum(component, 0), rtol=2e-3,
                                   atol=2e-3 * np.abs(component).max())


def test_kpcacam_options_and_class_agnosticism(model, activations_and_images):
    _, images = activations_and_images
    cam = tfg.KPCACAM(model, kernel="rbf", gamma=0.5)
    np.testing.assert_allclose(cam(images, 0), cam(images, 3), atol=1e-6)
    assert cam.with_model(model).kernel == cam.kernel
    assert not np.allclose(cam(images), tfg.KPCACAM(model, kernel="rbf")(images))
    for kwargs, message in (({"kernel": "linear"}, "Received: kernel='linear'"),
                            ({"gamma": 0}, "Received: gamma=0"),
                            ({"degree": 0}, "Received: degree=0")):
        with pytest.raises(ValueError, match=message):
            tfg.KPCACAM(model, **kwargs)


@pytest.mark.parametrize("k", [0.0, 1.0, 2.0])
def test_fem_is_the_k_sigma_channel_selection(model, activations_and_images, k):
    a, images = activations_and_images
    cams = tfg.FEM(model, k=k).explain(images).cams
    threshold = a.mean(axis=(1, 2), keepdims=True) + k * a.std(axis=(1, 2), keepdims=True)
    weights = (a > threshold).mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(cams, np.maximum((weights * a).sum(-1), 0), rtol=1e-5,
                               atol=1e-7)
    with pytest.raises(ValueError, match="Received: k=-1"):
        tfg.FEM(model, k=-1)


def test_feature_methods_run_no_backward_pass(model, activations_and_images):
    _, images = activations_and_images
    for cls in (tfg.FEM, tfg.KPCACAM, tfg.EigenCAM):
        graph = cls(model).compute.get_concrete_function().graph
        ops = {op.type for op in graph.get_operations()}
        assert not any("Grad" in t for t in ops), (cls.__name__, sorted(ops))
    assert tf.executing_eagerly()
