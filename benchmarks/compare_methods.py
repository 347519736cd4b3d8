"""Figure: every registered method on one image (the README's method comparison).

Uses the real ImageNet model when `TF_GRADCAM_IMAGENET_MODEL` names it (a photo with an
espresso on the left and a cat on the right, explained for "Egyptian cat"), else the bundled
small CNN on a generated scene (explained for "square").

    python benchmarks/compare_methods.py      # writes benchmarks/methods.png
"""

import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

import tf_gradcam as tfg  # noqa: E402
from tf_gradcam import demo, synthetic  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def square(image, size):
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[top:top + side, left:left + side], (size, size),
                      interpolation=cv2.INTER_AREA)


def scene():
    path = os.environ.get("TF_GRADCAM_IMAGENET_MODEL")
    if path and pathlib.Path(path).is_file():
        from skimage import data

        canvas = np.full((224, 224, 3), 255, np.uint8)
        canvas[56:168, :112] = square(data.coffee(), 112)
        canvas[56:168, 112:] = square(data.chelsea(), 112)
        model = keras.saving.load_model(path, compile=False)
        return model, "efficientnet_lite", canvas, 285, "Egyptian cat"
    model = keras.saving.load_model(demo.MODEL_PATH, compile=False)
    return model, "none", synthetic.make_scenes(1, seed=3, both=True).images[0], 0, "square"


def main():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, preprocess, image, class_index, name = scene()
    panels = [("image", image)]
    for method, cls in tfg.METHODS.items():
        kwargs = {"preprocess": preprocess}
        if method == "occlusion":
            kwargs.update(patch_size=image.shape[0] // 8, stride=image.shape[0] // 16)
        if method == "scorecam":
            kwargs.update(top_k=64)
        explainer = cls(model, **kwargs)
        explainer(image, class_index)  # trace first
        start = time.perf_counter()
        heat = explainer(image, class_index)
        took = 1000 * (time.perf_counter() - start)
        picture = (tfg.visualize.to_uint8_rgb(heat) if heat.ndim == 3
                   else tfg.overlay(image, heat))
        panels.append((f"{method}\n{took:.0f} ms", picture))
    columns = 8
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.6 * rows))
    for axis in axes.ravel():
        axis.axis("off")
    for axis, (title, picture) in zip(axes.ravel(), panels):
        axis.imshow(picture)
        axis.set_title(title, fontsize=9)
    figure.suptitle(f"{model.name}: maps for class {class_index} ({name}); one image, CPU",
                    fontsize=11)
    figure.tight_layout()
    figure.savefig(HERE / "methods.png", dpi=70)
    print(f"wrote {HERE / 'methods.png'}")


if __name__ == "__main__":
    main()
