"""Export size, per-request latency of both serving signatures, and a REST example.

Exports Grad-CAM for a model (the real ImageNet model when `TF_GRADCAM_IMAGENET_MODEL` names
it, else the bundled small CNN), loads the SavedModel the way a server does, and times
`serving_default` (pixels) and `explain_image` (JPEG bytes) at batch 1 and 16 (median of
repeated calls after warm-up). It also turns a TF Serving REST request into the signature's
inputs and prints the JSON response, abbreviated: the README's example is this output.

    python benchmarks/serving.py     # writes benchmarks/serving.md
"""

import base64
import json
import os
import pathlib
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_gradcam as tfg  # noqa: E402
from tf_gradcam import demo, serving, synthetic  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def load():
    path = os.environ.get("TF_GRADCAM_IMAGENET_MODEL")
    if path and pathlib.Path(path).is_file():
        model = keras.saving.load_model(path, compile=False)
        from skimage import data

        photo = cv2.resize(data.chelsea()[:, 75:375], (224, 224), interpolation=cv2.INTER_AREA)
        return model, "efficientnet_lite", photo
    model = keras.saving.load_model(demo.MODEL_PATH, compile=False)
    return model, "none", synthetic.make_scenes(1, seed=3, both=True).images[0]


def median_ms(fn, repeats=15):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def abbreviate(value):
    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return [abbreviate(value[0]), "..."] if len(value) > 1 else [abbreviate(value[0])]
        return value[:3] + ["..."] if len(value) > 3 else value
    if isinstance(value, dict) and "b64" in value:
        return {"b64": value["b64"][:24] + "..."}
    return value


def main():
    model, preprocess, photo = load()
    explainer = tfg.GradCAM(model, preprocess=preprocess)
    out = pathlib.Path(tempfile.mkdtemp()) / "gradcam" / "1"
    tfg.export_saved_model(explainer, out)
    size_mib = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    loaded = tf.saved_model.load(str(out))
    pixels, raw = loaded.signatures["serving_default"], loaded.signatures["explain_image"]
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))[1].tobytes()
    rows = []
    for batch in (1, 16):
        images = tf.constant(np.repeat(photo[None], batch, 0), tf.float32)
        files = tf.constant([jpeg] * batch)
        classes = tf.constant([-1] * batch, tf.int32)
        in_process = median_ms(lambda: explainer.explain(images.numpy()))
        rows.append((batch, median_ms(lambda: pixels(images=images, class_index=classes)),
                     median_ms(lambda: raw(image_bytes=files, class_index=classes)),
                     in_process))
    request = serving.request_bytes([jpeg])
    columns = {"image_bytes": tf.constant([base64.b64decode(request["instances"][0][
        "image_bytes"]["b64"])]), "class_index": tf.constant([-1], tf.int32)}
    result = {k: v.numpy()[0] for k, v in raw(**columns).items()}
    response = {"predictions": [{k: ({"b64": base64.b64encode(v).decode()} if isinstance(
        v, bytes) else v.tolist()) for k, v in result.items()}]}
    shown_request = json.dumps({**request, "instances": [
        {k: abbreviate(v) for k, v in request["instances"][0].items()}]}, indent=1)
    shown_response = json.dumps({"predictions": [
        {k: abbreviate(v) for k, v in response["predictions"][0].items()}]}, indent=1)
    lines = [f"Model: {model.name} ({explainer.input_shape}), layer {explainer.layer!r}; "
             f"export size {size_mib:.1f} MiB; {time.strftime('%Y-%m-%d')}, "
             f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}.", "",
             "| batch | serving_default ms | explain_image (JPEG) ms | in-process explain ms |",
             "|---|---|---|---|"]
    lines += [f"| {b} | {p:.1f} | {r:.1f} | {i:.1f} |" for b, p, r, i in rows]
    lines += ["", "Request (`explain_image`, abbreviated):", "", "```json", shown_request,
              "```", "", "Response (abbreviated; `overlay_png` is a base64 PNG):", "",
              "```json", shown_response, "```", ""]
    text = "\n".join(lines)
    print(text)
    (HERE / "serving.md").write_text(text)


if __name__ == "__main__":
    main()
