"""A small TF Serving REST client: build the JSON request, read the response.

Against a running TF Serving (`docker run -p 8501:8501 ... tensorflow/serving`, see the
Serving page), send `json.dumps(body)` to `http://HOST:8501/v1/models/NAME:predict` and read
the reply's JSON with `parse_response`.

Example:
>>> from tf_gradcam import serving
>>> body = serving.request_images(images, class_index=1)
>>> body["signature_name"], len(body["instances"]), body["instances"][0]["class_index"]
('explain_class', 2, 1)
>>> reply = {"predictions": [{"class_index": 1, "overlay_png": {"b64": "iVBORw0K"}}]}
>>> serving.parse_response(reply)[0]["overlay_png"][:4]
b'\\x89PNG'
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
