"""The streaming engine of `tf-gradcam explain`: decode ahead, explain batch by batch, write.

Images are decoded ahead on a small thread pool (a bounded number of batches), explained
batch by batch on the main thread, and each batch's overlays are written on the pool while
the next batch is explained; its summary rows are appended (and flushed) once all its
overlays are on disk, and the HTML report is refreshed, so memory does not grow with the
number of images and a stopped run keeps a valid summary and page of everything it finished.
"""

import collections
import concurrent.futures
import contextlib
import os
import pathlib
import signal
import sys
import threading
import typing

from tf_gradcam.cli import common

#: Batches decoded ahead of the model (bounded memory: this many + 1 batches in flight).
PREFETCH_BATCHES = 2


class Input(typing.NamedTuple):
    path: pathlib.Path  # as found (relative paths stay relative: the summary shows them so)
    key: str  # absolute path: what --resume matches on
    base: pathlib.PurePosixPath  # unique overlay stem below --out (mirrors sub-folders)


class Decoded(typing.NamedTuple):
    """One input after decoding: `prepared` (`pictures.Prepared`) or `error`."""

    prepared: typing.Any
    error: str
    note: str = ""
    original_size: typing.Optional[tuple] = None


def ranks_per_image(args, num_classes):
    if args.class_index is not None:
        return 1
    return args.top if num_classes is None else min(args.top, num_classes)


def _model_pixels(boxes, box_format, size):
    """`(..., 4)` boxes in `box_format` (`common.BOX_FORMATS`) -> `(y1, x1, y2, x2)` in the
    pixels of the model's `size` `(h, w)` input."""
    import numpy as np

    b = np.asarray(boxes, np.float64)
    h, w = size
    if box_format.endswith("xyxy"):
        b = b[..., [1, 0, 3, 2]]
    elif box_format == "rel_center_xywh":
        cx, cy, bw, bh = (b[..., k] for k in range(4))
        b = np.stack([cy - bh / 2, cx - bw / 2, cy + bh / 2, cx + bw / 2], axis=-1)
    if box_format.startswith("rel_"):
        b = b * np.array([h, w, h, w])
    # Corners in order (a random or untrained head may swap them): top-left, bottom-right.
    return np.concatenate([np.minimum(b[..., :2], b[..., 2:]),
                           np.maximum(b[..., :2], b[..., 2:])], axis=-1)


def detection_boxes(explainer, exp, args, size):
    """Per image, per explained class: the explained detection's box `(y1, x1, y2, x2)` in
    model-input pixels, or `None` (another target, or `detection:format=none`).

    The box is the user's `box=`, else the model's box output at the explained anchor:
    `index=`, or the anchor with the highest logit of the explained class.
    """
    import numpy as np

    spec = getattr(args, "target", None)
    box_format = spec.kwargs.get("format", "yxyx") if spec is not None else "none"
    classes = np.asarray(exp.class_index).reshape(len(exp.class_index), -1)
    if spec is None or spec.kind != "detection" or box_format == "none":
        return [[None] * classes.shape[1] for _ in range(len(classes))]
    target = explainer.target
    if target.box is not None:
        box = tuple(_model_pixels(target.box, box_format, size))
        return [[box] * classes.shape[1] for _ in range(len(classes))]
    logits_key, boxes_key = target.keys(exp.predictions)
    logits = np.asarray(exp.predictions[logits_key])  # (N, A, C)
    boxes = _model_pixels(exp.predictions[boxes_key], box_format, size)  # (N, A, 4)
    result = []
    for i, row in enumerate(classes):
        anchors = [target.index if target.index is not None
                   else int(logits[i, :, c].argmax()) for c in row]
        result.append([tuple(boxes[i, a]) for a in anchors])
    return result


def _with_boxes(per_image, boxes):
    return [[one._replace(box=box) for one, box in zip(items, image_boxes)]
            for items, image_boxes in zip(per_image, boxes)]


def explain_batch(explainer, batch, args):
    """Explain one batch: per image, a list of `records.Explained`, best rank first.

    The one place that decides how classes are chosen: `--class C` explains C, `--top K` the K
    best classes in one pass (`top_k=K`). Methods that explain fewer classes per call
    (`max_classes`, e.g. Guided Grad-CAM: 1) get one call per rank, ranked by the first call's
    probabilities.
    """
    import numpy as np

    from tf_gradcam import records

    from tf_gradcam import targets

    k = ranks_per_image(args, explainer.num_classes)
    size = np.shape(batch)[1:3]
    class_index = args.class_index
    if class_index is None and isinstance(explainer.target, (targets.Regression,
                                                             targets.DenseRegression)):
        class_index, k = 0, 1  # the target ignores classes: one map, written as class 0
    if class_index is not None or k == 1:
        exp = explainer.explain(batch, class_index)
        return _with_boxes([records.explained(exp, i) for i in range(len(batch))],
                           detection_boxes(explainer, exp, args, size))
    if explainer.max_classes is None or explainer.max_classes >= k:
        exp = explainer.explain(batch, top_k=k)
        return _with_boxes([records.explained(exp, i) for i in range(len(batch))],
                           detection_boxes(explainer, exp, args, size))
    first = explainer.explain(batch)
    per_image = _with_boxes([records.explained(first, i) for i in range(len(batch))],
                            detection_boxes(explainer, first, args, size))
    if first.probabilities is not None:
        ranking = first.probabilities
    elif isinstance(explainer.target, targets.Detection):  # the explained box's class scores
        ranking = explainer.target.class_scores(first.predictions)
    else:
        ranking = first.predictions
    order = np.argsort(-np.asarray(ranking), axis=1, kind="stable")
    for rank in range(1, k):
        exp = explainer.explain(batch, order[:, rank])
        boxes = detection_boxes(explainer, exp, args, size)
        for i, items in enumerate(per_image):
            items += _with_boxes([records.explained(exp, i, first_rank=rank + 1)],
                                 [boxes[i]])[0]
    return per_image


def read(path, size, args):
    """Decode and prepare one input; never raises: a `Decoded`."""
    from tf_gradcam import files, pictures

    suffix = pathlib.Path(path).suffix.lower()
    if not files.is_image_name(pathlib.Path(path).name) and pathlib.Path(path).is_file():
        return Decoded(None, f"skipped: unsupported format {suffix or '(no suffix)'}")
    try:
        photo = files.decode_photo(files.read_bytes(path), max_pixels=args.max_pixels,
                                   max_size=max(args.max_size, *size))
        prepared = pictures.prepare(photo, size, args.fit, args.max_size)
        return Decoded(prepared, "", prepared.note, prepared.original_size)
    except files.ImageTooLarge as err:
        return Decoded(None, str(err), "", err.size)
    except ValueError as err:
        return Decoded(None, str(err))
    except Exception as err:  # noqa: BLE001 - one bad file is a reported line, never an abort
        return Decoded(None, f"{type(err).__name__}: {err}")


def batches(inputs, size, args, pool):
    """Yield `(inputs, decoded)` batch by batch, decoding up to `PREFETCH_BATCHES` ahead."""
    chunks = (inputs[i:i + args.batch_size] for i in range(0, len(inputs), args.batch_size))
    pending = collections.deque()

    def submit():
        chunk = next(chunks, None)
        if chunk is not None:
            pending.append((chunk, [pool.submit(read, item.path, size, args) for item in chunk]))

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


def _box_on_photo(prepared, box):
    """A model-pixel box `(y1, x1, y2, x2)` -> `(on the photo's own pixels, on the overlay's
    pixels)`."""
    top, left = prepared.placement.to_original(box[0], box[1])
    bottom, right = prepared.placement.to_original(box[2], box[3])
    original = (top, left, bottom, right)
    sy = prepared.display.shape[0] / prepared.placement.original_size[0]
    sx = prepared.display.shape[1] / prepared.placement.original_size[1]
    return original, (top * sy, left * sx, bottom * sy, right * sx)


def write_outputs(item, decoded, explained, out, explainer, args, labels):
    """Write one image's overlays and return its summary rows (a failure row on error);
    an explained detection's box is drawn on its overlay and written in its row."""
    from tf_gradcam import files, pictures, records, targets

    rows = []
    prepared = decoded.prepared
    try:
        for one in explained:
            target = (out / f"{item.base}_class{one.class_index}_{explainer.method}"
                            f".{args.format}")
            text = (pictures.caption(one.class_index, one.probability, explainer.method, labels)
                    if args.caption else None)
            picture, mapped = pictures.overlay(prepared, one.heatmap, alpha=args.alpha,
                                               colormap=args.colormap, caption=text,
                                               colorbar=args.colorbar)
            if one.box is not None:
                original, drawn = _box_on_photo(prepared, one.box)
                picture = targets.draw_box(picture, drawn,
                                           width=max(2, round(max(picture.shape[:2]) / 200)))
                one = one._replace(box=original)
            target.parent.mkdir(parents=True, exist_ok=True)
            files.write_atomic(target, files.encode_image(picture, args.format))
            rows.append(records.row(item.path, one._replace(heatmap=mapped),
                                    layer=explainer.layer, method=explainer.method,
                                    overlay=target, note=decoded.note, labels=labels,
                                    original_size=decoded.original_size))
    except Exception as err:  # noqa: BLE001 - e.g. a full disk: reported for this image
        return [records.failure_row(item.path, f"could not write the overlay: "
                                               f"{type(err).__name__}: {err}", decoded.note,
                                    decoded.original_size)]
    return rows


def plan_bases(pairs, reserved):
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


class StopSignal:
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
        common.say(f"{self.received}: stopping after the current batch (send it again to "
                   "abort now)", self.bar)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def make_bar(total, initial=0):
    from tqdm import tqdm

    if not sys.stderr.isatty():
        return None
    return tqdm(total=total, initial=initial, unit="image", file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)


def submit_batch(chunk, decoded, explainer, args, pool, out, labels):
    """Explain the decoded images of one batch (main thread) and hand the writing of their
    overlays to `pool`; returns one future of summary rows per image, in input order."""
    import numpy as np

    from tf_gradcam import records

    good = [i for i, d in enumerate(decoded) if d.prepared is not None]
    per_image = {}
    if good:
        try:
            batch = np.stack([decoded[i].prepared.model_image for i in good])
            per_image = dict(zip(good, explain_batch(explainer, batch, args)))
        except Exception as err:  # noqa: BLE001 - this batch fails, the run goes on
            failure = f"the model failed on this batch: {type(err).__name__}: {err}"
            per_image = {i: failure for i in good}
    futures = []
    for i, (item, one) in enumerate(zip(chunk, decoded)):
        error = per_image[i] if isinstance(per_image.get(i), str) else one.error
        if error:
            futures.append(concurrent.futures.Future())
            futures[-1].set_result([records.failure_row(item.path, error, one.note,
                                                        one.original_size)])
        else:
            futures.append(pool.submit(write_outputs, item, one, per_image[i], out,
                                       explainer, args, labels))
    return futures


def is_skipped(row):
    return row["error"].startswith("skipped:")


class Counts:
    def __init__(self):
        self.explained = self.failed = self.skipped = 0


def stream(todo, size, explainer, args, out, labels, summary, on_batch):
    """Read, explain and write `todo` batch by batch; returns `(Counts, signal)`.

    Decoding runs up to `PREFETCH_BATCHES` ahead on a thread pool, the model on this thread,
    and a batch's overlays are written on the pool while the next batch is explained; its rows
    are appended to the summary once all its overlays are on disk, then `on_batch()` runs
    (the report). `signal` names the signal that stopped the run after a batch, or is `None`.
    """
    counts = Counts()
    bar = make_bar(len(todo))
    workers = args.workers or min(8, os.cpu_count() or 1)
    writing = collections.deque()  # one list of row futures per batch, oldest first

    def finish_oldest():
        rows = [row for future in writing.popleft() for row in future.result()]
        summary.append(rows)
        for row in rows:
            if row["error"] and is_skipped(row):
                counts.skipped += 1
                common.say(f"{row['image']}: {row['error']}", bar)
            elif row["error"]:
                counts.failed += 1
                common.say(f"error: {row['image']}: {row['error']}", bar)
        counts.explained += len({r["image"] for r in rows if not r["error"]})
        if bar is not None:
            bar.update(len({r["image"] for r in rows}))
        on_batch()

    try:
        with StopSignal() as stop, concurrent.futures.ThreadPoolExecutor(workers) as pool, \
                contextlib.closing(batches(todo, size, args, pool)) as chunks:
            stop.bar = bar
            for chunk, decoded in chunks:
                writing.append(submit_batch(chunk, decoded, explainer, args, pool, out, labels))
                while len(writing) > 1:  # one batch is written while the next is explained
                    finish_oldest()
                if stop.received:
                    break
            while writing:
                finish_oldest()
    finally:
        if bar is not None:
            bar.close()
    return counts, stop.received
