"""A small TF Serving REST client: build the JSON request, read the response.

Example (against `docker run -p 8501:8501 ... tensorflow/serving`, see the README):

>>> import json, urllib.request
>>> body = serving.request_bytes([open("cat.jpg", "rb").read()])
>>> reply = urllib.request.urlopen(urllib.request.Request(
...     "http://localhost:8501/v1/models/gradcam:predict", data=json.dumps(body).encode()))
>>> result = serving.parse_response(json.load(reply))
>>> result[0]["class_index"], result[0]["overlay_png"][:8]

(A doctest-style sketch: it needs a running TF Serving.)
"""

import base64

import numpy as np


def request_images(images, class_index=None):
    """REST body for `serving_default` (top-1) or `explain_class`: one instance per image.

    Args:
        images: float array `(N, H, W, C)` of raw pixels.
        class_index: `None` (top-1, `serving_default`: no class input), an int, or N ints
            (`explain_class`). Defaults to `None`.
    """
    images = np.asarray(images, np.float32)
    return _body("serving_default", "explain_class", "images",
                 [image.tolist() for image in images], class_index)


def request_bytes(files, class_index=None):
    """REST body for `explain_image` (top-1) or `explain_image_class`: encoded image files
    as `{"b64": ...}`. `class_index` as in `request_images`."""
    return _body("explain_image", "explain_image_class", "image_bytes",
                 [{"b64": base64.b64encode(data).decode("ascii")} for data in files],
                 class_index)


def _body(top1_signature, class_signature, key, values, class_index):
    if class_index is None:
        return {"signature_name": top1_signature,
                "instances": [{key: value} for value in values]}
    classes = ([class_index] * len(values) if isinstance(class_index, int)
               else list(class_index))
    return {"signature_name": class_signature,
            "instances": [{key: value, "class_index": int(c)}
                          for value, c in zip(values, classes)]}


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
