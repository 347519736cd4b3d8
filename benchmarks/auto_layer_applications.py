"""One-off check: the automatic layer of every `keras.applications` model (weights=None),
with and without the rule that skips trailing pooling layers (`layers._before_pooling`).

Run: `PYTHONPATH=. python benchmarks/auto_layer_applications.py` (slow: builds 40 models).
Prints one line per model and the models whose choice changed.
"""

import inspect

import keras

from tf_gradcam import layers as tl

_rule = tl._before_pooling


def choice(model, rule):
    tl._before_pooling = rule
    try:
        return tl.automatic_layer(model)
    finally:
        tl._before_pooling = _rule


def main():
    names = sorted(n for n, f in inspect.getmembers(keras.applications, inspect.isfunction)
                   if n[0].isupper())
    changed = []
    for name in names:
        keras.backend.clear_session()
        model = getattr(keras.applications, name)(weights=None)
        before = choice(model, lambda info, informative: info)
        after = choice(model, _rule)
        print(f"{name:22s} {before:28s} -> {after}", flush=True)
        if before != after:
            changed.append(name)
        del model
    print(f"{len(names)} models; changed: {changed}")


if __name__ == "__main__":
    main()
