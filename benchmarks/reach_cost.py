"""Cost of one Grad-CAM call against one forward pass, per model of issue #22 (small random
configs, CPU, batch 2). Run: `PYTHONPATH=. python benchmarks/reach_cost.py`."""

import time

import numpy as np
import tensorflow as tf

import tf_gradcam as tfg
from tests import keras_hub_models as hub
from tests.test_depth import unet


def best(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    cases = [("U-Net", unet(size=64), 64, tfg.targets.DenseRegression()),
             ("DeepLabV3 (None, None, 3)", hub.deeplab(), 64, None),
             ("RetinaNet", hub.retinanet(size=64), 64, tfg.targets.Detection()),
             ("D-FINE", hub.dfine(size=64), 64, tfg.targets.Detection(index=0)),
             ("DepthAnything", hub.depth_anything(size=112), 112,
              tfg.targets.DenseRegression(box=(0, 0, 56, 56)))]
    for name, model, size, target in cases:
        x = np.random.default_rng(0).uniform(0, 1, (2, size, size, 3)).astype("float32")
        forward = tf.function(lambda v, m=model: m(v, training=False))
        cam = tfg.GradCAM(model, target=target)
        f, c = best(lambda: forward(x)), best(lambda: cam.explain(x))
        print(f"{name:28s} forward {f * 1e3:7.1f} ms  gradcam {c * 1e3:7.1f} ms  "
              f"ratio {c / f:4.2f}x  layer {cam.layer}", flush=True)


if __name__ == "__main__":
    main()
