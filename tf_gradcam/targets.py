"""Targets: which number of the model's output an explanation explains.

A target turns the explained output into one score per image and requested class, inside the
explainers' compiled function. The engine differentiates (or, for occlusion and Score-CAM,
perturbs) that score; nothing else depends on the kind of model.

- `Classifier`: `(N, classes)` outputs, multi-class or multi-label; the score is the class's
  pre-softmax/sigmoid logit.
- `Binary`: one unit (sigmoid or logit), Keras' `label_mode="binary"`: class 1 scores the
  logit, class 0 minus the logit.
- `Segmentation`: `(N, H', W', classes)` outputs; the score is the sum of the class's logits
  over the pixels predicted as that class, or over a given `mask`.
- `Regression`: a real-valued output; the score is the output itself ("what raises it").
- A callable `fn(outputs, class_index) -> scores` for anything else (detection, ranking...).

The automatic choice (`target=None`) is `Binary` for one unit, `Classifier` for
`(N, classes)` and `Segmentation` for `(N, H', W', classes)`.

Example:
>>> cam = tfg.GradCAM(model, target=tfg.targets.Regression(index=1))
>>> cam.explain(images).scores.shape
(2,)
"""

import copy

import tensorflow as tf

#: Mask value meaning "the pixels predicted as the explained class" (segmentation).
PREDICTED_REGION = -1.0


class Target:
    """Base of the named targets; see the module docstring.

    Subclasses implement `select` and `class_probabilities`; `bind` checks the output shape.
    """

    #: Classes a `class_index` may name (`None`: any int, it is handed to the target).
    num_classes = None
    #: Whether `explain(..., mask=)` is meaningful.
    takes_mask = False
    #: Whether the target reads the pre-activation logits (else the raw outputs).
    uses_logits = True

    def bind(self, output_shape, squashed):
        """Check the explained output's shape; return a target bound to it (maybe `self`)."""
        del output_shape
        bound = copy.copy(self)
        bound.squashed = squashed
        return bound

    def select(self, logits, outputs, class_index, mask):
        """`(classes, scores)`, both `(N, K)`: classes with -1 ranked, and their scores."""
        raise NotImplementedError

    def probabilities(self, logits, outputs):
        """`(N, classes)` class probabilities, or `None` where they are not defined."""
        del logits, outputs
        return None

    def class_probabilities(self, logits, outputs, classes, mask):
        """`(N, K)` probability of each chosen class (the score where there is none)."""
        return self.select(logits, outputs, classes, mask)[1]

    def __repr__(self):
        return f"{type(self).__name__}()"


def _rank(class_index, ranking):
    """Replace -1 in column j of `class_index` with the j-th best class of `ranking`."""
    k = tf.shape(class_index)[1]
    top = tf.math.top_k(ranking, k=k).indices
    return tf.where(class_index < 0, top, class_index)


class Classifier(Target):
    """`(N, classes)` outputs: the score is the class's logit (pre-softmax/sigmoid).

    Probabilities are the model's own outputs when it ends in a softmax/sigmoid, else the
    softmax of the logits.
    """

    def bind(self, output_shape, squashed):
        if len(output_shape) != 2:
            raise ValueError(
                f"The Classifier target needs an output of shape (batch, classes). Use "
                f"`target=tfg.targets.Segmentation()` for (batch, height, width, classes), or "
                f"a function `target=fn(outputs, class_index)`. "
                f"Received: output shape={tuple(output_shape)}")
        bound = super().bind(output_shape, squashed)
        bound.num_classes = int(output_shape[-1])
        return bound

    def select(self, logits, outputs, class_index, mask):
        logits = tf.cast(logits, tf.float32)
        classes = _rank(class_index, logits)
        return classes, tf.gather(logits, classes, batch_dims=1)

    def probabilities(self, logits, outputs):
        if self.squashed:
            return tf.cast(outputs, tf.float32)
        return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)

    def class_probabilities(self, logits, outputs, classes, mask):
        return tf.gather(self.probabilities(logits, outputs), classes, batch_dims=1)


class Binary(Classifier):
    """One unit (sigmoid or logit `z`) as two classes: class 1 scores `z`, class 0 `-z`.

    With `class_index=None` the predicted class is explained (1 when `z > 0`, else 0), and
    probabilities are `(N, 2)`: `[1 - p, p]`.
    """

    def bind(self, output_shape, squashed):
        if len(output_shape) != 2 or output_shape[-1] != 1:
            raise ValueError(
                "The Binary target needs an output of shape (batch, 1): one sigmoid or logit "
                f"unit. Received: output shape={tuple(output_shape)}")
        bound = Target.bind(self, output_shape, squashed)
        bound.num_classes = 2
        return bound

    @staticmethod
    def _two(logits):
        z = tf.cast(logits, tf.float32)
        return tf.concat([-z, z], axis=-1)

    def select(self, logits, outputs, class_index, mask):
        return super().select(self._two(logits), outputs, class_index, mask)

    def probabilities(self, logits, outputs):
        p = tf.cast(outputs, tf.float32) if self.squashed else tf.sigmoid(
            tf.cast(logits, tf.float32))
        return tf.concat([1.0 - p, p], axis=-1)


class Segmentation(Target):
    """`(N, H', W', classes)` outputs: the sum of the class's logits over a region.

    The region is the pixels predicted as the class (argmax), or the `mask` given to
    `explain` (`(N, H', W')`, bool or float weights). With `class_index=None` the class
    covering most pixels is explained. Its probability is the mean softmax (or sigmoid)
    probability of the class over the region.
    """

    takes_mask = True

    def bind(self, output_shape, squashed):
        if len(output_shape) != 4:
            raise ValueError(
                "The Segmentation target needs an output of shape (batch, height, width, "
                f"classes). Received: output shape={tuple(output_shape)}")
        bound = super().bind(output_shape, squashed)
        bound.num_classes = int(output_shape[-1])
        bound.mask_shape = tuple(output_shape[1:3])
        return bound

    def _region(self, logits, classes, mask):
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)[..., tf.newaxis]
        region = tf.cast(predicted == classes[:, tf.newaxis, tf.newaxis, :], tf.float32)
        if mask is None:
            return region
        mask = tf.cast(mask, tf.float32)[..., tf.newaxis]  # (N, H', W', 1) or (N, 1, 1, 1)
        return tf.where(mask == PREDICTED_REGION, region, mask)  # (N, H', W', K)

    def _classes(self, logits, class_index):
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        area = tf.reduce_sum(tf.one_hot(predicted, tf.shape(logits)[-1]), axis=[1, 2])
        return _rank(class_index, area)

    def select(self, logits, outputs, class_index, mask):
        logits = tf.cast(logits, tf.float32)
        classes = self._classes(logits, class_index)
        chosen = tf.gather(logits, classes, axis=3, batch_dims=1)  # (N, H', W', K)
        weights = self._region(logits, classes, mask)
        return classes, tf.reduce_sum(chosen * weights, axis=[1, 2])

    def class_probabilities(self, logits, outputs, classes, mask):
        logits = tf.cast(logits, tf.float32)
        if self.squashed:
            probabilities = tf.cast(outputs, tf.float32)
        elif logits.shape[-1] == 1:
            probabilities = tf.sigmoid(logits)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        chosen = tf.gather(probabilities, classes, axis=3, batch_dims=1)
        weights = self._region(logits, classes, mask)
        total = tf.reduce_sum(weights, axis=[1, 2])
        return tf.math.divide_no_nan(tf.reduce_sum(chosen * weights, axis=[1, 2]), total)


class Regression(Target):
    """A real-valued output: the score is `output[..., index]` (pre-activation), and the map
    shows what raises the prediction. `class_index` is ignored.

    Args:
        index: Which unit of the output (after flattening the non-batch axes). Defaults
            to `0`.
    """

    def __init__(self, index=0):
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"`index` must be an int >= 0. Received: index={index!r}")
        self.index = index

    def bind(self, output_shape, squashed):
        size = 1
        for dim in output_shape[1:]:
            size *= dim
        if self.index >= size:
            raise ValueError(
                f"Regression index {self.index} is out of range: the output has {size} "
                f"value(s) per image. Received: index={self.index}")
        return super().bind(output_shape, squashed)

    def select(self, logits, outputs, class_index, mask):
        flat = tf.reshape(tf.cast(logits, tf.float32), [tf.shape(logits)[0], -1])
        score = flat[:, self.index:self.index + 1]
        return class_index, tf.tile(score, [1, tf.shape(class_index)[1]])

    def __repr__(self):
        return f"Regression(index={self.index})"


class Function(Target):
    """A user function `fn(outputs, class_index) -> scores` as a target.

    `outputs` is exactly what the model (or its `output=`) returns: a tensor, a list or a
    dict; `class_index` the int32 `(N,)` vector of the call, or `(N, K)` for several classes
    per image, -1 where the user asked for none; `scores` must be float `(N,)` (or `(N, K)`).
    """

    uses_logits = False

    def __init__(self, fn):
        self.fn = fn

    def select(self, logits, outputs, class_index, mask):
        n, k = tf.shape(class_index)[0], tf.shape(class_index)[1]

        def scores_of(classes):
            scores = tf.cast(self.fn(outputs, classes), tf.float32)
            if scores.shape.rank not in (1, 2):
                raise ValueError(
                    "A target function must return one score per image, shape (N,), or "
                    f"(N, K) for K classes per image. Received: scores shape={scores.shape}")
            return tf.reshape(scores, [n, -1])

        def one_class():  # the (N,) vector of the call
            return scores_of(class_index[:, 0])

        try:  # K is known only when the graph runs: both forms are traced
            scores = tf.cond(k == 1, one_class, lambda: scores_of(class_index))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError):
            # The function handles one class per image only: several are a run-time error.
            tf.debugging.assert_equal(k, 1, message=(
                "this target function handles one class per image; call it once per class"))
            scores = one_class()
        return class_index, tf.broadcast_to(scores, [n, k])

    def __repr__(self):
        return f"Function({getattr(self.fn, '__name__', self.fn)!r})"


#: Output keys of KerasHub detectors: `(logits, boxes)` per layout.
DETECTION_LAYOUTS = (("cls_logits", "bbox_regression"), ("logits", "pred_boxes"),
                     ("logits", "boxes"), ("cls_logits", "boxes"))


def box_iou(boxes, box):
    """IoU of `boxes` `(..., 4)` with one `box` `(4,)`, both `(y1, x1, y2, x2)`."""
    boxes, box = tf.cast(boxes, tf.float32), tf.cast(box, tf.float32)
    top = tf.maximum(boxes[..., 0], box[0])
    left = tf.maximum(boxes[..., 1], box[1])
    bottom = tf.minimum(boxes[..., 2], box[2])
    right = tf.minimum(boxes[..., 3], box[3])
    inter = tf.maximum(bottom - top, 0.0) * tf.maximum(right - left, 0.0)
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    union = area + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return tf.math.divide_no_nan(inter, union)


class Detection(Target):
    """One detected box of an object detector: the score is that box's class logit.

    The detector's outputs hold per-anchor (or per-query) class logits `(N, A, classes)`
    and boxes `(N, A, 4)`: KerasHub's `{"cls_logits", "bbox_regression"}` (RetinaNet) and
    `{"logits", "pred_boxes"}` (D-FINE) are found by name, others by `logits=`/`boxes=`.
    Which box is explained:

    - `box=None, index=None`: the model's own best detection - for each class, the anchor
      with the highest logit (with `class_index=None`, the best class overall).
    - `index=i`: anchor (query) `i` of the model's predictions.
    - `box=(y1, x1, y2, x2)`: every anchor whose decoded box overlaps `box` with
      IoU >= `iou_threshold`, its logit weighted by the IoU and summed (pytorch-grad-cam's
      box-score target). `decode` turns the outputs into those boxes, in `box`'s format
      (default: the boxes output as is; RetinaNet's are deltas: decode them at its anchors
      with `keras.utils.bounding_boxes.decode_deltas_to_boxes`).

    Args:
        box: One box `(y1, x1, y2, x2)` in the decoded boxes' units. Defaults to `None`.
        index: An anchor/query index. Defaults to `None`.
        logits: Key of the class-logit output. Defaults to `None` (found by name).
        boxes: Key of the box output. Defaults to `None` (found by name).
        iou_threshold: Minimum IoU of a matching anchor. Defaults to `0.5`.
        decode: `fn(outputs) -> (N, A, 4)` decoded boxes. Defaults to `None`.

    Raises:
        ValueError: Both `box` and `index`, a malformed box or threshold, or outputs
            without a recognised logits/boxes key.

    Example:
    >>> target = tfg.targets.Detection(index=0)
    >>> target
    Detection(index=0)
    """

    uses_logits = False
    #: Reads the whole output dict (logits and boxes), not one output.
    reads_all_outputs = True

    def __init__(self, box=None, *, index=None, logits=None, boxes=None, iou_threshold=0.5,
                 decode=None):
        if box is not None and index is not None:
            raise ValueError("Pass `box=` (explain the anchors matching a box) or `index=` "
                             f"(one anchor), not both. Received: box={box}, index={index}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)
                                  or index < 0):
            raise ValueError(f"`index` must be an int >= 0. Received: index={index!r}")
        if box is not None:
            box = tuple(float(v) for v in box)
            if len(box) != 4 or not (box[2] > box[0] and box[3] > box[1]):
                raise ValueError("`box` must be (y1, x1, y2, x2) with y2 > y1 and x2 > x1. "
                                 f"Received: box={box}")
        if not 0.0 <= float(iou_threshold) <= 1.0:
            raise ValueError(f"`iou_threshold` must be in [0, 1]. Received: iou_threshold="
                             f"{iou_threshold}")
        self.box, self.index, self.logits_key, self.boxes_key = box, index, logits, boxes
        self.iou_threshold, self.decode = float(iou_threshold), decode

    def keys(self, outputs):
        """`(logits key, boxes key)` of a dict of outputs."""
        if not isinstance(outputs, dict):
            raise ValueError(
                "The Detection target reads a dict of outputs (class logits and boxes); this "
                "model returns one tensor. Use `target=fn(outputs, class_index)` for it. "
                f"Received: outputs of type {type(outputs).__name__}")
        if self.logits_key is not None or self.boxes_key is not None:
            pair = (self.logits_key, self.boxes_key)
        else:
            pair = next((p for p in DETECTION_LAYOUTS if p[0] in outputs and p[1] in outputs),
                        (None, None))
        missing = [k for k in pair[:1] + ((pair[1],) if self.box is not None else ())
                   if k not in outputs]
        if missing:
            raise ValueError(
                f"The detector's outputs {sorted(outputs)} have no {missing} key. Pass "
                "`logits=` (the (N, anchors, classes) class logits) and `boxes=` (the "
                f"(N, anchors, 4) boxes) by name. Received: logits={pair[0]!r}, "
                f"boxes={pair[1]!r}")
        return pair

    def class_scores(self, outputs):
        """`(N, classes)` score of every class for the explained box."""
        logits_key, boxes_key = self.keys(outputs)
        logits = tf.cast(outputs[logits_key], tf.float32)  # (N, A, C)
        if self.index is not None:
            return logits[:, self.index]
        if self.box is None:
            return tf.reduce_max(logits, axis=1)
        boxes = self.decode(outputs) if self.decode is not None else outputs[boxes_key]
        iou = box_iou(boxes, self.box)  # (N, A)
        weights = tf.where(iou >= self.iou_threshold, iou, 0.0)
        check = tf.debugging.assert_greater(
            tf.reduce_max(weights, axis=1), 0.0, message=(
                f"no predicted box overlaps box={self.box} with IoU >= "
                f"{self.iou_threshold}; lower `iou_threshold`, check the box format "
                "(y1, x1, y2, x2 in the decoded boxes' units) or pass `index=`"))
        with tf.control_dependencies([check]):
            return tf.einsum("na,nac->nc", weights, logits)

    def select(self, logits, outputs, class_index, mask):
        scores = self.class_scores(outputs)
        classes = _rank(class_index, scores)
        return classes, tf.gather(scores, classes, batch_dims=1)

    def dependency_score(self, outputs):
        """What the explained score reads (the class logits, never a sibling box head),
        for choosing the automatic layer."""
        return tf.reduce_sum(tf.cast(outputs[self.keys(outputs)[0]], tf.float32))

    def __repr__(self):
        parts = [f"{k}={v!r}" for k, v in (("box", self.box), ("index", self.index))
                 if v is not None]
        return f"Detection({', '.join(parts)})"


def draw_box(image, box, color=(255, 255, 0), width=2):
    """A copy of `image` with the outline of `box` drawn on it (for overlays).

    Args:
        image: `(H, W, 3)` uint8 (or float) image; not modified.
        box: `(y1, x1, y2, x2)` in pixels (inclusive corners).
        color: The line colour, in the image's value range. Defaults to `(255, 255, 0)`.
        width: Line width in pixels. Defaults to `2`.

    Returns:
        The image with the box, same dtype.

    Example:
    >>> tfg.targets.draw_box(np.zeros((8, 8, 3), np.uint8), (1, 1, 6, 6))[1, 3]
    array([255, 255,   0], dtype=uint8)
    """
    import numpy as np  # noqa: PLC0415 - a plain NumPy helper

    out = np.array(image, copy=True)
    height, width_ = out.shape[:2]
    y1, x1, y2, x2 = (int(round(float(v))) for v in box)
    y1, y2 = max(0, min(y1, height - 1)), max(0, min(y2, height - 1))
    x1, x2 = max(0, min(x1, width_ - 1)), max(0, min(x2, width_ - 1))
    for t in range(int(width)):
        out[min(y1 + t, y2), x1:x2 + 1] = color
        out[max(y2 - t, y1), x1:x2 + 1] = color
        out[y1:y2 + 1, min(x1 + t, x2)] = color
        out[y1:y2 + 1, max(x2 - t, x1)] = color
    return out


class DenseRegression(Target):
    """A per-pixel regression map `(N, H', W'[, C])` (depth, density, heat): the score is
    its mean over a region - the whole map, a `box`, or the `mask` given to `explain`
    (`(N, H', W')` weights at the output's resolution). `class_index` is ignored.

    Args:
        box: `(y1, x1, y2, x2)` in output pixels (end exclusive). Defaults to `None`.
        channel: Which channel of a multi-channel map. Defaults to `0`.

    Example:
    >>> tfg.targets.DenseRegression(box=(0, 0, 8, 8))
    DenseRegression(box=(0, 0, 8, 8), channel=0)
    """

    takes_mask = True

    def __init__(self, box=None, channel=0):
        if box is not None:
            box = tuple(int(v) for v in box)
            if len(box) != 4 or not (box[2] > box[0] >= 0 and box[3] > box[1] >= 0):
                raise ValueError("`box` must be (y1, x1, y2, x2) output pixels with "
                                 f"y2 > y1 >= 0 and x2 > x1 >= 0. Received: box={box}")
        if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
            raise ValueError(f"`channel` must be an int >= 0. Received: channel={channel!r}")
        self.box, self.channel = box, channel

    def bind(self, output_shape, squashed):
        if len(output_shape) not in (3, 4):
            raise ValueError(
                "The DenseRegression target needs a map of shape (batch, height, width) or "
                "(batch, height, width, channels). Use `tfg.targets.Regression()` for a "
                f"vector output. Received: output shape={tuple(output_shape)}")
        channels = output_shape[3] if len(output_shape) == 4 else 1
        if channels is not None and self.channel >= channels:
            raise ValueError(f"`channel` {self.channel} is out of range: the map has "
                             f"{channels} channel(s). Received: channel={self.channel}")
        height, width = output_shape[1:3]
        if self.box is not None and None not in (height, width) and (
                self.box[2] > height or self.box[3] > width):
            raise ValueError(f"`box` {self.box} lies outside the {height}x{width} output "
                             f"map. Received: box={self.box}")
        bound = super().bind(output_shape, squashed)
        bound.mask_shape = (height, width)
        return bound

    def select(self, logits, outputs, class_index, mask):
        depth = tf.cast(logits, tf.float32)
        if depth.shape.rank == 4:
            depth = depth[..., self.channel]
        weights = tf.ones_like(depth)
        if self.box is not None:
            y1, x1, y2, x2 = self.box
            rows = tf.range(tf.shape(depth)[1])[:, None]
            cols = tf.range(tf.shape(depth)[2])[None, :]
            inside = (rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2)
            weights = weights * tf.cast(inside, tf.float32)
        if mask is not None:
            mask = tf.cast(mask, tf.float32)
            weights = tf.where(mask == PREDICTED_REGION, weights, mask * weights)
        score = tf.math.divide_no_nan(tf.reduce_sum(depth * weights, axis=[1, 2]),
                                      tf.reduce_sum(weights, axis=[1, 2]))
        return class_index, tf.tile(score[:, None], [1, tf.shape(class_index)[1]])

    def __repr__(self):
        return f"DenseRegression(box={self.box}, channel={self.channel})"


def resolve(target, output_shape, squashed):
    """The `Target` for `target=` (None, a `Target` or a callable) on an output shape.

    Raises:
        TypeError: `target` is of another type.
        ValueError: The output shape does not fit the target (or has no automatic one).
    """
    if target is None:
        rank = len(output_shape)
        if rank == 2 and output_shape[-1] == 1:
            target = Binary()
        elif rank == 2:
            target = Classifier()
        elif rank == 4:
            target = Segmentation()
        else:
            raise ValueError(
                f"No automatic target for an output of shape {tuple(output_shape)}: "
                "classifiers have (batch, classes), segmentation models (batch, height, "
                "width, classes). Pass `target=tfg.targets.Regression()` or a function "
                f"`target=fn(outputs, class_index)`. Received: output shape="
                f"{tuple(output_shape)}")
    elif not isinstance(target, Target):
        if not callable(target):
            raise TypeError(
                "`target` must be None, a `tfg.targets` target (Classifier, Binary, "
                "Segmentation, Regression) or a function `fn(outputs, class_index) -> "
                f"scores`. Received: target={type(target).__name__}")
        return Function(target)
    return target.bind(tuple(output_shape), squashed)
