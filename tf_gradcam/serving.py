"""A small TF Serving REST client: build the JSON request, read the response.

Example (against `docker run -p 8501:8501 ... tensorflow/serving`, see the README):

>>> import json, urllib.request
>>> body = serving.request_bytes([open("cat.jpg", "rb").read()])
>>> reply = urllib.request.urlopen(urllib.request.Request(
...     "http://localhost:8501/v1/models/gradcam:predict", data=json.dumps(body).encode()))
>>> result = serving.parse_response(json.load(reply))
>>> result[0]["class_index"], result[0]["overlay_png"][:8]
"""

import base64

import numpy as np


def request_images(images, class_index=None):
    """REST body for `serving_default`: row format, one instance per image.

    Args:
        images: float array `(N, H, W, C)` of raw pixels.
        class_index: `None` (top-1), an int, or N ints. Defaults to `None`.
    """
    images = np.asarray(images, np.float32)
    classes = _classes(class_index, len(images))
    return {"signature_name": "serving_default",
            "instances": [{"images": image.tolist(), "class_index": int(c)}
                          for image, c in zip(images, classes)]}


def request_bytes(files, class_index=None):
    """REST body for `explain_image`: encoded image files as `{"b64": ...}`."""
    classes = _classes(class_index, len(files))
    return {"signature_name": "explain_image",
            "instances": [{"image_bytes": {"b64": base64.b64encode(data).decode("ascii")},
                           "class_index": int(c)} for data, c in zip(files, classes)]}


def _classes(class_index, n):
    if class_index is None:
        return [-1] * n
    if isinstance(class_index, int):
        return [class_index] * n
    return list(class_index)


def parse_response(body):
    """TF Serving's `{"predictions": [...]}` -> list of per-image dicts of NumPy arrays/bytes.

    `overlay_png` comes back as `{"b64": ...}` and is decoded to PNG bytes.
    """
    rows = []
    for row in body["predictions"]:
        parsed = {}
        for key, value in row.items():
            if isinstance(value, dict) and "b64" in value:
                parsed[key] = base64.b64decode(value["b64"])
            else:
                parsed[key] = np.asarray(value)
        rows.append(parsed)
    return rows
