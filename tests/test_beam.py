"""The Beam pipeline end to end on DirectRunner, bad files included, and the ModelHandler."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import conv_gap_dense
from tf_gradcam import records

beam = pytest.importorskip("apache_beam")
from apache_beam.ml.inference.base import RunInference  # noqa: E402
from apache_beam.testing import test_pipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from tf_gradcam.beam import GradCAMModelHandler, main, overlay_name  # noqa: E402

SIZE = 16
GOOD = 200


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    conv_gap_dense(size=SIZE, classes=3, activation="softmax").save(path)
    return path


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """GOOD images in a/, b/, b/deeper/ (a/cat.png and b/cat.png share a name), bad files, a
    text file and a hidden folder."""
    import cv2

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for folder in ("a", "b", "b/deeper"):
        (root / folder).mkdir()
    for i in range(GOOD - 2):
        folder = ("a", "b", "b/deeper")[i % 3]
        cv2.imwrite(str(root / folder / f"img{i:03d}.png"),
                    rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    for folder in ("a", "b"):  # same name, different folders, different sizes
        cv2.imwrite(str(root / folder / "cat.png"),
                    rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    (root / "b" / "empty.png").write_bytes(b"")
    (root / "b" / "text.jpg").write_text("not an image")
    jpeg = cv2.imencode(".jpg", rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))[1]
    (root / "a" / "truncated.jpg").write_bytes(jpeg.tobytes()[:60])
    (root / "a" / "notes.txt").write_text("a folder is searched for image suffixes only")
    (root / ".cache").mkdir()  # hidden folders are skipped, as tf-gradcam explain does
    cv2.imwrite(str(root / ".cache" / "thumb.png"), np.zeros((SIZE, SIZE, 3), np.uint8))
    return root


def read_jsonl(folder, name):
    rows = []
    for path in sorted(pathlib.Path(folder).glob(f"{name}-*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def test_pipeline_end_to_end_with_bad_files(model_path, image_dir, tmp_path, capsys):
    out = tmp_path / "out"
    labels = tmp_path / "labels.txt"
    labels.write_text("zero\none\ntwo\n")
    argv = ["--input", str(image_dir), "--model", str(model_path), "--output", str(out),
            "--labels", str(labels), "--max-batch-size", "32", "--runner", "DirectRunner"]
    assert main(argv) == 1  # some files failed, the pipeline finished
    assert "explained 200 image(s), 3 failed" in capsys.readouterr().out

    rows = read_jsonl(out, "summary")
    assert len(rows) == GOOD and all(tuple(r) == records.FIELDS for r in rows)
    assert len({r["image"] for r in rows}) == GOOD
    overlays = sorted((out / "overlays").iterdir())
    assert len(overlays) == GOOD  # a/cat.png and b/cat.png did not collide
    assert sorted(pathlib.Path(r["overlay"]) for r in rows) == overlays
    assert all(0.0 <= r["probability"] <= 1.0 and r["error"] == "" for r in rows)
    assert all(r["class_name"] == ["zero", "one", "two"][r["class_index"]] for r in rows)
    assert {r["note"] for r in rows if r["image"].endswith("cat.png")} == {""}

    failed = {pathlib.Path(r["image"]).name: r["error"] for r in read_jsonl(out, "failed")}
    assert sorted(failed) == ["empty.png", "text.jpg", "truncated.jpg"]
    assert "empty" in failed["empty.png"] and all(failed.values())

    import cv2

    for row in rows:  # overlays at the photo's own size, as tf-gradcam explain writes them
        photo = cv2.imread(row["image"])
        assert cv2.imread(row["overlay"]).shape == photo.shape
        assert (row["original_height"], row["original_width"]) == photo.shape[:2]

    # A second run into the same folder refuses instead of mixing results.
    assert main(argv) == 2
    assert "already holds the results" in capsys.readouterr().err


def test_the_pixel_budget_refuses_large_images_before_decoding(model_path, tmp_path, capsys):
    import cv2

    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "small.png"), np.full((SIZE, SIZE, 3), 90, np.uint8))  # 256 px
    cv2.imwrite(str(folder / "large.png"), np.full((30, 40, 3), 90, np.uint8))  # 1200 px
    out = tmp_path / "out"
    assert main(["--input", str(folder), "--model", str(model_path), "--output", str(out),
                 "--max-pixels", "0.001", "--no-caption", "--fit", "pad",
                 "--runner", "DirectRunner"]) == 1
    assert "explained 1 image(s), 1 failed" in capsys.readouterr().out
    (failed,) = read_jsonl(out, "failed")
    assert failed["error"].startswith("read: image too large: 0.0012 MP > 0.001 MP"), failed
    assert (failed["original_height"], failed["original_width"]) == (30, 40)


class FailOnBlack(GradCAMModelHandler):
    def run_inference(self, batch, model, inference_args=None):
        if any(not np.any(image) for image in batch):
            raise ValueError("boom: a black image")
        return super().run_inference(batch, model, inference_args)


def test_failed_batches_go_to_the_failed_output(model_path, tmp_path):
    import cv2

    from tf_gradcam.beam.pipeline import build

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        image = np.full((SIZE, SIZE, 3), 0 if i == 2 else 100 + i, np.uint8)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    handler = FailOnBlack(model_path, max_batch_size=1)
    with beam.Pipeline("DirectRunner") as pipeline:
        build(pipeline, [str(folder)], handler, str(tmp_path / "out"), (SIZE, SIZE))
    failed = read_jsonl(tmp_path / "out", "failed")
    assert [pathlib.Path(r["image"]).name for r in failed] == ["2.png"]
    assert failed[0]["error"] == "explain: ValueError: boom: a black image"
    assert len(read_jsonl(tmp_path / "out", "summary")) == 3


def test_usage_errors(model_path, image_dir, tmp_path, capsys):
    base = ["--model", str(model_path), "--output", str(tmp_path / "o")]
    assert main(["--input", str(tmp_path / "missing.png")] + base) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--input", str(image_dir), "--layer", "nope"] + base) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["--input", str(image_dir), "--class", "7"] + base) == 2
    assert "out of range" in capsys.readouterr().err


def test_overlay_names_unique_and_stable():
    assert overlay_name("a/cat.png", 1, "gradcam") == overlay_name("a/cat.png", 1, "gradcam")
    assert overlay_name("a/cat.png", 1, "gradcam") != overlay_name("b/cat.png", 1, "gradcam")
    assert overlay_name("gs://bucket/x/cat.jpeg", 0, "gradcam++").startswith("cat_")


class CountingHandler(GradCAMModelHandler):
    loads = 0

    def load_model(self):
        type(self).loads += 1
        return super().load_model()


def test_model_handler_results(model_path):
    import keras

    import tf_gradcam as tfg

    images = np.random.default_rng(1).integers(0, 256, (10, SIZE, SIZE, 3), dtype=np.uint8)
    model = keras.saving.load_model(model_path)
    expected = tfg.GradCAM(model).explain(images, class_index=2)
    handler = CountingHandler(model_path, class_index=2, min_batch_size=4, max_batch_size=4)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 4}

    def summary(result):
        info = result.inference
        i = int(np.argmax([np.array_equal(result.example, x) for x in images]))
        assert info["heatmap"].shape == (SIZE, SIZE) and info["probabilities"].shape == (3,)
        np.testing.assert_allclose(info["heatmap"], expected.heatmaps[i], atol=1e-5)
        np.testing.assert_allclose(info["score"], expected.scores[i], rtol=1e-5)
        return i, info["class_index"], info["method"], info["layer"]

    with test_pipeline.TestPipeline() as pipeline:
        got = (pipeline | beam.Create(list(images)) | RunInference(handler)
               | beam.Map(summary))
        assert_that(got, equal_to([(i, 2, "gradcam", "conv") for i in range(10)]))
    assert CountingHandler.loads == 1

    with pytest.raises(ValueError, match="class_index"):
        GradCAMModelHandler(model_path, class_index=[1, 2])
    with pytest.raises(ValueError, match="Unknown method"):
        GradCAMModelHandler(model_path, method="nope")


def test_remote_model_is_copied_through_beam_filesystems(model_path, monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    from tf_gradcam.beam.handler import load_keras_model

    opened = []
    monkeypatch.setattr(FileSystems, "get_scheme", staticmethod(lambda path: "remote"))
    monkeypatch.setattr(FileSystems, "open", staticmethod(
        lambda path, compression_type: opened.append(path) or open(model_path, "rb")))
    model = load_keras_model(str(model_path))
    assert opened == [str(model_path)] and model.output_shape == (None, 3)


def test_missing_beam_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "tf_gradcam.beam" or
                 m.startswith("tf_gradcam.beam.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam fails
    with pytest.raises(ImportError, match=r"tf_gradcam\[beam\]"):
        import tf_gradcam.beam  # noqa: F401


def test_package_import_loads_no_beam_or_tensorboard_and_module_runs():
    """`import tf_gradcam` imports neither Beam nor TensorBoard; then `python -m
    tf_gradcam.beam --help` works (one subprocess for both: TensorFlow's import is slow)."""
    code = ("import runpy, sys, tf_gradcam; print(sorted(m for m in sys.modules if m.startswith("
            "('apache_beam', 'tensorboard', 'tf_gradcam.beam', 'tf_gradcam.callbacks')))); "
            "sys.argv = ['tf_gradcam.beam', '--help']; "
            "runpy.run_module('tf_gradcam.beam', run_name='__main__', alter_sys=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""})
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    assert first == "[]"
    assert "usage: python -m tf_gradcam.beam" in rest and "--max-batch-size" in rest
