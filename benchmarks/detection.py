"""Detection demo figure: a small single-stage detector, trained here on generated scenes,
explains one detected box with Grad-CAM (`tfg.targets.Detection`).

The detector: three convolutions down to an 8x8 grid, then two sibling 1x1 heads, class
logits per cell (`cls_logits`, square/cross) and a relative `(y1, x1, y2, x2)` box per cell
(`boxes`) - the layout of KerasHub's detectors. Each object is assigned to the cell holding
its centre. It trains in a few seconds on a CPU; the figure shows, for one test scene holding
both objects, each class's best detection (its box drawn) and the Grad-CAM map of that box's
class logit, at the layer the explainer chose (the one both heads read, never the box head).

Run: `PYTHONPATH=. python benchmarks/detection.py` (writes `benchmarks/detection.png`).
"""

import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import files, synthetic

GRID, CLASSES, SIZE = 8, 2, synthetic.IMAGE_SIZE
OUT = pathlib.Path(__file__).with_name("detection.png")
L = keras.layers


def build_detector(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = L.Rescaling(1 / 255.0)(inp)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="features")(x)
    cls = L.Conv2D(CLASSES, 1, name="cls_head")(x)
    box = L.Conv2D(4, 1, activation="sigmoid", name="box_head")(x)
    box = L.Lambda(decode_cells, name="boxes")(L.Reshape((GRID * GRID, 4))(box))
    return keras.Model(inp, {"cls_logits": L.Reshape((GRID * GRID, CLASSES), name="cls")(cls),
                             "boxes": box})


def decode_cells(raw):
    """Per-cell `(dy, dx, h, w)` in (0, 1) -> relative `(y1, x1, y2, x2)`: the centre within
    one cell of the cell's centre, the size up to half the image (a convolution cannot tell
    where it is; the cell can)."""
    rows, cols = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    centres = np.stack([rows.ravel(), cols.ravel()], -1).astype("float32")
    centre = (centres + 0.5 + (raw[..., :2] - 0.5) * 2.0) / GRID
    half = raw[..., 2:] * 0.25
    return keras.ops.concatenate([centre - half, centre + half], axis=-1)


def encode(scenes):
    """Per-cell targets: class labels `(N, 64, 2)`, relative boxes `(N, 64, 4)`."""
    n = len(scenes.images)
    labels = np.zeros((n, GRID * GRID, CLASSES), np.float32)
    boxes = np.zeros((n, GRID * GRID, 4), np.float32)
    cell = SIZE // GRID
    for i in range(n):
        for c in range(CLASSES):
            top, left, bottom, right = scenes.boxes[i, c]
            if top < 0:
                continue
            a = ((top + bottom) // 2 // cell) * GRID + (left + right) // 2 // cell
            labels[i, a, c] = 1.0
            boxes[i, a] = np.array([top, left, bottom, right], np.float32) / SIZE
    return labels, boxes


def train(model, n=2000, epochs=6, batch=64):
    scenes = synthetic.make_scenes(n, seed=1)
    labels, boxes = encode(scenes)
    data = tf.data.Dataset.from_tensor_slices((scenes.images.astype("float32"), labels, boxes))
    data = data.shuffle(n, seed=0).batch(batch)
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(x, y, b):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            cls_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y, out["cls_logits"]))
            positive = tf.reduce_max(y, axis=-1, keepdims=True)  # cells holding an object
            box_loss = tf.reduce_sum(positive * tf.abs(out["boxes"] - b)) / tf.maximum(
                tf.reduce_sum(positive), 1.0)
            loss = 20.0 * cls_loss + box_loss
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return cls_loss, box_loss

    for _ in range(epochs):
        for x, y, b in data:
            cls_loss, box_loss = step(x, y, b)
    return float(cls_loss), float(box_loss)


def iou(a, b):
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    inter = max(bottom - top, 0) * max(right - left, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    start = time.perf_counter()
    model = build_detector()
    cls_loss, box_loss = train(model)
    trained = time.perf_counter() - start
    scenes = synthetic.make_scenes(64, seed=7, both=True)
    cam = tfg.GradCAM(model, target=tfg.targets.Detection())
    scale = 4  # the 64 px scene drawn at 256 px
    panels, lines, hits = [], [], []
    for c, name in enumerate(synthetic.CLASS_NAMES):
        exp = cam.explain(scenes.images[:1].astype("float32"), class_index=c)
        outputs = model(scenes.images[:1].astype("float32"))
        anchor = int(outputs["cls_logits"][0, :, c].numpy().argmax())
        box = outputs["boxes"][0, anchor].numpy() * SIZE  # (y1, x1, y2, x2) pixels
        truth = scenes.boxes[0, c]
        overlap = iou(box, truth)
        heat = exp.heatmaps[0]
        y1, x1, y2, x2 = (int(v) for v in truth)
        inside = heat[y1:y2, x1:x2].mean() / max(heat.mean(), 1e-9)
        big = np.kron(scenes.images[0], np.ones((scale, scale, 1), np.uint8))
        text = (f"{name}: logit {exp.scores[0]:.1f}, box IoU {overlap:.2f}\n"
                f"heat in the true box x{inside:.1f} its mean")
        picture = tfg.overlay(big, heat, alpha=0.45, caption=text)
        panels.append(tfg.targets.draw_box(picture, box * scale, width=3))
        lines.append(f"{name}: anchor {anchor}, logit {exp.scores[0]:.2f}, IoU with the true "
                     f"box {overlap:.2f}, mean heat inside the true box / mean heat "
                     f"{inside:.2f}")
        hits.append(inside)
    photo = tfg.targets.draw_box(np.kron(scenes.images[0], np.ones((scale, scale, 1),
                                                                   np.uint8)),
                                 scenes.boxes[0, 0] * scale, color=(0, 255, 0), width=3)
    photo = tfg.targets.draw_box(photo, scenes.boxes[0, 1] * scale, color=(0, 255, 0), width=3)
    photo = tfg.overlay(photo, np.zeros((SIZE, SIZE)), alpha=0.0,
                        caption=f"scene, true boxes (green)\nlayer {cam.layer!r}")
    gap = np.full((photo.shape[0], 6, 3), 255, np.uint8)
    figure = np.concatenate([photo, gap, panels[0], gap, panels[1]], axis=1)
    OUT.write_bytes(files.png_bytes(figure))
    print(f"trained in {trained:.1f} s (class loss {cls_loss:.3f}, box L1 {box_loss:.3f}); "
          f"explained layer {cam.layer}")
    print("\n".join(lines))
    print(f"wrote {OUT} in {time.perf_counter() - start:.1f} s")
    return hits


if __name__ == "__main__":
    main()
