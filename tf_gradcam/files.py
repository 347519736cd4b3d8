"""Files in and out, shared by the CLI, the demo and the Beam pipeline: find images, decode
them as the model should see them, encode PNGs and write outputs atomically."""

import glob
import os
import pathlib
import tempfile

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def write_atomic(path, data):
    """Write bytes to `path` through a temporary file, so no half-written file remains."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def png_bytes(rgb):
    """Encode a uint8 RGB image `(H, W, 3)` as PNG bytes."""
    import cv2

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("PNG encoding failed")
    return buffer.tobytes()


def expand_images(specs):
    """Files, directories (their images, sorted) and glob patterns -> list of paths."""
    paths = []
    for spec in specs:
        path = pathlib.Path(spec)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in spec for ch in "*?["):
            paths += sorted(pathlib.Path(p) for p in glob.glob(spec))
        else:
            paths.append(path)
    return paths


def decode_image(data, size):
    """Decode encoded image bytes as uint8 RGB resized to `size`; returns `(image, note)`.

    Raises:
        ValueError: The bytes are not a readable image.
    """
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a readable JPEG/PNG/BMP/WebP image")
    note = ""
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
        note = "converted to 8 bits; "
    if image.ndim == 2 or image.shape[-1] == 1:
        image, note = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), note + "grayscale converted to RGB"
    elif image.shape[-1] == 4:
        image, note = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB), note + "alpha channel dropped"
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if size and image.shape[:2] != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image, note


def read_image(path, size):
    """Read an image file as uint8 RGB resized to `size`; returns `(image, note)`.

    Raises:
        ValueError: The file is missing or not a readable image.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError("file not found")
    return decode_image(path.read_bytes(), size)
