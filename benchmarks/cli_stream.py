"""`tf-gradcam explain` streaming: throughput against the model's own, and flat memory.

Measured in one run, on generated images written to a temporary folder:

1. Throughput. JPEG "photos" (default 1024x768) explained by the CLI with a ResNet50 (224,
   random weights), compared with the same explainer's batched Grad-CAM throughput on
   already-decoded images (no files, no overlays): the ratio is what decoding, writing and
   the summary cost once they overlap the model. The CLI's rate is taken between a run on
   N/10 and one on N images, so the fixed start (model load, first trace) cancels out.
   For context: single-threaded decode and overlay+PNG costs per image, and the rate a
   serial loop (decode, then model, then write) would reach.
2. Memory. Peak RSS of the `tf-gradcam` process (a fresh process per size, measured with
   `getrusage(RUSAGE_CHILDREN)` in a wrapper) on 1,000 and 10,000 images: small JPEGs and
   the bundled 64x64 shapes CNN, so 10,000 images fit in a minute on a 2-core machine.

Usage:
    python benchmarks/cli_stream.py                  # full run, writes benchmarks/cli_stream.md
    python benchmarks/cli_stream.py --photos 200 --memory 200 2000 --no-write   # quick look
"""

import argparse
import contextlib
import io
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def make_photos(folder, n, size, seed=0):
    """`n` smooth, photo-like JPEGs (quality 90) of `size` (height, width)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    for i in range(n):
        coarse = rng.integers(0, 256, (6, 8, 3), np.uint8)
        image = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        noise = rng.integers(-12, 13, (h, w, 1), np.int16)
        image = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"photo_{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def subset(folder, target, n):
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir())[:n]:
        (target / path.name).symlink_to(path)
    return target


def cli_command():
    script = pathlib.Path(sys.executable).with_name("tf-gradcam")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tf_gradcam.cli"]


def run_cli_here(args):
    """`tf-gradcam ARGS` in this process; returns (exit status, seconds)."""
    from tf_gradcam import cli

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main([str(a) for a in args])
    return code, time.perf_counter() - start


def peak_rss_mib(args, env=None, command=None, cwd=None):
    """Peak RSS of one `tf-gradcam` process (MiB) and its wall time (`command` replaces the
    console script, e.g. `python -m tf_gradcam.cli` with another source tree in `env`, run
    in `cwd`: `-m` puts the working directory ahead of PYTHONPATH)."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
             "time.perf_counter() - t)")
    result = subprocess.run([sys.executable, "-c", probe] + (command or cli_command())
                            + [str(a) for a in args], capture_output=True, text=True,
                            check=True, env=env, cwd=cwd)
    code, kib, seconds = result.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"tf-gradcam exited with {code}")
    return int(kib) / 1024, float(seconds)


def throughput(tmp, photos, photo_size, batch_size, model_images):
    import keras

    from tf_gradcam import files, registry, visualize

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None)
    model_path = tmp / "resnet50.keras"
    model.save(model_path)
    folder = make_photos(tmp / "photos", photos, photo_size)
    small = subset(folder, tmp / "photos_small", photos // 10)

    # The model's own batched Grad-CAM throughput (decoded images, nothing written), measured
    # before and after the CLI runs (the mean), so load from other jobs hits both alike.
    explainer = registry.get("gradcam")(model, None, preprocess="none")
    batch = np.stack([files.read_image(p, (224, 224))[0]
                      for p in sorted(folder.iterdir())[:batch_size]])
    explainer.explain(batch)  # trace
    calls = max(1, model_images // batch_size)

    def model_rate():
        start = time.perf_counter()
        for _ in range(calls):
            explainer.explain(batch)
        return calls * batch_size / (time.perf_counter() - start)

    rates = [model_rate()]

    # Single-threaded costs of the file work, for context.
    sample = sorted(folder.iterdir())[:50]
    start = time.perf_counter()
    decoded = [files.read_image(p, (224, 224))[0] for p in sample]
    decode_ms = (time.perf_counter() - start) / len(sample) * 1e3
    heat = explainer.explain(batch[:1]).heatmaps[0]
    photos_rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sample[:20]]
    start = time.perf_counter()
    pictures_ = [visualize.overlay(photo, heat, caption="class 1 12.3%\ngradcam")
                 for photo in photos_rgb]
    overlay_ms = (time.perf_counter() - start) / len(photos_rgb) * 1e3
    encode_ms = {}
    for image_format in files.IMAGE_FORMATS:
        start = time.perf_counter()
        for picture in pictures_:
            files.write_atomic(tmp / f"w.{image_format}",
                               files.encode_image(picture, image_format))
        encode_ms[image_format] = (time.perf_counter() - start) / len(pictures_) * 1e3
    write_ms = overlay_ms + encode_ms["png"]
    serial_rate = 1e3 / (1e3 / rates[0] + decode_ms + write_ms)

    common = ["--model", model_path, "--batch-size", batch_size]
    cli = {}
    for image_format in files.IMAGE_FORMATS:
        extra = common + ["--format", image_format]
        code_small, t_small = run_cli_here(["explain", small, "--out",
                                            tmp / f"o_small_{image_format}"] + extra)
        code_full, t_full = run_cli_here(["explain", folder, "--out",
                                          tmp / f"o_full_{image_format}"] + extra)
        assert code_small == code_full == 0
        cli[image_format] = ((photos - photos // 10) / (t_full - t_small), t_full)
    rates.append(model_rate())
    model_rate = sum(rates) / len(rates)
    return {"model_rate": model_rate, "model_rates": rates, "cli_rate": cli["png"][0],
            "cli_wall": cli["png"][1], "cli_rate_jpg": cli["jpg"][0],
            "cli_wall_jpg": cli["jpg"][1], "folder": folder, "model_path": model_path,
            "decode_ms": decode_ms, "write_ms": write_ms, "overlay_ms": overlay_ms,
            "encode_ms": encode_ms, "serial_rate": serial_rate}


def before_after(tmp, folder, model_path, batch_size, revision):
    """The same folder through the 0.2.0 command line (224x224 overlays, no captions, no
    report; `git archive` of `revision`) and the working tree's (overlays at the photo's size,
    captions, the report page): wall time and peak RSS of each, one fresh process each."""
    before = tmp / "before_src"
    before.mkdir()
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", revision, "tf_gradcam"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    rows = []
    for label, source, extra in (
            (f"0.2.0 ({revision}): 224x224 overlays", before, []),
            ("now: photo-size overlays (1024x768), captions, index.html", HERE.parent, []),
            ("now, `--format jpg`", HERE.parent, ["--format", "jpg"])):
        env = dict(os.environ, PYTHONPATH=str(source))
        found = subprocess.run([sys.executable, "-c", "import tf_gradcam; print("
                                "tf_gradcam.__file__)"], capture_output=True, text=True,
                               env=env, cwd=tmp, check=True).stdout.strip()
        if not pathlib.Path(found).resolve().is_relative_to(pathlib.Path(source).resolve()):
            raise RuntimeError(f"the {label!r} run would import {found}, not {source}")
        out = tmp / f"compare_{len(rows)}"
        rss, seconds = peak_rss_mib(["explain", folder, "--model", model_path, "--out", out,
                                     "--batch-size", batch_size] + extra, env,
                                    [sys.executable, "-m", "tf_gradcam.cli"], cwd=tmp)
        written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        rows.append((label, seconds, rss, written / 2 ** 20))
    return rows


def memory(tmp, sizes, batch_size):
    from tf_gradcam.demo import MODEL_PATH

    folder = make_photos(tmp / "small_jpegs", max(sizes), (96, 128), seed=1)
    rows = []
    for n in sizes:
        images = subset(folder, tmp / f"mem_{n}", n)
        rss, seconds = peak_rss_mib(["explain", images, "--model", MODEL_PATH, "--out",
                                     tmp / f"mem_out_{n}", "--batch-size", batch_size])
        rows.append((n, rss, seconds))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--photo-size", type=int, nargs=2, default=(768, 1024),
                        metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model-images", type=int, default=400,
                        help="images per model-only measurement (one before, one after)")
    parser.add_argument("--memory", type=int, nargs="+", default=(1000, 10000))
    parser.add_argument("--memory-batch-size", type=int, default=64)
    parser.add_argument("--before", default="94cc946",
                        help="git revision of the 'before' row (default: 0.2.0's 94cc946)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cli_stream_"))
    try:
        speed = throughput(tmp, args.photos, tuple(args.photo_size), args.batch_size,
                           args.model_images)
        compare = before_after(tmp, speed["folder"], speed["model_path"], args.batch_size,
                               args.before)
        mem = memory(tmp, args.memory, args.memory_batch_size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    h, w = args.photo_size
    lines = [
        "# `tf-gradcam explain`: streaming throughput and memory",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `python benchmarks/cli_stream.py` on "
        f"{platform.machine()} ({os.cpu_count()} CPUs, shared with other jobs), device "
        f"{device}, TensorFlow {tf.__version__}, Keras {keras.__version__}.",
        "",
        f"## Throughput: {args.photos} JPEG photos ({w}x{h}), ResNet50 (224, random weights), "
        f"batch {args.batch_size}",
        "",
        "| what | images/s | ratio to the model |",
        "|---|---|---|",
        f"| the explainer's own batched Grad-CAM (decoded images in memory, nothing written; "
        f"mean of {speed['model_rates'][0]:.1f} before and {speed['model_rates'][1]:.1f} after) | "
        f"{speed['model_rate']:.1f} | 1.00 |",
        f"| `tf-gradcam explain` (decode + model + overlays + summary, streamed) | "
        f"{speed['cli_rate']:.1f} | {speed['cli_rate'] / speed['model_rate']:.2f} |",
        f"| `tf-gradcam explain --format jpg` (JPEG overlays, quality 95) | "
        f"{speed['cli_rate_jpg']:.1f} | {speed['cli_rate_jpg'] / speed['model_rate']:.2f} |",
        f"| a serial loop (decode, then model, then write; computed) | "
        f"{speed['serial_rate']:.1f} | {speed['serial_rate'] / speed['model_rate']:.2f} |",
        "",
        f"Single-threaded file work per image: decode + resize {speed['decode_ms']:.1f} ms; "
        f"on the {w}x{h} photo, the captioned overlay {speed['overlay_ms']:.1f} ms, then PNG + "
        f"atomic write {speed['encode_ms']['png']:.1f} ms or JPEG + atomic write "
        f"{speed['encode_ms']['jpg']:.1f} ms. The CLI's rate is measured "
        f"between a {args.photos // 10}-image and a {args.photos}-image run (fixed start-up "
        f"cancels); the {args.photos}-image run took {speed['cli_wall']:.1f} s end to end "
        "in-process.",
        "",
        f"## Before and after: the same {args.photos} photos ({w}x{h}), ResNet50, one fresh "
        "process each",
        "",
        "| command line | wall s (with start-up) | peak RSS MiB | written MiB |",
        "|---|---|---|---|",
    ]
    lines += [f"| {label} | {seconds:.1f} | {rss:.0f} | {mib:.0f} |"
              for label, seconds, rss, mib in compare]
    lines += [
        "",
        f"Full-resolution overlays and the report cost "
        f"{compare[1][1] / compare[0][1]:.2f}x the 0.2.0 run's time here "
        f"({compare[2][1] / compare[0][1]:.2f}x with `--format jpg`).",
        "",
        f"## Memory: peak RSS of the `tf-gradcam` process, shapes CNN (64x64), 128x96 JPEGs, "
        f"batch {args.memory_batch_size}",
        "",
        "| images | peak RSS MiB | wall s (with start-up) |",
        "|---|---|---|",
    ]
    lines += [f"| {n:,} | {rss:.0f} | {seconds:.1f} |" for n, rss, seconds in mem]
    growth = mem[-1][1] - mem[0][1]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += [
        "", f"Growth from {mem[0][0]:,} to {mem[-1][0]:,} images: {growth:+.0f} MiB.", "",
        f"Notes: load average {load:.1f} on {os.cpu_count()} CPUs at the end of the run (other "
        "jobs share the machine), so absolute rates are low and vary between runs; the ratios "
        "compare measurements taken back to back (the model's rate before and after the CLI "
        "runs). On CPU the decode/write threads share the cores with the model"
        + (", so the CLI matches the model's rate only because the model leaves cores idle "
           "between ops" if speed["cli_rate"] >= 0.9 * speed["model_rate"] else
           f": the file work (decode, the full-size overlay, PNG encoding) takes "
           f"{1 - speed['cli_rate'] / speed['model_rate']:.0%} of the model's rate off the "
           "CLI's") + "; with "
        "a GPU the file work runs entirely beside the model. What grows with the number of "
        "images is the list of input paths and output names (well under 1 KiB per image), "
        "not pixels: at most 4 batches of decoded images (3 read ahead, 1 in the model) and "
        "2 batches of overlays are in "
        "flight at any time. The 10,000-image memory row uses 128x96 JPEGs and the 64x64 "
        "shapes CNN so that it runs in about a minute here; the throughput row streams "
        "full-size photos."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (HERE / "cli_stream.md").write_text(text)


if __name__ == "__main__":
    main()
