"""The pictures in the README and the docs, generated (never made by hand):

- `benchmarks/caption.png`: the overlay `tf-gradcam explain --colorbar` writes for
  scikit-image's `chelsea` photo (451x300, a cat), at the photo's own size, captioned.
- `benchmarks/report.png`: that run's report page (`OUT/index.html`) in headless Chromium,
  sorted by probability and filtered to >= 80% (its address: `index.html#sort=probability&min=80`).

The run is the real command line on scikit-image photos (plus a GIF, a 16-bit TIFF, a broken
file and an unsupported one, so the page shows notes and failures), with the real
EfficientNet-Lite0 (`$TF_GRADCAM_IMAGENET_MODEL`, or `../shared/models/` beside the
repository) and `--labels imagenet`; without it, the bundled shapes CNN on generated scenes.

Usage:
    python benchmarks/screenshots.py              # writes benchmarks/caption.png, report.png
    python benchmarks/screenshots.py --keep OUT   # also keep the run folder in OUT
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def real_model():
    for path in (os.environ.get("TF_GRADCAM_IMAGENET_MODEL"),
                 ROOT.parent / "shared" / "models" / "efficientnet_lite0_imagenet.keras",
                 pathlib.Path("/work/shared/models/efficientnet_lite0_imagenet.keras")):
        if path and pathlib.Path(path).is_file():
            return pathlib.Path(path)
    return None


def write_photos(folder, real):
    """scikit-image's photos (or generated scenes) and the awkward files a folder holds."""
    import cv2
    import numpy as np

    from tf_gradcam import files, synthetic

    folder.mkdir(parents=True)
    if real:
        from PIL import Image
        from skimage import data

        photos = {"chelsea.png": data.chelsea(), "coffee.jpg": data.coffee(),
                  "astronaut.jpg": data.astronaut(), "rocket.jpg": data.rocket(),
                  "camera.png": data.camera(), "hubble.jpg": data.hubble_deep_field()[::2, ::2]}
        for name, image in photos.items():   # camera.png stays grayscale (noted)
            cv2.imwrite(str(folder / name),
                        image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        Image.fromarray(data.chelsea()).save(folder / "chelsea.gif")   # GIF: first frame
        cv2.imwrite(str(folder / "coffee_16bit.tif"),
                    (cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257))
    else:
        scenes = synthetic.make_scenes(6, seed=1, both=True).images
        for i, image in enumerate(scenes):
            big = cv2.resize(image, (96 + 32 * i, 64 + 8 * i), interpolation=cv2.INTER_NEAREST)
            (folder / f"scene_{i}.png").write_bytes(files.png_bytes(big))
    (folder / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    (folder / "holiday.heic").write_bytes(b"\0" * 32)


def explain(work, photos, out, model):
    """The real command line, run in `work` on relative paths (as a user would type it)."""
    command = [sys.executable, "-m", "tf_gradcam.cli", "explain", photos, "--out", out,
               "--top", "2", "--colorbar"]
    if model is not None:
        command += ["--model", str(model), "--preprocess", "efficientnet_lite",
                    "--labels", "imagenet"]
    else:
        from tf_gradcam import demo

        command += ["--model", str(demo.MODEL_PATH)]
        (work / "labels.txt").write_text("square\ncross\n")
        command += ["--labels", "labels.txt"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
    print(done.stdout.strip())
    if done.returncode not in (0, 1):  # 1: some files failed, as they should here
        sys.exit(f"tf-gradcam explain failed ({done.returncode}):\n{done.stderr}")


def screenshot(page, target, view="", size=(1400, 1250)):
    """`page` (with the sort/filter state `view`, e.g. "sort=probability") as a PNG."""
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        sys.exit("no Chromium found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={size[0]},{size[1]}", f"--screenshot={target}",
                        page.resolve().as_uri() + (f"#{view}" if view else "")],
                       check=True, capture_output=True,
                       timeout=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="keep the run folder here")
    args = parser.parse_args()
    model = real_model()
    print(f"model: {model or 'bundled shapes CNN (the real model was not found)'}")
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(args.keep or work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        photos, out = work / "photos", work / "out"
        write_photos(photos, model is not None)
        explain(work, "photos", "out", model)
        name = "chelsea.png" if model else "scene_0.png"
        rows = [json.loads(line) for line in (out / "summary.jsonl").open(encoding="utf-8")]
        top1 = next(r for r in rows if pathlib.Path(r["image"]).name == name and r["rank"] == 1)
        shutil.copyfile(work / top1["overlay"], HERE / "caption.png")  # relative to `work`
        # sorted by probability and filtered (>= 80%), so the failures fit in the picture
        screenshot(out / "index.html", HERE / "report.png",
                   "sort=probability&min=80" if model else "sort=probability")
    print(f"wrote {HERE / 'caption.png'} and {HERE / 'report.png'}")


if __name__ == "__main__":
    main()
