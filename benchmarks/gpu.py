"""Grad-CAM against the forward pass at GPU scale, in one command (under 5 minutes on a GPU).

Each row is timed interleaved with a plain forward pass of the same model on the same batch
(median of repeated runs, alternating), so it reads as images/s of the method / images/s of
the forward pass (goal: Grad-CAM >= 0.9x). Rows: ResNet50 batch 64 Grad-CAM in float32 and
in mixed_float16, `top_k=5`, the exported SavedModel's `serving_default`, occlusion (patch 32,
against its floor: passes x forward), and a ViT-B/16 (KerasHub, random weights, offline) at
batch 32. Random weights everywhere: nothing is downloaded.

    python benchmarks/gpu.py            # full sizes; writes benchmarks/gpu.md and gpu.json
    python benchmarks/gpu.py --smoke    # tiny models and batches, a minute on a CPU (CI)
"""

import argparse
import json
import os
import pathlib
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent

#: Full sizes (a GPU) and smoke sizes (a CPU in CI, seconds).
SIZES = {
    "full": {"side": 224, "batch": 64, "vit_batch": 32, "occlusion_batch": 4, "repeats": 10,
             "vit": {"patch_size": 16, "num_layers": 12, "num_heads": 12, "hidden_dim": 768,
                     "mlp_dim": 3072}},
    "smoke": {"side": 32, "batch": 4, "vit_batch": 2, "occlusion_batch": 1, "repeats": 2,
              "vit": {"patch_size": 8, "num_layers": 1, "num_heads": 2, "hidden_dim": 16,
                      "mlp_dim": 32}},
}


def cnn(side, smoke):
    """ResNet50 (random weights), or for the smoke run a tiny CNN of the same kind."""
    keras.utils.set_random_seed(0)
    if not smoke:
        return keras.applications.ResNet50(weights=None), "conv5_block3_out"
    inp = keras.Input((side, side, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(10, name="head")(x)), "conv"


def vit(side, config):
    """A ViT classifier on a KerasHub `ViTBackbone` (random weights; ViT-B/16 at full size)."""
    import keras_hub

    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.ViTBackbone(image_shape=(side, side, 3), **config)
    inp = keras.Input((side, side, 3))
    tokens = backbone(inp)
    return keras.Model(inp, keras.layers.Dense(1000)(tokens[:, 0]))


def interleaved(method, forward, repeats):
    """Median seconds of `method` and of `forward`, one run of each in turn."""
    m, f = [], []
    for _ in range(repeats):
        for fn, times in ((forward, f), (method, m)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(m), statistics.median(f)


def row(label, batch, method, model, x, repeats, floor_passes=1):
    """Time `method()` against `model`'s forward pass on `x`; one result row."""
    forward_fn = tf.function(lambda v: model(v, training=False))
    forward = lambda: forward_fn(x).numpy()  # noqa: E731
    start = time.perf_counter()
    method()
    first = time.perf_counter() - start
    forward()
    method_s, forward_s = interleaved(method, forward, repeats)
    return {"row": label, "batch": batch, "images_per_s": batch / method_s,
            "forward_images_per_s": batch / forward_s,
            "ratio": forward_s * floor_passes / method_s, "first_call_s": first}


def images(batch, side, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (batch, side, side, 3)),
                       tf.float32)


def run(smoke):
    size = SIZES["smoke" if smoke else "full"]
    side, batch, repeats = size["side"], size["batch"], size["repeats"]
    name = "tiny CNN" if smoke else "ResNet50"
    rows = []
    x = images(batch, side)
    model, layer = cnn(side, smoke)
    cam = tfg.GradCAM(model, layer)
    rows.append(row(f"{name} Grad-CAM float32", batch, lambda: cam(x), model, x, repeats))
    rows.append(row(f"{name} Grad-CAM top_k=5", batch,
                    lambda: cam.explain(x, top_k=5).heatmaps, model, x, repeats))
    with tempfile.TemporaryDirectory() as folder:
        tfg.export_saved_model(cam, pathlib.Path(folder) / "1")
        serve = tf.saved_model.load(str(pathlib.Path(folder) / "1")).signatures[
            "serving_default"]
        rows.append(row(f"{name} SavedModel serving_default", batch,
                        lambda: serve(images=x)["heatmaps"].numpy(), model, x, repeats))
    occlusion = tfg.Occlusion(model, patch_size=8 if smoke else 32)
    xo = x[:size["occlusion_batch"]]
    rows.append(row(f"{name} occlusion patch {occlusion.patch_size} (x its floor: "
                    f"{occlusion.passes_per_image} passes, chunks of {occlusion.chunk_size})",
                    int(xo.shape[0]), lambda: occlusion(xo), model, xo, max(1, repeats // 4),
                    floor_passes=occlusion.passes_per_image))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        half, half_layer = cnn(side, smoke)
    finally:
        keras.config.set_dtype_policy(previous)
    half_cam = tfg.GradCAM(half, half_layer)
    rows.append(row(f"{name} Grad-CAM mixed_float16", batch, lambda: half_cam(x), half, x,
                    repeats))
    try:
        transformer = vit(side, size["vit"])
    except ImportError as err:
        rows.append({"row": "ViT Grad-CAM", "error": f"keras-hub not installed: {err}"})
    else:
        xv = x[:size["vit_batch"]]
        vit_cam = tfg.GradCAM(transformer)
        rows.append(row("ViT-B/16 Grad-CAM" if not smoke else "tiny ViT Grad-CAM",
                        int(xv.shape[0]), lambda: vit_cam(xv), transformer, xv, repeats))
    return rows


def markdown(rows, meta):
    lines = [f"Measured {meta['date']} on {meta['device']} (TensorFlow {meta['tensorflow']}, "
             f"Keras {meta['keras']}{', smoke sizes' if meta['smoke'] else ''}).", "",
             "| row | batch | images/s | forward images/s | x forward's images/s | "
             "first call s |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['row']} | | {r['error']} | | | |")
        else:
            lines.append(f"| {r['row']} | {r['batch']} | {r['images_per_s']:.1f} | "
                         f"{r['forward_images_per_s']:.1f} | {r['ratio']:.2f} | "
                         f"{r['first_call_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models and batches (CPU, CI): checks the script runs")
    parser.add_argument("--out", default=str(HERE),
                        help="folder for gpu.md / gpu.json (smoke runs write gpu-smoke.*)")
    args = parser.parse_args(argv)
    gpus = tf.config.list_physical_devices("GPU")
    meta = {"date": time.strftime("%Y-%m-%d"), "smoke": args.smoke,
            "device": gpus[0].name if gpus else "CPU (no GPU visible)",
            "tensorflow": tf.__version__, "keras": keras.__version__}
    rows = run(args.smoke)
    text = markdown(rows, meta)
    print(text, flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu-smoke" if args.smoke else "gpu"
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / f"{stem}.md").write_text(text)
    return rows


if __name__ == "__main__":
    main()
