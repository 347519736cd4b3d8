"""Test-time augmentation: each view maps back onto the image it came from."""

import numpy as np
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import augmentation, synthetic


def test_views_map_back_onto_the_original():
    # A "heatmap" equal to the image itself: mapped back, every view must match the original
    # where it covers it (exactly for the mirror, up to interpolation for the zooms).
    rng = np.random.default_rng(0)
    image = tf.constant(rng.uniform(0, 1, (2, 40, 50, 1)), tf.float32)
    smooth = tf.image.resize(tf.image.resize(image, (10, 12)), (40, 50))  # interpolation-safe
    views = augmentation.views(smooth)
    assert views.shape == (6, 40, 50, 1)
    n = 2
    np.testing.assert_allclose(views[:n, :, ::-1].numpy(), smooth.numpy(), atol=1e-6)
    total, coverage = augmentation.map_back(views[..., 0], n)
    mean = (total / coverage).numpy()
    inside = (slice(None), slice(6, 34), slice(6, 44))
    error = np.abs(mean[inside] - smooth.numpy()[..., 0][inside])
    assert error.mean() < 0.01 and error.max() < 0.1, (error.mean(), error.max())
    assert coverage.numpy().min() == 2.0 and coverage.numpy().max() == 3.0


def test_augmented_gradcam_still_points_at_the_object(shapes_model):
    scenes = synthetic.make_scenes(16, seed=41, both=True)
    cam = tfg.GradCAM(shapes_model, augment=True)
    for c in (0, 1):
        heat = cam(scenes.images, class_index=c)
        assert heat.shape == (16, 64, 64) and heat.min() >= 0 and heat.max() <= 1
        hits = 0
        for h, (t, l, b, r) in zip(heat, scenes.boxes[:, c]):
            y, x = np.unravel_index(np.argmax(h), h.shape)
            hits += (t - 2 <= y < b + 2) and (l - 2 <= x < r + 2)
        assert hits >= 14, f"class {c}: {hits}/16"
    assert cam.compute.experimental_get_tracing_count() == 1
