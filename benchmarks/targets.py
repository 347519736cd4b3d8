"""Speed of targets and any-model explanations against the model's own forward pass.

Rows (each a ratio measured side by side in one process, interleaved with a plain forward
pass `model(x)` in a `tf.function` on the same input; see `bench.py`):

- ResNet50 (224, random weights): Grad-CAM top-1, `top_k=5` in one call, and 5 separate
  calls, at batch 16 and 1 (issue targets: top-5 <= 1.3x at 16, <= 1.5x at 1).
- A small U-Net (128x128, our own): Grad-CAM of one segmentation class (<= 2.2x).
- ViT-B/16 size (`keras_hub.models.ViTBackbone`, 224, random weights) + a class-token head:
  Grad-CAM with the automatic layer at batch 8 (<= 1.3x).
- A subclassed ResNet-style CNN (a `keras.Model` subclass holding ResNet50's layers):
  Grad-CAM, captured during its own forward pass (<= 1.1x).

    python benchmarks/targets.py [--quick]    # writes targets.md next to this file
"""

import argparse
import os
import pathlib
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402
from bench import interleaved  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
L = keras.layers


def unet(size=128, classes=4, width=16):
    """A small U-Net: three down, three up, skip connections, per-pixel softmax."""
    inp = keras.Input((size, size, 3))
    skips, x = [], inp
    for level in range(3):
        x = L.Conv2D(width * 2 ** level, 3, padding="same", activation="relu")(x)
        x = L.Conv2D(width * 2 ** level, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = L.MaxPooling2D()(x)
    x = L.Conv2D(width * 8, 3, padding="same", activation="relu", name="bottleneck")(x)
    for level in reversed(range(3)):
        x = L.Conv2DTranspose(width * 2 ** level, 2, strides=2)(x)
        x = L.Concatenate()([x, skips[level]])
        x = L.Conv2D(width * 2 ** level, 3, padding="same", activation="relu")(x)
    out = L.Conv2D(classes, 1, activation="softmax", name="segmentation")(x)
    return keras.Model(inp, out, name="unet")


class SubclassedResNet(keras.Model):
    """ResNet50's layers behind a subclassed model's own `call`."""

    def __init__(self):
        super().__init__(name="subclassed_resnet")
        self.base = keras.applications.ResNet50(include_top=False, weights=None)
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(1000, activation="softmax")

    def call(self, x):
        return self.head(self.pool(self.base(x)))


def vit_b16():
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12,
        hidden_dim=768, mlp_dim=3072)
    inp = keras.Input((224, 224, 3))
    return keras.Model(inp, L.Dense(1000)(backbone(inp)[:, 0]), name="vit_b16")


def ratio_row(name, model, x, explain, repeats, target=None):
    forward = tf.function(lambda v: model(v, training=False))
    forward(x)
    explain()  # trace once
    method_s, forward_s = interleaved(explain, lambda: forward(x).numpy(), repeats)
    return {"model": name, "batch": int(x.shape[0]), "method": explain.__name__,
            "seconds": method_s, "forward_seconds": forward_s, "ratio": method_s / forward_s,
            "target": target}


def rows(repeats):
    rng = np.random.default_rng(0)
    out = []
    keras.utils.set_random_seed(0)
    resnet = keras.applications.ResNet50(weights=None)
    cam = tfg.GradCAM(resnet)
    for batch in (16, 1):
        x = tf.constant(rng.uniform(0, 255, (batch, 224, 224, 3)), tf.float32)
        top1 = np.full((batch, 1), -1, np.int32)
        top5 = np.full((batch, 5), -1, np.int32)

        def gradcam_top1():
            cam.compute(x, top1)["heatmaps"].numpy()

        def gradcam_top5_one_call():
            cam.compute(x, top5)["heatmaps"].numpy()

        def gradcam_top5_five_calls():
            for _ in range(5):
                cam.compute(x, top1)["heatmaps"].numpy()

        for fn, target in ((gradcam_top1, None),
                           (gradcam_top5_one_call, 1.3 if batch == 16 else 1.5),
                           (gradcam_top5_five_calls, None)):
            out.append(ratio_row("ResNet50 (224, random weights)", resnet, x, fn, repeats,
                                 target))


    model = unet()
    seg = tfg.GradCAM(model, layer="bottleneck")
    x = tf.constant(rng.uniform(0, 1, (8, 128, 128, 3)), tf.float32)
    classes = np.ones((8, 1), np.int32)
    region = np.full((8, 1, 1), tfg.targets.PREDICTED_REGION, np.float32)

    def gradcam_segmentation_class():
        seg.compute(x, classes, region)["heatmaps"].numpy()

    out.append(ratio_row("U-Net (128x128, ours)", model, x, gradcam_segmentation_class,
                         repeats, 2.2))


    try:
        model = vit_b16()
    except ImportError:
        print("keras-hub is not installed: skipping the ViT row")
    else:
        vit = tfg.GradCAM(model)
        x = tf.constant(rng.uniform(0, 255, (8, 224, 224, 3)), tf.float32)
        top1 = np.full((8, 1), -1, np.int32)

        def gradcam_vit_auto_layer():
            vit.compute(x, top1)["heatmaps"].numpy()

        row = ratio_row("ViT-B/16 (KerasHub, 224, random weights)", model, x,
                        gradcam_vit_auto_layer, repeats, 1.3)
        row["layer"] = vit.layer
        out.append(row)


    model = SubclassedResNet()
    x = tf.constant(rng.uniform(0, 255, (16, 224, 224, 3)), tf.float32)
    model(x[:1])
    sub = tfg.GradCAM(model)
    top1 = np.full((16, 1), -1, np.int32)

    def gradcam_subclassed():
        sub.compute(x, top1)["heatmaps"].numpy()

    row = ratio_row("subclassed ResNet50 (224, random weights)", model, x, gradcam_subclassed,
                    repeats, 1.1)
    row["layer"] = sub.layer
    out.append(row)
    return out


def write(results, path):
    lines = ["# Targets and any-model speed", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU "
             f"cores, TensorFlow {tf.__version__}, Keras {keras.__version__}. Ratios are "
             "medians of interleaved runs against the model's own forward pass "
             "(`python benchmarks/targets.py`).", "",
             "| model | batch | what | seconds | forward s | ratio | target |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        what = r["method"].replace("_", " ") + (f" (layer `{r['layer']}`)" if "layer" in r
                                               else "")
        target = f"<= {r['target']}" if r["target"] else ""
        lines.append(f"| {r['model']} | {r['batch']} | {what} | {r['seconds']:.3f} | "
                     f"{r['forward_seconds']:.3f} | {r['ratio']:.2f}x | {target} |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", default=str(HERE / "targets.md"))
    args = parser.parse_args()
    write(rows(3 if args.quick else 7), pathlib.Path(args.out))


if __name__ == "__main__":
    main()
