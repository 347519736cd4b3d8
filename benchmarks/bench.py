"""Speed of tf_gradcam against the forward pass, the Keras example and occlusion.

One process, interleaved timing: each method is timed as the median of repeated runs,
alternating with a plain forward pass (`model(x)` in a `tf.function`) on the same input, so
every number is a ratio measured under the same load. Writes `results.json` and
`results.md` next to this file (or `--out`).

    python benchmarks/bench.py                 # ResNet50 (random weights), demo CNN, and
                                               # EfficientNet-Lite0 when TF_GRADCAM_IMAGENET_MODEL is set
    python benchmarks/bench.py --quick         # fewer repeats
    python benchmarks/bench.py --only agreement   # recompute some rows, keep the rest
    python benchmarks/bench.py --only memory      # peak RSS rows (Grad-CAM, occlusion, Score-CAM)
    TF_GRADCAM_BEFORE=/path/to/old/tree python benchmarks/bench.py --only focus
        # first call vs the hand-written reference, per-call overhead (old code side by
        # side), the memory budget of occlusion / Score-CAM, XLA on / off / "auto"
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402
from tf_gradcam import demo, synthetic  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def keras_example_heatmap(img_array, model, last_conv_layer_name, pred_index=None):
    """The official Keras example (keras-io examples/vision/grad_cam.py), as published."""
    grad_model = keras.models.Model(
        model.inputs, [model.get_layer(last_conv_layer_name).output, model.output])
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


def rss_mib():
    """Peak RSS of this process (MiB). Linux's `VmHWM`, not `ru_maxrss`: a child started by
    `exec` inherits its parent's `ru_maxrss`, so after the big models have run in the parent
    every child would report the parent's peak."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved(method, forward, repeats):
    """Median seconds of `method` and of `forward`, alternating one run each."""
    m, f = [], []
    for _ in range(repeats):
        f += timed(forward, 1)
        m += timed(method, 1)
    return statistics.median(m), statistics.median(f)


def occlusion_floor(name, batch, explainer, forward_fn, size, method_s):
    """Occlusion's floor: passes per image x forward time per image at its batch size."""
    xb = tf.zeros((explainer.chunk_size,) + size, tf.float32)
    forward_fn(xb)
    per_image = statistics.median(timed(lambda: forward_fn(xb).numpy(), 5)) / xb.shape[0]
    floor = explainer.passes_per_image * per_image * batch
    return {"model": name, "batch": batch, "method": f"occlusion patch {explainer.patch_size}"
            f" / its floor ({explainer.passes_per_image} passes x forward at batch "
            f"{explainer.chunk_size})", "ratio_to_floor": method_s / floor}


#: Memory-child methods beyond the registry's: occlusion with and without its budget.
MASKED = {
    "occlusion": lambda m: tfg.Occlusion(m, patch_size=28),  # 8 x 8 = 64 copies per image
    "occlusion-unbounded": lambda m: tfg.Occlusion(m, patch_size=28, max_memory=None),
    "scorecam": lambda m: tfg.ScoreCAM(m, "conv5_block3_out", top_k=64),
    "scorecam-unbounded": lambda m: tfg.ScoreCAM(m, "conv5_block3_out", top_k=64,
                                                 max_memory=None),
}


def memory_child(model_name, method, batch):
    """Run in a child process: peak RSS (MiB) of `method` alone ("forward" for the floor)
    and its median seconds per call."""
    model, layer = {"resnet50": lambda: (keras.applications.ResNet50(weights=None),
                                         "conv5_block3_out")}[model_name]()
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, 224, 224, 3)),
                    tf.float32)
    if method == "forward":
        forward_fn = tf.function(lambda v: model(v, training=False))
        run = lambda: forward_fn(x).numpy()  # noqa: E731
    elif method == "keras-example":
        run = lambda: [keras_example_heatmap(x[i:i + 1], model, layer)  # noqa: E731
                       for i in range(batch)]
    elif method in MASKED:
        explainer = MASKED[method](model)
        run = lambda: explainer(x)  # noqa: E731
    else:
        explainer = tfg.METHODS[method](model, layer)
        run = lambda: explainer(x)  # noqa: E731
    run()
    seconds = statistics.median(timed(run, 2))
    print(json.dumps({"peak_rss_mib": rss_mib(), "seconds": seconds,
                      "chunk_size": getattr(locals().get("explainer"), "chunk_size", None)}))


def _child(method, batch, rounds=1):
    """Peak RSS and the fastest time of `method` over `rounds` fresh child processes."""
    import subprocess
    import sys

    best = None
    for _ in range(rounds):
        result = subprocess.run([sys.executable, __file__, "--memory-child", "resnet50",
                                 method, str(batch)], capture_output=True, text=True,
                                timeout=1800)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        got = json.loads(lines[-1]) if lines else {"peak_rss_mib": float("nan"),
                                                   "seconds": float("nan")}
        best = got if best is None else {**got, "seconds": min(best["seconds"],
                                                               got["seconds"])}
    return best


def memory_rows(batch=16):
    """Peak RSS of each method minus that of the plain forward pass, in separate processes."""
    peaks = {m: _child(m, batch)["peak_rss_mib"]
             for m in ("forward", "gradcam", "keras-example")}
    return [{"model": "ResNet50 (224, random weights)", "batch": batch,
             "method": f"{method} peak RSS beyond the forward pass's (MiB, batch {batch})",
             "memory_mib": peaks[method] - peaks["forward"]}
            for method in ("gradcam", "keras-example")]


def masked_memory_rows(rounds=2):
    """Occlusion (64 copies per image) and Score-CAM (64 channels) on one ResNet50 image,
    with the default memory budget and without: peak RSS beyond the forward pass's, and
    time (each in fresh child processes, alternating, fastest of `rounds`)."""
    floor = _child("forward", 1)["peak_rss_mib"]
    rows = []
    for method in ("occlusion", "scorecam"):
        runs = {}
        for _ in range(rounds):  # alternate, so both see the same load
            for variant in (method + "-unbounded", method):
                got = _child(variant, 1)
                best = runs.get(variant)
                runs[variant] = got if best is None else {
                    **got, "seconds": min(best["seconds"], got["seconds"]),
                    "peak_rss_mib": min(best["peak_rss_mib"], got["peak_rss_mib"])}
        bounded, unbounded = runs[method], runs[method + "-unbounded"]
        rows += [{"model": "ResNet50 (224, random weights)", "batch": 64,
                  "method": f"{method} {label} peak RSS beyond the forward pass's (MiB, 64 "
                  f"masked copies of 1 image, chunks of {r['chunk_size']})",
                  "memory_mib": r["peak_rss_mib"] - floor}
                 for label, r in (("max_memory=None", unbounded),
                                  ("default max_memory", bounded))]
        rows.append({"model": "ResNet50 (224, random weights)", "batch": 64,
                     "method": f"{method} time, default max_memory / max_memory=None",
                     "ratio_to_floor": bounded["seconds"] / unbounded["seconds"]})
    return rows


def _load(model_name):
    if model_name == "resnet50":
        keras.utils.set_random_seed(0)
        return keras.applications.ResNet50(weights=None), "conv5_block3_out"
    if model_name == "cnn":
        return keras.saving.load_model(demo.MODEL_PATH), "conv3"
    return (keras.saving.load_model(os.environ["TF_GRADCAM_IMAGENET_MODEL"], compile=False),
            "top_activation")


def reference_first_map(model, layer, x):
    """The hand-written reference: a grad model and a `GradientTape` `tf.function`."""
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])

    @tf.function
    def heatmaps(v):
        with tf.GradientTape() as tape:
            features, predictions = grad_model(v, training=False)
            score = tf.reduce_max(predictions, axis=1)
        weights = tf.reduce_mean(tape.gradient(score, features), axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))

    return heatmaps(x).numpy()


def focus_child(kind, model_name, batch):
    """Child process for the focused rows: `first:<ours|reference>` (seconds from the
    constructor to the first map, after one warm-up forward pass of the process) or
    `percall` (Grad-CAM / forward, interleaved)."""
    model, layer = _load(model_name)
    size = model.input_shape[1:]
    x = np.random.default_rng(0).uniform(0, 255, (batch,) + size).astype("float32")
    forward_fn = tf.function(lambda v: model(v, training=False))
    forward_fn(tf.constant(x)).numpy()  # the TF runtime is warm, as in a notebook
    if kind.startswith("first"):
        start = time.perf_counter()
        if kind == "first:reference":
            reference_first_map(model, layer, tf.constant(x))
        else:
            tfg.GradCAM(model, layer)(x)
        print(json.dumps({"seconds": time.perf_counter() - start}))
        return
    cam = tfg.GradCAM(model, layer)
    cam(x)
    xt = tf.constant(x)
    best = []
    for _ in range(5):  # the fastest of 5 interleaved medians: the least loaded moment
        method_s, forward_s = interleaved(lambda: cam(x), lambda: forward_fn(xt).numpy(), 40)
        best.append((method_s / forward_s, method_s, forward_s))
    ratio, method_s, forward_s = min(best)
    print(json.dumps({"ratio": ratio, "ms": 1000 * method_s, "forward_ms": 1000 * forward_s}))


def _focus(kind, model_name, batch, code):
    """Run `focus_child` in a fresh process on `code` ("after": this tree; "before": the
    source tree in $TF_GRADCAM_BEFORE)."""
    import subprocess
    import sys

    env = dict(os.environ)
    root = os.environ.get("TF_GRADCAM_BEFORE") if code == "before" else str(HERE.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, __file__, "--focus-child", kind, model_name,
                             str(batch)], capture_output=True, text=True, timeout=1800,
                            env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(lines[-1])


def focus_rows(rounds=2):
    """The issue-19 rows, before (TF_GRADCAM_BEFORE, when set) and after, side by side:
    first call against the hand-written reference, per-call overhead on the demo CNN, XLA
    on and off, and the masked methods' memory budget."""
    codes = ["before", "after"] if os.environ.get("TF_GRADCAM_BEFORE") else ["after"]
    rows = []
    names = {"resnet50": "ResNet50 (224, random weights)", "cnn": "small CNN (64x64)",
             "lite0": "EfficientNet-Lite0 (224, ImageNet)"}
    first_models = ["resnet50"] + (["lite0"] if os.environ.get("TF_GRADCAM_IMAGENET_MODEL")
                                   else [])
    for model_name in first_models:
        times = {}
        for _ in range(rounds):  # alternate, fastest of `rounds` fresh processes each
            for kind, code in [("first:reference", "after")] + [("first:ours", c)
                                                                 for c in codes]:
                got = _focus(kind, model_name, 1, code)["seconds"]
                times[kind, code] = min(times.get((kind, code), got), got)
        for code in codes:
            rows.append({"model": names[model_name], "batch": 1,
                         "method": f"first call / hand-written reference's ({code}: "
                         f"{times['first:ours', code]:.2f} s vs "
                         f"{times['first:reference', 'after']:.2f} s)",
                         "ratio_to_floor": times["first:ours", code]
                         / times["first:reference", "after"]})
    for batch in (1, 16):
        for code in codes:
            got = _focus("percall", "cnn", batch, code)
            rows.append({"model": names["cnn"], "batch": batch,
                         "method": f"gradcam per call / forward ({code}: {got['ms']:.2f} ms "
                         f"vs {got['forward_ms']:.2f} ms)", "ratio_to_floor": got["ratio"]})
    return rows


def jit_rows(repeats=5, batch=4):
    """Grad-CAM with XLA on, off and "auto", interleaved with the forward pass."""
    rows = []
    for name, model, layer in models():
        if "small" in name:
            continue
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch,) +
                                                          model.input_shape[1:]), tf.float32)
        forward_fn = tf.function(lambda v, m=model: m(v, training=False))
        forward_fn(x)
        for jit in (False, True, "auto"):
            cam = tfg.GradCAM(model, layer, jit_compile=jit)
            cam(x)
            method_s, forward_s = interleaved(lambda c=cam: c(x),
                                              lambda: forward_fn(x).numpy(), repeats)
            rows.append({"model": name, "batch": batch,
                         "method": f"gradcam jit_compile={jit!r} (XLA {cam.jit_compile})",
                         "ms_per_image": 1000 * method_s / batch,
                         "forward_ms_per_image": 1000 * forward_s / batch,
                         "ratio_to_forward": method_s / forward_s})
    return rows


def models():
    keras.utils.set_random_seed(0)
    resnet = keras.applications.ResNet50(weights=None)
    entries = [("ResNet50 (224, random weights)", resnet, "conv5_block3_out")]
    # The bundled demo CNN (trained), so that its maps can be compared as well as timed.
    entries.append(("small CNN (64x64)", keras.saving.load_model(demo.MODEL_PATH), "conv3"))
    path = os.environ.get("TF_GRADCAM_IMAGENET_MODEL")
    if path and pathlib.Path(path).is_file():
        real = keras.saving.load_model(path, compile=False)
        entries.append(("EfficientNet-Lite0 (224, ImageNet)", real, "top_activation"))
    return entries


def bench_model(name, model, layer, batches, repeats, quick):
    rows = []
    size = model.input_shape[1:]
    forward_fn = tf.function(lambda x: model(x, training=False))
    for batch in batches:
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch,) + size), tf.float32)
        forward = lambda: forward_fn(x).numpy()  # noqa: E731
        forward()
        rss0 = rss_mib()
        explainers = []
        for method_name in ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam",
                            "eigencam"):
            explainers.append((method_name, lambda m=method_name: tfg.METHODS[m](model, layer)))
        explainers.append(("gradcam (jit_compile)", lambda: tfg.GradCAM(model, layer,
                                                                         jit_compile=True)))
        explainers.append(("guided-gradcam", lambda: tfg.GuidedGradCAM(model, layer)))
        explainers.append(("gradcam (augment)", lambda: tfg.GradCAM(model, layer, augment=True)))
        # Occlusion on a 224 model costs hundreds of passes per image: batch 1 only there.
        if batch == 1 or model.input_shape[1] <= 100:
            explainers.append(("scorecam (top_k 64)", lambda: tfg.ScoreCAM(model, layer,
                                                                            top_k=64)))
            for patch in (16, 32):
                explainers.append((f"occlusion patch {patch}", lambda p=patch: tfg.Occlusion(
                    model, patch_size=p, batch_size=64)))
        for label, make in explainers:
            start = time.perf_counter()
            explainer = make()
            first = lambda e=explainer: e(x)  # noqa: E731
            try:
                first()
            except Exception as err:  # noqa: BLE001 - report and go on
                rows.append({"model": name, "batch": batch, "method": label,
                             "error": f"{type(err).__name__}: {err}"[:200]})
                continue
            first_call = time.perf_counter() - start
            for _ in range(2):  # warm-up beyond the first call
                first()
            reps = 3 if label.startswith(("occlusion", "scorecam")) else repeats
            method_s, forward_s = interleaved(first, forward, reps)
            if label.startswith("occlusion"):
                rows.append(occlusion_floor(name, batch, explainer, forward_fn, size,
                                            method_s))
            rows.append({"model": name, "batch": batch, "method": label,
                         "ms_per_image": 1000 * method_s / batch,
                         "forward_ms_per_image": 1000 * forward_s / batch,
                         "ratio_to_forward": method_s / forward_s,
                         "first_call_s": first_call,
                         "traces": getattr(explainer.compute,
                                           "experimental_get_tracing_count", lambda: None)(),
                         "peak_rss_growth_mib": rss_mib() - rss0})
        if model.input_shape[1] > 100 or batch == 1:
            def example():
                for i in range(batch):
                    keras_example_heatmap(x[i:i + 1], model, layer)
            try:
                example()
            except Exception as err:  # noqa: BLE001 - e.g. a Sequential model: no .output
                rows.append({"model": name, "batch": batch, "method": "Keras example fails",
                             "error": f"{type(err).__name__}: {str(err)[:120]}"})
                continue
            method_s, forward_s = interleaved(example, forward, max(3, repeats // 2))
            rows.append({"model": name, "batch": batch, "method": "Keras example (per image)",
                         "ms_per_image": 1000 * method_s / batch,
                         "forward_ms_per_image": 1000 * forward_s / batch,
                         "ratio_to_forward": method_s / forward_s})
    cam = tfg.GradCAM(model, layer)
    for n in range(1, 65, 7):
        cam(np.zeros((n,) + size, "float32"))
    rows.append({"model": name, "method": "gradcam trace count, batches 1..64",
                 "traces": cam.compute.experimental_get_tracing_count()})
    return rows + agreement_rows(name, model, layer)


def agreement_images(size):
    """Real photos for 224 models when scikit-image is installed, else generated scenes."""
    try:
        from skimage import data
    except ImportError:
        data = None
    if data is not None and size[0] > 100:
        photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
        return np.stack([cv2_square(p, size[0]) for p in photos]).astype("float32")
    scenes = synthetic.make_scenes(4, seed=1, both=True).images
    return np.stack([cv2_square(s, size[0]) for s in scenes]).astype("float32")


def cv2_square(image, side):
    import cv2

    h, w = image.shape[:2]
    m = min(h, w)
    crop = image[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def agreement_rows(name, model, layer):
    """Mean per-image correlation of each method's heatmap with Grad-CAM's (top-1 class)."""
    preprocess = "efficientnet_lite" if "Lite0" in name else None
    x = agreement_images(model.input_shape[1:])
    ref = tfg.GradCAM(model, layer, preprocess=preprocess)(x)
    rows = []
    side = model.input_shape[1]
    for label in ("hirescam", "xgradcam", "gradcam++", "layercam", "eigencam", "scorecam",
                  "occlusion"):
        kwargs = {"preprocess": preprocess}
        if label == "scorecam":
            kwargs["top_k"] = 64
        if label == "occlusion":
            kwargs.update(patch_size=side // 8, stride=side // 16)
        other = tfg.METHODS[label](model, None if label == "occlusion" else layer,
                                   **kwargs)(x)
        corr = float(np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1]
                              for a, b in zip(ref, other)]))
        rows.append({"model": name, "method": f"{label} vs gradcam correlation",
                     "correlation": corr})
    return rows


def markdown(rows, meta):
    lines = [f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, "
             f"TensorFlow {meta['tensorflow']}, Keras {meta['keras']}, device {meta['device']})"
             + (f"; the `--only focus` rows (first call, per call before/after, max_memory, "
                f"jit_compile) on {meta['focus_date']}, a loaded machine."
                if "focus_date" in meta else "."),
             "", "| model | batch | method | ms / image | forward ms / image | x forward | "
             "first call s | traces |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "ratio_to_forward" in r:
            lines.append(
                f"| {r['model']} | {r['batch']} | {r['method']} | {r['ms_per_image']:.1f} | "
                f"{r['forward_ms_per_image']:.1f} | {r['ratio_to_forward']:.2f} | "
                f"{r.get('first_call_s', float('nan')):.2f} | {r.get('traces', '')} |")
    lines += ["", "| model | check | value |", "|---|---|---|"]
    for r in rows:
        if "ratio_to_forward" not in r:
            value = next(r[k] for k in ("traces", "correlation", "ratio_to_floor",
                                        "memory_mib", "error") if k in r)
            value = f"{value:.3f}" if isinstance(value, float) else value
            lines.append(f"| {r['model']} | {r['method']} | {value} |")
    return "\n".join(lines) + "\n"


def _row_key(row):
    """What a row measures, without its numbers: model, batch and method up to " (" (the
    "(before: ...)" / "(after: ...)" details)."""
    return row["model"], row.get("batch"), row["method"].split(" (")[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--focus-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("memory", "agreement", "focus"),
                        help="recompute only these rows; merged into the existing results")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return
    if args.focus_child:
        focus_child(args.focus_child[0], args.focus_child[1], int(args.focus_child[2]))
        return
    repeats = 5 if args.quick else args.repeats
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or
            platform.machine(), "cpus": os.cpu_count(), "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "device": (tf.config.list_physical_devices("GPU") or ["CPU"])[0].__repr__()}
    out = pathlib.Path(args.out)
    rows = []
    if args.only:
        previous = json.loads((out / "results.json").read_text())
        key = {"memory": "memory_mib", "agreement": "correlation", "focus": "focus"}[
            args.only]
        rows = [r for r in previous["rows"] if key not in r and
                not r["method"].startswith("peer") and
                not (args.only == "memory" and "max_memory" in r["method"])]
        meta = previous["meta"]
        if args.only == "focus":
            meta = {**meta, "focus_date": time.strftime("%Y-%m-%d")}
            fresh = [{**r, "focus": True} for r in
                     focus_rows() + masked_memory_rows(rounds=1) + jit_rows()]
            replaced = {_row_key(r) for r in fresh}  # the full run's rows of the same checks
            rows = [r for r in rows if _row_key(r) not in replaced] + fresh
        elif args.only == "agreement":
            for name, model, layer in models():
                rows += agreement_rows(name, model, layer)
        else:
            rows += memory_rows() + masked_memory_rows()
    else:
        for name, model, layer in models():
            rows += bench_model(name, model, layer, (1, 16), repeats, args.quick)
            print(markdown([r for r in rows if r["model"] == name], meta), flush=True)
        rows += memory_rows() + masked_memory_rows() + focus_rows() + jit_rows()
    for peer in ("tf_keras_vis", "xplique"):
        try:
            __import__(peer)
            status = "installed, not yet wired into this script"
        except ImportError:
            status = "not installed: skipped (never a test dependency)"
        rows.append({"model": "-", "method": f"peer library {peer}", "error": status})
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / "results.md").write_text(markdown(rows, meta))
    print(f"wrote {out / 'results.md'}")


if __name__ == "__main__":
    main()
