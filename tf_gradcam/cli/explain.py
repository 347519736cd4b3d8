"""`tf-gradcam`: the command line (demo, explain, layers, export). See docs/cli.md.

`explain` streams: images are decoded ahead on a small thread pool (a bounded number of
batches), explained batch by batch, and each batch's overlays and summary rows are written
before the next rows are; `summary.csv` / `summary.jsonl` grow and are flushed after every batch,
so memory does not grow with the number of images and a stopped run keeps a valid summary of
everything it finished (`--resume` continues from it).

Exit status: 0 when everything was explained, 1 when some files failed, 2 for usage errors,
130 when the run was interrupted (Ctrl-C or SIGTERM; the summary lists what was finished).

Only the standard library is imported at module level: TensorFlow is imported in `main()`,
after its start-up logging has been quietened (unless the user set `TF_CPP_MIN_LOG_LEVEL`).
"""

import argparse
import collections
import contextlib
import json
import os
import pathlib
import re
import signal
import sys
import tempfile
import threading
import time
import typing

from tf_gradcam import runs
from tf_gradcam.runs import UsageError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Batches decoded ahead of the model (bounded memory: this many + 1 batches in flight).
PREFETCH_BATCHES = 2
# TensorFlow / absl C++ start-up lines on stderr (TF 2.21 prints them before its log level
# applies): INFO/WARNING lines, the CPU-instructions note and the "no CUDA driver" error.
_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
    r"|E\d{4} .*(cuInit|cuda drivers|CUDA driver|Unable to register cu\w+ factory)"
    # TensorFlow <= 2.17 prefixes its C++ log lines with a date instead.
    r"|\d{4}-\d\d-\d\d [\d:.]+: ([IW] |E .*(cuInit|Unable to register cu\w+ factory))"
    r"|To enable the following instructions:)")



def load_model(path):
    """Load a `.keras` model with Keras' safe mode on (no arbitrary code from the file)."""
    import keras

    if not pathlib.Path(path).is_file():
        raise UsageError(f"model file {path!r} does not exist; pass --model a .keras file")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - any loader failure is a usage error here
        raise UsageError(f"could not load model {path!r}: {type(err).__name__}: {err}") from err


# --------------------------------------------------------------------------- explain: pieces

class _Input(typing.NamedTuple):
    path: pathlib.Path  # as found (relative paths stay relative: the summary shows them so)
    key: str  # absolute path: what --resume matches on
    base: pathlib.PurePosixPath  # unique overlay stem below --out (mirrors sub-folders)


def _explain_batch(explainer, batch, args):
    """Explain one batch: per image, a list of `records.Explained`, best rank first.

    The one place that decides how classes are chosen: `--class C` explains C, `--top K` the K
    best classes in one pass (`top_k=K`). Methods that explain fewer classes per call
    (`max_classes`, e.g. Guided Grad-CAM: 1) get one call per rank, ranked by the first call's
    probabilities.
    """
    import numpy as np

    from tf_gradcam import records

    k = _ranks_per_image(args, explainer.num_classes)
    if args.class_index is not None or k == 1:
        exp = explainer.explain(batch, args.class_index)
        return [records.explained(exp, i) for i in range(len(batch))]
    if explainer.max_classes is None or explainer.max_classes >= k:
        exp = explainer.explain(batch, top_k=k)
        return [records.explained(exp, i) for i in range(len(batch))]
    first = explainer.explain(batch)
    per_image = [records.explained(first, i) for i in range(len(batch))]
    ranking = first.predictions if first.probabilities is None else first.probabilities
    order = np.argsort(-np.asarray(ranking), axis=1, kind="stable")
    for rank in range(1, k):
        exp = explainer.explain(batch, order[:, rank])
        for i, items in enumerate(per_image):
            items += records.explained(exp, i, first_rank=rank + 1)
    return per_image


def _ranks_per_image(args, num_classes):
    return 1 if args.class_index is not None else min(args.top, num_classes)


def _read(path, size):
    """Decode one input; never raises: `(image or None, note, error)`."""
    from tf_gradcam import files

    try:
        image, note = files.read_image(path, size)
        return image, note, ""
    except ValueError as err:
        return None, "", str(err)
    except Exception as err:  # noqa: BLE001 - one bad file is a reported line, never an abort
        return None, "", f"{type(err).__name__}: {err}"


def _batches(inputs, size, batch_size, pool):
    """Yield `(inputs, decoded)` batch by batch, decoding up to `PREFETCH_BATCHES` ahead."""
    chunks = (inputs[i:i + batch_size] for i in range(0, len(inputs), batch_size))
    pending = collections.deque()

    def submit():
        chunk = next(chunks, None)
        if chunk is not None:
            pending.append((chunk, [pool.submit(_read, item.path, size) for item in chunk]))

    for _ in range(PREFETCH_BATCHES + 1):
        submit()
    try:
        while pending:
            chunk, futures = pending.popleft()
            submit()
            yield chunk, [future.result() for future in futures]
    finally:  # stopped early: drop what was decoded ahead
        for _, futures in pending:
            for future in futures:
                future.cancel()


def _write_outputs(item, image, note, explained, out, explainer, args, labels):
    """Write one image's overlays and return its summary rows (a failure row on error)."""
    from tf_gradcam import files, records, visualize

    rows = []
    try:
        for one in explained:
            target = out / f"{item.base}_class{one.class_index}_{explainer.method}.png"
            if one.heatmap.ndim == 3:  # Guided Grad-CAM: an image-sized RGB map
                picture = visualize.to_uint8_rgb(one.heatmap)
            else:
                picture = visualize.overlay(image, one.heatmap, args.alpha, args.colormap)
            target.parent.mkdir(parents=True, exist_ok=True)
            files.write_atomic(target, files.png_bytes(picture))
            rows.append(records.row(item.path, one, layer=explainer.layer,
                                    method=explainer.method, overlay=target, note=note,
                                    labels=labels))
    except Exception as err:  # noqa: BLE001 - e.g. a full disk: reported for this image
        return [records.failure_row(item.path, f"could not write the overlay: "
                                               f"{type(err).__name__}: {err}", note)]
    return rows


def _plan_bases(pairs, reserved):
    """Unique overlay stems: the input's place below its folder, `-2`, `-3`... on clashes.

    Clashes are found case-insensitively (macOS and Windows folders are). `reserved` maps the
    stems an earlier run (`--resume`) used to their image: that image keeps its stem, no other
    image gets it.
    """
    used, bases = set(reserved), []
    for path, relative in pairs:
        stem = relative.with_suffix("") if relative.suffix else relative
        candidate, n = stem, 1
        key = os.path.abspath(path)
        while str(candidate).casefold() in used and reserved.get(
                str(candidate).casefold()) != key:
            n += 1
            candidate = stem.with_name(f"{stem.name}-{n}")
        used.add(str(candidate).casefold())
        bases.append(candidate)
    return bases



class _StopSignal:
    """Ctrl-C / SIGTERM: the first asks the run to stop after the current batch, the second
    aborts at once (KeyboardInterrupt)."""

    def __init__(self):
        self.received = None
        self.bar = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        runs.say(f"{self.received}: stopping after the current batch (send it again to abort now)",
             self.bar)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False



def _settings(args, size):
    return {"model": str(pathlib.Path(args.model).resolve()), "method": args.method,
            "layer": args.layer, "output": args.output, "class_index": args.class_index,
            "top": None if args.class_index is not None else args.top, "size": list(size),
            "preprocess": args.preprocess, "alpha": args.alpha, "colormap": args.colormap}



def _make_bar(total, initial=0):
    from tqdm import tqdm

    if not sys.stderr.isatty():
        return None
    return tqdm(total=total, initial=initial, unit="image", file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)


# --------------------------------------------------------------------------- commands

def _find_inputs(args, out):
    """The inputs to explain, as `(path, relative)` pairs: each file once, none inside `out`."""
    from tf_gradcam import files

    out_resolved, seen, pairs, inside = out.resolve(), set(), [], 0
    for path, relative in files.expand_inputs(args.images, recursive=args.recursive):
        key = os.path.abspath(path)
        if key in seen:
            continue  # the same file named twice (a folder and a glob)
        seen.add(key)
        if runs.inside(path.resolve(), out_resolved):
            inside += 1  # e.g. overlays of an earlier run: never inputs (or targets)
            continue
        pairs.append((path, relative))
    if inside:
        runs.say(f"note: skipped {inside} file(s) inside the output folder {out}")
    if not pairs:
        hint = " (add --recursive to look in sub-folders)" if not args.recursive else ""
        raise UsageError(f"no image files ({', '.join(files.IMAGE_SUFFIXES)}) found in "
                         f"{' '.join(map(str, args.images))}{hint}")
    return pairs


def _load_explainer(args):
    """`(explainer, size, labels)` from the command line; UsageError on bad options."""
    from tf_gradcam import registry

    model = load_model(args.model)
    labels = None
    if args.labels:
        try:
            labels = pathlib.Path(args.labels).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise UsageError(f"could not read --labels {args.labels}: {err}") from err
    size = tuple(args.size) if args.size else tuple(model.input_shape[1:3])
    if None in size:
        raise UsageError("the model takes any image size: pass --size H W")
    try:
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess,
                                              output=args.output)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from err
    if args.class_index is not None and not 0 <= args.class_index < explainer.num_classes:
        raise UsageError(f"--class {args.class_index} is out of range: the model predicts "
                         f"{explainer.num_classes} classes (0 to {explainer.num_classes - 1})")
    if labels is not None and len(labels) < explainer.num_classes:
        runs.say(f"note: --labels has {len(labels)} names for {explainer.num_classes} classes; "
             "the others get an empty class_name")
    return explainer, size, labels


def _submit_batch(chunk, decoded, explainer, args, pool, out, labels):
    """Explain the decoded images of one batch (main thread) and hand the writing of their
    overlays to `pool`; returns one future of summary rows per image, in input order."""
    import concurrent.futures

    import numpy as np

    from tf_gradcam import records

    good = [i for i, (image, _, _) in enumerate(decoded) if image is not None]
    per_image = {}
    if good:
        try:
            batch = np.stack([decoded[i][0] for i in good])
            per_image = dict(zip(good, _explain_batch(explainer, batch, args)))
        except Exception as err:  # noqa: BLE001 - this batch fails, the run goes on
            failure = f"the model failed on this batch: {type(err).__name__}: {err}"
            per_image = {i: failure for i in good}
    futures = []
    for i, (item, (image, note, error)) in enumerate(zip(chunk, decoded)):
        error = per_image[i] if isinstance(per_image.get(i), str) else error
        if error:
            futures.append(concurrent.futures.Future())
            futures[-1].set_result([records.failure_row(item.path, error, note)])
        else:
            futures.append(pool.submit(_write_outputs, item, image, note, per_image[i], out,
                                       explainer, args, labels))
    return futures


def _stream(todo, size, explainer, args, out, labels, summary):
    """Read, explain and write `todo` batch by batch; returns `(explained, failed, signal)`.

    Decoding runs up to `PREFETCH_BATCHES` ahead on a thread pool, the model on this thread,
    and a batch's overlays are written on the pool while the next batch is explained; its rows
    are appended to the summary once all its overlays are on disk. `signal` names the signal
    that stopped the run after a batch, or is `None`.
    """
    import concurrent.futures

    counts = {"explained": 0, "failed": 0}
    bar = _make_bar(len(todo))
    workers = args.workers or min(8, os.cpu_count() or 1)
    writing = collections.deque()  # one list of row futures per batch, oldest first

    def finish_oldest():
        rows = [row for future in writing.popleft() for row in future.result()]
        summary.append(rows)
        for row in rows:
            if row["error"]:
                counts["failed"] += 1
                runs.say(f"error: {row['image']}: {row['error']}", bar)
        counts["explained"] += len({r["image"] for r in rows if not r["error"]})
        if bar is not None:
            bar.update(len({r["image"] for r in rows}))

    try:
        with _StopSignal() as stop, concurrent.futures.ThreadPoolExecutor(workers) as pool, \
                contextlib.closing(_batches(todo, size, args.batch_size, pool)) as batches:
            stop.bar = bar
            for chunk, decoded in batches:
                writing.append(_submit_batch(chunk, decoded, explainer, args, pool, out, labels))
                while len(writing) > 1:  # one batch is written while the next is explained
                    finish_oldest()
                if stop.received:
                    break
            while writing:
                finish_oldest()
    finally:
        if bar is not None:
            bar.close()
    return counts["explained"], counts["failed"], stop.received


def cmd_explain(args):
    """`tf-gradcam explain`: stream images through the explainer into overlays + summary."""
    import cv2

    from tf_gradcam import files

    # Errors only: corrupt files are reported per file, not as OpenCV warnings.
    logging = getattr(cv2.utils, "logging", None)  # OpenCV >= 4.12; setLogLevel before
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    else:
        cv2.setLogLevel(2)  # 2 = errors only
    out = pathlib.Path(args.out)
    previous = runs.open_out(out, args)  # refuse to mix runs before loading anything
    pairs = _find_inputs(args, out)
    explainer, size, labels = _load_explainer(args)

    settings = _settings(args, size)
    if previous:
        runs.check_same_settings(previous, settings, out)
        done, dropped = runs.resume(out, previous, _ranks_per_image(args, explainer.num_classes))
        if dropped:
            runs.say(f"--resume: dropped {dropped} row(s) of images the earlier run did not finish")
    else:
        done = runs.Done(set(), {}, 0, 0)
        out.mkdir(parents=True, exist_ok=True)
        files.write_atomic(out / runs.RUN_FILE, json.dumps(
            {**settings, "cwd": os.getcwd(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "tool": "tf-gradcam explain"}, indent=1).encode())
    bases = _plan_bases(pairs, done.reserved)
    todo = [_Input(path, os.path.abspath(path), base)
            for (path, _), base in zip(pairs, bases) if os.path.abspath(path) not in done.keys]
    if previous:
        runs.say(f"--resume: {len(pairs) - len(todo)} image(s) already done in {out}, "
             f"{len(todo)} to go")

    summary = runs.Summary(out, fresh=not previous)
    try:
        explained, failed, stopped = _stream(todo, size, explainer, args, out, labels, summary)
    finally:
        summary.close()
    if args.json:
        summary.write_json_array(out / runs.SUMMARY_JSON)
    where = out / (runs.SUMMARY_JSON if args.json else runs.SUMMARY_CSV)
    if stopped:
        left = len(todo) - explained - failed
        print(f"interrupted ({stopped}): explained {explained} image(s) in this run, "
              f"{failed} failed, {left} not started; summary: {where}. Continue with the same "
              f"command plus --resume.")
        return EXIT_INTERRUPTED
    failed_total = done.failed + failed
    print(f"explained {done.explained + explained} image(s), {failed_total} failed"
          + (f" ({explained} explained in this run)" if previous else "")
          + f"; summary: {where}")
    return EXIT_SOME_FAILED if failed_total else EXIT_OK


def cmd_layers(args):
    from tf_gradcam import layers

    model = load_model(args.model)
    try:
        infos = layers.list_layers(model)
        auto = layers.automatic_layer(model)
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
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess,
                                              output=args.output)
        path = export.export_saved_model(explainer, args.export_dir, colormap=args.colormap,
                                         alpha=args.alpha)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from err
    print(f"exported {explainer!r} to {path} (signatures: serving_default, explain_class, "
          "explain_image, explain_image_class)")
    return EXIT_OK


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _output_name(text):
    """`--output`: an index when it is a whole number, else a name."""
    return int(text) if text.lstrip("-").isdigit() else text


def _add_model_options(command):
    """Options every command that builds an explainer shares."""
    from tf_gradcam import preprocessing, registry

    command.add_argument("--layer", default=None, help="layer name (default: automatic)")
    command.add_argument("--output", default=None, type=_output_name,
                         help="the output to explain of a multi-output model: its name or "
                              "index (default: the only output)")
    command.add_argument("--method", default="gradcam", choices=sorted(registry.METHODS),
                         help="explanation method (default: gradcam)")
    command.add_argument("--preprocess", default="none",
                         help=f"one of {sorted(preprocessing.PREPROCESSORS)} or scale:A,B "
                              "(default: none)")
    command.add_argument("--alpha", type=float, default=0.4,
                         help="heatmap weight in the overlay, 0-1 (default: 0.4)")
    command.add_argument("--colormap", default="jet", help="matplotlib colormap (default: jet)")


def _add_explain(sub):
    ex = sub.add_parser(
        "explain", help="write heatmap overlays and a summary for images",
        description="Explain image files with a .keras model: one overlay PNG per image and "
                    "class, and summary.csv / summary.jsonl (one row per image and class, "
                    "appended after every batch). Exit status: 0 all explained, 1 some files "
                    "failed, 2 usage error, 130 interrupted (resume with --resume).")
    ex.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    ex.add_argument("--model", required=True, help="a .keras model file (loaded in safe mode)")
    which = ex.add_mutually_exclusive_group()
    which.add_argument("--class", dest="class_index", type=int, default=None,
                       help="explain this class index on every image")
    which.add_argument("--top", type=_positive_int, default=1,
                       help="explain each image's top K classes (default: 1)")
    ex.add_argument("--size", type=_positive_int, nargs=2, metavar=("H", "W"),
                    help="resize inputs to H W (default: the model's input size)")
    ex.add_argument("--out", default="gradcam_out",
                    help="output folder: new or empty, or an earlier run with --resume / "
                         "--overwrite (default: gradcam_out)")
    ex.add_argument("--labels", help="text file, line i = name of class i")
    ex.add_argument("--recursive", "-r", action="store_true",
                    help="also look for images in sub-folders of the given folders")
    again = ex.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out: skip images already in its summary")
    again.add_argument("--overwrite", action="store_true",
                       help="delete the run in --out (its overlays and summaries) first")
    ex.add_argument("--batch-size", type=_positive_int, default=16,
                    help="images per model call (default: 16)")
    ex.add_argument("--workers", type=_positive_int, default=None,
                    help="threads decoding and writing images (default: CPU count, at most 8)")
    ex.add_argument("--json", action="store_true",
                    help="also write summary.json, one JSON array, at the end")
    _add_model_options(ex)
    ex.set_defaults(func=cmd_explain)
    return ex


def build_parser():
    """The `tf-gradcam` argument parser; each command is added by one `sub.add_parser` block."""
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
    _add_model_options(export)
    export.set_defaults(func=cmd_export)
    _add_explain(sub)
    from tf_gradcam import evaluate_cli

    evaluate_cli.add_parser(sub)
    return parser


@contextlib.contextmanager
def _filtered_stderr(pattern):
    """Capture what C++ code writes to file descriptor 2 and replay it without the lines
    matching `pattern` (also on error, so nothing real is lost)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if not pattern.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def quiet_tensorflow():
    """Import TensorFlow without its C++ start-up lines (oneDNN, CUDA, CPU instructions).

    Sets `TF_CPP_MIN_LOG_LEVEL=2` (errors only) and filters the lines TF 2.21 prints before
    that level applies. Does nothing when the user set `TF_CPP_MIN_LOG_LEVEL` (their choice)
    or TensorFlow is already imported.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with _filtered_stderr(_TF_NOISE):
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, inside the filter


def main(argv=None):
    """Entry point of the `tf-gradcam` console script."""
    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except KeyboardInterrupt:
        print("tf-gradcam: aborted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
