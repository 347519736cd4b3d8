"""Reading inputs and writing outputs (`tf_gradcam.files`)."""

import os
import re

import cv2
import numpy as np
import pytest

from tf_gradcam import files


@pytest.fixture
def picture():
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)


def encode(rgb, ext=".png"):
    if ext == ".gif" and not cv2.haveImageWriter("x.gif"):  # OpenCV < 4.12: no GIF codec
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(rgb).save(out, format="GIF")
        return out.getvalue()
    ok, data = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    assert ok
    return data.tobytes()


def test_read_image_converts_and_resizes(tmp_path):
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), np.full((10, 20), 200, np.uint8))
    image, note = files.read_image(path, (8, 8))
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8 and "grayscale" in note


def test_decode_keeps_rgb_order_and_size(picture):
    image, note = files.decode_image(encode(picture), None)
    assert np.array_equal(image, picture) and note == ""


def test_a_16_bit_png_is_scaled_by_257_not_stretched(picture):
    dark = picture // 4  # max ~63: stretching to the image's own max would brighten it 4x
    sixteen = cv2.imencode(".png", cv2.cvtColor(dark, cv2.COLOR_RGB2BGR).astype(np.uint16)
                           * 257)[1].tobytes()
    image, note = files.decode_image(sixteen, None)
    assert np.array_equal(image, dark) and "/257" in note
    rounded = cv2.imencode(".png", np.array([[0, 128, 65535, 32896]], np.uint16))[1].tobytes()
    values = files.decode_image(rounded, None)[0][0, :, 0]
    assert list(values) == [0, 0, 255, 128]  # nearest 8-bit value


@pytest.mark.parametrize("data, message", [
    (b"", "empty (0 bytes)"),
    (b"hello", "not a readable"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "truncated or corrupt PNG"),
])
def test_bad_bytes_raise_value_error_with_the_reason(data, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        files.decode_image(data, (8, 8))


def test_a_truncated_jpeg_is_an_error(picture):
    data = encode(np.tile(picture, (10, 10, 1)), ".jpg")
    with pytest.raises(ValueError, match="truncated or corrupt JPEG"):
        files.decode_image(data[:len(data) // 2], (8, 8))


def test_read_image_reasons(tmp_path):
    with pytest.raises(ValueError, match="file not found"):
        files.read_image(tmp_path / "missing.png", None)
    with pytest.raises(ValueError, match="not a regular file"):
        files.read_image(tmp_path, None)
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        files.read_image(tmp_path / "zero.jpg", None)


def test_alpha_is_dropped(picture):
    rgba = np.concatenate([picture, np.full(picture.shape[:2] + (1,), 7, np.uint8)], -1)
    data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))[1].tobytes()
    image, note = files.decode_image(data, None)
    assert np.array_equal(image, picture) and "alpha" in note


def test_expand_inputs_folders_globs_recursion(tmp_path):
    for rel in ("b.png", "a.JPG", "notes.txt", ".hidden.png", "sub/c.png", ".git/d.png",
                "sub/deeper/e.webp"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    flat = files.expand_inputs([tmp_path])
    assert [str(r) for _, r in flat] == ["a.JPG", "b.png"]
    deep = files.expand_inputs([tmp_path], recursive=True)
    assert [str(r) for _, r in deep] == ["a.JPG", "b.png", "sub/c.png", "sub/deeper/e.webp"]
    assert all(p == tmp_path / r for p, r in deep)
    globbed = files.expand_images([str(tmp_path / "**" / "*.png")], recursive=True)
    assert [p.name for p in globbed] == ["b.png", "c.png"]
    assert files.expand_images([tmp_path / "missing.png"]) == [tmp_path / "missing.png"]


def test_write_atomic_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.bin"
    files.write_atomic(target, b"one")
    with pytest.raises(RuntimeError):
        with files.open_atomic(target, "wb") as handle:
            handle.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path):
    # tempfile.mkstemp's 0o600 used to survive the rename: overlays and reports unreadable
    # by anyone else (a web server, a colleague). Under umask 022 open() makes 0o644.
    previous = os.umask(0o022)
    try:
        files.write_atomic(tmp_path / "atomic.bin", b"x")
        with files.open_atomic(tmp_path / "atomic.txt") as handle:
            handle.write("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "atomic.bin").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == 0o644


def test_png_bytes_round_trip(picture):
    decoded, _ = files.decode_image(files.png_bytes(picture), None)
    assert np.array_equal(decoded, picture)


def test_expand_inputs_every_file_lists_other_formats_but_no_hidden_ones(tmp_path):
    for name in ("a.png", "b.heic", ".DS_Store", "c.tif"):
        (tmp_path / name).write_bytes(b"x")
    assert [str(r) for _, r in files.expand_inputs([tmp_path])] == ["a.png", "c.tif"]
    every = files.expand_inputs([tmp_path], every_file=True)
    assert [str(r) for _, r in every] == ["a.png", "b.heic", "c.tif"]


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".gif", ".tiff"])
def test_read_header_gives_the_size_of_every_format(picture, ext):
    header = files.read_header(encode(picture, ext))
    assert (header.height, header.width, header.pages) == (20, 30, 1)
    assert header.format == {".jpg": "jpeg", ".tiff": "tiff"}.get(ext, ext[1:])


def test_read_header_counts_pages_and_frames(picture):
    from PIL import Image  # comes with matplotlib

    ok, tiff = cv2.imencodemulti(".tiff", [picture[..., 0]] * 3)
    assert ok and files.read_header(tiff.tobytes()).pages == 3
    import io

    buffer = io.BytesIO()
    frames = [Image.fromarray(picture), Image.fromarray(255 - picture)]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    header = files.read_header(buffer.getvalue())
    assert (header.format, header.height, header.width, header.pages) == ("gif", 20, 30, 2)
    photo = files.decode_photo(buffer.getvalue())
    assert photo.note.endswith("GIF: first frame of 2") and photo.image.shape == (20, 30, 3)


def test_read_header_of_a_jpeg_with_exif_before_its_frame(picture):
    data = encode(picture, ".jpg")
    app1 = b"\xff\xe1" + (2 + 1000).to_bytes(2, "big") + b"Exif\x00\x00" + bytes(994)
    assert files.read_header(data[:2] + app1 + data[2:])[1:3] == (20, 30)


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n\0\0", b"GIF89a"])
def test_read_header_of_unknown_or_short_bytes_is_none(data):
    assert files.read_header(data) is None


def test_the_pixel_budget_is_checked_on_the_header_before_decoding(picture):
    # A PNG header declaring 30000 x 30000 pixels, with no pixel data: refused from the header
    # alone (decoding would fail differently, or allocate 2.7 GB).
    import struct
    import zlib

    ihdr = struct.pack(">II", 30000, 30000) + bytes([8, 2, 0, 0, 0])
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    with pytest.raises(files.ImageTooLarge, match=re.escape("image too large: 900 MP > 100 MP")) \
            as caught:
        files.decode_image(b"\x89PNG\r\n\x1a\n" + chunk, (8, 8))
    assert caught.value.size == (30000, 30000)
    with pytest.raises(ValueError, match=re.escape("image too large: 0.0006 MP > 0.0005 MP")):
        files.decode_photo(encode(picture), max_pixels=500)  # 600 pixels
    assert files.decode_photo(encode(picture), max_pixels=600).image.shape == (20, 30, 3)
    assert files.decode_photo(encode(picture), max_pixels=None).original_size == (20, 30)


def test_large_jpegs_are_decoded_at_reduced_scale_only_when_the_cap_allows(picture):
    data = encode(cv2.resize(picture, (960, 640), interpolation=cv2.INTER_NEAREST), ".jpg")
    full = files.decode_photo(data)
    assert full.image.shape == (640, 960, 3) and full.note == ""
    for max_size, factor in ((960, 1), (480, 2), (300, 2), (240, 4), (100, 8)):
        photo = files.decode_photo(data, max_size=max_size)
        assert photo.original_size == (640, 960)
        assert photo.image.shape[:2] == (640 // factor, 960 // factor), max_size
        assert ("1/" in photo.note) == (factor > 1)


def test_a_multi_page_16_bit_tiff_gives_its_first_page_scaled(picture):
    pages = [cv2.cvtColor(picture, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257,
             np.zeros((20, 30, 3), np.uint16)]
    ok, data = cv2.imencodemulti(".tiff", pages)
    photo = files.decode_photo(data.tobytes())
    assert np.array_equal(photo.image, picture)
    assert photo.note == "16 bits scaled to 8 (/257); TIFF: first page of 2"
