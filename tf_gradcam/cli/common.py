"""What the commands share: exit codes, model loading, common options, quiet TensorFlow.

Standard library only at module level (imported before any command runs).
"""

import argparse
import contextlib
import os
import pathlib
import re
import sys
import tempfile
import typing

from tf_gradcam.runs import UsageError, say  # noqa: F401 - re-exported for the commands

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
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
    """Load the model of `--model` with `tf_gradcam.load_model`: a `.keras` file, a Keras 2
    `.h5` file or a SavedModel directory, safe mode on (no code from the file runs).

    The one place every command loads its model.

    Raises:
        UsageError: The path is missing or the model cannot be loaded.
    """
    if not pathlib.Path(path).exists():  # before TensorFlow: a usage error answers at once
        raise UsageError(f"model {path!r} does not exist; pass --model a .keras or Keras 2 "
                         ".h5 file, or a SavedModel directory")
    quiet_tensorflow()
    from tf_gradcam import loading

    try:
        return loading.load_model(path)
    except Exception as err:  # noqa: BLE001 - any loader failure is a usage error here
        raise UsageError(f"could not load model {path!r}: {type(err).__name__}: {err}") from err


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
    or TensorFlow is already imported. Every command calls it before it needs TensorFlow.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with _filtered_stderr(_TF_NOISE):
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, inside the filter


def quiet_opencv():
    """OpenCV reports errors only: corrupt files are reported per file, not as warnings."""
    import cv2

    logging = getattr(cv2.utils, "logging", None)  # OpenCV >= 4.12; setLogLevel before
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    else:
        cv2.setLogLevel(2)  # 2 = errors only


def positive_int(text):
    """`argparse` type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def output_name(text):
    """`--output`: an index when it is a whole number, else a name."""
    return int(text) if text.lstrip("-").isdigit() else text


def check_preprocess(spec):
    """`argparse` type of `--preprocess`: a name or `scale:A,B` (checked without TensorFlow)."""
    from tf_gradcam import preprocessing

    try:
        preprocessing.get(spec)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return spec


def add_method_option(command):
    from tf_gradcam import registry

    command.add_argument("--method", default="gradcam", choices=sorted(registry.METHODS),
                         help="explanation method (default: gradcam)")


def add_model_options(command, overlay=True):
    """Options every command that builds an explainer shares (and the overlay's look)."""
    from tf_gradcam import preprocessing

    command.add_argument("--layer", default=None, help="layer name (default: automatic)")
    command.add_argument("--output", default=None, type=output_name,
                         help="the output to explain of a multi-output model: its name or "
                              "index (default: the only output)")
    add_method_option(command)
    command.add_argument("--preprocess", default="none", type=check_preprocess,
                         help=f"one of {sorted(preprocessing.PREPROCESSORS)} or scale:A,B "
                              "(default: none)")
    if overlay:
        add_overlay_options(command)


def add_overlay_options(command):
    command.add_argument("--alpha", type=float, default=0.4,
                         help="heatmap weight in the overlay, 0-1 (default: 0.4)")
    command.add_argument("--colormap", default="jet", help="matplotlib colormap (default: jet)")


#: `--target KIND[:KEY=VALUE]...`: each kind's `tfg.targets` class and the keys it takes
#: (key -> (argument name, value type)); value types: "int", "float", "str", "box".
TARGET_KINDS = {
    "classifier": ("Classifier", {}),
    "binary": ("Binary", {}),
    "segmentation": ("Segmentation", {}),
    "regression": ("Regression", {"index": ("index", "int")}),
    "detection": ("Detection", {"index": ("index", "int"), "box": ("box", "box"),
                                "iou": ("iou_threshold", "float"), "logits": ("logits", "str"),
                                "boxes": ("boxes", "str"), "format": ("format", "str")}),
    "dense-regression": ("DenseRegression", {"box": ("box", "box"),
                                             "channel": ("channel", "int")}),
}
#: `detection:format=F`: how the model's box output is drawn and reported ("none": not at
#: all, e.g. RetinaNet's anchor deltas).
BOX_FORMATS = ("yxyx", "xyxy", "rel_yxyx", "rel_xyxy", "rel_center_xywh", "none")


class TargetSpec(typing.NamedTuple):
    """A parsed `--target`."""

    text: str
    kind: str
    name: str  # the `tfg.targets` class
    kwargs: dict


def parse_target(text):
    """Parse `--target KIND[:KEY=VALUE]...` (checked without TensorFlow).

    `KIND` is one of `TARGET_KINDS`; boxes are four comma-separated numbers `Y1,X1,Y2,X2`.
    Examples: `detection`, `detection:index=0`, `detection:box=0.1,0.1,0.6,0.5:iou=0.3`,
    `dense-regression:box=0,0,32,32`, `regression:index=1`.

    Args:
        text: The option's value.

    Returns:
        A `TargetSpec`: the text, the kind, the `tfg.targets` class name and its keyword
        arguments (`format` among them: the command line's, not the target's).

    Raises:
        argparse.ArgumentTypeError: An unknown kind or key, or a malformed value.

    Example:
    >>> from tf_gradcam.cli import common
    >>> common.parse_target("detection:box=0,0,8,8:iou=0.3").kwargs
    {'box': (0.0, 0.0, 8.0, 8.0), 'iou_threshold': 0.3}
    """
    kind, *parts = str(text).split(":")
    if kind not in TARGET_KINDS:
        raise argparse.ArgumentTypeError(
            f"unknown target kind {kind!r}: expected one of {', '.join(TARGET_KINDS)}, "
            "optionally followed by :KEY=VALUE options (e.g. detection:index=0, "
            f"dense-regression:box=Y1,X1,Y2,X2). Received: target={text!r}")
    name, keys = TARGET_KINDS[kind]
    kwargs = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or key not in keys:
            known = ", ".join(f"{k}=" for k in keys) or "none"
            raise argparse.ArgumentTypeError(
                f"target {kind!r} takes the options {known} (as {kind}:KEY=VALUE, several "
                f"joined by ':'); {part!r} is not one of them. Received: target={text!r}")
        argument, kind_of_value = keys[key]
        try:
            if kind_of_value == "int":
                parsed = int(value)
            elif kind_of_value == "float":
                parsed = float(value)
            elif kind_of_value == "box":
                parsed = tuple(float(v) for v in value.split(","))
                if len(parsed) != 4:
                    raise ValueError
            else:
                parsed = value
        except ValueError:
            expected = {"int": "a whole number", "float": "a number",
                        "box": "four numbers Y1,X1,Y2,X2"}[kind_of_value]
            raise argparse.ArgumentTypeError(
                f"target option {key}= expects {expected}, got {value!r}. "
                f"Received: target={text!r}") from None
        if key == "format" and parsed not in BOX_FORMATS:
            raise argparse.ArgumentTypeError(
                f"detection:format= is how the model's box output is read: one of "
                f"{', '.join(BOX_FORMATS)} (default yxyx, in the model input's pixels). "
                f"Received: target={text!r}")
        kwargs[argument] = parsed
    return TargetSpec(str(text), kind, name, kwargs)
