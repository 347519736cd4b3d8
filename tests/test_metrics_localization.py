"""Pointing game, localisation accuracy and MaxBoxAcc on maps and boxes placed by hand."""

import numpy as np
import pytest

from tf_gradcam import metrics
from tf_gradcam.metrics import localization


def blob(size, top, left, bottom, right, value=1.0, base=0.0):
    heatmap = np.full((size, size), base, np.float32)
    heatmap[top:bottom, left:right] = value
    return heatmap


def test_pointing_game_hits_misses_and_tolerance():
    maps = np.zeros((3, 32, 32), np.float32)
    maps[0, 10, 10] = 1.0   # inside the box
    maps[1, 10, 25] = 1.0   # 5 px right of the box
    maps[2, 30, 30] = 1.0   # far away
    boxes = np.array([[5, 5, 15, 21]] * 3)  # rows 5-14, columns 5-20
    result = metrics.pointing_game(maps, boxes, return_per_image=True)
    np.testing.assert_array_equal(result.per_image, [1, 0, 0])
    assert result.value == pytest.approx(1 / 3)
    tolerant = metrics.pointing_game(maps, boxes, tolerance=5, return_per_image=True)
    np.testing.assert_array_equal(tolerant.per_image, [1, 1, 0])  # 25 - 20 = 5 px
    assert metrics.pointing_game(maps, boxes, tolerance=4.9) == pytest.approx(1 / 3)
    # (30, 30) is sqrt(16**2 + 10**2) = 18.9 px from the box's corner (14, 20).
    assert metrics.pointing_game(maps, boxes, tolerance=15) == pytest.approx(2 / 3)
    assert metrics.pointing_game(maps, boxes, tolerance=19) == pytest.approx(1.0)


def test_pointing_game_with_masks_several_boxes_and_absent_objects():
    maps = np.zeros((3, 16, 16), np.float32)
    maps[:, 12, 3] = 1.0
    masks = np.zeros((3, 16, 16), bool)
    masks[0, 12, 3] = True           # a one-pixel object under the peak
    masks[1, 0, 0] = True            # elsewhere
    result = metrics.pointing_game(maps, masks, return_per_image=True)
    np.testing.assert_array_equal(result.per_image[:2], [1, 0])
    assert np.isnan(result.per_image[2]) and result.value == 0.5  # no object: skipped
    boxes = np.array([[[0, 0, 2, 2], [10, 0, 14, 5]],
                      [[0, 0, 2, 2], [-1, -1, -1, -1]],
                      [[-1, -1, -1, -1], [-1, -1, -1, -1]]])
    hits = metrics.pointing_game(maps, boxes, return_per_image=True).per_image
    np.testing.assert_array_equal(hits[:2], [1, 0])
    assert np.isnan(hits[2])


def test_a_constant_map_points_at_the_first_pixel():
    flat = np.full((1, 8, 8), 0.5, np.float32)
    assert metrics.pointing_game(flat, [[0, 0, 1, 1]]) == 1.0
    assert metrics.pointing_game(flat, [[4, 4, 8, 8]]) == 0.0


def test_largest_segment_box_and_iou():
    heatmap = blob(32, 4, 6, 12, 20)               # 8 x 14 block
    heatmap[25:27, 25:27] = 1.0                    # a smaller segment, ignored
    heatmap[4:12, 6:20] += np.linspace(0, 0.5, 14)  # max 1.5; threshold 15% = 0.225
    np.testing.assert_array_equal(localization.largest_segment_box(heatmap, 0.15),
                                  [4, 6, 12, 20])
    iou = localization.box_iou(np.array([0, 0, 10, 10]), np.array([[5, 0, 15, 10],
                                                                   [0, 0, 10, 10]]))
    np.testing.assert_allclose(iou, [50 / 150, 1.0])
    assert (localization.largest_segment_box(np.zeros((8, 8)), 0.15) == 0).all()


def test_localization_accuracy_by_iou():
    truth = np.array([[8, 8, 24, 24]] * 3)              # 16 x 16
    maps = np.stack([blob(32, 8, 8, 24, 24),            # exact: IoU 1
                     blob(32, 8, 8, 24, 16),            # half: IoU 0.5, counts
                     blob(32, 8, 8, 20, 16)])           # 12 x 8: IoU 0.375, misses
    result = metrics.localization_accuracy(maps, truth, return_per_image=True)
    np.testing.assert_array_equal(result.per_image, [1, 1, 0])
    np.testing.assert_array_equal(result.details["boxes"][2], [8, 8, 20, 16])
    assert metrics.localization_accuracy(maps, truth, iou_threshold=0.6) == pytest.approx(1 / 3)


def test_threshold_decides_the_segment():
    # A bright core on a dim halo: at 15 % of the max the box is the halo, at 60 % the core.
    heatmap = blob(32, 4, 4, 28, 28, value=0.25)
    heatmap[12:20, 12:20] = 1.0
    core, halo = [[12, 12, 20, 20]], [[4, 4, 28, 28]]
    assert metrics.localization_accuracy(heatmap, halo) == 1.0
    assert metrics.localization_accuracy(heatmap, core) == 0.0
    assert metrics.localization_accuracy(heatmap, core, threshold=0.6) == 1.0
    best = metrics.max_box_accuracy(heatmap, core, return_per_image=True)
    assert best.value == 1.0 and best.details["best_threshold"] == pytest.approx(0.25)
    assert best.curves.shape == (1, 100) and best.curves[0, 24] == 0 and best.curves[0, 25] == 1


def test_max_box_accuracy_takes_the_best_threshold_over_images():
    truth = np.array([[12, 12, 20, 20]] * 2)
    # Halos of 0.25 and 0.5 around the object: only thresholds from 0.5 up find both cores.
    maps = np.stack([blob(32, 4, 4, 28, 28, value=0.25), blob(32, 4, 4, 28, 28, value=0.5)])
    maps[:, 12:20, 12:20] = 1.0
    assert metrics.localization_accuracy(maps, truth) == 0.0
    assert metrics.max_box_accuracy(maps, truth) == 1.0
    assert metrics.max_box_accuracy(maps, truth, thresholds=(0.1, 0.3)) == 0.5
    assert metrics.max_box_accuracy(maps, truth, thresholds=(0.1, 0.2)) == 0.0
    # Averaged over IoU bars (MaxBoxAccV2): the halo box (IoU 64/576) passes none of them.
    assert metrics.max_box_accuracy(maps, truth, iou_threshold=(0.3, 0.5, 0.7)) == 1.0
    assert metrics.max_box_accuracy(maps, truth, thresholds=(0.3,),
                                    iou_threshold=(0.1, 0.5)) == 0.75


@pytest.mark.parametrize("boxes, match", [
    ([[0, 0, 9, 4]], "box=[0, 0, 9, 4]"),            # bottom past the 8-pixel image
    ([[4, 4, 2, 6]], "box=[4, 4, 2, 6]"),            # top below bottom
    ([[-2, 0, 4, 4]], "box=[-2, 0, 4, 4]"),          # negative, not the -1 marker
    ([[0, 0, 4]], "boxes.shape=(1, 3)"),
    ([[-1, -1, -1, -1]], "no ground truth"),
])
def test_bad_boxes_are_value_errors(boxes, match):
    heatmap = np.random.default_rng(0).uniform(0, 1, (1, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="Received: ") as info:
        metrics.localization_accuracy(heatmap, boxes)
    assert match in str(info.value)


@pytest.mark.parametrize("call", [
    lambda m: metrics.pointing_game(m, [[0, 0, 2, 2]], tolerance=-1),
    lambda m: metrics.localization_accuracy(m, [[0, 0, 2, 2]], threshold=1.5),
    lambda m: metrics.max_box_accuracy(m, [[0, 0, 2, 2]], thresholds=()),
    lambda m: metrics.pointing_game(np.full_like(m, np.nan), [[0, 0, 2, 2]]),
    lambda m: metrics.pointing_game(m, np.zeros((1, 4, 4), bool)),
])
def test_bad_arguments_are_value_errors(call):
    heatmap = np.random.default_rng(0).uniform(0, 1, (1, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="Received: "):
        call(heatmap)
