"""load_labels: lists, text and JSON files, the shipped ImageNet names; clear errors."""

import json

import pytest

import tf_gradcam as tfg
from tf_gradcam import labels


def test_imagenet_names_are_shipped_in_class_order():
    names = tfg.load_labels("imagenet", num_classes=1000)
    assert len(names) == 1000
    # known ImageNet-1k indices (keras.applications order)
    assert names[0] == "tench, Tinca tinca"
    assert names[281] == "tabby, tabby cat"
    assert names[285] == "Egyptian cat"
    assert names[504] == "coffee mug"
    assert names[967] == "espresso"
    assert names[999] == "toilet tissue, toilet paper, bathroom tissue"
    assert tfg.load_labels("ImageNet") == names


def test_text_and_json_files(tmp_path):
    text = tmp_path / "names.txt"
    text.write_text("cat\r\ndog\n\n")
    assert labels.load_labels(text, 2) == ["cat", "dog"]
    assert labels.load_labels(str(text)) == ["cat", "dog"]
    listed = tmp_path / "names.json"
    listed.write_text(json.dumps(["a", "b", "c"]))
    assert labels.load_labels(listed, 3) == ["a", "b", "c"]
    keras_style = tmp_path / "index.json"
    keras_style.write_text(json.dumps({"1": ["n2", "goldfish"], "0": ["n1", "tench"]}))
    assert labels.load_labels(keras_style) == ["tench", "goldfish"]


def test_lists_and_none():
    assert labels.load_labels(("a", "b"), 2) == ["a", "b"]
    assert labels.load_labels(None, 5) is None


@pytest.mark.parametrize("value, count, error, message", [
    (["a", "b"], 3, ValueError, r"has 3 classes but `labels` names 2.*Received: labels="),
    ("imagenet", 2, ValueError, r"names 1000.*Received: labels='imagenet'"),
    ("no/such/file.txt", None, ValueError, "does not exist. Received: labels='no/such/file.txt'"),
    ([], None, ValueError, "one non-empty name"),
    (["a", ""], None, ValueError, "one non-empty name"),
    ([1, 2], None, TypeError, "must hold strings"),
    (3, None, TypeError, "Received: labels=3"),
    ({"0": "a"}, None, TypeError, "Received: labels="),
])
def test_errors(value, count, error, message):
    with pytest.raises(error, match=message):
        labels.load_labels(value, count)


def test_json_mapping_with_a_gap(tmp_path):
    path = tmp_path / "gap.json"
    path.write_text(json.dumps({"0": "a", "2": "c"}))
    with pytest.raises(ValueError, match="keys 0..N-1"):
        labels.load_labels(path)


def test_names_of_keeps_the_shape():
    names = ["a", "b", "c"]
    assert labels.names_of(names, 2) == "c"
    assert labels.names_of(names, [[0, 1], [2, 5]]).tolist() == [["a", "b"], ["c", ""]]
    assert labels.names_of(None, [1]) is None
