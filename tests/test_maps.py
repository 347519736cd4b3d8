"""Shared graph ops on hand-computed tensors."""

import numpy as np
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
