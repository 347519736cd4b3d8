"""Files in and out, shared by the CLI, the demo and the Beam pipeline: find images, decode
them as the model should see them, encode PNGs and write outputs atomically."""

import contextlib
import glob
import os
import pathlib
import tempfile

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@contextlib.contextmanager
def open_atomic(path, mode="w", **kwargs):
    """Open a temporary file next to `path` that replaces `path` when the block ends.

    Nothing replaces `path` if the block raises (the temporary file is removed), so readers
    see the old file or the complete new one, never a half-written one.

    Args:
        path: The file to write (its folder must exist).
        mode: `"w"` (text) or `"wb"` (bytes). Defaults to `"w"`.
        **kwargs: Passed to `open` (`encoding` defaults to UTF-8 in text mode).

    Example:
    >>> import tempfile, pathlib
    >>> from tf_gradcam import files
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with files.open_atomic(target) as handle:
    ...     _ = handle.write("done")
    >>> target.read_text()
    'done'
    """
    path = pathlib.Path(path)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path, data):
    """Write bytes to `path` through a temporary file, so no half-written file remains.

    Args:
        path: The file to write (its folder must exist); replaced if it exists.
        data: The bytes.

    Raises:
        OSError: The folder is missing or not writable, or the disk is full (the temporary
            file is removed).
    """
    with open_atomic(path, "wb") as handle:
        handle.write(data)


def png_bytes(rgb):
    """Encode a uint8 RGB image `(H, W, 3)` as PNG bytes.

    Example:
    >>> from tf_gradcam import files
    >>> files.png_bytes(images[0])[:4]
    b'\\x89PNG'
    """
    import cv2

    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("PNG encoding failed")
    return buffer.tobytes()


def _walk(folder, recursive):
    """Image files in `folder` (and its sub-folders), sorted; hidden files and folders skipped."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.is_file() and _is_image_name(p.name))
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [pathlib.Path(root) / n for n in names if _is_image_name(n)]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _is_image_name(name):
    return not name.startswith(".") and pathlib.Path(name).suffix.lower() in IMAGE_SUFFIXES


def expand_inputs(specs, recursive=False):
    """Files, folders and glob patterns -> `(path, relative)` pairs, in a stable order.

    `relative` is where the input sits below the folder it was found in (`"sub/cat.png"` for
    `photos/sub/cat.png` found in `photos`), or its file name for files and glob matches: the
    CLI mirrors it in the output folder.

    Args:
        specs: Paths of files or folders, or glob patterns (`"photos/*.jpg"`, `"**"` works with
            `recursive=True`).
        recursive: Also look in the sub-folders of folders (hidden ones skipped). Defaults to
            `False`.

    Returns:
        A list of `(pathlib.Path, pathlib.PurePosixPath)`; folders contribute their image files
        (`IMAGE_SUFFIXES`) sorted by path, glob patterns their matches sorted, and plain file
        paths are kept as given, even when missing (reading them reports the error).

    Example:
    >>> from tf_gradcam import files
    >>> files.expand_inputs(["no/such/file.png"])
    [(PosixPath('no/such/file.png'), PurePosixPath('file.png'))]
    """
    pairs = []
    for spec in specs:
        spec = str(spec)
        path = pathlib.Path(spec)
        if path.is_dir():
            pairs += [(p, pathlib.PurePosixPath(*p.relative_to(path).parts))
                      for p in _walk(path, recursive)]
        elif any(ch in spec for ch in "*?["):
            matches = sorted(pathlib.Path(p) for p in glob.glob(spec, recursive=recursive))
            pairs += [(p, pathlib.PurePosixPath(p.name)) for p in matches if p.is_file()]
        else:
            pairs.append((path, pathlib.PurePosixPath(path.name)))
    return pairs


def expand_images(specs, recursive=False):
    """Files, folders (their images, sorted) and glob patterns -> list of paths.

    Args:
        specs: Paths of files or folders, or glob patterns.
        recursive: Also look in sub-folders. Defaults to `False`.

    Returns:
        A list of `pathlib.Path` (see `expand_inputs` for the order).

    Example:
    >>> from tf_gradcam import files
    >>> files.expand_images(["no/such/file.png"])
    [PosixPath('no/such/file.png')]
    """
    return [path for path, _ in expand_inputs(specs, recursive)]


def _to_uint8(image):
    """8 bits per channel: 16-bit values scaled by 1/257 (65535 -> 255), as every viewer does."""
    import numpy as np

    if image.dtype == np.uint8:
        return image, ""
    if image.dtype == np.uint16:
        scaled = (image.astype(np.uint32) + 128) // 257  # exact for 8-bit data stored as 16
        return scaled.astype(np.uint8), "16 bits scaled to 8 (/257); "
    raise ValueError(
        f"pixels of type {image.dtype} are not supported; expected 8- or 16-bit images. "
        "Convert the file to an 8-bit PNG or JPEG.")


def decode_image(data, size):
    """Decode encoded image bytes as uint8 RGB resized to `size`; returns `(image, note)`.

    16-bit images are scaled to 8 bits (`/257`, so the model sees what a viewer shows),
    grayscale is repeated to RGB, alpha is dropped; `note` says which of these happened.

    Args:
        data: The file's bytes (JPEG, PNG, BMP or WebP).
        size: `(height, width)` to resize to (area interpolation), or `None` to keep the size.

    Returns:
        `(image, note)`: uint8 `(H, W, 3)` RGB, and a note (`""` when nothing was converted).

    Raises:
        ValueError: The bytes are empty, truncated or not an image OpenCV can read, or have an
            unsupported pixel type; the message says which.

    Example:
    >>> from tf_gradcam import files
    >>> image, note = files.decode_image(files.png_bytes(images[0]), (32, 32))
    >>> image.shape, note
    ((32, 32, 3), '')
    """
    import cv2
    import numpy as np

    if len(data) == 0:
        raise ValueError("the file is empty (0 bytes); expected a JPEG/PNG/BMP/WebP image. "
                         "Re-copy or re-export it.")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise ValueError(f"OpenCV could not decode it ({str(err).strip()})") from err
    if image is None:
        kind = ("a truncated or corrupt JPEG" if data[:3] == b"\xff\xd8\xff" else
                "a truncated or corrupt PNG" if data[:8] == b"\x89PNG\r\n\x1a\n" else
                "not a readable JPEG/PNG/BMP/WebP image")
        raise ValueError(f"{kind} ({len(data)} bytes); re-copy or re-export the file")
    image, note = _to_uint8(image)
    if image.ndim == 2 or image.shape[-1] == 1:
        image, note = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), note + "grayscale converted to RGB"
    elif image.shape[-1] == 4:
        image, note = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB), note + "alpha channel dropped"
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if size and image.shape[:2] != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image, note.rstrip("; ")


def read_image(path, size):
    """Read an image file as uint8 RGB resized to `size`; returns `(image, note)`.

    Args:
        path: The file (`str` or `pathlib.Path`).
        size: `(height, width)`, or `None` to keep the file's size.

    Returns:
        `(image, note)` as `decode_image` returns them.

    Raises:
        ValueError: The file is missing, unreadable (permissions, a folder), empty or not an
            image; the message says which.

    Example:
    >>> from tf_gradcam import files
    >>> try:
    ...     files.read_image("no/such/file.png", (64, 64))
    ... except ValueError as err:
    ...     print(err)
    file not found
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError("file not found" if not path.exists() else "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"could not read the file ({err.strerror or err})") from err
    return decode_image(data, size)
