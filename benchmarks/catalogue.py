"""Speed of the catalogue's gradient and feature methods against the forward pass.

ResNet50 (`keras.applications`, random weights, 224 px, CPU) at batch 16, each method timed
as the median of a few runs interleaved with a plain forward pass (`model(x)` in a
`tf.function`) on the same input, so every number is a ratio measured under the same load
(the machine may be shared: read the ratios, not the milliseconds). One more row per
feature method at `conv3_block4_out` (28 x 28 = 784 positions) shows how kernel PCA scales
with the positions. Writes `catalogue.json` and `catalogue.md` next to this file.

    python benchmarks/catalogue.py             # about 3 minutes on 2 CPU cores
    python benchmarks/catalogue.py --repeats 5
"""

import argparse
import json
import os
import pathlib
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import interleaved  # noqa: E402

LAYER = "conv5_block3_out"
#: (registry name, constructor options, what the row shows), in table order.
ROWS = [("gradcam", {}, "reference: one forward, one backward to the layer"),
        ("gradcam-elementwise", {}, ""), ("eigengradcam", {}, "batched SVD, 49 x 2048"),
        ("finercam", {}, "score over 3 similar classes"),
        ("shapleycam", {}, "+ Hessian-vector product (second tape over the head)"),
        ("shapleycam", {"score": "rest"}, "ReST score"),
        ("fullgrad", {}, "backward to the input through all 53 conv + 53 BN layers"),
        ("eigencam", {}, "no backward pass"), ("kpcacam", {}, "49 x 49 kernel, eigh"),
        ("fem", {}, "no backward pass")]
#: Feature methods again at a 28 x 28 layer (784 positions).
HIGH_RES = ("conv3_block4_out", ("eigencam", "kpcacam", "fem"))


def row(model, x, forward, name, options, layer, repeats, note):
    cam = tfg.METHODS[name](model, **({} if name == "fullgrad" else {"layer": layer}),
                            **options)
    run = lambda: cam.explain(x)  # noqa: E731
    run()  # trace
    method_s, forward_s = interleaved(run, forward, repeats)
    label = name + "".join(f" ({k}={v})" for k, v in options.items())
    return {"method": label, "layer": "all bias layers" if name == "fullgrad" else layer,
            "batch": int(x.shape[0]), "ms_per_image": 1000 * method_s / x.shape[0],
            "forward_ms_per_image": 1000 * forward_s / x.shape[0],
            "ratio_to_forward": method_s / forward_s, "note": note,
            "traces": int(cam.compute.experimental_get_tracing_count())}


def markdown(rows, meta):
    lines = [f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, TensorFlow "
             f"{meta['tensorflow']}, Keras {meta['keras']}); ResNet50 (224, random weights), "
             "median of interleaved runs.", "",
             "| method | layer | batch | ms / image | forward ms / image | x forward | traces "
             "| note |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['layer']} | {r['batch']} | {r['ms_per_image']:.1f} | "
              f"{r['forward_ms_per_image']:.1f} | {r['ratio_to_forward']:.2f} | {r['traces']} "
              f"| {r['note']} |" for r in rows]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--only", default=None,
                        help="comma-separated registry names: re-measure those rows, keep the rest")
    args = parser.parse_args()
    only = None if args.only is None else set(args.only.split(","))
    kept = {}
    if only is not None and (HERE / "catalogue.json").is_file():
        kept = {(r["method"], r["layer"]): r for r in
                json.loads((HERE / "catalogue.json").read_text())["rows"]}
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None)
    x = np.random.default_rng(0).uniform(-1, 1, (args.batch, 224, 224, 3)).astype("float32")
    forward_fn = tf.function(lambda v: model(v, training=False))
    forward = lambda: forward_fn(x).numpy()  # noqa: E731
    forward()
    rows = []
    layer, names = HIGH_RES
    plan = [(n, o, LAYER, note) for n, o, note in ROWS] + [
        (n, {}, layer, "784 positions") for n in names]
    for name, options, where, note in plan:
        label = name + "".join(f" ({k}={v})" for k, v in options.items())
        old = kept.get((label, "all bias layers" if name == "fullgrad" else where))
        if only is not None and name not in only and old is not None:
            rows.append(old)
            continue
        rows.append(row(model, x, forward, name, options, where, args.repeats, note))
        print(rows[-1])
    meta = {"date": __import__("datetime").date.today().isoformat(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "tensorflow": tf.__version__, "keras": keras.__version__}
    (HERE / "catalogue.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (HERE / "catalogue.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
