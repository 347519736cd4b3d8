"""The ready pipeline: image files in; overlays, a JSON Lines summary and failed records out.

```
python -m tf_gradcam.beam --input 'DIR_OR_GLOB' --model MODEL.keras --output OUT \\
    [--runner DataflowRunner --project ... --region ... --temp_location gs://...]
```

Stages: match the files (`fileio.MatchFiles`; a folder is searched recursively for image
suffixes, a glob or file is taken as given), drop duplicates, read each header and refuse
images above the pixel budget (`--max-pixels`), decode and fit them to the model's input
(`--fit`, as `tf-gradcam explain` does: `tf_gradcam.files.decode_photo`,
`tf_gradcam.pictures.prepare`), `RunInference` with `GradCAMModelHandler` (batched by Beam),
write one overlay PNG per image at the photo's own size (capped by `--max-size`, captioned
like the CLI's: `tf_gradcam.pictures`; the file is read again there, so no full-size image
travels through `RunInference`) and a summary row with the columns of `tf-gradcam explain`
(`tf_gradcam.records.FIELDS`). Every file that cannot
be read, decoded, explained or written becomes a row in `OUT/failed-*.jsonl` (its path and
error) and the pipeline goes on.

Outputs in `OUT` (local or any Beam filesystem, e.g. `gs://`):
    overlays/<stem>_<8 hex of the path's SHA-1>_class<c>_<method>.png: unique per input path,
        so `a/cat.png` and `b/cat.png` never collide.
    summary-SSSSS-of-NNNNN.jsonl: one row per explained image (keys `records.FIELDS`).
    failed-SSSSS-of-NNNNN.jsonl: one row per failed file (`image`, `error`, ...).

Exit status: 0 when every file was explained, 1 when some failed, 2 for usage errors.
"""

import argparse
import hashlib
import json
import os
import posixpath
import sys
import typing

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from tf_gradcam import files, geometry, pictures, records
from tf_gradcam.beam.handler import GradCAMModelHandler, load_keras_model

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
OVERLAY_DIR = "overlays"
_NAMESPACE = "tf_gradcam"


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


def overlay_name(path, class_index, method):
    """The overlay file name of one input path: unique per path, the same on every run.

    Args:
        path: The input's path or URI.
        class_index: The explained class.
        method: Registry name of the method.

    Returns:
        `<stem>_<first 8 hex digits of the path's SHA-1>_class<c>_<method>.png`.

    Example:
    >>> from tf_gradcam.beam import overlay_name
    >>> overlay_name("a/cat.png", 1, "gradcam") != overlay_name("b/cat.png", 1, "gradcam")
    True
    """
    stem = posixpath.splitext(posixpath.basename(str(path).replace("\\", "/")))[0]
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    return f"{stem}_{digest}_class{int(class_index)}_{method}.png"


_EXPLAINED = Metrics.counter(_NAMESPACE, "images_explained")
_FAILED = Metrics.counter(_NAMESPACE, "images_failed")


def _failure(path, error, note="", stage=""):
    """A failure row (`records.failure_row`) whose error names the stage that failed."""
    _FAILED.inc()
    message = (str(error) if isinstance(error, (str, ValueError))  # ours: a full sentence
               else f"{type(error).__name__}: {error}")
    return records.failure_row(path, f"{stage}: {message}" if stage else message, note)


class _Look(typing.NamedTuple):
    """How the overlays look and how photos are fitted: the options `explain` has too."""

    size: tuple
    fit: str = "squash"
    max_size: int = pictures.DEFAULT_MAX_SIZE
    max_pixels: typing.Optional[int] = files.DEFAULT_MAX_PIXELS
    alpha: float = 0.4
    colormap: str = "jet"
    caption: bool = True
    colorbar: bool = False


def _prepare(data, look):
    photo = files.decode_photo(data, max_pixels=look.max_pixels,
                               max_size=max(look.max_size, *look.size))
    return pictures.prepare(photo, look.size, look.fit, look.max_size)


def _read_file(path):
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


class _Decode(beam.DoFn):
    """`ReadableFile` -> `((path, note, original_size), model image)`; unreadable files to
    `failed`."""

    def __init__(self, look):
        self._look = look

    def process(self, readable):
        path = readable.metadata.path
        try:
            with readable.open() as handle:  # (ReadableFile.read() leaves it open)
                data = handle.read()
            prepared = _prepare(data, self._look)
        except files.ImageTooLarge as err:
            _FAILED.inc()
            yield beam.pvalue.TaggedOutput("failed", records.failure_row(
                path, f"read: {err}", original_size=err.size))
            return
        except Exception as err:  # noqa: BLE001 - every per-file failure is a record
            yield beam.pvalue.TaggedOutput("failed", _failure(path, err, stage="read"))
            return
        yield (path, prepared.note, prepared.original_size), prepared.model_image


class _Write(beam.DoFn):
    """`((path, note, original_size), PredictionResult)` -> the overlay PNG and its row."""

    def __init__(self, output, look, labels):
        self._dir = FileSystems.join(output, OVERLAY_DIR)
        self._look, self._labels = look, labels

    def setup(self):
        if FileSystems.get_scheme(self._dir) is None:
            os.makedirs(self._dir, exist_ok=True)

    def process(self, element):
        (path, note, original_size), result = element
        info, look = result.inference, self._look
        try:
            prepared = _prepare(_read_file(path), look)  # the photo again, at its own size
            text = (pictures.caption(info["class_index"], info["probability"], info["method"],
                                     self._labels) if look.caption else None)
            picture, mapped = pictures.overlay(prepared, info["heatmap"], alpha=look.alpha,
                                               colormap=look.colormap, caption=text,
                                               colorbar=look.colorbar)
            target = FileSystems.join(
                self._dir, overlay_name(path, info["class_index"], info["method"]))
            _write(target, files.png_bytes(picture))
        except Exception as err:  # noqa: BLE001 - a failed write is a record, not an abort
            yield beam.pvalue.TaggedOutput("failed", _failure(path, err, note, "write"))
            return
        _EXPLAINED.inc()
        item = records.Explained(rank=1, class_index=info["class_index"], score=info["score"],
                                 probability=info["probability"], heatmap=mapped)
        yield records.row(path, item, layer=info["layer"], method=info["method"],
                          overlay=target, note=note, labels=self._labels,
                          original_size=original_size)


def _write(path, data):
    if FileSystems.get_scheme(path) is None:
        files.write_atomic(path, data)  # no half-written file on a local disk
    else:
        with FileSystems.create(path) as handle:  # object stores publish on close
            handle.write(data)


def _failed_batch(element):
    """RunInference's dead letter `(batch, (type, repr, traceback lines))` -> failure rows."""
    batch, (error_type, text, lines) = element
    message = lines[-1].strip() if lines else f"{error_type.__name__}: {text}"  # "Type: msg"
    return [_failure(path, message, note, "explain") for (path, note, _), _ in batch]


class ExplainImages(beam.PTransform):
    """`ReadableFile`s in; `(rows, failed)` PCollections of summary rows out.

    Reads each file's header (images above `max_pixels` fail before decoding), fits it to
    `size`, explains it with `RunInference(KeyedModelHandler(handler))` and writes its overlay
    PNG into `output/overlays/` at the photo's own size (capped by `max_size`), as
    `tf-gradcam explain` does. Files that cannot be read, decoded, explained or written become
    failure rows (`records.failure_row`), never an abort.

    Args:
        handler: A `GradCAMModelHandler`.
        output: The output folder (local or any Beam filesystem).
        size: `(height, width)` of the model's input.
        alpha: Heatmap opacity of the overlays. Defaults to `0.4`.
        colormap: A matplotlib colormap name. Defaults to `"jet"`.
        labels: Class names for the `class_name` column and the captions. Defaults to
            `None`.
        fit: How a photo becomes the model's input: `"squash"`, `"crop"` or `"pad"`
            (`tf_gradcam.geometry.fit`). Defaults to `"squash"`.
        max_size: Longest side of an overlay in pixels. Defaults to `2048`.
        max_pixels: Images declaring more pixels fail before decoding; `None` for no limit.
            Defaults to `100_000_000`.
        caption: Draw the class, probability and method on each overlay. Defaults to `True`.
        colorbar: Draw a colour bar on each overlay. Defaults to `False`.
    """

    def __init__(self, handler, output, size, alpha=0.4, colormap="jet", labels=None, *,
                 fit="squash", max_size=pictures.DEFAULT_MAX_SIZE,
                 max_pixels=files.DEFAULT_MAX_PIXELS, caption=True, colorbar=False):
        super().__init__()
        self._handler, self._output = handler, output
        self._look = _Look(tuple(size), fit, max_size, max_pixels, alpha, colormap, caption,
                           colorbar)
        self._labels = None if labels is None else list(labels)

    def expand(self, readable_files):
        decoded = readable_files | "Decode" >> beam.ParDo(_Decode(self._look)).with_outputs(
            "failed", main="images")
        explained, dead = (decoded.images | "Explain" >> RunInference(
            KeyedModelHandler(self._handler)).with_exception_handling())
        written = explained | "WriteOverlays" >> beam.ParDo(_Write(
            self._output, self._look, self._labels)).with_outputs("failed", main="rows")
        failed = ((decoded.failed, written.failed,
                   dead.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch))
                  | "AllFailures" >> beam.Flatten())
        return written.rows, failed


def _is_glob(spec):
    return any(ch in spec for ch in "*?[")


def _patterns(specs):
    """`[(pattern, folder_or_None)]`: a folder becomes a recursive pattern over its images."""
    patterns = []
    for spec in specs:
        local = FileSystems.get_scheme(spec) is None
        if (local and os.path.isdir(spec)) or spec.endswith("/"):
            folder = spec.rstrip("/\\") or "/"
            patterns.append((FileSystems.join(folder, "**"), folder))
        elif local and not _is_glob(spec) and not os.path.isfile(spec):
            raise UsageError(f"input {spec!r} does not exist")
        else:
            patterns.append((spec, None))
    return patterns


def _absolute(path):
    return os.path.abspath(path) if FileSystems.get_scheme(path) is None else path


def _keep(metadata, folder, output):
    """Keep a matched file: not one of this run's overlays; below a folder, an image file
    outside hidden folders (as `tf-gradcam explain --recursive` walks)."""
    path = _absolute(metadata.path)
    overlays = _absolute(FileSystems.join(output, OVERLAY_DIR)).rstrip("/") + "/"
    if path.startswith(overlays):
        return False
    if folder is None:
        return True
    relative = path[len(_absolute(folder).rstrip("/")) + 1:].replace("\\", "/")
    return (relative.lower().endswith(files.IMAGE_SUFFIXES)
            and not any(part.startswith(".") for part in relative.split("/")))


def _first(keyed):
    return next(iter(keyed[1]))


def build(pipeline, specs, handler, output, size, *, alpha=0.4, colormap="jet", labels=None,
          num_shards=0, **look):
    """Add the whole pipeline to `pipeline`: match, read, explain, write overlays and JSONL.

    Args:
        pipeline: A `beam.Pipeline`.
        specs: Input files, folders (searched recursively for image suffixes) or glob
            patterns; local or on any Beam filesystem.
        handler: A `GradCAMModelHandler`.
        output: The output folder.
        size: `(height, width)` of the model's input.
        alpha: Heatmap opacity. Defaults to `0.4`.
        colormap: A matplotlib colormap name. Defaults to `"jet"`.
        labels: Class names. Defaults to `None`.
        num_shards: Shards of each JSONL output; `0` lets the runner decide. Defaults to `0`.
        **look: `fit`, `max_size`, `max_pixels`, `caption`, `colorbar`, as `ExplainImages`
            takes them.

    Returns:
        `(rows, failed)`, the PCollections written to `summary-*.jsonl` and `failed-*.jsonl`.
    """
    matched = []
    for i, (pattern, folder) in enumerate(_patterns(specs)):
        matched.append(
            pipeline | f"Match{i}" >> fileio.MatchFiles(pattern)
            | f"Keep{i}" >> beam.Filter(_keep, folder, output))
    readable = (matched | "AllMatches" >> beam.Flatten()
                | "ByPath" >> beam.Map(lambda m: (m.path, m))
                | "Deduplicate" >> beam.GroupByKey()  # also spreads the reads over workers
                | "First" >> beam.Map(_first)
                | "Read" >> fileio.ReadMatches())
    rows, failed = readable | "ExplainImages" >> ExplainImages(
        handler, output, size, alpha, colormap, labels, **look)
    for name, collection in (("summary", rows), ("failed", failed)):
        (collection | f"{name}ToJson" >> beam.Map(
            lambda r: json.dumps(records.json_safe(r)))
         | f"Write_{name}" >> beam.io.WriteToText(FileSystems.join(output, name),
                                                  file_name_suffix=".jsonl",
                                                  num_shards=num_shards))
    return rows, failed


def build_parser():
    """The command line of `python -m tf_gradcam.beam` (unknown options go to Beam)."""
    from tf_gradcam import registry

    parser = argparse.ArgumentParser(
        prog="python -m tf_gradcam.beam",
        description="Explain image files with Grad-CAM on Apache Beam (any runner). Options "
                    "not listed here are Beam pipeline options (--runner, --project, ...).")
    parser.add_argument("--input", action="append", required=True,
                        help="image file, folder (recursive) or glob; repeatable; local or "
                             "gs://, s3://, ...")
    parser.add_argument("--model", required=True, help="a .keras file (loaded in safe mode)")
    parser.add_argument("--output", required=True, help="output folder (local or remote)")
    parser.add_argument("--method", default="gradcam", choices=sorted(registry.METHODS))
    parser.add_argument("--layer", default=None, help="layer name (default: automatic)")
    parser.add_argument("--preprocess", default=None,
                        help="a tf_gradcam.preprocessing name or scale:A,B")
    parser.add_argument("--class", dest="class_index", type=int, default=None,
                        help="explain this class on every image (default: the top-1 class)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"),
                        help="model input size (default: read from the model)")
    parser.add_argument("--labels", help="'imagenet' (the names shipped with tf_gradcam) or a "
                                         "text file, line i = name of class i")
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--colormap", default="jet")
    parser.add_argument("--fit", choices=geometry.FITS, default=geometry.FITS[0],
                        help="how a photo becomes the model's input (default: squash)")
    parser.add_argument("--max-size", type=int, default=pictures.DEFAULT_MAX_SIZE,
                        help="longest side of an overlay in pixels (default: 2048)")
    parser.add_argument("--max-pixels", type=float, default=files.DEFAULT_MAX_PIXELS / 1e6,
                        metavar="MP", help="refuse images above MP megapixels before "
                                           "decoding (default: 100)")
    parser.add_argument("--caption", action=argparse.BooleanOptionalAction, default=True,
                        help="class, probability and method on each overlay (default: on)")
    parser.add_argument("--colorbar", action="store_true", help="a colour bar on each overlay")
    parser.add_argument("--min-batch-size", type=int, default=1)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--num-shards", type=int, default=0,
                        help="shards per JSONL output (default: the runner decides)")
    return parser


def _check(args):
    """Validate the command line before a pipeline starts; returns `(size, labels)`."""
    from tf_gradcam import registry, visualize

    if args.min_batch_size < 1 or args.max_batch_size < args.min_batch_size:
        raise UsageError("need 1 <= --min-batch-size <= --max-batch-size")
    if not 0.0 <= args.alpha <= 1.0:
        raise UsageError(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.max_size < 1 or not args.max_pixels > 0:
        raise UsageError(f"--max-size and --max-pixels must be positive. Received: "
                         f"--max-size={args.max_size}, --max-pixels={args.max_pixels}")
    try:
        visualize.colormap_lut(args.colormap)
    except ValueError as err:
        raise UsageError(str(err)) from err
    previous = FileSystems.match([FileSystems.join(args.output, "summary-*.jsonl")])[0]
    if previous.metadata_list:
        raise UsageError(f"{args.output} already holds the results of a run "
                         f"({previous.metadata_list[0].path}); choose a new --output folder")
    if FileSystems.get_scheme(args.model) is None and not os.path.isfile(args.model):
        raise UsageError(f"model file {args.model!r} does not exist")
    try:  # load it once here too: wrong layers or methods fail now, not on every worker
        model = load_keras_model(args.model)
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess)
    except Exception as err:  # noqa: BLE001 - any loader/explainer failure is a usage error
        raise UsageError(f"could not explain with model {args.model!r}: "
                         f"{type(err).__name__}: {err}") from err
    if args.class_index is not None and not 0 <= args.class_index < explainer.num_classes:
        raise UsageError(f"--class {args.class_index} is out of range: the model predicts "
                         f"{explainer.num_classes} classes")
    size = tuple(args.size) if args.size else tuple(explainer.input_shape[:2])
    if None in size:
        raise UsageError("the model takes any image size: pass --size H W")
    labels = None
    if args.labels == "imagenet":
        from tf_gradcam import labels as names

        labels = names.load_labels("imagenet")
    elif args.labels:
        with FileSystems.open(args.labels) as handle:
            labels = handle.read().decode().splitlines()
    return size, labels


def _counter(result, name):
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(_NAMESPACE)
                                       .with_name(name))["counters"]
    except (NotImplementedError, KeyError):  # runners without metric queries
        return None
    return sum(c.committed or 0 for c in found)


def main(argv=None):
    """Entry point of `python -m tf_gradcam.beam`; returns the exit status."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args, beam_args = build_parser().parse_known_args(argv)
    try:
        specs = args.input
        _patterns(specs)
        size, labels = _check(args)
    except UsageError as err:
        print(f"python -m tf_gradcam.beam: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    handler = GradCAMModelHandler(args.model, args.layer, args.method, args.preprocess,
                                  class_index=args.class_index,
                                  min_batch_size=args.min_batch_size,
                                  max_batch_size=args.max_batch_size)
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build(pipeline, specs, handler, args.output, size, alpha=args.alpha,
          colormap=args.colormap, labels=labels, num_shards=args.num_shards, fit=args.fit,
          max_size=args.max_size, max_pixels=int(args.max_pixels * 1e6),
          caption=args.caption, colorbar=args.colorbar)
    result = pipeline.run()
    result.wait_until_finish()
    explained, failed = (_counter(result, "images_explained"),
                         _counter(result, "images_failed"))
    print(f"explained {explained} image(s), {failed} failed; summary: "
          f"{FileSystems.join(args.output, 'summary-*.jsonl')}, failures: "
          f"{FileSystems.join(args.output, 'failed-*.jsonl')}")
    return EXIT_SOME_FAILED if failed else EXIT_OK
