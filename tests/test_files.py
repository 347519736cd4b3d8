"""Reading inputs and writing outputs (`tf_gradcam.files`)."""

import re

import cv2
import numpy as np
import pytest

from tf_gradcam import files


@pytest.fixture
def picture():
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)


def encode(rgb, ext=".png"):
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


def test_png_bytes_round_trip(picture):
    decoded, _ = files.decode_image(files.png_bytes(picture), None)
    assert np.array_equal(decoded, picture)
