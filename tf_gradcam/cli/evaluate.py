"""`tf-gradcam evaluate`: score explanation methods on images with `tf_gradcam.metrics`.

Prints a methods x metrics table and writes it as `evaluate.csv`, with every per-image value
in `evaluate.json`. Exit status: 0 when every image was read, 1 when some failed, 2 for
usage errors.
"""

import csv
import io
import json
import pathlib
import sys
import time

from tf_gradcam import preprocessing, registry  # both import without TensorFlow
from tf_gradcam.cli import common

DEFAULT_METHODS = "gradcam,gradcam++"
DEFAULT_METRICS = "average_drop,increase_in_confidence,deletion,insertion"
BOX_METRICS = ("pointing_game", "localization_accuracy", "max_box_accuracy")


def add_parser(subparsers):
    """Add the `evaluate` subcommand to an `argparse` subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "evaluate", help="score explanation methods with faithfulness/localisation metrics",
        description="Explain IMAGES with each method and score the maps with each metric: "
                    "a methods x metrics table, evaluate.csv and evaluate.json in --out.")
    parser.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--model", required=True, help="a .keras model file (safe mode)")
    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help=f"comma-separated, from {','.join(sorted(registry.METHODS))}, "
                             f"or 'all' (default: {DEFAULT_METHODS})")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated names of tf_gradcam.metrics.METRICS (see "
                             "docs/metrics.md), or 'all' (default: "
                             f"{DEFAULT_METRICS}, plus {','.join(BOX_METRICS)} with --boxes)")
    parser.add_argument("--boxes", help="JSON file: {image file name: [[top, left, bottom, "
                                        "right], ...]} in the image's own pixels")
    parser.add_argument("--out", default="evaluate_out", help="output folder")
    parser.add_argument("--layer", default=None, help="layer name (default: automatic)")
    parser.add_argument("--preprocess", default="none", type=common.check_preprocess,
                        help=f"one of {sorted(preprocessing.PREPROCESSORS)} or scale:A,B")
    parser.add_argument("--class", dest="class_index", type=int, default=None,
                        help="explain this class on every image (default: each top-1)")
    parser.add_argument("--steps", type=int, default=100,
                        help="deletion/insertion steps (default: 100)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="images per forward pass (default: 32)")
    parser.set_defaults(func=run)
    return parser


def _names(text, known, what, default):
    text = default if text is None else text
    names = list(known) if text.strip() == "all" else [n.strip() for n in text.split(",")
                                                      if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise _usage(f"unknown {what} {unknown or text!r}; choose from {', '.join(known)}")
    return list(dict.fromkeys(names))


def _usage(message):
    return common.UsageError(message)


def read_boxes(path, paths, size):
    """Boxes `(N, B, 4)` for `paths` from the `--boxes` JSON file, scaled from each image's
    own pixels to the model's input `size`; -1 rows pad images with fewer boxes."""
    import numpy as np

    try:
        table = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError) as err:
        raise _usage(f"could not read --boxes {path!r}: {err}") from err
    if not isinstance(table, dict):
        raise _usage(f"--boxes {path!r} must hold a JSON object {{image name: [[top, left, "
                     "bottom, right], ...]}}")
    found = []
    for image_path in paths:
        entry = table.get(str(image_path), table.get(image_path.name))
        if entry is None:
            raise _usage(f"--boxes has no entry for {image_path.name}")
        try:
            boxes = np.asarray(entry, np.float64).reshape(-1, 4)
        except ValueError as err:
            raise _usage(f"--boxes entry for {image_path.name} is not a list of [top, left, "
                         f"bottom, right]: {entry!r}") from err
        found.append((boxes, _original_size(image_path)))
    out = np.full((len(found), max(len(b) for b, _ in found), 4), -1, np.int64)
    for i, (boxes, (height, width)) in enumerate(found):
        scaled = boxes * np.array([size[0] / height, size[1] / width] * 2)
        out[i, :len(boxes), :2] = np.floor(scaled[:, :2] + 1e-6)
        out[i, :len(boxes), 2:] = np.ceil(scaled[:, 2:] - 1e-6)
    return out


def _original_size(path):
    """`(height, width)` the file declares (its header; decoded only for other formats)."""
    from tf_gradcam import files

    data = path.read_bytes()
    header = files.read_header(data)
    if header is not None:
        return header.height, header.width
    return files.decode_photo(data).original_size


def _score(name, explainer, images, heatmaps, classes, boxes, args):
    from tf_gradcam import metrics

    function = metrics.METRICS[name][0]
    if name in BOX_METRICS:
        return function(heatmaps, boxes, return_per_image=True)
    options = {"class_index": classes, "return_per_image": True}
    if name == "randomization_check":
        return function(explainer, images, heatmaps, steps=5, **options)
    if name in ("deletion", "insertion"):
        options["steps"] = args.steps
    return function(explainer, images, heatmaps, batch_size=args.batch_size, **options)


def run(args):
    """Run `tf-gradcam evaluate` with parsed `args`; returns the exit status."""
    common.quiet_tensorflow()
    import numpy as np

    from tf_gradcam import metrics
    from tf_gradcam.files import expand_images, read_image, write_atomic
    from tf_gradcam.metrics import _common

    if args.steps < 1 or args.batch_size < 1:
        raise _usage("--steps and --batch-size must be at least 1")
    methods = _names(args.methods, sorted(registry.METHODS), "method", DEFAULT_METHODS)
    default = DEFAULT_METRICS + ("," + ",".join(BOX_METRICS) if args.boxes else "")
    names = _names(args.metrics, list(metrics.METRICS), "metric", default)
    if any(n in BOX_METRICS for n in names) and not args.boxes:
        raise _usage(f"{', '.join(n for n in names if n in BOX_METRICS)} need --boxes")
    model = common.load_model(args.model)
    size = tuple(model.input_shape[1:3])
    if None in size:
        raise _usage("the model takes any image size; evaluate needs a fixed input size")
    paths = expand_images(args.images)
    if not paths:
        raise _usage("no image files found in " + " ".join(args.images))
    loaded, failures = [], 0
    for path in paths:
        try:
            image, _ = read_image(path, size)
            loaded.append((path, image))
        except ValueError as err:
            failures += 1
            print(f"error: {path}: {err}", file=sys.stderr)
    if not loaded:
        raise _usage("none of the images could be read")
    images = np.stack([image for _, image in loaded])
    boxes = None
    if args.boxes:
        boxes = read_boxes(args.boxes, [p for p, _ in loaded], size)
    table, report = {}, {}
    for method in methods:
        try:
            explainer = registry.get(method)(model, args.layer, preprocess=args.preprocess)
        except (ValueError, TypeError) as err:
            raise _usage(f"{method}: {err}") from err
        start = time.perf_counter()
        parts = [explainer.explain(images[i:i + args.batch_size], args.class_index)
                 for i in range(0, len(images), args.batch_size)]
        heatmaps = _common.gray_maps(np.concatenate([p.heatmaps for p in parts]))
        classes = np.concatenate([p.class_index for p in parts])
        table[method], report[method] = {}, {}
        for name in names:
            try:
                result = _score(name, explainer, images, heatmaps, classes, boxes, args)
            except ValueError as err:
                raise _usage(f"{name} on {method}: {err}") from err
            table[method][name] = result.value
            report[method][name] = {"value": result.value,
                                    "per_image": [None if np.isnan(v) else float(v)
                                                  for v in result.per_image]}
        report[method]["seconds"] = round(time.perf_counter() - start, 3)
        report[method]["class_index"] = classes.tolist()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(format_table(table, names))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method"] + names)
    for method in methods:
        writer.writerow([method] + [f"{table[method][n]:.6g}" for n in names])
    write_atomic(out / "evaluate.csv", buffer.getvalue().encode())
    document = {"images": [str(p) for p, _ in loaded], "model": str(args.model),
                "metrics": {n: "higher is better" if metrics.METRICS[n][2] else
                            "lower is better" for n in names},
                "steps": args.steps, "methods": report}
    write_atomic(out / "evaluate.json", json.dumps(document, indent=1).encode())
    print(f"evaluated {len(loaded)} image(s) with {len(methods)} method(s), {failures} failed; "
          f"table: {out / 'evaluate.csv'}, per image: {out / 'evaluate.json'}")
    return common.EXIT_SOME_FAILED if failures else common.EXIT_OK


def format_table(table, names):
    """Methods x metrics as aligned text, each column marked higher (^) or lower (v) better."""
    from tf_gradcam import metrics

    headers = [f"{n} ({'^' if metrics.METRICS[n][2] else 'v'})" for n in names]
    width = max([len("method")] + [len(m) for m in table])
    lines = ["  ".join([f"{'method':{width}}"] + headers)]
    for method, row in table.items():
        cells = [f"{row[n]:>{len(h)}.4f}" for n, h in zip(names, headers)]
        lines.append("  ".join([f"{method:{width}}"] + cells))
    return "\n".join(lines)
