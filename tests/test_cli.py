"""The `tf-gradcam` command, end to end through the installed console script."""

import hashlib
import json
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tf_gradcam import files, synthetic


def run_cli(*args, cwd=None):
    script = pathlib.Path(sys.executable).with_name("tf-gradcam")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tf_gradcam.cli"]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def model_file(shapes_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "shapes.keras"
    shapes_model.save(path)
    return path


@pytest.fixture
def image_dir(tmp_path):
    scenes = synthetic.make_scenes(3, seed=11, both=True)
    folder = tmp_path / "images"
    folder.mkdir()
    bgr = [cv2.cvtColor(im, cv2.COLOR_RGB2BGR) for im in scenes.images]
    cv2.imwrite(str(folder / "a.png"), bgr[0])
    cv2.imwrite(str(folder / "b.jpg"), cv2.resize(bgr[1], (100, 80)))  # resized on read
    cv2.imwrite(str(folder / "c_gray.png"), cv2.cvtColor(bgr[2], cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "d_rgba.png"), cv2.cvtColor(bgr[0], cv2.COLOR_BGR2BGRA))
    (folder / "e_broken.png").write_bytes(b"this is not a png")
    return folder


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_explain_a_folder_of_good_and_bad_files(model_file, image_dir, tmp_path):
    out = tmp_path / "out"
    before = digest(image_dir)
    result = run_cli("explain", image_dir, "--model", model_file, "--out", out, "--top", "2",
                     "--json", "--labels", _labels(tmp_path))
    assert result.returncode == 1, result.stderr  # one file failed, the rest went on
    assert "e_broken.png" in result.stderr and "not a readable" in result.stderr
    rows = json.loads((out / "summary.json").read_text())
    good = [r for r in rows if "error" not in r]
    assert len(good) == 8  # 4 images x top-2 classes
    assert {r["class_name"] for r in good} == {"square", "cross"}
    assert any("grayscale" in r["note"] for r in good)
    assert any("alpha" in r["note"] for r in good)
    for row in good:
        picture = cv2.imread(row["overlay"])
        assert picture.shape == (64, 64, 3)
    assert not list(out.glob(".*part"))  # no half-written files
    assert digest(image_dir) == before


def _labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(synthetic.CLASS_NAMES))
    return path


def test_explain_class_csv_and_exit_zero(model_file, image_dir, tmp_path):
    (image_dir / "e_broken.png").unlink()
    out = tmp_path / "out"
    result = run_cli("explain", str(image_dir / "*.png"), "--model", model_file, "--out", out,
                     "--class", "1", "--method", "hirescam")
    assert result.returncode == 0, result.stderr
    text = (out / "summary.csv").read_text().splitlines()
    assert len(text) == 1 + 3 and all(",1," in line for line in text[1:])
    assert len(list(out.glob("*_class1_hirescam.png"))) == 3


@pytest.mark.parametrize("extra, message", [
    (["--layer", "nope"], "'nope' is not part of the model"),
    (["--class", "7"], "out of range"),
    (["--preprocess", "bogus"], "Unknown preprocessing"),
])
def test_usage_errors_exit_2(model_file, image_dir, tmp_path, extra, message):
    result = run_cli("explain", image_dir / "a.png", "--model", model_file, "--out",
                     tmp_path / "o", *extra)
    assert result.returncode == 2 and message in result.stderr


def test_missing_model_exits_2(image_dir, tmp_path):
    result = run_cli("explain", image_dir / "a.png", "--model", tmp_path / "none.keras")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_layers_lists_candidates_and_the_automatic_choice(model_file):
    result = run_cli("layers", model_file)
    assert result.returncode == 0, result.stderr
    assert "* automatic choice (layer=None): conv3" in result.stdout
    assert "conv1" in result.stdout and "(None, 16, 16, 48)" in result.stdout


def test_demo_writes_the_figure(tmp_path):
    result = run_cli("demo", "--out", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    for name in ("scene.png", "gradcam_square.png", "gradcam_cross.png",
                 "occlusion_square.png", "summary.png"):
        assert (tmp_path / "demo" / name).is_file(), name
    assert "demo finished in" in result.stdout


def test_read_image_converts_and_resizes(tmp_path):
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), np.full((10, 20), 200, np.uint8))
    image, note = files.read_image(path, (8, 8))
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8 and "grayscale" in note


def test_export_writes_a_servable_saved_model(model_file, tmp_path):
    result = run_cli("export", model_file, tmp_path / "gradcam" / "1", "--method", "hirescam")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gradcam" / "1" / "saved_model.pb").is_file()
    again = run_cli("export", model_file, tmp_path / "gradcam" / "1")
    assert again.returncode == 2 and "is not empty" in again.stderr
