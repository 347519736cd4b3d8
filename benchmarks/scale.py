"""Scale rows: explain_dataset's memory over 10,000 images, Beam DirectRunner vs in-process.

    python benchmarks/scale.py                  # both rows (JSON lines)
    python benchmarks/scale.py --only memory    # or --only beam
    python benchmarks/scale.py --images 10000 --beam-images 500

Memory: RSS (from /proc/self/status) while `explain_dataset` streams generated 32x32 images
through a small CNN in batches of 64, after the first batches (warm: traced, tf.data buffers
allocated) and at the end; growth = end - warm. Nothing is kept between batches, so the
growth should stay flat however many images pass.

Beam: the same 500 generated 64x64 scenes, as PNG files, explained three ways, each end to
end in this process and timed from start to finish: (1) `explain` on the already decoded
array (compute only; explainer built and traced in the timing), (2) the same work the
pipeline does, as a plain loop (load the model, read, decode, explain in batches of 64,
overlay, write PNG, summary row), (3) `python -m tf_gradcam.beam` on DirectRunner (in
memory), launcher checks, pipeline construction, model load and tracing included; and (4) the
pipeline on 8 images, its start-up cost. Two models: the bundled small CNN (64x64, ~0.5 ms
per image) and a medium CNN (160x160, random weights, ~10 ms per image). The three paths are
interleaved and repeated; the fastest run of each counts (the least disturbed by other load
on a shared machine), and every run's wall time is printed too.
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402
from tf_gradcam import demo, files, records, synthetic  # noqa: E402
from tf_gradcam.streaming import explain_dataset  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def rss_mib():
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


def small_cnn(size=32):
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential([
        keras.Input((size, size, 3)), layers.Rescaling(1 / 255.0),
        layers.Conv2D(16, 3, activation="relu"), layers.Conv2D(16, 3, activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(10)])


def memory_row(n):
    """RSS growth of explain_dataset over `n` generated images."""
    cam = tfg.GradCAM(small_cnn())
    dataset = (tf.data.Dataset.range(n)
               .map(lambda i: tf.cast(tf.random.stateless_uniform(
                   (32, 32, 3), seed=tf.stack([i, 0]), maxval=256, dtype=tf.int32), tf.uint8))
               .batch(64))
    seen, warm, trace, start = 0, None, [], time.perf_counter()
    for exp in explain_dataset(cam, dataset):
        seen += len(exp.class_index)
        if warm is None and seen >= 640:
            warm = rss_mib()
        if seen % 2560 < 64:
            trace.append((seen, round(rss_mib(), 1)))
    took = time.perf_counter() - start
    end = rss_mib()
    return {"row": "explain_dataset memory", "images": seen, "rss_warm_mib": round(warm, 1),
            "rss_end_mib": round(end, 1), "growth_mib": round(end - warm, 1),
            "rss_trace": trace, "images_per_s": round(seen / took, 1),
            "traces": cam.compute.experimental_get_tracing_count()}


def write_scenes(folder, n):
    import cv2

    scenes = synthetic.make_scenes(n, seed=7)
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(scenes.images):
        cv2.imwrite(str(folder / f"scene{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return scenes.images


def medium_cnn(size=160):
    """A CNN with about 20x the small CNN's work per image (random weights)."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    x = inp = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 255.0)(x)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(128, 3, activation="relu")(x))
    return keras.Model(inp, layers.Dense(10)(x), name="medium_cnn")


class Clock:
    """Wall and CPU (all threads of this process) seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def in_process(folder, out, model_path, batch=64):
    """What the pipeline does, as a plain loop in this process; returns the number of rows."""
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    cam = tfg.GradCAM(model)
    size = cam.input_shape[:2]
    out.mkdir(parents=True)
    paths = files.expand_images([str(folder)])
    rows = []
    for i in range(0, len(paths), batch):
        chunk = paths[i:i + batch]
        images = [files.read_image(p, size)[0] for p in chunk]
        exp = cam.explain(np.stack(images))
        for j, path in enumerate(chunk):
            target = out / f"{path.stem}_class{int(exp.class_index[j])}.png"
            files.write_atomic(target, files.png_bytes(tfg.overlay(images[j], exp.heatmaps[j])))
            c = int(exp.class_index[j])
            item = records.Explained(1, c, float(exp.scores[j]), float(exp.predictions[j][c]),
                                     exp.heatmaps[j])
            rows.append(records.row(str(path), item, layer=exp.layer, method=exp.method,
                                    overlay=str(target)))
    (out / "summary.jsonl").write_text("".join(json.dumps(records.json_safe(r)) + "\n"
                                               for r in rows))
    return len(rows)


def beam_run(folder, out, model_path):
    from tf_gradcam.beam import main as beam_main

    status = beam_main(["--input", str(folder), "--model", str(model_path), "--output",
                        str(out), "--min-batch-size", "64", "--max-batch-size", "64",
                        "--runner", "DirectRunner"])
    assert status == 0


def beam_row(n, workdir, model_path, name, repeats=3, few=8):
    """`n` images through the three paths, interleaved, `repeats` times; the fastest run of
    each counts (the least disturbed by other load). Beam also runs on `few` images: its
    start-up cost (launcher checks, pipeline construction, runner start, model load, trace)."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in name)
    folder, tiny = workdir / "scenes", workdir / "few"
    if not folder.exists():
        write_scenes(folder, n)
        write_scenes(tiny, few)
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    size = model.input_shape[1:3]
    images = np.stack([files.read_image(p, size)[0] for p in sorted(folder.iterdir())])
    runs = {"explain": [], "loop": [], "beam": [], "beam_few": []}
    for r in range(repeats):
        with Clock() as clock:  # the explainer is built and traced in the timed part
            cam = tfg.GradCAM(model)
            for i in range(0, n, 64):
                cam.explain(images[i:i + 64])
        runs["explain"].append(clock)
        with Clock() as clock:
            assert in_process(folder, workdir / f"loop_{slug}_{r}", model_path) == n
        runs["loop"].append(clock)
        with Clock() as clock:
            beam_run(folder, workdir / f"beam_{slug}_{r}", model_path)
        runs["beam"].append(clock)
        with Clock() as clock:
            beam_run(tiny, workdir / f"beam_few_{slug}_{r}", model_path)
        runs["beam_few"].append(clock)
    best = {key: min(clocks, key=lambda c: c.wall) for key, clocks in runs.items()}
    explain, loop, beam, start = (best[k] for k in ("explain", "loop", "beam", "beam_few"))
    per_image = (beam.wall - start.wall) / (n - few)
    return {"row": f"Beam DirectRunner vs in-process, {name}", "images": n,
            "repeats": repeats, "load_avg_1min": round(os.getloadavg()[0], 1),
            "explain_only_images_per_s": round(n / explain.wall, 1),
            "in_process_loop_images_per_s": round(n / loop.wall, 1),
            "beam_images_per_s": round(n / beam.wall, 1),
            "beam_vs_explain_only": round(explain.wall / beam.wall, 2),
            "beam_vs_loop": round(loop.wall / beam.wall, 2),
            "beam_vs_loop_cpu": round(loop.cpu / beam.cpu, 2),
            "beam_startup_s": round(start.wall, 2),
            "beam_ms_per_image_after_startup": round(1000 * per_image, 2),
            "loop_ms_per_image": round(1000 * loop.wall / n, 2),
            "explain_ms_per_image": round(1000 * explain.wall / n, 2),
            "all_walls_s": {k: [round(c.wall, 2) for c in v] for k, v in runs.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("memory", "beam"))
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--beam-images", type=int, default=500)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}")
    if args.only in (None, "memory"):
        print(json.dumps(memory_row(args.images)))
    if args.only in (None, "beam"):
        with tempfile.TemporaryDirectory() as workdir:
            workdir = pathlib.Path(workdir)
            print(json.dumps(beam_row(args.beam_images, workdir, demo.MODEL_PATH,
                                      "bundled small CNN 64x64")))
            medium = workdir / "medium.keras"
            medium_cnn().save(medium)
            print(json.dumps(beam_row(args.beam_images, workdir, medium,
                                      "medium CNN 160x160", repeats=2)))


if __name__ == "__main__":
    main()
