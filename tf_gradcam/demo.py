"""The built-in demo: explain a generated two-object scene with the bundled small CNN."""

import pathlib
import time

import numpy as np

from tf_gradcam import files, synthetic

MODEL_PATH = pathlib.Path(__file__).with_name("assets") / "shapes_cnn.keras"


def _save_png(path, rgb):
    files.write_atomic(path, files.png_bytes(rgb))
    return path


def run(out="tf_gradcam_demo", seed=3):
    """Write the demo's images and summary figure into `out`; return their paths.

    Offline: the model ships with the package (`assets/shapes_cnn.keras`, made by
    `python -m tf_gradcam.synthetic`) and the scene is generated.
    """
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import tf_gradcam as tfg

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = keras.saving.load_model(MODEL_PATH, compile=False, safe_mode=True)
    scene = synthetic.make_scenes(1, seed=seed, both=True)
    image = np.repeat(np.repeat(scene.images[0], 4, axis=0), 4, axis=1)  # 256 px to look at
    small = scene.images[0]
    cam = tfg.GradCAM(model)
    occlusion = tfg.Occlusion(model, patch_size=16, stride=4)
    cam(small)  # trace once, so the timings below are steady-state
    occlusion(small)
    panels, paths = [("scene (input, 64x64)", image, None)], []
    paths.append(_save_png(out / "scene.png", image))
    for c, name in enumerate(synthetic.CLASS_NAMES):
        start = time.perf_counter()
        exp = cam.explain(small, class_index=c)
        took = time.perf_counter() - start
        picture = tfg.overlay(image, exp.heatmaps, alpha=0.45)
        paths.append(_save_png(out / f"gradcam_{name}.png", picture))
        panels.append((f"Grad-CAM '{name}'\np={exp.predictions[c]:.2f}, logit={exp.scores:.1f}, "
                       f"{took * 1000:.0f} ms", picture, exp))
    start = time.perf_counter()
    occ = occlusion.explain(small, class_index=0)
    took = time.perf_counter() - start
    picture = tfg.overlay(image, occ.heatmaps, alpha=0.45)
    paths.append(_save_png(out / "occlusion_square.png", picture))
    panels.append((f"occlusion '{synthetic.CLASS_NAMES[0]}'\n{occlusion.passes_per_image} "
                   f"passes, {took * 1000:.0f} ms", picture, occ))
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.4))
    for axis, (title, picture, _) in zip(axes, panels):
        axis.imshow(picture)
        axis.set_title(title, fontsize=10)
        axis.axis("off")
    figure.suptitle(f"tf_gradcam demo: {model.name}, layer {cam.layer!r}", fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 0.92))
    summary = out / "summary.png"
    tmp = out / ".summary.png.part"
    figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
    tmp.replace(summary)
    paths.append(summary)
    return paths
