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
import resource
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


def timed(command, env, cwd):
    """Wall and CPU seconds (user + system) of one fresh process, and its result. `cwd` is a
    folder without a `tf_gradcam` (`python -m` puts the working folder first on the path)."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, done


def median_time(command, env, repeat, cwd, status):
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu, done = timed(command, env, cwd)
        if done.returncode != status:
            raise SystemExit(f"{command} exited {done.returncode}: {done.stderr[-2000:]}")
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


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
        for label, argv_tail, status in (
                ("`--help`", ["--help"], 0), ("`--version`", ["--version"], 0),
                ("`explain --help`", ["explain", "--help"], 0),
                ("usage error (`explain` without `--model`)", ["explain", "x"], 2)):
            times = []
            for source in (before, ROOT):
                if argv_tail == ["--version"] and source == before:
                    times.append((float("nan"), float("nan")))  # 0.2.0 had no --version
                    continue
                times.append(median_time([sys.executable, "-m", "tf_gradcam.cli"] + argv_tail,
                                         environment(source), args.repeat, tmp, status))
            rows.append((label, *times))
        times = []
        extra = ["--preprocess", preprocess] if preprocess else []
        for k, source in enumerate((before, ROOT)):
            walls, cpus = [], []
            for r in range(args.repeat):
                command = [sys.executable, "-m", "tf_gradcam.cli", "explain", str(photo),
                           "--model", model, "--out", str(tmp / f"out{k}_{r}")] + extra
                wall, cpu, done = timed(command, environment(source), tmp)
                if done.returncode != 0:
                    raise SystemExit(f"explain failed ({source}): {done.stderr[-2000:]}")
                walls.append(wall)
                cpus.append(cpu)
            times.append((statistics.median(walls), statistics.median(cpus)))
        rows.append(("one-image `explain` end to end", *times))
        _, _, done = timed([sys.executable, "-c", PHASES, model, str(photo), preprocess,
                            str(tmp / "one.png")], environment(ROOT), tmp)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        phases = json.loads(done.stdout.strip().splitlines()[-1])

    lines = [f"# CLI start-up ({name})", "",
             f"Measured by `python benchmarks/cli_startup.py` on {platform.machine()}, "
             f"{os.cpu_count()} CPUs (shared with other jobs: load average "
             f"{os.getloadavg()[0]:.1f}), Python {platform.python_version()}; wall and CPU "
             f"(user + system) time of a fresh process, median of {args.repeat}. 'before' is "
             f"revision {args.before} (0.2.0).", "",
             "| command | before: wall s | before: CPU s | now: wall s | now: CPU s | "
             "before / now (wall) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {a[0]:.2f} | {a[1]:.2f} | {b[0]:.2f} | {b[1]:.2f} | "
              f"{a[0] / b[0]:.1f}x |".replace("nan", "-") for label, a, b in rows]
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
