"""`tf-gradcam`: the command line (demo, explain, layers, export).

Exit status: 0 when everything was explained, 1 when some files failed, 2 for usage errors.
"""

import argparse
import csv
import json
import pathlib
import sys
import tempfile
import time

from tf_gradcam.files import expand_images, png_bytes, read_image, write_atomic

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


def load_model(path):
    """Load a `.keras` model with Keras' safe mode on (no arbitrary code from the file)."""
    import keras

    if not pathlib.Path(path).is_file():
        raise UsageError(f"model file {path!r} does not exist")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - any loader failure is a usage error here
        raise UsageError(f"could not load model {path!r}: {type(err).__name__}: {err}") from err


def _classes_to_explain(predictions, args):
    import numpy as np

    if args.class_index is not None:
        return [[args.class_index]] * len(predictions)
    return [list(np.argsort(-p)[:args.top]) for p in predictions]


def cmd_explain(args):
    import numpy as np

    from tf_gradcam import registry, visualize

    model = load_model(args.model)
    labels = None
    if args.labels:
        labels = pathlib.Path(args.labels).read_text().splitlines()
    size = tuple(args.size) if args.size else tuple(model.input_shape[1:3])
    if None in size:
        raise UsageError("the model takes any image size: pass --size H W")
    try:
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from err
    if args.class_index is not None and not 0 <= args.class_index < explainer.num_classes:
        raise UsageError(f"--class {args.class_index} is out of range: the model predicts "
                         f"{explainer.num_classes} classes")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = expand_images(args.images)
    if not paths:
        raise UsageError("no image files found in " + " ".join(args.images))
    inputs = {p.resolve() for p in paths}
    rows, failures = [], 0
    loaded = []
    for path in paths:
        try:
            image, note = read_image(path, size)
            loaded.append((path, image, note))
        except ValueError as err:
            failures += 1
            print(f"error: {path}: {err}", file=sys.stderr)
            rows.append({"image": str(path), "error": str(err)})
    show_progress = len(loaded) > 8 and sys.stderr.isatty()
    for start in range(0, len(loaded), args.batch_size):
        chunk = loaded[start:start + args.batch_size]
        batch = np.stack([image for _, image, _ in chunk])
        first = explainer.explain(batch, args.class_index)
        per_image = _classes_to_explain(first.predictions, args)
        for rank in range(max(len(c) for c in per_image)):
            classes = [c[min(rank, len(c) - 1)] for c in per_image]
            # Rank 1 is what `first` explained (the top-1 or the --class class): reuse it.
            exp = first if rank == 0 else explainer.explain(batch, classes)
            for i, (path, image, note) in enumerate(chunk):
                c = int(exp.class_index[i])
                target = out / f"{path.stem}_class{c}_{explainer.method}.png"
                if target.resolve() in inputs:
                    raise UsageError(f"refusing to overwrite input image {target}")
                if exp.heatmaps[i].ndim == 3:  # Guided Grad-CAM: an image-sized RGB map
                    picture = visualize.to_uint8_rgb(exp.heatmaps[i])
                else:
                    picture = visualize.overlay(image, exp.heatmaps[i], args.alpha,
                                                args.colormap)
                write_atomic(target, png_bytes(picture))
                heat = exp.heatmaps[i] if exp.heatmaps[i].ndim == 2 else exp.heatmaps[i].mean(-1)
                rows.append({
                    "image": str(path), "class_index": c,
                    "class_name": labels[c] if labels and c < len(labels) else "",
                    "score": float(exp.scores[i]),
                    "probability": float(exp.predictions[i][c]), "rank": rank + 1,
                    "layer": str(exp.layer), "method": explainer.method,
                    "heatmap_mean": float(heat.mean()),
                    "heatmap_peak_yx": [int(v) for v in np.unravel_index(heat.argmax(),
                                                                          heat.shape)],
                    "overlay": str(target), "note": note})
        if show_progress:
            done = min(start + args.batch_size, len(loaded))
            print(f"\r{done}/{len(loaded)} images", end="", file=sys.stderr, flush=True)
    if show_progress:
        print(file=sys.stderr)
    summary = out / ("summary.json" if args.json else "summary.csv")
    if args.json:
        write_atomic(summary, json.dumps(rows, indent=1).encode())
    else:
        fields = ["image", "class_index", "class_name", "score", "probability", "rank", "layer",
                  "method", "heatmap_mean", "heatmap_peak_yx", "overlay", "note", "error"]
        with tempfile.SpooledTemporaryFile(mode="w+", newline="") as handle:
            writer = csv.DictWriter(handle, fields)
            writer.writeheader()
            writer.writerows(rows)
            handle.seek(0)
            write_atomic(summary, handle.read().encode())
    explained = len({r["image"] for r in rows if "error" not in r})
    print(f"explained {explained} image(s), {failures} failed; summary: {summary}")
    return EXIT_SOME_FAILED if failures else EXIT_OK


def cmd_layers(args):
    from tf_gradcam import layers

    model = load_model(args.model)
    try:
        infos = layers.list_layers(model)
        auto = layers.resolve(infos, None).path
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from err
    print(f"{'':2}{'layer':48} {'output shape':22} nested")
    for info in layers.candidates(infos):
        mark = "*" if info.path == auto else " "
        shape = str((None,) + info.shape)
        print(f"{mark:2}{info.path:48} {shape:22} {'yes' if info.nested else 'no'}")
    print(f"* automatic choice (layer=None): {auto}")
    return EXIT_OK


def cmd_demo(args):
    from tf_gradcam import demo

    start = time.perf_counter()
    paths = demo.run(args.out)
    for path in paths:
        print(path)
    print(f"demo finished in {time.perf_counter() - start:.1f} s; figure: {paths[-1]}")
    return EXIT_OK


def cmd_export(args):
    from tf_gradcam import export, registry

    model = load_model(args.model)
    try:
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess)
        path = export.export_saved_model(explainer, args.export_dir, colormap=args.colormap,
                                         alpha=args.alpha)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from err
    print(f"exported {explainer!r} to {path} (signatures: serving_default, explain_image)")
    return EXIT_OK


def build_parser():
    from tf_gradcam import preprocessing, registry

    parser = argparse.ArgumentParser(prog="tf-gradcam", description="Grad-CAM for Keras models.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="explain a built-in scene with a built-in model")
    demo.add_argument("--out", default="tf_gradcam_demo", help="output folder")
    demo.set_defaults(func=cmd_demo)
    layers = sub.add_parser("layers", help="list the layers Grad-CAM can explain")
    layers.add_argument("model", help="a .keras model file")
    layers.set_defaults(func=cmd_layers)
    export = sub.add_parser("export", help="write a SavedModel for TF Serving")
    export.add_argument("model", help="a .keras model file (loaded in safe mode)")
    export.add_argument("export_dir", help="e.g. models/gradcam/1 (TF Serving layout)")
    ex = sub.add_parser("explain", help="write heatmap overlays for images")
    ex.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    ex.add_argument("--model", required=True, help="a .keras model file (loaded in safe mode)")
    which = ex.add_mutually_exclusive_group()
    which.add_argument("--class", dest="class_index", type=int, default=None)
    which.add_argument("--top", type=int, default=1, help="explain the top K classes")
    ex.add_argument("--size", type=int, nargs=2, metavar=("H", "W"))
    ex.add_argument("--out", default="gradcam_out")
    ex.add_argument("--labels", help="text file, line i = name of class i")
    ex.add_argument("--batch-size", type=int, default=16)
    ex.add_argument("--json", action="store_true", help="JSON summary instead of CSV")
    ex.set_defaults(func=cmd_explain)
    for command in (export, ex):  # options the two commands share
        command.add_argument("--layer", default=None, help="layer name (default: automatic)")
        command.add_argument("--method", default="gradcam", choices=sorted(registry.METHODS))
        command.add_argument("--preprocess", default="none",
                             help=f"one of {sorted(preprocessing.PREPROCESSORS)} or scale:A,B")
        command.add_argument("--alpha", type=float, default=0.4)
        command.add_argument("--colormap", default="jet")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv=None):
    """Entry point of the `tf-gradcam` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "top", 1) < 1 or getattr(args, "batch_size", 1) < 1:
        parser.error("--top and --batch-size must be at least 1")
    if args.command in ("explain", "export"):
        from tf_gradcam import preprocessing
        try:
            preprocessing.get(args.preprocess)
        except (ValueError, TypeError) as err:
            parser.error(str(err))
    try:
        return args.func(args)
    except UsageError as err:
        print(f"tf-gradcam: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
