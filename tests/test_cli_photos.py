"""`tf-gradcam explain` on a folder of real-life files, through the real entry point: overlays
at the photo's own size (capped), the heatmap's peak on a known object in the photo's own
pixels, GIF / TIFF / unsupported / empty / truncated rows, the pixel budget (a decompression
bomb is a failed row and costs no memory), `--labels imagenet` and the report page."""

import json
import pathlib
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from tf_gradcam.demo import MODEL_PATH

PHOTO = (96, 192)  # non-square
# A filled rectangle that the squash fit (to 64x64) turns into the 13x13 square the model knows.
SQUASHED_BOX = (57, 141, 77, 180)  # top, left, bottom, right (exclusive), off-centre
# A true square (39x39) for the pad fit (letterbox at 1/3 scale: 13x13).
PADDED_BOX = (12, 24, 51, 63)


def _command():
    script = pathlib.Path(sys.executable).with_name("tf-gradcam")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tf_gradcam.cli"]


def run_measured(*args):
    """`tf-gradcam ARGS` in a fresh process whose only child is the command: its peak RSS."""
    wrapper = ("import resource, subprocess, sys\n"
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)\n"
               "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(done.returncode)\n")
    done = subprocess.run([sys.executable, "-c", wrapper] + _command() + [str(a) for a in args],
                          capture_output=True, text=True, timeout=400)
    peak = int(done.stdout.strip().splitlines()[-1].split()[-1])
    return done, peak * 1024


def _photo(box, seed):
    rng = np.random.default_rng(seed)
    photo = np.clip(rng.normal(90, 25, PHOTO + (3,)), 0, 255).astype(np.uint8)
    top, left, bottom, right = box
    photo[top + 1:bottom - 1, left + 1:right - 1] = (230, 220, 200)
    return photo


def _bgr(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def write_bomb(path, side=30000):  # side: a multiple of 500
    """A valid grayscale PNG of side x side black pixels (4 MB for 30000: 900 MP), compressed
    500 rows at a time (never held in memory)."""
    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    packer = zlib.compressobj(1)
    rows = bytes(side + 1) * 500  # each row: filter byte 0, then black
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", side.to_bytes(4, "big") * 2
                                                  + bytes([8, 0, 0, 0, 0])))
        parts = []
        for _ in range(side // 500):
            parts.append(packer.compress(rows))
        parts.append(packer.flush())
        handle.write(chunk(b"IDAT", b"".join(parts)))
        handle.write(chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from PIL import Image  # Pillow comes with matplotlib; it writes the animated GIF

    root = tmp_path_factory.mktemp("photos")
    good = root / "good"
    good.mkdir()
    squashed, padded = _photo(SQUASHED_BOX, 1), _photo(PADDED_BOX, 2)
    cv2.imwrite(str(good / "a_squash.png"), _bgr(squashed))
    cv2.imwrite(str(good / "b_pad.png"), _bgr(padded))
    big = cv2.resize(squashed, (900, 450), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(good / "c_big.jpg"), _bgr(big), [cv2.IMWRITE_JPEG_QUALITY, 95])
    frames = [Image.fromarray(squashed), Image.fromarray(padded)]
    frames[0].save(good / "d_anim.gif", save_all=True, append_images=frames[1:])
    cv2.imwrite(str(good / "e_8bit.tif"), _bgr(squashed))
    cv2.imwritemulti(str(good / "f_16bit.tiff"), [_bgr(squashed).astype(np.uint16) * 257,
                                                  _bgr(padded).astype(np.uint16) * 257])
    (good / "g_photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (good / ".hidden.png").write_bytes(b"not listed")
    (good / "h_empty.png").write_bytes(b"")
    data = cv2.imencode(".png", _bgr(padded))[1].tobytes()
    (good / "i_truncated.png").write_bytes(data[:len(data) // 2])
    bombs = root / "with_bomb"
    bombs.mkdir()
    for path in good.iterdir():
        (bombs / path.name).write_bytes(path.read_bytes())
    write_bomb(bombs / "z_bomb.png")
    return root


def rows_by_name(out):
    rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    return {pathlib.Path(r["image"]).name: r for r in rows}


@pytest.fixture(scope="module")
def runs(folder, tmp_path_factory):
    """Two runs: every kind of file plus the bomb (squash, captions, ImageNet labels), and
    the same folder without the bomb (pad, no captions) as the memory baseline."""
    out = tmp_path_factory.mktemp("out")
    shapes = str(MODEL_PATH)
    main, main_rss = run_measured("explain", folder / "with_bomb", "--model", shapes,
                                  "--out", out / "main", "--class", "0", "--max-size", "200",
                                  "--labels", "imagenet")
    padded, base_rss = run_measured("explain", folder / "good", "--model", shapes,
                                    "--out", out / "pad", "--class", "0", "--fit", "pad",
                                    "--no-caption")
    return {"main": (main, main_rss, out / "main"), "pad": (padded, base_rss, out / "pad")}


def _inside(peak, box, margin=3):
    top, left, bottom, right = box
    return top - margin <= peak[0] < bottom + margin and left - margin <= peak[1] < right + margin


def test_overlays_have_the_photos_size_capped_by_max_size(runs):
    done, _, out = runs["main"]
    assert done.returncode == 1, done.stderr  # the empty, truncated and too large files
    rows = rows_by_name(out)
    for name, size in (("a_squash.png", PHOTO), ("c_big.jpg", (100, 200))):
        overlay = cv2.imread(rows[name]["overlay"])
        assert overlay.shape[:2] == size, name
    assert (rows["c_big.jpg"]["original_width"], rows["c_big.jpg"]["original_height"]) == (
        900, 450)
    assert "JPEG decoded at 1/4 scale" in rows["c_big.jpg"]["note"]
    assert (rows["a_squash.png"]["original_width"],
            rows["a_squash.png"]["original_height"]) == (PHOTO[1], PHOTO[0])


def test_the_peak_lands_on_the_object_in_the_photos_own_pixels(runs):
    main, pad = rows_by_name(runs["main"][2]), rows_by_name(runs["pad"][2])
    assert _inside(main["a_squash.png"]["heatmap_peak_yx"], SQUASHED_BOX), main["a_squash.png"]
    big = [v * 900 // PHOTO[1] for v in SQUASHED_BOX]  # the photo scaled x4.6875
    assert _inside(main["c_big.jpg"]["heatmap_peak_yx"], big, margin=15), main["c_big.jpg"]
    assert _inside(pad["b_pad.png"]["heatmap_peak_yx"], PADDED_BOX), pad["b_pad.png"]
    # The overlay shows it too: its reddest pixel (jet: high = red) is on the object.
    overlay = cv2.imread(pad["b_pad.png"]["overlay"]).astype(int)
    redness = overlay[..., 2] - overlay[..., 0]
    assert _inside(np.unravel_index(redness.argmax(), redness.shape), PADDED_BOX, margin=6)


def test_every_file_is_explained_or_reported(runs):
    rows = rows_by_name(runs["main"][2])
    assert ".hidden.png" not in rows
    assert set(rows) == {"a_squash.png", "b_pad.png", "c_big.jpg", "d_anim.gif", "e_8bit.tif",
                         "f_16bit.tiff", "g_photo.heic", "h_empty.png", "i_truncated.png",
                         "z_bomb.png"}
    assert rows["d_anim.gif"]["error"] == "" and rows["d_anim.gif"]["note"] == (
        "GIF: first frame of 2")
    assert rows["e_8bit.tif"]["error"] == "" and rows["e_8bit.tif"]["note"] == ""
    assert rows["f_16bit.tiff"]["error"] == ""
    assert rows["f_16bit.tiff"]["note"] == "16 bits scaled to 8 (/257); TIFF: first page of 2"
    assert rows["g_photo.heic"]["error"] == "skipped: unsupported format .heic"
    assert "empty" in rows["h_empty.png"]["error"]
    assert "truncated or corrupt PNG" in rows["i_truncated.png"]["error"]
    assert "1 skipped (unsupported format)" in runs["main"][0].stdout


def test_a_decompression_bomb_is_refused_before_decoding(runs):
    main, main_rss, out = runs["main"]
    _, base_rss, _ = runs["pad"]
    bomb = rows_by_name(out)["z_bomb.png"]
    assert bomb["error"].startswith("image too large: 900 MP > 100 MP"), bomb
    assert (bomb["original_width"], bomb["original_height"]) == (30000, 30000)
    assert main_rss - base_rss < 300 * 2 ** 20, (main_rss, base_rss)


def test_labels_imagenet_names_the_classes(runs):
    rows = rows_by_name(runs["main"][2])
    assert rows["a_squash.png"]["class_name"] == "tench, Tinca tinca"


def test_the_report_page_is_written(runs):
    for _, _, out in runs.values():
        page = out / "index.html"
        assert page.is_file()
        assert "a_squash" in page.read_text(encoding="utf-8")
