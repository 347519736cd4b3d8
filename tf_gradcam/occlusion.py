"""Occlusion maps: hide one patch at a time and measure how much the class score drops.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014. Model
agnostic and slow (one forward pass per patch): the baseline Grad-CAM must beat.
"""

import numbers

import numpy as np
import tensorflow as tf

from tf_gradcam import core, inputs, maps

FILLS = ("mean", "blur")
SCORES = ("probability", "logit")


def _patch_corners(height, width, patch, stride):
    """Top rows and left columns of the patches (the last ones cover the image's edge)."""
    tops = list(range(0, max(height - patch, 0) + 1, stride))
    lefts = list(range(0, max(width - patch, 0) + 1, stride))
    if tops[-1] + patch < height:  # cover the last rows / columns too
        tops.append(height - patch)
    if lefts[-1] + patch < width:
        lefts.append(width - patch)
    return tops, lefts


def _coverage(height, width, patch, tops, lefts):
    """How many patches cover each pixel (at least 1), float32 `(H, W)`."""
    rows, cols = np.zeros(height, np.float32), np.zeros(width, np.float32)
    for top in tops:
        rows[top:top + patch] += 1.0
    for left in lefts:
        cols[left:left + patch] += 1.0
    return np.maximum(rows[:, None] * cols[None, :], 1.0)


def _gaussian_blur(images, sigma):
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    channels = images.shape[-1]
    row = tf.constant(np.tile(kernel[None, :, None, None], (1, 1, channels, 1)))
    col = tf.constant(np.tile(kernel[:, None, None, None], (1, 1, channels, 1)))
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "SYMMETRIC")
    out = tf.nn.depthwise_conv2d(padded, row, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, col, [1, 1, 1, 1], "VALID")


class Occlusion(core.Explainer):
    """Occlusion map: the drop of the class score when each image patch is hidden.

    All occluded copies are made in the graph and run through the model in balanced chunks
    of at most `chunk_size` inside one `tf.function` (traced once; no padded passes).
    `chunk_size` is the smaller of `batch_size` and the number of copies whose estimated
    forward-pass memory (`tf_gradcam.maps.forward_bytes`) fits in `max_memory`, so a large
    model does not hold 64 copies' activations at once (ResNet50: 7 copies per chunk at
    the default 64 MiB).

    Args:
        model: A built `keras.Model` with one image input of fixed size and one
            `(N, classes)` output. It is never modified.
        layer: Unused (occlusion needs no layer); accepted so every explainer shares the
            constructor head `(model, layer=None, ...)`. Defaults to `None`.
        patch_size: Side of the square patch, in pixels. Defaults to `16`.
        stride: Step between patches; overlapping patches are averaged. Defaults to
            `patch_size`.
        fill: What hides a patch: a number (raw pixel value, before `preprocess`), `"mean"`
            (each image's mean colour) or `"blur"` (a Gaussian blur of the image). Defaults
            to `"mean"`.
        batch_size: The most occluded copies per forward pass. Defaults to `64`.
        max_memory: Bound, in bytes, on the estimated memory of one chunk of occluded
            copies; `None` runs chunks of `batch_size` whatever their size. Defaults to
            `tf_gradcam.maps.DEFAULT_MAX_MEMORY` (64 MiB).
        score: `"probability"` (softmax/sigmoid output) or `"logit"`. Defaults to
            `"probability"`.
        preprocess: As in `GradCAM`. Defaults to `None`.
        labels: Class names, as in `GradCAM`. Defaults to `None`.

    Raises:
        ValueError: Bad patch, stride, fill, score, batch size or `max_memory`, or a model
            without a fixed input size.

    Example:
    >>> occ = tfg.Occlusion(model, patch_size=8)
    >>> exp = occ.explain(images)  # exp.cams: score drop per patch position
    """

    method = "occlusion"

    def __init__(self, model, layer=None, *, patch_size=16, stride=None, fill="mean",
                 batch_size=64, score="probability", preprocess=None, output=None,
                 target=None, max_memory=maps.DEFAULT_MAX_MEMORY, labels=None):
        del layer
        self._use_graph(model, None, preprocess, output=output, target=target, features=False,
                        labels=labels)
        self._remember(locals())
        height, width = self.input_shape[:2]
        if height is None or width is None:
            raise ValueError(
                "Occlusion needs a model with a fixed input height and width, to lay out its "
                "patches. Wrap the model with a fixed `keras.Input(shape)`. "
                f"Received: model input shape={self.input_shape}")
        stride = patch_size if stride is None else stride
        for name, value in (("patch_size", patch_size), ("stride", stride),
                            ("batch_size", batch_size)):
            inputs.positive_int(name, value)
        if patch_size > min(height, width):
            raise ValueError(
                f"`patch_size` must fit in the {height}x{width} image. "
                f"Received: patch_size={patch_size}")
        if not (fill in FILLS or (isinstance(fill, numbers.Real) and np.isfinite(fill)
                                  and not isinstance(fill, bool))):
            raise ValueError(f"`fill` must be a number or one of {FILLS}. "
                             f"Received: fill={fill!r}")
        if score not in SCORES:
            raise ValueError(f"`score` must be one of {SCORES}. Received: score={score!r}")
        self.patch_size, self.stride, self.fill = int(patch_size), int(stride), fill
        self.batch_size, self.score = int(batch_size), score
        #: Occluded copies per forward pass: `batch_size`, or fewer within `max_memory`.
        self.chunk_size = maps.chunk_size(
            maps.forward_bytes(self.graph.layers, self.input_shape), max_memory,
            self.batch_size)
        tops, lefts = _patch_corners(height, width, self.patch_size, self.stride)
        self.grid = (len(tops), len(lefts))
        # Only the corners are constants; the masks are made in the graph, per chunk: 197
        # constant 224x224 masks cost ~40 MB, copied again by every graph optimisation.
        self._tops, self._lefts = tf.constant(tops, tf.int32), tf.constant(lefts, tf.int32)
        self._coverage = tf.constant(_coverage(height, width, self.patch_size, tops, lefts))
        self.compute = self._compile(self._compute)

    @property
    def passes_per_image(self):
        """Forward passes one image costs: one per patch position (plus the unoccluded one)."""
        return self.grid[0] * self.grid[1] + 1

    def _patch_masks(self, patch):
        """float32 `(n, H, W)`: 1 inside each of the `patch` (int32 `(n,)`) patches."""
        height, width = self.input_shape[:2]
        top = tf.gather(self._tops, patch // self.grid[1])[:, tf.newaxis]
        left = tf.gather(self._lefts, patch % self.grid[1])[:, tf.newaxis]
        rows, cols = tf.range(height)[tf.newaxis], tf.range(width)[tf.newaxis]
        in_rows = tf.logical_and(rows >= top, rows < top + self.patch_size)
        in_cols = tf.logical_and(cols >= left, cols < left + self.patch_size)
        return tf.cast(tf.logical_and(in_rows[:, :, tf.newaxis], in_cols[:, tf.newaxis]),
                       tf.float32)

    def _class_scores(self, images, classes, mask):
        """`(scores (N, K), classes (N, K), logits, outputs)`: the score `score=` names."""
        _, logits, outputs = self._forward(self._preprocess(images))
        classes, logit_scores = self.target.select(logits, outputs, classes, mask)
        if self.score == "logit":
            return logit_scores, classes, logits, outputs
        return (self.target.class_probabilities(logits, outputs, classes, mask), classes,
                logits, outputs)

    def _filler(self, images):
        if self.fill == "mean":
            return tf.broadcast_to(tf.reduce_mean(images, axis=[1, 2], keepdims=True),
                                   tf.shape(images))
        if self.fill == "blur":
            return _gaussian_blur(images, sigma=max(self.patch_size / 4.0, 1.0))
        return tf.fill(tf.shape(images), tf.constant(float(self.fill), tf.float32))

    def _compute(self, images, class_index, mask=None):
        n_patches = self.grid[0] * self.grid[1]
        base, classes, logits, outputs = self._class_scores(images, class_index, mask)
        filler = self._filler(images)
        total = tf.shape(images)[0] * n_patches
        count = tf.shape(classes)[1]

        def drop(k):  # (n,) -> (n, K): every class from one occluded pass
            image, patch = k // n_patches, k % n_patches
            hide = self._patch_masks(patch)[..., tf.newaxis]
            occluded = (tf.gather(images, image) * (1.0 - hide) +
                        tf.gather(filler, image) * hide)
            region = None if mask is None else tf.gather(mask, image)
            score = self._class_scores(occluded, tf.gather(classes, image), region)[0]
            return tf.gather(base, image) - score

        drops = maps.chunked(drop, total, self.chunk_size, width=count)
        drops = tf.reshape(drops, [-1, n_patches, count])
        every_patch = self._patch_masks(tf.range(n_patches))
        pixel_map = tf.einsum("npk,phw->nkhw", drops, every_patch) / self._coverage
        height, width = self.input_shape[:2]
        heatmaps = tf.reshape(maps.normalize(tf.reshape(pixel_map, [-1, height, width])),
                              [-1, count, height, width])
        cams = tf.reshape(tf.transpose(drops, [0, 2, 1]),
                          [-1, count, self.grid[0], self.grid[1]])
        return self._result(heatmaps, cams, classes, base, logits, outputs)
