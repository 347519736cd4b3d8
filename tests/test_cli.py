"""The `tf-gradcam` command, end to end through the installed console script."""

import csv
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import cv2
import keras
import numpy as np
import pytest

from tf_gradcam import cli, files, records, synthetic
from tf_gradcam.demo import MODEL_PATH


def _command():
    script = pathlib.Path(sys.executable).with_name("tf-gradcam")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tf_gradcam.cli"]


def run_cli(*args, cwd=None, env=None):
    return subprocess.run(_command() + [str(a) for a in args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def run_here(capsys, *args):
    """`tf-gradcam ARGS` in this process (TensorFlow already loaded): for option variants;
    each behaviour is also checked once through the real entry point."""
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def read_csv(out):
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return [records.from_csv(cells) for cells in list(csv.reader(handle))[1:]]


def read_jsonl(out):
    return [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]


def write_png(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """The bundled shapes CNN (64x64x3, classes square/cross)."""
    path = tmp_path_factory.mktemp("model") / "shapes.keras"
    shutil.copy(MODEL_PATH, path)
    return path


@pytest.fixture(scope="module")
def scenes():
    return synthetic.make_scenes(3, seed=11, both=True).images


@pytest.fixture
def image_dir(tmp_path, scenes):
    folder = tmp_path / "images"
    folder.mkdir()
    bgr = [cv2.cvtColor(im, cv2.COLOR_RGB2BGR) for im in scenes]
    cv2.imwrite(str(folder / "a.png"), bgr[0])
    cv2.imwrite(str(folder / "b.jpg"), cv2.resize(bgr[1], (100, 80)))  # resized on read
    cv2.imwrite(str(folder / "c_gray.png"), cv2.cvtColor(bgr[2], cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "d_rgba.png"), cv2.cvtColor(bgr[0], cv2.COLOR_BGR2BGRA))
    (folder / "e_broken.png").write_bytes(b"this is not a png")
    return folder


def digest(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def _labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(synthetic.CLASS_NAMES))
    return path


def test_explain_a_folder_of_good_and_bad_files(model_file, image_dir, tmp_path, scenes):
    (image_dir / "f_empty.png").write_bytes(b"")  # zero bytes: used to abort the whole run
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(scenes[1], (300, 200)))
    (image_dir / "g_truncated.jpg").write_bytes(jpeg.tobytes()[:2000])
    (image_dir / "notes.txt").write_text("not an image: a skipped row, not a failure")
    cv2.imwrite(str(image_dir / "h_sixteen.png"),  # a.png in 16 bits: scaled /257, not stretched
                cv2.imread(str(image_dir / "a.png")).astype(np.uint16) * 257)
    out = tmp_path / "out"
    before = digest(image_dir)
    result = run_cli("explain", image_dir, "--model", model_file, "--out", out, "--top", "2",
                     "--json", "--labels", _labels(tmp_path))
    assert result.returncode == 1, result.stderr  # three files failed, the rest went on
    assert "Traceback" not in result.stderr
    rows = json.loads((out / "summary.json").read_text())
    assert rows == read_jsonl(out) == read_csv(out)
    assert all(list(row) == list(records.FIELDS) for row in rows)
    failed = {pathlib.Path(r["image"]).name: r["error"] for r in rows if r["error"]}
    assert failed.pop("notes.txt") == "skipped: unsupported format .txt"
    assert set(failed) == {"e_broken.png", "f_empty.png", "g_truncated.jpg"}
    assert "empty (0 bytes)" in failed["f_empty.png"]
    assert "truncated" in failed["g_truncated.jpg"]
    for name, error in failed.items():
        assert f"{name}: {error}" in result.stderr
    good = [r for r in rows if not r["error"]]
    assert len(good) == 10  # 5 images x top-2 classes
    assert {r["class_name"] for r in good} == {"square", "cross"}
    assert [r["rank"] for r in good] == [1, 2] * 5
    assert any("grayscale" in r["note"] for r in good)
    assert any("alpha" in r["note"] for r in good)
    for row in good:  # each overlay at its photo's own size (b.jpg: 100x80)
        photo = cv2.imread(row["image"])
        assert cv2.imread(row["overlay"]).shape == photo.shape
        assert (row["original_height"], row["original_width"]) == photo.shape[:2]
        assert 0.0 <= row["probability"] <= 1.0
    assert not list(out.glob(".*part"))  # no half-written files
    assert digest(image_dir) == before
    assert "explained 5 image(s), 3 failed, 1 skipped (unsupported format)" in result.stdout
    eight = [r for r in good if r["image"].endswith("a.png")]
    sixteen = [r for r in good if r["image"].endswith("h_sixteen.png")]
    assert all("/257" in r["note"] for r in sixteen)
    for a, b in zip(eight, sixteen):
        for key in ("class_index", "score", "probability", "heatmap_mean", "heatmap_peak_yx"):
            assert a[key] == b[key], key
        assert np.array_equal(cv2.imread(a["overlay"]), cv2.imread(b["overlay"]))


def test_explain_class_csv_and_exit_zero(model_file, image_dir, tmp_path, capsys):
    (image_dir / "e_broken.png").unlink()
    out = tmp_path / "out"
    result = run_here(capsys, "explain", str(image_dir / "*.png"), "--model", model_file,
                      "--out", out,
                     "--class", "1", "--method", "hirescam")
    assert result.returncode == 0, result.stderr
    rows = read_csv(out)
    assert len(rows) == 3 and {r["class_index"] for r in rows} == {1}
    assert len(list(out.glob("*_class1_hirescam.png"))) == 3
    assert not (out / "summary.json").exists()


def test_top_k_ranks_agree_for_one_pass_and_one_class_per_call_methods(model_file, image_dir,
                                                                      tmp_path, capsys):
    (image_dir / "e_broken.png").unlink()
    ranked = {}
    for method in ("gradcam", "guided-gradcam"):  # top_k in one pass; one call per rank
        out = tmp_path / method
        result = run_here(capsys, "explain", image_dir, "--model", model_file, "--out", out,
                          "--top", "2", "--method", method)
        assert result.returncode == 0, result.stderr
        rows = read_csv(out)
        ranked[method] = [(r["image"], r["rank"], r["class_index"]) for r in rows]
        assert len(list(out.glob(f"*_{method}.png"))) == len(rows) == 8
    assert ranked["gradcam"] == ranked["guided-gradcam"]


def test_same_names_in_two_folders_and_recursive(model_file, tmp_path, scenes):
    inputs = tmp_path / "in"
    write_png(inputs / "a" / "cat.png", scenes[0])
    write_png(inputs / "b" / "cat.png", scenes[1])
    write_png(inputs / "a" / "CAT.bmp", scenes[2])  # same name on a case-insensitive disk
    write_png(inputs / "a" / "deep" / "er" / "cat.png", scenes[2])
    before = digest(inputs)

    result = run_cli("explain", inputs / "a", inputs / "b", "--model", model_file,
                     "--out", tmp_path / "out", "--class", "0", "--recursive")
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "out")
    by_image = {pathlib.Path(r["image"]).relative_to(inputs).as_posix():
                pathlib.Path(r["overlay"]).relative_to(tmp_path / "out").as_posix()
                for r in rows}
    assert by_image == {"a/CAT.bmp": "CAT_class0_gradcam.png",
                        "a/cat.png": "cat-2_class0_gradcam.png",
                        "a/deep/er/cat.png": "deep/er/cat_class0_gradcam.png",
                        "b/cat.png": "cat-3_class0_gradcam.png"}
    written = {p.relative_to(tmp_path / "out").as_posix()
               for p in (tmp_path / "out").rglob("*.png")}
    assert written == set(by_image.values())  # nothing overwritten
    assert digest(inputs) == before


def test_folders_are_searched_recursively_only_when_asked(model_file, tmp_path, capsys):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    write_png(tmp_path / "in" / "sub" / "x.png", np.zeros((8, 8, 3), np.uint8))
    flat = run_here(capsys, "explain", tmp_path / "in", "--model", model_file, "--out",
                    tmp_path / "o")
    assert flat.returncode == 2 and "--recursive" in flat.stderr
    deep = run_here(capsys, "explain", tmp_path / "in", "--model", model_file, "--out",
                    tmp_path / "o", "-r")
    assert deep.returncode == 0 and len(read_csv(tmp_path / "o")) == 1


def test_probability_is_the_softmax_of_a_logit_model(tmp_path, scenes):
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(keras.layers.Rescaling(
        1 / 255)(inp))
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, logits)
    model.get_layer("logits").set_weights([np.array(
        [[3.0, -2.0, 0.5]] * 4, "float32"), np.array([0.5, 0.0, -0.5], "float32")])
    model.save(tmp_path / "logits.keras")
    write_png(tmp_path / "in" / "x.png", cv2.resize(scenes[0], (32, 32)))
    result = run_cli("explain", tmp_path / "in", "--model", tmp_path / "logits.keras",
                     "--out", tmp_path / "out", "--top", "3")
    assert result.returncode == 0, result.stderr
    image, _ = files.read_image(tmp_path / "in" / "x.png", (32, 32))
    z = np.asarray(model(image[None].astype("float32")))[0].astype("float64")
    assert np.ptp(z) > 0.1  # logits, not probabilities
    softmax = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    rows = read_csv(tmp_path / "out")
    assert [r["rank"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert row["probability"] == pytest.approx(softmax[row["class_index"]], abs=1e-5)
        assert row["score"] == pytest.approx(z[row["class_index"]], abs=1e-4)
    assert sum(r["probability"] for r in rows) == pytest.approx(1.0, abs=1e-5)


def test_a_used_output_folder_is_refused_unless_resume_or_overwrite(model_file, image_dir,
                                                                   tmp_path, capsys):
    out = tmp_path / "out"
    first = run_cli("explain", image_dir, "--model", model_file, "--out", out)
    assert first.returncode == 1, first.stderr
    before = digest(out)

    again = run_cli("explain", image_dir, "--model", model_file, "--out", out, "--top", "2")
    assert again.returncode == 2
    assert "already holds the results of a run" in again.stderr
    assert "--resume" in again.stderr and "--overwrite" in again.stderr
    assert digest(out) == before  # untouched

    other = run_here(capsys, "explain", image_dir, "--model", model_file, "--out", out,
                     "--top", "2", "--resume")
    assert other.returncode == 2 and "--top: 1 then, 2 now" in other.stderr

    resumed = run_here(capsys, "explain", image_dir, "--model", model_file, "--out", out,
                       "--resume")
    assert resumed.returncode == 1 and "5 image(s) already done" in resumed.stderr
    assert digest(out) == before

    replaced = run_here(capsys, "explain", image_dir / "a.png", "--model", model_file,
                        "--out", out, "--overwrite", "--class", "0")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["a_class0_gradcam.png"]
    assert len(read_csv(out)) == 1

    foreign = tmp_path / "holiday_photos"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    refused = run_here(capsys, "explain", image_dir, "--model", model_file, "--out", foreign)
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_jpeg_overlays_are_the_png_ones_compressed_and_runs_handle_them(model_file, image_dir,
                                                                      tmp_path, capsys):
    png, jpg = tmp_path / "png", tmp_path / "jpg"
    assert run_here(capsys, "explain", image_dir, "--model", model_file, "--out", png
                    ).returncode == 1  # e_broken.png
    done = run_here(capsys, "explain", image_dir, "--model", model_file, "--out", jpg,
                    "--format", "jpg")
    assert done.returncode == 1, done.stderr
    rows = {r["image"]: r for r in read_csv(png) if not r["error"]}
    for row in (r for r in read_csv(jpg) if not r["error"]):
        lossless = cv2.imread(rows[row["image"]]["overlay"])
        assert row["overlay"].endswith("_class%s_gradcam.jpg" % row["class_index"])
        compressed = cv2.imread(row["overlay"])
        assert compressed.shape == lossless.shape
        # Quality 95 on a 64x64 noise texture with a caption (27.7 dB here; photos ~37 dB); a
        # different heatmap or colormap is below 20 dB.
        assert cv2.PSNR(compressed, lossless) > 25.0
    resumed = run_here(capsys, "explain", image_dir, "--model", model_file, "--out", jpg,
                       "--format", "jpg", "--resume")
    assert resumed.returncode == 1 and "5 image(s) already done" in resumed.stderr
    replaced = run_here(capsys, "explain", image_dir / "a.png", "--model", model_file,
                        "--out", jpg, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not list(jpg.glob("*.jpg")) and len(list(jpg.glob("*.png"))) == 1
    bad = run_here(capsys, "explain", image_dir, "--model", model_file, "--out",
                   tmp_path / "x", "--format", "gif")
    assert bad.returncode == 2 and "invalid choice: 'gif'" in bad.stderr


def test_inputs_inside_the_output_folder_are_never_read_or_overwritten(model_file, tmp_path,
                                                                       scenes, capsys):
    folder = tmp_path / "photos"
    write_png(folder / "a.png", scenes[0])
    write_png(folder / "a_class1_gradcam.png", scenes[1])  # looks like an overlay
    before = digest(folder)
    result = run_here(capsys, "explain", folder, "--model", model_file, "--out",
                      folder / "cams")
    assert result.returncode == 0, result.stderr
    assert len(read_csv(folder / "cams")) == 2
    after = digest(folder)
    assert {k: after[k] for k in before} == before
    again = run_here(capsys, "explain", folder, "--recursive", "--model", model_file, "--out",
                     folder / "cams", "--resume")
    assert again.returncode == 0, again.stderr
    # Its own overlays, summaries, report page and thumbnails: never read as inputs.
    inside = sum(1 for p in (folder / "cams").rglob("*") if p.is_file())
    assert f"skipped {inside} file(s) inside the output folder" in again.stderr
    assert "0 to go" in again.stderr and digest(folder) == after
    # The same file named twice (the folder and the file) is explained once.
    twice = run_here(capsys, "explain", folder, folder / "a.png", "--model", model_file,
                     "--out", tmp_path / "twice")
    assert twice.returncode == 0 and len(read_csv(tmp_path / "twice")) == 2


@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    """3,000 small generated PNGs (16x16, resized to the model's 64x64 on read)."""
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for i in range(3000):
        cv2.imwrite(str(folder / f"{i:05d}.png"), rng.integers(0, 256, (16, 16, 3), np.uint8))
    return folder


#: Runs `tf_gradcam.cli.main(argv)` while a thread samples, every 50 ms, the rows in the
#: summary, the Python heap (tracemalloc: every Python object and NumPy array) and the resident
#: memory (/proc); prints the samples as JSON and exits with the CLI's status.
_MEMORY_PROBE = """
import json, pathlib, sys, threading, time, tracemalloc
from tf_gradcam.cli import main
summary, samples, done = pathlib.Path(sys.argv[1]), [], threading.Event()
def sample():
    while not done.wait(0.05):
        try:
            rows = summary.read_bytes().count(b"\\n") - 1
        except OSError:
            continue
        status = pathlib.Path("/proc/self/status").read_text().splitlines()
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        samples.append((rows, tracemalloc.get_traced_memory()[0] / 2**20, rss / 1024))
tracemalloc.start()
threading.Thread(target=sample, daemon=True).start()
code = main(sys.argv[2:])
done.set()
print(json.dumps(samples))
sys.exit(code)
"""


@pytest.mark.skipif(not pathlib.Path("/proc/self/status").exists(),
                    reason="reads a process's resident memory from /proc (Linux)")
def test_memory_does_not_grow_with_the_number_of_images(model_file, many_images, tmp_path):
    # 6,000 images: the 3,000 files linked twice under new names. Memory is sampled as the
    # summary grows; warm-up (the model's first traces, the allocator's arenas) is over by the
    # 1,500th row. The report page (its build holds O(rows) memory) is left out.
    twice = tmp_path / "twice"
    twice.mkdir()
    for path in sorted(many_images.iterdir()):
        for copy in range(2):
            (twice / f"{copy}_{path.name}").symlink_to(path)
    out = tmp_path / "out"
    argv = ["explain", twice, "--model", model_file, "--out", out, "--batch-size", "64",
            "--no-report"]
    result = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, out / "summary.csv"]
                            + [str(a) for a in argv], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(read_csv(out)) == 6000
    samples = np.array(json.loads(result.stdout.splitlines()[-1]))

    def median_between(first, last):
        window = samples[(samples[:, 0] >= first) & (samples[:, 0] < last)]
        assert len(window) >= 5, samples[:, 0]  # enough samples in every stretch
        return np.median(window[:, 1:], axis=0)

    (heap_early, rss_early), (heap_late, rss_late) = (median_between(1500, 2500),
                                                      median_between(5000, 6000))
    # 3,500 rows apart. Holding 4 KiB of Python objects per row would add 14 MiB to the heap;
    # the heap of a run that holds nothing per row moves by well under 1 MiB.
    assert heap_late - heap_early < 3, (heap_early, heap_late)
    # Decoded images and overlays are NumPy arrays: holding them shows in the heap above.
    # Resident memory also counts TensorFlow's and OpenCV's native buffers (which tracemalloc
    # cannot see), and with them the allocators' steps and swings: TensorFlow 2.17's eager
    # runtime alone moves it by 20-50 MiB from batch to batch (medians 34 MiB apart in one CI
    # run), so this bound only catches a native leak of more than ~17 KiB per image.
    assert rss_late - rss_early < 60, (rss_early, rss_late)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_keeps_its_summary_and_resume_completes_it(model_file, many_images,
                                                                 tmp_path, signum):
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted(many_images.iterdir())[:1500]:
        (folder / path.name).symlink_to(path)
    out = tmp_path / "out"
    args = ["explain", folder, "--model", model_file, "--out", out, "--batch-size", "8",
            "--json"]
    process = subprocess.Popen(_command() + [str(a) for a in args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    summary = out / "summary.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if summary.is_file() and summary.read_text().count("\n") > 40:
            break
        time.sleep(0.02)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout and "--resume" in stdout
    rows = read_csv(out)
    assert 40 <= len(rows) < 1500
    assert rows == read_jsonl(out) == json.loads((out / "summary.json").read_text())
    assert len({r["image"] for r in rows}) == len(rows)
    # Exactly what the summary says was written: no overlay without its row, or vice versa.
    assert sorted(r["overlay"] for r in rows) == sorted(str(p) for p in out.glob("*.png"))

    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(rows)} image(s) already done" in resumed.stderr
    final = read_csv(out)
    assert final[:len(rows)] == rows  # appended, not rewritten
    assert sorted(r["image"] for r in final) == sorted(str(p) for p in folder.iterdir())
    assert len(list(out.glob("*.png"))) == 1500


def test_resume_after_a_hard_kill_drops_torn_and_unfinished_rows(model_file, image_dir,
                                                                 tmp_path, capsys):
    out = tmp_path / "out"
    args = ["explain", image_dir, "--model", model_file, "--out", out, "--top", "2"]
    assert run_here(capsys, *args).returncode == 1
    complete = read_csv(out)
    # A SIGKILL mid-batch: image d has one of its two rows and the last line is torn (e's
    # failure row is gone).
    for name in ("summary.csv", "summary.jsonl"):
        lines = (out / name).read_text().splitlines(keepends=True)
        assert "d_rgba" in lines[-2] and "d_rgba" in lines[-3]
        (out / name).write_text("".join(lines[:-2]) + lines[-2][:10])
    resumed = run_here(capsys, *args, "--resume")
    assert resumed.returncode == 1, resumed.stderr
    assert "dropped 1 row(s)" in resumed.stderr and "3 image(s) already done" in resumed.stderr
    final = read_csv(out)
    assert final == read_jsonl(out)
    key = lambda r: (r["image"], r["rank"] or 0)  # noqa: E731
    # Image d was explained in a batch of one this time: float rounding may differ.
    rounded = lambda rows: [{k: round(v, 4) if isinstance(v, float) else v  # noqa: E731
                             for k, v in r.items()} for r in sorted(rows, key=key)]
    assert rounded(final) == rounded(complete)


@pytest.mark.parametrize("extra, message", [
    (["--layer", "nope"], "'nope' is not part of the model"),
    (["--class", "7"], "out of range"),
    (["--preprocess", "bogus"], "Unknown preprocessing"),
    (["--batch-size", "0"], "expected a whole number >= 1"),
])
def test_usage_errors_exit_2(model_file, image_dir, tmp_path, extra, message, capsys):
    result = run_here(capsys, "explain", image_dir / "a.png", "--model", model_file, "--out",
                     tmp_path / "o", *extra)
    assert result.returncode == 2 and message in result.stderr


def test_missing_model_exits_2(image_dir, tmp_path):
    result = run_cli("explain", image_dir / "a.png", "--model", tmp_path / "none.keras")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_progress_bar_on_a_terminal(model_file, image_dir, tmp_path):
    pty = pytest.importorskip("pty")
    termios = pytest.importorskip("termios")
    import fcntl
    import struct

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        _command() + ["explain", str(image_dir), "--model", str(model_file), "--out",
                      str(tmp_path / "o")], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert "5/5" in text and "image" in text  # tqdm's bar: done/total and the unit


def test_tensorflow_start_up_lines_are_quiet_by_default():
    # The command line imports only the standard library (and NumPy) until a command runs;
    # TensorFlow is then imported through `quiet_tensorflow`.
    script = ("import os, sys\n"
              "from tf_gradcam.cli import common\n"
              "assert 'tensorflow' not in sys.modules\n"
              "common.quiet_tensorflow()\n"
              "import tensorflow as tf; tf.constant(1) + 1\n"
              "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "2"
    for noise in ("oneDNN", "cuda", "InitializeLog", "instructions"):
        assert noise not in quiet.stderr, quiet.stderr


def test_help_version_and_usage_errors_do_not_import_tensorflow():
    """`--help`, `--version`, each command's `--help` and usage errors answer without
    TensorFlow (checked in `sys.modules`, not timed)."""
    script = ("import sys\n"
              "from tf_gradcam.cli import main\n"
              "for argv in (['--help'], ['--version'], ['explain', '--help'],\n"
              "             ['evaluate', '--help'], ['export', '--help'], ['report', '--help'],\n"
              "             ['explain', 'x.png', '--model', 'm.keras', '--fit', 'bogus'],\n"
              "             ['explain', 'x.png', '--model', 'm.keras', '--preprocess', 'bad'],\n"
              "             ['explain', 'x.png', '--model', 'm.keras', '--method', 'bad'],\n"
              "             ['explain', 'x.png'], ['layers', 'no/such/model.keras']):\n"
              "    try:\n"
              "        main(argv)\n"
              "    except SystemExit as exit_:\n"
              "        print(argv[0], exit_.code, file=sys.stderr)\n"
              "    else:\n"
              "        print(argv[0], 'returned', file=sys.stderr)\n"
              "heavy = [m for m in ('tensorflow', 'keras', 'cv2', 'matplotlib') if m in sys.modules]\n"
              "print('heavy:', heavy)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "heavy: []", done.stdout
    codes = [line.split()[-1] for line in done.stderr.splitlines() if line[:1] != " "
             and line.split()[-1].isdigit()]
    assert codes == ["0"] * 6 + ["2"] * 4, done.stderr
    assert "model 'no/such/model.keras' does not exist" in done.stderr
    assert "tf-gradcam 0." in done.stdout
    assert "argument --fit: invalid choice: 'bogus'" in done.stderr
    assert "Unknown preprocessing 'bad'" in done.stderr


def test_the_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "tf_gradcam.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tf-gradcam "), done.stderr


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


def test_export_writes_a_servable_saved_model(model_file, tmp_path):
    result = run_cli("export", model_file, tmp_path / "gradcam" / "1", "--method", "hirescam")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gradcam" / "1" / "saved_model.pb").is_file()
    again = run_cli("export", model_file, tmp_path / "gradcam" / "1")
    assert again.returncode == 2 and "is not empty" in again.stderr


def test_output_option_and_layers_inside_custom_layers(capsys, tmp_path):
    """`--output` explains one head of a multi-output model; `layers` reaches inside custom
    layers and marks the choice the explainer makes."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="features")(inp)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inp, {"cls": keras.layers.Dense(3, activation="softmax", name="cls")(
        pooled), "box": keras.layers.Dense(4, name="box")(pooled)})
    path = tmp_path / "two_heads.keras"
    model.save(path)
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((16, 16, 3), 90, np.uint8))
    refused = run_here(capsys, "explain", images, "--model", path, "--out", tmp_path / "o1")
    assert refused.returncode == 2 and "outputs ['box', 'cls']" in refused.stderr
    done = run_here(capsys, "explain", images, "--model", path, "--out", tmp_path / "o2",
                    "--output", "cls", "--top", "2")
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(tmp_path / "o2")
    assert [r["rank"] for r in rows] == [1, 2]
    assert 0.0 < rows[0]["probability"] <= 1.0
    listed = run_here(capsys, "layers", path)
    assert "* automatic choice (layer=None): features" in listed.stdout
