"""Explanation in notebooks: `labels=` and `class_names`, the short repr, the HTML grid and
`tfg.show`, on every explainer."""

import base64
import re

import cv2
import numpy as np
import pytest

import tf_gradcam as tfg
from tests.conftest import conv_gap_dense

NAMES = ["red <one>", "green", "blue"]


@pytest.fixture(scope="module")
def model():
    return conv_gap_dense(size=12, classes=3)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (3, 12, 12, 3)).astype("float32")


@pytest.mark.parametrize("make", [
    lambda m, **k: tfg.GradCAM(m, **k), lambda m, **k: tfg.HiResCAM(m, **k),
    lambda m, **k: tfg.ScoreCAM(m, **k), lambda m, **k: tfg.Occlusion(m, patch_size=4, **k),
    lambda m, **k: tfg.GuidedGradCAM(m, **k)], ids=["gradcam", "hirescam", "scorecam",
                                                    "occlusion", "guided"])
def test_every_explainer_names_its_classes(make, model, images):
    explainer = make(model, labels=NAMES)
    exp = explainer.explain(images)
    assert exp.class_names.tolist() == [NAMES[c] for c in exp.class_index]
    assert explainer.with_model(model).labels == NAMES
    html = exp._repr_html_()
    assert html.count("<img") == 2 * len(images)       # the image and one overlay each
    assert "red &lt;one&gt;" in html or "green" in html or "blue" in html


def test_class_names_follow_top_k_and_single_images(model, images):
    assert tfg.GradCAM(model).explain(images).class_names is None
    cam = tfg.GradCAM(model, labels=NAMES)
    exp = cam.explain(images, top_k=2)
    assert exp.class_names.shape == exp.class_index.shape == (3, 2)
    assert exp.class_names.tolist() == [[NAMES[c] for c in row] for row in exp.class_index]
    one = cam.explain(images[0], class_index=1)
    assert one.class_names == "green"
    assert cam.explain(images[0], top_k=3).class_names.tolist() == [
        NAMES[c] for c in cam.explain(images[0], top_k=3).class_index]


def test_labels_of_the_wrong_count_are_refused(model, tmp_path):
    with pytest.raises(ValueError, match=r"3 classes but `labels` names 2.*Received: labels="):
        tfg.GradCAM(model, labels=["a", "b"])
    with pytest.raises(ValueError, match="Received: labels='imagenet'"):
        tfg.ScoreCAM(model, labels="imagenet")
    path = tmp_path / "names.txt"
    path.write_text("a\nb\nc\n")
    assert tfg.Occlusion(model, patch_size=4, labels=path).labels == ["a", "b", "c"]


def test_repr_is_short_and_keeps_images_out(model, images):
    exp = tfg.GradCAM(model, labels=NAMES).explain(images, top_k=2)
    text = repr(exp)
    assert text.startswith("Explanation(method='gradcam', layer='conv'")
    assert "heatmaps=(3, 2, 12, 12)" in text and "probabilities=(3, 3)" in text
    assert "class_index=[[" in text
    assert f"class_names=[[{NAMES[exp.class_index[0, 0]]!r}" in text
    assert "images" not in text and len(text) < 600 and "array(" not in text
    assert exp.images is images                            # kept by reference, not copied


def _decoded(html):
    """The embedded PNG thumbnails of an HTML grid, decoded."""
    return [cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
            for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_html_grid_shows_overlays_names_probabilities_layer_and_method(model, images):
    exp = tfg.GradCAM(model, labels=NAMES).explain(images, top_k=2)
    html = exp._repr_html_()
    assert "<b>gradcam</b> on layer <code>conv</code>: 3 images" in html
    pictures = _decoded(html)
    assert len(pictures) == 3 * 3                          # per image: itself + 2 overlays
    expected = tfg.overlay(images[0], exp.heatmaps[0, 0])
    np.testing.assert_array_equal(pictures[1][..., ::-1], expected)   # BGR -> RGB
    c, p = int(exp.class_index[0, 0]), float(exp.probabilities[0, exp.class_index[0, 0]])
    label = f"{NAMES[c]} ({c}) {100 * p:.1f}%".replace("<", "&lt;").replace(">", "&gt;")
    assert label in html
    assert "<script" not in html


def test_show_without_kept_images_and_with_other_ones(model, images):
    exp = tfg.GradCAM(model).explain(images)
    bare = tfg.Explanation(exp.heatmaps, exp.cams, exp.class_index, exp.scores,
                           exp.predictions, exp.layer, exp.method, exp.probabilities)
    assert len(_decoded(bare._repr_html_())) == 3          # heatmaps alone, no image
    shown = tfg.show(bare, images)
    assert len(_decoded(shown._repr_html_())) == 6
    assert "class 0" in shown._repr_html_() or "class 1" in shown._repr_html_()
    assert len(tfg.show(exp, max_images=2).figure().axes) == 4
    assert "showing the first 2" in tfg.show(exp, max_images=2)._repr_html_()
    with pytest.raises(TypeError, match="Received: explanation of type ndarray"):
        tfg.show(exp.heatmaps)


def test_thumbnails_of_big_images_are_small():
    heat = np.zeros((1000, 1500), np.float32)
    exp = tfg.Explanation(heat[None], None, np.array([0]), np.zeros(1), None, "x", "gradcam",
                          images=np.zeros((1, 1000, 1500, 3), np.uint8))
    shapes = [p.shape[:2] for p in _decoded(exp._repr_html_())]
    assert shapes == [(107, 160), (107, 160)]
