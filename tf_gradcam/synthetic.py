"""Generated two-object scenes and the small CNN trained on them.

Each scene is a noisy background holding a filled *square* and/or an *X* (cross) at random,
known places. A CNN trained to say which of the two objects an image holds (two sigmoid
outputs) gives Grad-CAM a ground truth: the map for "square" must land on the square and the
map for "cross" on the cross. The tests, the demo and the notebooks use this; the model that
ships with the package (`assets/shapes_cnn.keras`) is made by
`python -m tf_gradcam.synthetic OUT.keras`, reproducibly (fixed seeds).
"""

import argparse
import dataclasses

import numpy as np

CLASS_NAMES = ("square", "cross")
IMAGE_SIZE = 64
OBJECT_SIZE = 13


@dataclasses.dataclass(frozen=True)
class Scenes:
    """A batch of generated scenes.

    Attributes:
        images: uint8 `(N, S, S, 3)`.
        labels: float32 `(N, 2)`: whether each image holds a square, a cross.
        boxes: int `(N, 2, 4)`: `(top, left, bottom, right)` of the square and the cross,
            exclusive bottom/right; -1 where the object is absent.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray


def _stamp(kind, size):
    if kind == 0:  # filled square with a one-pixel margin
        mask = np.zeros((size, size), bool)
        mask[1:-1, 1:-1] = True
        return mask
    eye = np.eye(size, dtype=bool)  # an X, two pixels thick
    thick = eye | np.roll(eye, 1, axis=1)
    return thick | thick[:, ::-1]


def _place(rng, taken, size, limit):
    for _ in range(100):
        top, left = rng.integers(0, limit - size + 1, size=2)
        box = (int(top), int(left), int(top) + size, int(left) + size)
        if all(box[2] + 2 <= t[0] or t[2] + 2 <= box[0] or box[3] + 2 <= t[1] or
               t[3] + 2 <= box[1] for t in taken):
            return box
    raise RuntimeError("could not place an object without overlap")


def make_scenes(n, seed=0, size=IMAGE_SIZE, both=None):
    """Generate `n` scenes.

    Args:
        n: Number of images.
        seed: Random seed; the same seed gives the same scenes. Defaults to `0`.
        size: Image side in pixels. Defaults to `64`.
        both: `True` for scenes holding both objects, `None` for a mix of none, one and
            both (the training distribution). Defaults to `None`.

    Returns:
        A `Scenes`.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.zeros((n, 2), np.float32)
    boxes = np.full((n, 2, 4), -1, np.int64)
    for i in range(n):
        canvas = rng.normal(90, 25, (size, size, 3))
        present = [True, True] if both else list(rng.random(2) < 0.6)
        taken = []
        colour = rng.uniform(170, 255, 3)
        for kind in (0, 1):
            if not present[kind]:
                continue
            box = _place(rng, taken, OBJECT_SIZE, size)
            taken.append(box)
            mask = _stamp(kind, OBJECT_SIZE)
            region = canvas[box[0]:box[2], box[1]:box[3]]
            region[mask] = colour + rng.normal(0, 10, (mask.sum(), 3))
            labels[i, kind] = 1.0
            boxes[i, kind] = box
        images[i] = np.clip(canvas, 0, 255).astype(np.uint8)
    return Scenes(images, labels, boxes)


def build_model(size=IMAGE_SIZE, seed=0):
    """The small CNN: three conv blocks, global average pooling, Dense + sigmoid."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential([
        keras.Input((size, size, 3), name="image"),
        layers.Rescaling(1 / 255.0, name="rescale"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(name="pool2"),
        layers.Conv2D(48, 3, padding="same", activation="relu", name="conv3"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(len(CLASS_NAMES), activation="sigmoid", name="objects"),
    ], name="shapes_cnn")


def train_model(n=3000, epochs=8, seed=0, verbose=0):
    """Train `build_model()` on `n` generated scenes; returns the Keras model."""
    import keras

    data = make_scenes(n, seed=seed)
    model = build_model(seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy",
                  metrics=["binary_accuracy"])
    model.fit(data.images.astype("float32"), data.labels, batch_size=64, epochs=epochs,
              shuffle=True, verbose=verbose)
    return model


def main(argv=None):
    """Train the demo model and save it: `python -m tf_gradcam.synthetic OUT.keras`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", help="where to write the .keras file")
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args(argv)
    model = train_model(args.samples, args.epochs, verbose=2)
    test = make_scenes(500, seed=1)
    accuracy = model.evaluate(test.images.astype("float32"), test.labels, verbose=0)[1]
    print(f"held-out binary accuracy: {accuracy:.3f}")
    model.save(args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
