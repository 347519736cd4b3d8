"""Shared graph ops on hand-computed tensors."""

import numpy as np
import pytest
import tensorflow as tf

from tf_gradcam import maps


def test_normalize_min_max_and_flat_maps():
    m = tf.constant([[[1.0, 3.0], [2.0, 5.0]],      # min-max: (x - 1) / 4
                     [[0.0, 0.0], [0.0, 0.0]],      # no evidence: zeros, not NaN
                     [[2.0, 2.0], [2.0, 2.0]]])     # uniform positive evidence: ones
    out = maps.normalize(m).numpy()
    np.testing.assert_allclose(out[0], [[0.0, 0.5], [0.25, 1.0]])
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_array_equal(out[2], 1.0)


def test_upsample_is_bilinear_to_the_requested_size():
    m = tf.constant([[[0.0, 1.0]]])
    out = maps.upsample(m, (1, 4)).numpy()
    np.testing.assert_allclose(out, [[[0.0, 0.25, 0.75, 1.0]]])


def test_chunked_covers_every_index_once_in_balanced_chunks():
    run = tf.function(lambda total: maps.chunked(
        lambda i: tf.cast(i, tf.float32) * 2.0, total, 64))
    for total in (197, 64, 5):
        np.testing.assert_array_equal(run(tf.constant(total)).numpy(), np.arange(total) * 2.0)
    assert run.experimental_get_tracing_count() == 1
    # Each item reports the size of its chunk: 197 at batch size 64 -> 50, 50, 50, 47.
    sizes = maps.chunked(lambda i: tf.fill(tf.shape(i), tf.cast(tf.size(i), tf.float32)),
                         tf.constant(197), 64).numpy()
    np.testing.assert_array_equal(sizes, [50] * 150 + [47] * 47)


def test_chunk_size_fits_the_budget_and_keeps_the_limit():
    mib = 2 ** 20
    assert maps.chunk_size(10 * mib, max_memory=256 * mib, limit=64) == 25  # 256 // 10
    assert maps.chunk_size(1 * mib, max_memory=256 * mib, limit=64) == 64  # the limit wins
    assert maps.chunk_size(300 * mib, max_memory=256 * mib, limit=64) == 1  # one always runs
    assert maps.chunk_size(300 * mib, max_memory=None, limit=64) == 64
    for bad in (0, -1, float("nan"), float("inf"), True, "1GB"):
        with pytest.raises(ValueError, match="max_memory"):
            maps.chunk_size(mib, max_memory=bad, limit=64)


def test_forward_bytes_counts_the_input_copies_and_the_largest_output():
    from tf_gradcam.layers import LayerInfo

    infos = [LayerInfo("a", None, (8, 8, 4), False), LayerInfo("b", None, (16, 16, 6), False),
             LayerInfo("c", None, (None, 5), False), LayerInfo("d", None, (3,), False)]
    # 4 copies of the 16x16x3 input + 2 x the largest known output (16*16*6), 4 bytes each.
    assert maps.forward_bytes(infos, (16, 16, 3)) == 4 * (4 * 768 + 2 * 1536)
    assert maps.forward_bytes([], (16, 16, 3), item_size=2) == 2 * 4 * 768
