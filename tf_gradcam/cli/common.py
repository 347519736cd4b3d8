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
