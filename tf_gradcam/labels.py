"""Class names: from a list, a file, or the ImageNet-1k names shipped with the package.

`labels="imagenet"` needs no download: the 1,000 names are a text asset
(`tf_gradcam/assets/imagenet_classes.txt`, line i = class i, in the order of
`keras.applications` and of most ImageNet-1k models).
"""

import json
import os
import pathlib

#: Names accepted for the shipped label sets -> their asset file.
BUILTIN = {"imagenet": "imagenet_classes.txt"}

_ASSETS = pathlib.Path(__file__).resolve().parent / "assets"


def load_labels(labels, num_classes=None):
    """Class names as a list, `names[c]` for class `c`.

    Args:
        labels: A sequence of names; `"imagenet"` (the 1,000 ImageNet-1k names shipped with
            the package); or the path of a file: a text file with one name per line (line i
            = class i; trailing blank lines ignored), or a `.json` file holding a list of
            names or a `{"index": name}` mapping (Keras' `imagenet_class_index.json` form,
            `{"0": ["n01440764", "tench"]}`, works too). `None` returns `None`.
        num_classes: The number of classes the names must match (the model's), or `None`
            to take any number. Defaults to `None`.

    Returns:
        A list of `str`, or `None` for `labels=None`.

    Raises:
        ValueError: The count differs from `num_classes`, no names, an empty name, a
            missing file, or a JSON mapping with a gap.
        TypeError: `labels` is neither a sequence of strings, a path nor a known name.

    Example:
    >>> names = tfg.labels.load_labels("imagenet", num_classes=1000)
    >>> names[281], names[285]
    ('tabby, tabby cat', 'Egyptian cat')
    """
    if labels is None:
        return None
    source = labels
    if isinstance(labels, (str, os.PathLike)):
        names = _read(labels)
    elif isinstance(labels, (bytes, dict)) or not hasattr(labels, "__len__"):
        raise TypeError(
            "`labels` is a list of class names, the path of a file with one name per line, "
            f"or one of {sorted(BUILTIN)}. Received: labels={_short(labels)}")
    else:
        names = list(labels)
        if not all(isinstance(n, str) for n in names):
            raise TypeError("`labels` must hold strings (class names). "
                            f"Received: labels={_short(labels)}")
    if not names or not all(n.strip() for n in names):
        raise ValueError("`labels` needs one non-empty name per class. "
                         f"Received: labels={_short(source)}")
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(
            f"The model has {num_classes} classes but `labels` names {len(names)}; pass one "
            f"name per class, in class order. Received: labels={_short(source)} "
            f"({len(names)} names)")
    return names


def _read(labels):
    path = labels
    if isinstance(labels, str) and labels.lower() in BUILTIN:
        path = _ASSETS / BUILTIN[labels.lower()]
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(
            f"`labels` names no file and no built-in label set ({sorted(BUILTIN)}): "
            f"{str(path)!r} does not exist. Received: labels={str(labels)!r}")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() != ".json":
        return [line.strip() for line in text.rstrip("\r\n\t ").splitlines()]
    data = json.loads(text)
    if isinstance(data, dict):
        try:
            items = sorted((int(k), v) for k, v in data.items())
        except ValueError:
            items = None
        if items is None or [k for k, _ in items] != list(range(len(items))):
            raise ValueError(f"A JSON label mapping needs the keys 0..N-1. Received: "
                             f"labels={str(labels)!r} with keys {list(data)[:5]}...")
        data = [v[-1] if isinstance(v, (list, tuple)) else v for _, v in items]
    if not isinstance(data, list):
        raise ValueError(f"A JSON label file holds a list of names or an index mapping. "
                         f"Received: labels={str(labels)!r} holding {type(data).__name__}")
    return [str(v) for v in data]


def _short(labels):
    if isinstance(labels, (str, os.PathLike)):
        return repr(str(labels))
    text = repr(labels)
    return text if len(text) <= 80 else text[:77] + "..."


def names_of(names, class_index):
    """The names of `class_index` (any shape of ints) as a NumPy `str` array of the same
    shape (a `str` scalar for a scalar index); `None` without names. An index outside the
    names gets `""`.

    Example:
    >>> tfg.labels.names_of(["square", "cross"], np.array([[1, 0]]))
    array([['cross', 'square']], dtype='<U6')
    """
    import numpy as np

    if names is None:
        return None
    index = np.asarray(class_index)
    flat = [names[c] if 0 <= c < len(names) else "" for c in index.reshape(-1).tolist()]
    return np.array(flat, dtype=str).reshape(index.shape)[()]
