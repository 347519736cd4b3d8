"""Speed of Ablation-CAM, Smooth Grad-CAM++ and Deep Feature Factorization against the
model's own forward pass.

Rows (each a ratio measured side by side in one process, interleaved with a plain forward
pass `model(x)` in a `tf.function` on the same input; see `bench.py`):

- ResNet50 (224, random weights), Ablation-CAM at `conv5_block3_out` (2048 channels) at
  batch 1: the ablated copies run only the head after the layer (GAP + Dense) (issue
  target <= 3x). The full-forward fallback (what pytorch-grad-cam does for every layer:
  one whole-network pass per ablated channel, in batches of its `batch_size=32`) is given
  as its floor: 2048 images through the whole network, timed here per image at batch 8.
- ResNet50, Smooth Grad-CAM++ (4 noisy copies, one batched gradient pass) at batch 4.
- ResNet50, Deep Feature Factorization at `conv5_block3_out` (K=5) at batch 1 and 16: one
  forward pass plus scikit-learn's NMF on the CPU.

    python benchmarks/ablation.py [--quick]    # writes ablation.md next to this file
"""

import argparse
import os
import pathlib
import platform
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402
from bench import interleaved, timed  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
LAYER = "conv5_block3_out"
NAME = "ResNet50 (224, random weights)"


def row(what, batch, method, forward, repeats, target=None, note=""):
    method()  # trace once
    forward()
    method_s, forward_s = interleaved(method, forward, repeats)
    return {"what": what, "batch": batch, "seconds": method_s, "forward_seconds": forward_s,
            "ratio": method_s / forward_s, "target": target, "note": note}


def rows(repeats):
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    resnet = keras.applications.ResNet50(weights=None)
    forward_fn = tf.function(lambda v: resnet(v, training=False))
    out = []

    x1 = tf.constant(rng.uniform(0, 255, (1, 224, 224, 3)), tf.float32)
    top1 = np.full((1, 1), -1, np.int32)
    for batch_size in (32, 16, 64):
        cam = tfg.AblationCAM(resnet, layer=LAYER, batch_size=batch_size)
        assert cam.head_only
        out.append(row(f"ablationcam head only, batch_size={batch_size} (2048 ablated "
                       "copies)", 1, lambda: cam.compute(x1, top1)["heatmaps"].numpy(),
                       lambda: forward_fn(x1).numpy(), repeats, 3.0 if batch_size == 32
                       else None))

    x8 = tf.zeros((8, 224, 224, 3), tf.float32)
    forward_fn(x8)
    per_image = statistics.median(timed(lambda: forward_fn(x8).numpy(), 3)) / 8
    floor = 2048 * per_image
    single = out[0]["forward_seconds"]
    out.append({"what": "full forward per ablated channel (pytorch-grad-cam's way): floor "
                        "= 2048 images through ResNet50 (64 passes at its batch 32)",
                "batch": 1, "seconds": floor, "forward_seconds": single,
                "ratio": floor / single, "target": None,
                "note": f"estimated: 2048 x {per_image:.3f} s per image (timed at batch 8)"})

    x4 = tf.constant(rng.uniform(0, 255, (4, 224, 224, 3)), tf.float32)
    smooth = tfg.SmoothGradCAMPlusPlus(resnet)
    top4 = np.full((4, 1), -1, np.int32)
    out.append(row("smoothgradcam++ (4 noisy copies, one gradient pass)", 4,
                   lambda: smooth.compute(x4, top4)["heatmaps"].numpy(),
                   lambda: forward_fn(x4).numpy(), repeats))

    dff = tfg.DeepFeatureFactorization(resnet, layer=LAYER, n_components=5)
    for batch in (1, 16):
        xb = tf.constant(rng.uniform(0, 255, (batch, 224, 224, 3)), tf.float32)
        found = dff(xb)
        out.append(row(f"dff K=5 ({batch * 49} positions x 2048 channels)", batch,
                       lambda: dff(xb), lambda: forward_fn(xb).numpy(), repeats,
                       note=f"NMF relative error {found.relative_error:.3f}"))
    return out


def write(results, path):
    lines = ["# Ablation-CAM, Smooth Grad-CAM++ and DFF speed", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU "
             f"cores (shared), TensorFlow {tf.__version__}, Keras {keras.__version__}. Ratios "
             "are medians of interleaved runs against the model's own forward pass at the "
             f"same batch (`python benchmarks/ablation.py`). {NAME}, layer `{LAYER}`.", "",
             "| batch | what | seconds | forward s | ratio | target | note |",
             "| ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        target = f"<= {r['target']}" if r["target"] else ""
        lines.append(f"| {r['batch']} | {r['what']} | {r['seconds']:.3f} | "
                     f"{r['forward_seconds']:.3f} | {r['ratio']:.2f}x | {target} | "
                     f"{r['note']} |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", default=str(HERE / "ablation.md"))
    args = parser.parse_args()
    write(rows(3 if args.quick else 7), pathlib.Path(args.out))


if __name__ == "__main__":
    main()
