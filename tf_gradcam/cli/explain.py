"""`tf-gradcam explain`: stream image files through an explainer into overlays, summaries and
an HTML report (see `stream` for the engine, `tf_gradcam.runs` for the output folder).

The model sees each photo resized to its input (`--fit squash|crop|pad`); each overlay is
written at the photo's own size and aspect ratio (capped by `--max-size`), the heatmap mapped
back onto the photo's pixels. Every file found gets a summary row: explained, failed (with
why) or skipped (an unsupported format).
"""

import argparse
import json
import os
import pathlib
import time

from tf_gradcam import runs
from tf_gradcam.cli import common
from tf_gradcam.cli import report as report_command
from tf_gradcam.cli import stream


def add_parser(sub):
    from tf_gradcam import files, geometry, pictures

    ex = sub.add_parser(
        "explain", help="write heatmap overlays, a summary and an HTML report for images",
        description="Explain image files with a .keras model: one overlay (PNG, or JPEG with "
                    "--format jpg) per image and "
                    "class at the photo's own size (capped by --max-size), summary.csv / "
                    "summary.jsonl (one row per image and class, appended after every batch) "
                    "and index.html, a page to browse them (refreshed after every batch). "
                    "Exit status: 0 all explained, 1 some files failed, 2 usage error, 130 "
                    "interrupted (resume with --resume).")
    ex.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    ex.add_argument("--model", required=True, help="a .keras model file (loaded in safe mode)")
    which = ex.add_mutually_exclusive_group()
    which.add_argument("--class", dest="class_index", type=int, default=None,
                       help="explain this class index on every image")
    which.add_argument("--top", type=common.positive_int, default=1,
                       help="explain each image's top K classes (default: 1)")
    ex.add_argument("--target", type=common.parse_target, default=None,
                    metavar="KIND[:KEY=VALUE...]",
                    help="what number of the output is explained (default: automatic - the "
                         "class logit of a classifier, the class's region of a segmenter): "
                         "detection (the best box; options index=I, box=Y1,X1,Y2,X2, iou=T, "
                         "format=" + "|".join(common.BOX_FORMATS) + " for how the model's "
                         "boxes are drawn, default yxyx in input pixels; logits=KEY, "
                         "boxes=KEY), dense-regression (the mean of a depth/regression map; "
                         "box=Y1,X1,Y2,X2 in output pixels, channel=C), regression:index=I, "
                         "classifier, binary, segmentation; e.g. --target detection:index=0")
    ex.add_argument("--size", type=common.positive_int, nargs=2, metavar=("H", "W"),
                    help="resize inputs to H W (default: the model's input size)")
    ex.add_argument("--fit", choices=geometry.FITS, default=geometry.FITS[0],
                    help="how a photo becomes the model's input: squash (resize, the aspect "
                         "ratio changes), crop (centred crop to the model's aspect ratio) or "
                         "pad (letterbox with black bars); the overlay always shows the whole "
                         f"photo (default: {geometry.FITS[0]}, as before 0.3)")
    ex.add_argument("--max-size", type=common.positive_int, default=pictures.DEFAULT_MAX_SIZE,
                    help="longest side of a written overlay in pixels; larger photos are "
                         f"scaled down (default: {pictures.DEFAULT_MAX_SIZE})")
    ex.add_argument("--max-pixels", type=_megapixels, default=files.DEFAULT_MAX_PIXELS,
                    metavar="MP", help="refuse images whose header declares more than MP "
                                       "megapixels, before decoding them (a failed row; "
                                       f"default: {files.DEFAULT_MAX_PIXELS // 10 ** 6})")
    ex.add_argument("--caption", action=argparse.BooleanOptionalAction, default=True,
                    help="draw the class name (or index), probability and method on each "
                         "overlay (default: on; --no-caption to leave it off)")
    ex.add_argument("--format", choices=files.IMAGE_FORMATS, default="png",
                    help="overlay files: png (lossless) or jpg (quality "
                         f"{files.JPEG_QUALITY}: on a 1024x768 photo ~12x faster to write "
                         "and ~5x smaller, for large runs; default: png)")
    ex.add_argument("--colorbar", action="store_true",
                    help="draw a colour bar on each overlay (default: off)")
    ex.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                    help="write index.html, a page to browse the run, refreshed as it goes "
                         "(default: on; --no-report for very large runs: the page holds every "
                         "row, `tf-gradcam report OUT` writes it later)")
    ex.add_argument("--out", default="gradcam_out",
                    help="output folder: new or empty, or an earlier run with --resume / "
                         "--overwrite (default: gradcam_out)")
    ex.add_argument("--labels", help="class names: 'imagenet' (the 1,000 ImageNet-1k names "
                                     "shipped with tf_gradcam) or a text file, line i = the "
                                     "name of class i")
    ex.add_argument("--recursive", "-r", action="store_true",
                    help="also look for images in sub-folders of the given folders")
    again = ex.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out: skip images already in its summary")
    again.add_argument("--overwrite", action="store_true",
                       help="delete the run in --out (its overlays and summaries) first")
    ex.add_argument("--batch-size", type=common.positive_int, default=16,
                    help="images per model call (default: 16)")
    ex.add_argument("--workers", type=common.positive_int, default=None,
                    help="threads decoding and writing images (default: CPU count, at most 8)")
    ex.add_argument("--json", action="store_true",
                    help="also write summary.json, one JSON array, at the end")
    common.add_model_options(ex)
    ex.set_defaults(func=run)
    return ex


def _no_report(force=False):
    return None


def _megapixels(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected megapixels > 0 (e.g. 100), got {text!r}")
    return int(value * 10 ** 6)


def settings(args, size):
    """The options of a run (`run.json`; those in `runs.RUN_SETTINGS` must match on
    `--resume`)."""
    return {"model": str(pathlib.Path(args.model).resolve()), "method": args.method,
            "layer": args.layer, "output": args.output, "class_index": args.class_index,
            "top": None if args.class_index is not None else args.top, "size": list(size),
            "preprocess": args.preprocess, "alpha": args.alpha, "colormap": args.colormap,
            "fit": args.fit, "max_size": args.max_size, "max_pixels": args.max_pixels,
            "caption": args.caption, "colorbar": args.colorbar, "labels": args.labels,
            "target": None if args.target is None else args.target.text}


def find_inputs(args, out):
    """The inputs, as `(path, relative)` pairs: each file once, none inside `out`; folders
    give every visible file (those of other formats become `skipped` rows)."""
    from tf_gradcam import files

    out_resolved, seen, pairs, inside = out.resolve(), set(), [], 0
    for path, relative in files.expand_inputs(args.images, recursive=args.recursive,
                                              every_file=True):
        key = os.path.abspath(path)
        if key in seen:
            continue  # the same file named twice (a folder and a glob)
        seen.add(key)
        if runs.inside(path.resolve(), out_resolved):
            inside += 1  # e.g. overlays of an earlier run: never inputs (or targets)
            continue
        pairs.append((path, relative))
    if inside:
        common.say(f"note: skipped {inside} file(s) inside the output folder {out}")
    if not pairs:
        hint = " (add --recursive to look in sub-folders)" if not args.recursive else ""
        raise common.UsageError(
            f"no files ({', '.join(files.IMAGE_SUFFIXES)}) found in "
            f"{' '.join(map(str, args.images))}{hint}")
    return pairs


def load_labels(spec):
    """`--labels`: `"imagenet"` or a file (`tf_gradcam.labels.load_labels`)."""
    from tf_gradcam import labels

    try:
        return list(labels.load_labels(spec))
    except (OSError, ValueError, TypeError) as err:
        raise common.UsageError(f"could not read --labels {spec}: {err}") from err


def make_target(spec):
    """The `tfg.targets` target of a parsed `--target` (`None`: automatic).

    Raises:
        UsageError: The target refuses its options (e.g. a box with y2 <= y1).
    """
    if spec is None:
        return None
    from tf_gradcam import targets

    kwargs = {k: v for k, v in spec.kwargs.items() if k != "format"}
    if spec.kind == "dense-regression" and "box" in kwargs:
        if not all(float(v).is_integer() for v in kwargs["box"]):
            raise common.UsageError(
                "dense-regression:box= is in output pixels: four whole numbers Y1,X1,Y2,X2 "
                f"(end exclusive). Received: target={spec.text!r}")
        kwargs["box"] = tuple(int(v) for v in kwargs["box"])
    try:
        return getattr(targets, spec.name)(**kwargs)
    except (ValueError, TypeError) as err:
        raise common.UsageError(f"--target {spec.text}: {err}") from err


def load_explainer(args):
    """`(explainer, size, labels)` from the command line; UsageError on bad options."""
    spec = getattr(args, "target", None)
    if spec is not None and spec.kind in ("regression", "dense-regression") and (
            args.class_index is not None or args.top != 1):
        option = (f"--class {args.class_index}" if args.class_index is not None
                  else f"--top {args.top}")
        raise common.UsageError(
            f"--target {spec.kind} explains one number per image and has no classes; leave "
            f"out {option}. Received: target={spec.text!r}")
    model = common.load_model(args.model)
    from tf_gradcam import registry

    labels = load_labels(args.labels) if args.labels else None
    size = tuple(args.size) if args.size else tuple(model.input_shape[1:3])
    if None in size:
        raise common.UsageError("the model takes any image size: pass --size H W")
    target = make_target(getattr(args, "target", None))
    extra = {} if target is None else {"target": target}
    try:
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess,
                                              output=args.output, **extra)
    except (ValueError, TypeError) as err:
        raise common.UsageError(str(err)) from err
    if explainer.num_classes is None:
        return explainer, size, labels  # any class index: the target reads it
    if args.class_index is not None and not 0 <= args.class_index < explainer.num_classes:
        raise common.UsageError(
            f"--class {args.class_index} is out of range: the model predicts "
            f"{explainer.num_classes} classes (0 to {explainer.num_classes - 1})")
    if labels is not None and len(labels) < explainer.num_classes:
        common.say(f"note: --labels has {len(labels)} names for {explainer.num_classes} "
                   "classes; the others get an empty class_name")
    return explainer, size, labels


def run(args):
    """`tf-gradcam explain`: stream images through the explainer into overlays + summary."""
    from tf_gradcam import files

    if not 0.0 <= args.alpha <= 1.0:
        raise common.UsageError(f"--alpha must be in [0, 1]. Received: --alpha={args.alpha}")
    out = pathlib.Path(args.out)
    previous = runs.open_out(out, args)  # refuse to mix runs before loading anything
    pairs = find_inputs(args, out)
    explainer, size, labels = load_explainer(args)
    common.quiet_opencv()

    run_settings = settings(args, size)
    if previous:
        runs.check_same_settings(previous, run_settings, out)
        done, dropped = runs.resume(out, previous,
                                    stream.ranks_per_image(args, explainer.num_classes))
        if dropped:
            common.say(f"--resume: dropped {dropped} row(s) of images the earlier run did not "
                       "finish")
    else:
        done = runs.Done(set(), {}, 0, 0)
        out.mkdir(parents=True, exist_ok=True)
        files.write_atomic(out / runs.RUN_FILE, json.dumps(
            {**run_settings, "cwd": os.getcwd(),
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "tool": "tf-gradcam explain"}, indent=1).encode())
    bases = stream.plan_bases(pairs, done.reserved)
    todo = [stream.Input(path, os.path.abspath(path), base)
            for (path, _), base in zip(pairs, bases) if os.path.abspath(path) not in done.keys]
    if previous:
        common.say(f"--resume: {len(pairs) - len(todo)} image(s) already done in {out}, "
                   f"{len(todo)} to go")

    summary = runs.Summary(out, fresh=not previous)
    refresh = report_command.Refresh(out) if args.report else _no_report
    try:
        refresh(force=True)  # a valid page from the start (and on --resume)
        counts, stopped = stream.stream(todo, size, explainer, args, out, labels, summary,
                                        refresh)
    finally:
        summary.close()
        refresh(force=True)
    if args.json:
        summary.write_json_array(out / runs.SUMMARY_JSON)
    where = out / (runs.SUMMARY_JSON if args.json else runs.SUMMARY_CSV)
    page = out / "index.html" if args.report else "(none: --no-report)"
    skipped = f", {counts.skipped} skipped (unsupported format)" if counts.skipped else ""
    if stopped:
        left = len(todo) - counts.explained - counts.failed - counts.skipped
        print(f"interrupted ({stopped}): explained {counts.explained} image(s) in this run, "
              f"{counts.failed} failed{skipped}, {left} not started; summary: {where}, "
              f"report: {page}. Continue with the same command plus --resume.")
        return common.EXIT_INTERRUPTED
    failed_total = done.failed + counts.failed
    print(f"explained {done.explained + counts.explained} image(s), {failed_total} failed"
          + skipped + (f" ({counts.explained} explained in this run)" if previous else "")
          + f"; summary: {where}; report: {page}")
    return common.EXIT_SOME_FAILED if failed_total else common.EXIT_OK
