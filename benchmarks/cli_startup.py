"""`tf-gradcam` start-up: `--help` and a one-image `explain`, before (0.2.0) and now.

Measured in one run on this machine:

1. Wall time of `tf-gradcam --help`, `tf-gradcam explain --help` and a usage error, each in
   a fresh process (median of 3), for the 0.2.0 command line (`git archive` of a revision
   into a temporary folder) and the working tree's.
2. Wall time of `tf-gradcam explain ONE_PHOTO` end to end (fresh process; median of 3), both.
3. The one-image run broken into phases, in one fresh process with the working tree's code:
   import (TensorFlow through the CLI's quiet import), model load, explainer build, trace
   (first call minus a steady call), compute (a steady call), write (overlay + PNG).

The model is EfficientNet-Lite0 (`TF_GRADCAM_IMAGENET_MODEL`, `--preprocess
efficientnet_lite`) when that variable is set, else the bundled 64x64 shapes CNN. The photo
is a generated 451x300 JPEG.

Usage:
    python benchmarks/cli_startup.py             # writes benchmarks/cli_startup.md
    python benchmarks/cli_startup.py --before 94cc946 --repeat 1 --no-write
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
from tf_gradcam.cli import common
common.quiet_tensorflow()
import keras, tensorflow
t1 = time.perf_counter()
model = common.load_model(sys.argv[1])
t2 = time.perf_counter()
import tf_gradcam as tfg
from tf_gradcam import files, pictures
cam = tfg.GradCAM(model, preprocess=sys.argv[3] or None)
t3 = time.perf_counter()
size = tuple(model.input_shape[1:3])
photo = files.decode_photo(open(sys.argv[2], "rb").read(), max_size=2048)
prepared = pictures.prepare(photo, size)
t4 = time.perf_counter()
exp = cam.explain(prepared.model_image[None])
t5 = time.perf_counter()
exp = cam.explain(prepared.model_image[None])
t6 = time.perf_counter()
text = pictures.caption(int(exp.class_index[0]), float(exp.probabilities[0][int(exp.class_index[0])]) if exp.probabilities is not None else None, cam.method)
picture, _ = pictures.overlay(prepared, exp.heatmaps[0], caption=text)
files.write_atomic(sys.argv[4], files.png_bytes(picture))
t7 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "model load": t2 - t1, "explainer build": t3 - t2,
                  "decode + fit": t4 - t3, "trace": (t5 - t4) - (t6 - t5),
                  "compute": t6 - t5, "write": t7 - t6}))
"""


def timed(command, env, cwd=None):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    return time.perf_counter() - start, done


def median_time(command, env, repeat, cwd=None):
    times = []
    for _ in range(repeat):
        seconds, done = timed(command, env, cwd)
        times.append(seconds)
    return statistics.median(times), done


def environment(source):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(source)
    return env


def make_photo(path):
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (6, 9, 3), np.uint8)
    image = cv2.resize(coarse, (451, 300), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="94cc946",
                        help="the git revision measured as 'before' (default: 0.2.0's 94cc946)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    real = os.environ.get("TF_GRADCAM_IMAGENET_MODEL")
    model = real or str(ROOT / "tf_gradcam" / "assets" / "shapes_cnn.keras")
    preprocess = "efficientnet_lite" if real else ""
    name = "EfficientNet-Lite0" if real else "bundled shapes CNN (64x64)"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        before = tmp / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "tf_gradcam"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        photo = make_photo(tmp / "photo.jpg")
        rows = []
        for label, argv_tail in (("`--help`", ["--help"]),
                                 ("`explain --help`", ["explain", "--help"]),
                                 ("usage error (`explain` without `--model`)", ["explain", "x"])):
            times = []
            for source in (before, ROOT):
                seconds, _ = median_time([sys.executable, "-m", "tf_gradcam.cli"] + argv_tail,
                                         environment(source), args.repeat)
                times.append(seconds)
            rows.append((label, *times))
        times = []
        extra = ["--preprocess", preprocess] if preprocess else []
        for k, source in enumerate((before, ROOT)):
            runs = []
            for r in range(args.repeat):
                command = [sys.executable, "-m", "tf_gradcam.cli", "explain", str(photo),
                           "--model", model, "--out", str(tmp / f"out{k}_{r}")] + extra
                seconds, done = timed(command, environment(source))
                if done.returncode != 0:
                    raise SystemExit(f"explain failed ({source}): {done.stderr[-2000:]}")
                runs.append(seconds)
            times.append(statistics.median(runs))
        rows.append(("one-image `explain` end to end", *times))
        _, done = timed([sys.executable, "-c", PHASES, model, str(photo), preprocess,
                         str(tmp / "one.png")], environment(ROOT))
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        phases = json.loads(done.stdout.strip().splitlines()[-1])

    lines = [f"# CLI start-up ({name})", "",
             f"Measured by `python benchmarks/cli_startup.py` on {platform.machine()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}; wall time of a fresh "
             f"process, median of {args.repeat}. 'before' is revision {args.before} (0.2.0).", "",
             "| command | before (s) | now (s) | before / now |", "|---|---:|---:|---:|"]
    lines += [f"| {label} | {a:.2f} | {b:.2f} | {a / b:.1f}x |" for label, a, b in rows]
    total = sum(phases.values())
    lines += ["", f"One-image `explain` with the working tree's code, by phase (one fresh "
                  f"process, sum {total:.2f} s; the CLI's own file handling, run.json, the "
                  "summaries and the report page are the rest of the end-to-end time):", "",
              "| phase | seconds | share |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.3f} | {v / total:.0%} |" for k, v in phases.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (HERE / "cli_startup.md").write_text(text)


if __name__ == "__main__":
    main()
