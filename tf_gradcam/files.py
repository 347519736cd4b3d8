"""Files in and out, shared by the CLI, the demo and the Beam pipeline: find images, read
their headers, decode them within a pixel budget, encode PNGs and write outputs atomically."""

import contextlib
import glob
import os
import pathlib
import secrets
import struct
import typing

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
#: Images declaring more pixels than this are refused before decoding (`--max-pixels`).
DEFAULT_MAX_PIXELS = 100_000_000


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
    fd, tmp = _create_part(path)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _create_part(path):
    """A new `.<name>.<random>.part` file beside `path`: `(fd, its path)`. Created with mode
    0o666 less the umask, as `open()` would (`tempfile.mkstemp` makes 0o600 files, and the
    renamed file kept that: overlays and reports unreadable to a web server or a colleague)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            return os.open(tmp, flags, 0o666), str(tmp)
        except FileExistsError:
            continue


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
    return encode_image(rgb, "png")


#: What `encode_image` writes: lossless PNG, or JPEG at `JPEG_QUALITY` (on a 1024x768 photo
#: ~12x faster to encode and ~5x smaller).
IMAGE_FORMATS = ("png", "jpg")
JPEG_QUALITY = 95


def encode_image(rgb, image_format="png"):
    """Encode a uint8 RGB image `(H, W, 3)` as PNG or JPEG (quality `JPEG_QUALITY`) bytes.

    Args:
        rgb: uint8 RGB `(H, W, 3)`.
        image_format: One of `IMAGE_FORMATS`, also the file suffix. Defaults to `"png"`.

    Returns:
        bytes.

    Raises:
        ValueError: An unknown format.
        OSError: OpenCV could not encode the image.

    Example:
    >>> from tf_gradcam import files
    >>> files.encode_image(images[0], "jpg")[:2]
    b'\\xff\\xd8'
    """
    import cv2

    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"`image_format` must be one of {IMAGE_FORMATS}. Received: "
                         f"image_format={image_format!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if image_format == "jpg" else []
    ok, buffer = cv2.imencode(f".{image_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OSError(f"{image_format.upper()} encoding failed")
    return buffer.tobytes()


def _walk(folder, recursive, keep):
    """Files in `folder` (and its sub-folders) whose name `keep` accepts, sorted; hidden files
    and folders skipped."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if p.is_file() and keep(p.name))
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [pathlib.Path(root) / n for n in names if keep(n)]
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def is_image_name(name):
    """A visible file with one of `IMAGE_SUFFIXES` (any case)."""
    return not name.startswith(".") and pathlib.Path(name).suffix.lower() in IMAGE_SUFFIXES


def _is_visible(name):
    return not name.startswith(".")


def expand_inputs(specs, recursive=False, every_file=False):
    """Files, folders and glob patterns -> `(path, relative)` pairs, in a stable order.

    `relative` is where the input sits below the folder it was found in (`"sub/cat.png"` for
    `photos/sub/cat.png` found in `photos`), or its file name for files and glob matches: the
    CLI mirrors it in the output folder.

    Args:
        specs: Paths of files or folders, or glob patterns (`"photos/*.jpg"`, `"**"` works with
            `recursive=True`).
        recursive: Also look in the sub-folders of folders (hidden ones skipped). Defaults to
            `False`.
        every_file: Folders contribute every visible file, not only image files (the CLI
            reports the others as skipped). Defaults to `False`.

    Returns:
        A list of `(pathlib.Path, pathlib.PurePosixPath)`; folders contribute their image files
        (`IMAGE_SUFFIXES`; every visible file with `every_file=True`) sorted by path, glob patterns their matches sorted, and plain file
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
                      for p in _walk(path, recursive,
                                     _is_visible if every_file else is_image_name)]
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


class Header(typing.NamedTuple):
    """What an image file's first bytes declare, read without decoding any pixel."""

    format: str  # "png", "jpeg", "gif", "tiff", "bmp" or "webp"
    height: int
    width: int
    pages: int  # frames of a GIF, pages of a TIFF (1 for the other formats)


class ImageTooLarge(ValueError):
    """An image declares more pixels than the budget allows (refused before decoding)."""

    def __init__(self, message, size):
        super().__init__(message)
        self.size = size  # (height, width) as the header declares it


def _u(data, offset, fmt):
    return struct.unpack_from(fmt, data, offset)


def _jpeg_size(data):
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = _u(data, i + 2, ">H")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = _u(data, i + 5, ">HH")
            return height, width
        i += 2 + length
    return None


def _gif_frames(data):
    """Image descriptors in a GIF (walks its blocks; stops at the first malformed one)."""
    (flags,) = _u(data, 10, "B")
    i, frames = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0), 0
    while i < len(data):
        block = data[i]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            i += 2
        elif block == 0x2C:  # image descriptor, local colour table, LZW minimum code size
            frames += 1
            (local,) = _u(data, i + 9, "B") if i + 9 < len(data) else (0,)
            i += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1
        else:
            break
        while i < len(data) and data[i]:  # data sub-blocks up to the 0 terminator
            i += data[i] + 1
        i += 1
    return max(frames, 1)


def _tiff_header(data):
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = _u(data, 4, order + "I")
    size, pages, seen = None, 0, set()
    while offset and offset not in seen and offset + 2 <= len(data) and pages < 100_000:
        seen.add(offset)
        pages += 1
        (count,) = _u(data, offset, order + "H")
        if size is None:
            found = {}
            for k in range(count):
                entry = offset + 2 + 12 * k
                if entry + 12 > len(data):
                    break
                tag, kind = _u(data, entry, order + "HH")
                if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
                    (found[tag],) = _u(data, entry + 8, order + ("H" if kind == 3 else "I"))
            size = (found.get(257), found.get(256))
        end = offset + 2 + 12 * count
        (offset,) = _u(data, end, order + "I") if end + 4 <= len(data) else (0,)
    if size is None or None in size:
        return None
    return size + (pages,)


def read_header(data):
    """The format, size and page count an image's bytes declare, without decoding pixels.

    Reads PNG (IHDR), JPEG (the start-of-frame marker), GIF (logical screen, frames), TIFF
    (the first IFD, the page chain), BMP and WebP headers.

    Args:
        data: The file's bytes (the whole file, or at least its header).

    Returns:
        A `Header`, or `None` for bytes of another format or a header too short to read.

    Example:
    >>> from tf_gradcam import files
    >>> files.read_header(files.png_bytes(np.zeros((30, 40, 3), np.uint8)))
    Header(format='png', height=30, width=40, pages=1)
    """
    data = memoryview(data).tobytes() if not isinstance(data, bytes) else data
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height = _u(data, 16, ">II")
            return Header("png", height, width, 1)
        if data[:3] == b"\xff\xd8\xff":
            size = _jpeg_size(data)
            return None if size is None else Header("jpeg", size[0], size[1], 1)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = _u(data, 6, "<HH")
            return Header("gif", height, width, _gif_frames(data))
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            found = _tiff_header(data)
            return None if found is None else Header("tiff", *found)
        if data[:2] == b"BM":
            width, height = _u(data, 18, "<ii")
            return Header("bmp", abs(height), abs(width), 1)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w, h = (int.from_bytes(data[o:o + 3], "little") + 1 for o in (24, 27))
                return Header("webp", h, w, 1)
            if chunk == b"VP8L":
                (bits,) = _u(data, 21, "<I")
                return Header("webp", ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1, 1)
            if chunk == b"VP8 ":
                w, h = _u(data, 26, "<HH")
                return Header("webp", h & 0x3FFF, w & 0x3FFF, 1)
    except struct.error:  # shorter than its header says: a truncated file
        return None
    return None


def _megapixels(n):
    return f"{n / 1e6:.0f} MP" if n >= 1e6 else f"{n / 1e6:.2g} MP"


def check_budget(header, max_pixels):
    """Raise `ImageTooLarge` when `header` declares more than `max_pixels` pixels.

    Raises:
        ImageTooLarge: The message reads `image too large: 900 MP > 100 MP (...)`.
    """
    pixels = header.height * header.width
    if max_pixels is not None and pixels > max_pixels:
        raise ImageTooLarge(
            f"image too large: {_megapixels(pixels)} > {_megapixels(max_pixels)} "
            f"({header.width}x{header.height} {header.format.upper()}, refused before "
            f"decoding); pass a larger --max-pixels (max_pixels=) to allow it. "
            f"Received: max_pixels={max_pixels}", (header.height, header.width))


class Photo(typing.NamedTuple):
    """A decoded image: uint8 RGB pixels, the size its file declares, what was converted."""

    image: "typing.Any"  # uint8 (H', W', 3); smaller than original_size when decoded reduced
    original_size: tuple  # (height, width) of the file
    note: str


def _reduction(header, max_size):
    """OpenCV's reduced JPEG decoding (1/2, 1/4, 1/8) when `max_size` leaves room for it."""
    if header is None or header.format != "jpeg" or not max_size:
        return 1
    long_side = max(header.height, header.width)
    return max([1] + [f for f in (2, 4, 8) if long_side / f >= max_size])


def _gif_first_frame(data):
    """A GIF's first frame, BGR uint8, read with Pillow (matplotlib's own image library),
    for OpenCV releases without a GIF decoder; `None` when Pillow cannot read it either."""
    import io

    import numpy as np

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.seek(0)
            return np.ascontiguousarray(np.asarray(picture.convert("RGB"))[..., ::-1])
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def decode_photo(data, *, max_pixels=DEFAULT_MAX_PIXELS, max_size=None):
    """Decode image bytes as uint8 RGB at the file's own size, within a pixel budget.

    The header is read first (`read_header`): images declaring more than `max_pixels` are
    refused before any pixel is decoded. Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale
    when the result still has at least `max_size` pixels on its long side. 16-bit images are
    scaled to 8 bits (`/257`, what a viewer shows), grayscale is repeated to RGB, alpha is
    dropped, a GIF gives its first frame and a multi-page TIFF its first page; `note` says
    which of these happened.

    Args:
        data: The file's bytes (JPEG, PNG, GIF, TIFF, BMP or WebP).
        max_pixels: The largest height x width allowed, or `None` for no limit. Defaults to
            `DEFAULT_MAX_PIXELS` (100 megapixels).
        max_size: The long side the caller needs at most (e.g. the overlay's cap), which
            allows reduced JPEG decoding; `None` decodes at full size. Defaults to `None`.

    Returns:
        A `Photo`.

    Raises:
        ImageTooLarge: More pixels than `max_pixels` (a `ValueError`).
        ValueError: The bytes are empty, truncated or not an image OpenCV can read, or have an
            unsupported pixel type; the message says which.

    Example:
    >>> from tf_gradcam import files
    >>> photo = files.decode_photo(files.png_bytes(np.zeros((30, 40, 3), np.uint8)))
    >>> photo.image.shape, photo.original_size, photo.note
    ((30, 40, 3), (30, 40), '')
    """
    import cv2
    import numpy as np

    if len(data) == 0:
        raise ValueError("the file is empty (0 bytes); expected a JPEG/PNG/GIF/TIFF/BMP/WebP "
                         "image. Re-copy or re-export it.")
    header = read_header(data)
    if header is not None:
        check_budget(header, max_pixels)
    factor = _reduction(header, max_size)
    flags = (cv2.IMREAD_UNCHANGED if factor == 1 else
             {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
              8: cv2.IMREAD_REDUCED_COLOR_8}[factor] | cv2.IMREAD_IGNORE_ORIENTATION)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as err:
        raise ValueError(f"OpenCV could not decode it ({str(err).strip()})") from err
    if image is None and header is not None and header.format == "gif":
        image = _gif_first_frame(data)  # OpenCV < 4.12 has no GIF codec
    if image is None:
        kind = ("a truncated or corrupt JPEG" if data[:3] == b"\xff\xd8\xff" else
                "a truncated or corrupt PNG" if data[:8] == b"\x89PNG\r\n\x1a\n" else
                f"a truncated or corrupt {header.format.upper()}" if header else
                "not a readable JPEG/PNG/GIF/TIFF/BMP/WebP image")
        raise ValueError(f"{kind} ({len(data)} bytes); re-copy or re-export the file")
    if header is None or max_pixels is not None and image.shape[0] * image.shape[1] * (
            factor * factor) > max_pixels:  # no header read: check what was decoded
        check_budget(Header("image", image.shape[0] * factor, image.shape[1] * factor, 1),
                     max_pixels)
    image, note = _to_uint8(image)
    if image.ndim == 2 or image.shape[-1] == 1:
        image, note = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), note + "grayscale converted to RGB; "
    elif image.shape[-1] == 4:
        image, note = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB), note + "alpha channel dropped; "
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if header is not None and header.format == "gif":
        note += ("GIF: first frame of " + str(header.pages) if header.pages > 1
                 else "GIF: first frame") + "; "
    elif header is not None and header.format == "tiff" and header.pages > 1:
        note += f"TIFF: first page of {header.pages}; "
    if factor > 1:
        note += f"JPEG decoded at 1/{factor} scale; "
    size = (header.height, header.width) if header else tuple(image.shape[:2])
    return Photo(image, size, note.rstrip("; "))


def decode_image(data, size, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Decode encoded image bytes as uint8 RGB resized to `size`; returns `(image, note)`.

    16-bit images are scaled to 8 bits (`/257`, so the model sees what a viewer shows),
    grayscale is repeated to RGB, alpha is dropped, GIFs give their first frame and TIFFs
    their first page; `note` says which of these happened. Images declaring more than
    `max_pixels` pixels are refused before decoding (see `decode_photo`).

    Args:
        data: The file's bytes (JPEG, PNG, GIF, TIFF, BMP or WebP).
        size: `(height, width)` to resize to (area interpolation, the aspect ratio is not
            kept), or `None` to keep the size.
        max_pixels: The pixel budget. Defaults to `DEFAULT_MAX_PIXELS` (100 megapixels).

    Returns:
        `(image, note)`: uint8 `(H, W, 3)` RGB, and a note (`""` when nothing was converted).

    Raises:
        ImageTooLarge: More pixels than `max_pixels` (a `ValueError`).
        ValueError: The bytes are empty, truncated or not an image OpenCV can read, or have an
            unsupported pixel type; the message says which.

    Example:
    >>> from tf_gradcam import files
    >>> image, note = files.decode_image(files.png_bytes(images[0]), (32, 32))
    >>> image.shape, note
    ((32, 32, 3), '')
    """
    import cv2

    photo = decode_photo(data, max_pixels=max_pixels, max_size=max(size) if size else None)
    image = photo.image
    if size and image.shape[:2] != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image, photo.note


def read_bytes(path):
    """A file's bytes; `ValueError` (one line, for a summary row) when it cannot be read."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError("file not found" if not path.exists() else "not a regular file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise ValueError(f"could not read the file ({err.strerror or err})") from err


def read_image(path, size, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Read an image file as uint8 RGB resized to `size`; returns `(image, note)`.

    Args:
        path: The file (`str` or `pathlib.Path`).
        size: `(height, width)`, or `None` to keep the file's size.
        max_pixels: The pixel budget (see `decode_photo`). Defaults to `DEFAULT_MAX_PIXELS`.

    Returns:
        `(image, note)` as `decode_image` returns them.

    Raises:
        ValueError: The file is missing, unreadable (permissions, a folder), empty, too large
            or not an image; the message says which.

    Example:
    >>> from tf_gradcam import files
    >>> try:
    ...     files.read_image("no/such/file.png", (64, 64))
    ... except ValueError as err:
    ...     print(err)
    file not found
    """
    return decode_image(read_bytes(path), size, max_pixels=max_pixels)
