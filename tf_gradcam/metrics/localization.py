"""Localisation protocols on heatmaps alone (no model): the pointing game (Zhang et al.,
"Top-down Neural Attention by Excitation Backprop", ECCV 2016), the Grad-CAM paper's
localisation accuracy (Selvaraju et al., ICCV 2017, Sec. 4.1) and MaxBoxAcc (Choe et al.,
"Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020).

Boxes are `(top, left, bottom, right)` in pixels with exclusive bottom/right, as
`tf_gradcam.synthetic` makes them: `(N, 4)` one box per image, or `(N, B, 4)` up to B boxes
per image with rows of -1 where an image has fewer (an image with none is skipped: NaN in
`per_image`, left out of the mean).
"""

import cv2
import numpy as np

from tf_gradcam.metrics import _common

#: Choe et al.'s threshold grid: 0, 0.01, ..., 0.99 of each map's maximum.
THRESHOLDS = tuple(np.round(np.arange(100) / 100, 2))


def _boxes(boxes, heatmaps):
    n, height, width = heatmaps.shape
    values = np.asarray(boxes)
    if values.ndim == 1:
        values = values[np.newaxis]
    if values.ndim == 2 and values.shape[-1] == 4 and n == 1 and values.shape[0] != 1:
        values = values[np.newaxis]  # several boxes of one image
    if values.ndim == 2:
        values = values[:, np.newaxis]
    if values.ndim != 3 or values.shape[0] != n or values.shape[-1] != 4:
        raise ValueError(
            f"Boxes must be (N, 4) or (N, B, 4) (top, left, bottom, right) for the {n} "
            f"heatmaps. Received: boxes.shape={np.shape(boxes)}")
    if values.dtype.kind not in "iuf" or not np.isfinite(values).all():
        raise ValueError(f"Boxes must hold finite pixel coordinates. Received: boxes={boxes!r}")
    values = values.astype(np.int64)
    present = (values >= 0).all(-1)
    absent_ok = (values[~present] == -1).all()
    top, left, bottom, right = np.moveaxis(values, -1, 0)
    inside = (top < bottom) & (left < right) & (bottom <= height) & (right <= width)
    if not absent_ok or not inside[present].all():
        bad = values[(present & ~inside) | (~present & (values != -1).any(-1))][:1]
        raise ValueError(
            f"Every box must lie inside the {height}x{width} image with top < bottom and left "
            "< right (exclusive bottom/right), or be all -1 for \"no box\". Received: "
            f"box={bad.tolist()[0] if len(bad) else None}")
    return values, present


def _as_masks(masks_or_boxes, heatmaps):
    """Object masks `(N, H, W)` bool and whether each image has an object."""
    values = np.asarray(masks_or_boxes)
    if values.dtype == bool or (values.shape == heatmaps.shape and values.dtype.kind in "iuf"
                                and values.ndim == 3 and values.shape[-1] != 4):
        if values.shape != heatmaps.shape:
            raise ValueError(f"Masks must match the heatmaps' shape {heatmaps.shape}. "
                             f"Received: masks.shape={values.shape}")
        masks = values.astype(bool)
        return masks, masks.any(axis=(1, 2))
    boxes, present = _boxes(masks_or_boxes, heatmaps)
    masks = np.zeros(heatmaps.shape, bool)
    for i, j in zip(*np.nonzero(present)):
        top, left, bottom, right = boxes[i, j]
        masks[i, top:bottom, left:right] = True
    return masks, present.any(axis=1)


def pointing_game(heatmaps, masks_or_boxes, *, tolerance=0, return_per_image=False):
    """Pointing game: the share of maps whose maximum falls on the object, higher is better.

    A hit when the pixel of the map's maximum (the first one in row-major order if several)
    lies within `tolerance` pixels (Euclidean) of an object pixel (Zhang et al., ECCV 2016,
    use 15).

    Args:
        heatmaps: An `Explanation` or heatmaps `(N, H, W)` (or one `(H, W)` map).
        masks_or_boxes: Boolean object masks `(N, H, W)`, or boxes `(N, 4)` / `(N, B, 4)`
            `(top, left, bottom, right)`, exclusive bottom/right, -1 rows for none.
        tolerance: Distance in pixels a hit may miss the object by. Defaults to `0`.
        return_per_image: Return a `MetricResult` with 1 (hit) / 0 (miss) / NaN (no object)
            per image. Defaults to `False`.

    Returns:
        The hit rate over the images that hold an object, a float in [0, 1].

    Raises:
        ValueError: NaN heatmaps, masks or boxes that do not match them, boxes outside the
            image, a negative tolerance, or no image with an object.

    Example:
    >>> from tf_gradcam import metrics, synthetic
    >>> scenes = synthetic.make_scenes(4, seed=3, both=True)
    >>> exp = tfg.GradCAM(model).explain(scenes.images, class_index=0)  # the squares
    >>> hits = metrics.pointing_game(exp, scenes.boxes[:, 0], tolerance=15)
    >>> 0.0 <= hits <= 1.0
    True
    """
    maps, _ = _common.heatmap_batch(heatmaps, "heatmaps")
    tolerance = _common.check_in_range("tolerance", tolerance, 0, np.inf)
    masks, has_object = _as_masks(masks_or_boxes, maps)
    _need_objects(has_object)
    width = maps.shape[2]
    peaks = maps.reshape(len(maps), -1).argmax(axis=1)
    hits = np.full(len(maps), np.nan)
    for i in np.nonzero(has_object)[0]:
        y, x = divmod(int(peaks[i]), width)
        ys, xs = np.nonzero(masks[i])
        hits[i] = float(((ys - y) ** 2 + (xs - x) ** 2).min() <= tolerance ** 2)
    return _common.finish(hits, return_per_image)


def _need_objects(has_object):
    if not has_object.any():
        raise ValueError("No image has an object (every mask is empty or every box is -1), "
                         "so there is nothing to localise. Received: no ground truth")


def largest_segment_box(heatmap, threshold):
    """Box `(top, left, bottom, right)` around the largest 8-connected segment of pixels
    above `threshold * max(heatmap)`; `(0, 0, 0, 0)` when there is none."""
    above = (heatmap > threshold * heatmap.max()).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
    if count < 2:  # label 0 is the background
        return np.zeros(4, np.int64)
    left, top, w, h, _ = stats[1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())]
    return np.array([top, left, top + h, left + w], np.int64)


def box_iou(box, boxes):
    """IoU of one box with each of `boxes` `(B, 4)`, all `(top, left, bottom, right)`."""
    top = np.maximum(box[0], boxes[:, 0])
    left = np.maximum(box[1], boxes[:, 1])
    bottom = np.minimum(box[2], boxes[:, 2])
    right = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1)


def _box_hits(maps, boxes, present, thresholds, iou_threshold):
    """1/0 per image and threshold (NaN for images without a box): best IoU >= the bar."""
    hits = np.full((len(maps), len(thresholds)), np.nan)
    for i in np.nonzero(present.any(axis=1))[0]:
        truth = boxes[i][present[i]]
        for t, threshold in enumerate(thresholds):
            iou = box_iou(largest_segment_box(maps[i], threshold), truth).max()
            hits[i, t] = float(iou >= iou_threshold)
    return hits


def localization_accuracy(heatmaps, boxes, *, threshold=0.15, iou_threshold=0.5,
                          return_per_image=False):
    """Localisation accuracy as the Grad-CAM paper measures it, higher is better.

    Each map is thresholded at `threshold` times its maximum; the box around the largest
    connected segment above it is correct when its IoU with a ground-truth box is at least
    `iou_threshold` (Selvaraju et al., ICCV 2017, Sec. 4.1; ground-truth-class localisation:
    the classification itself is not judged).

    Args:
        heatmaps: An `Explanation` or heatmaps `(N, H, W)` (or one `(H, W)` map).
        boxes: `(N, 4)` or `(N, B, 4)` `(top, left, bottom, right)`, exclusive bottom/right,
            -1 rows for none.
        threshold: Fraction of each map's maximum a pixel must exceed. Defaults to `0.15`.
        iou_threshold: IoU needed for a correct box. Defaults to `0.5`.
        return_per_image: Return a `MetricResult` with 1 / 0 / NaN (no box) per image and
            the predicted boxes in `details["boxes"]`. Defaults to `False`.

    Returns:
        The share of correctly localised images with a box, a float in [0, 1].

    Raises:
        ValueError: NaN heatmaps, boxes that do not match them or lie outside the image,
            thresholds outside [0, 1], or no image with a box.

    Example:
    >>> from tf_gradcam import metrics, synthetic
    >>> scenes = synthetic.make_scenes(4, seed=3, both=True)
    >>> exp = tfg.GradCAM(model).explain(scenes.images, class_index=1)  # the crosses
    >>> accuracy = metrics.localization_accuracy(exp, scenes.boxes[:, 1])
    >>> 0.0 <= accuracy <= 1.0
    True
    """
    maps, _ = _common.heatmap_batch(heatmaps, "heatmaps")
    threshold = _common.check_in_range("threshold", threshold, 0.0, 1.0)
    iou_threshold = _common.check_in_range("iou_threshold", iou_threshold, 0.0, 1.0)
    values, present = _boxes(boxes, maps)
    _need_objects(present.any(axis=1))
    hits = _box_hits(maps, values, present, [threshold], iou_threshold)[:, 0]
    predicted = np.stack([largest_segment_box(m, threshold) for m in maps])
    return _common.finish(hits, return_per_image, details={"boxes": predicted})


def max_box_accuracy(heatmaps, boxes, *, thresholds=THRESHOLDS, iou_threshold=0.5,
                     return_per_image=False):
    """MaxBoxAcc: localisation accuracy at the best threshold, higher is better.

    A fixed threshold flatters some methods and penalises others; Choe et al. (CVPR 2020)
    take the best accuracy over a grid of thresholds instead (their MaxBoxAcc; with
    `iou_threshold` a sequence, the mean over those IoU bars of each one's maximum, their
    MaxBoxAccV2 uses `(0.3, 0.5, 0.7)`). Boxes come from the largest connected segment, as in
    `localization_accuracy`.

    Args:
        heatmaps: An `Explanation` or heatmaps `(N, H, W)` (or one `(H, W)` map).
        boxes: `(N, 4)` or `(N, B, 4)` `(top, left, bottom, right)`, exclusive bottom/right,
            -1 rows for none.
        thresholds: Fractions of each map's maximum to try. Defaults to `0, 0.01, ..., 0.99`.
        iou_threshold: IoU needed for a correct box, or a sequence of them. Defaults to
            `0.5`.
        return_per_image: Return a `MetricResult` with each image's hit at the best
            threshold (`per_image`), the thresholds (`x`), every image's hits per threshold
            (`curves`) and the best threshold (`details["best_threshold"]`), all for the
            first IoU bar. Defaults to `False`.

    Returns:
        The best accuracy, a float in [0, 1].

    Raises:
        ValueError: As `localization_accuracy`, or an empty threshold list.

    Example:
    >>> from tf_gradcam import metrics, synthetic
    >>> scenes = synthetic.make_scenes(4, seed=3, both=True)
    >>> exp = tfg.GradCAM(model).explain(scenes.images, class_index=1)
    >>> best = metrics.max_box_accuracy(exp, scenes.boxes[:, 1], thresholds=(0.2, 0.5))
    >>> 0.0 <= best <= 1.0
    True
    """
    maps, _ = _common.heatmap_batch(heatmaps, "heatmaps")
    grid = np.asarray(thresholds, np.float64).reshape(-1)
    if grid.size == 0:
        raise ValueError(f"`thresholds` must not be empty. Received: thresholds={thresholds!r}")
    for value in grid:
        _common.check_in_range("thresholds", float(value), 0.0, 1.0)
    bars = np.atleast_1d(np.asarray(iou_threshold, np.float64))
    for value in bars:
        _common.check_in_range("iou_threshold", float(value), 0.0, 1.0)
    values, present = _boxes(boxes, maps)
    _need_objects(present.any(axis=1))
    best, first = [], None
    for bar in bars:
        hits = _box_hits(maps, values, present, grid, bar)
        accuracy = np.nanmean(hits, axis=0)
        best.append(float(accuracy.max()))
        if first is None:
            first = hits, int(accuracy.argmax())
    hits, at = first
    return _common.finish(hits[:, at], return_per_image, value=float(np.mean(best)), x=grid,
                          curves=hits, details={"best_threshold": float(grid[at])})
