"""Integration on a real ImageNet CNN (EfficientNet-Lite0) and real photos.

Skips with a reason when `TF_GRADCAM_IMAGENET_MODEL` does not name the model file.
"""

import cv2
import numpy as np
import pytest

import tf_gradcam as tfg

data = pytest.importorskip("skimage.data", reason="scikit-image ships the photos")
EGYPTIAN_CAT, ESPRESSO = 285, 967


def square(image, size):
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top:top + side, left:left + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def cam(real_model):
    return tfg.GradCAM(real_model, preprocess="efficientnet_lite")


def test_cat_photo_top_class_and_layer(cam):
    exp = cam.explain(square(data.chelsea(), 224))
    assert cam.layer == "top_activation"
    assert exp.class_index == EGYPTIAN_CAT
    assert exp.cams.shape == (7, 7) and exp.heatmaps.shape == (224, 224)


@pytest.mark.parametrize("class_index, side", [(EGYPTIAN_CAT, "right"), (ESPRESSO, "left")])
def test_maps_land_on_their_object_in_a_two_photo_scene(cam, class_index, side):
    # Espresso on the left half, the cat on the right: each class's map must sit on its photo.
    canvas = np.full((224, 224, 3), 255, np.uint8)
    canvas[56:168, :112] = square(data.coffee(), 112)
    canvas[56:168, 112:] = square(data.chelsea(), 112)
    heat = cam.explain(canvas, class_index=class_index).heatmaps
    right = heat[:, 112:].sum() / heat.sum()
    share = right if side == "right" else 1 - right
    assert share > 0.8, f"only {share:.0%} of the map is on the {side} photo"
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert 56 <= y < 168 and (x >= 112) == (side == "right")
