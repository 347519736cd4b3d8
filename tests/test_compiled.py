"""SignatureFunction: traced lazily once per signature, checked arguments, graph calls."""

import numpy as np
import pytest
import tensorflow as tf

from tf_gradcam.compiled import SignatureFunction

GENERAL = [tf.TensorSpec((None, 3), tf.float32, name="x"),
           tf.TensorSpec((None, None), tf.int32, name="k")]
ONE = [GENERAL[0], tf.TensorSpec((None, 1), tf.int32, name="k")]


def _function():
    seen = []  # the static K of each trace

    def fn(x, k):
        seen.append(k.shape[1])
        return {"sum": tf.reduce_sum(x, axis=1) + tf.cast(tf.reduce_sum(k, axis=1), tf.float32),
                "k": tf.shape(k)[1]}

    return SignatureFunction(fn, [ONE, GENERAL], autograph=False), seen


def test_each_signature_is_traced_once_on_its_first_call():
    fn, seen = _function()
    assert fn.experimental_get_tracing_count() == 0  # nothing traced before a call
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = fn(tf.constant(x), tf.constant([[1], [2]]))
    np.testing.assert_allclose(out["sum"], [3 + 1, 12 + 2])
    assert seen == [1]
    fn(tf.constant(x[:1]), tf.constant([[5]]))  # another batch size: same trace
    out = fn(x, np.array([[1, 2], [3, 4]], np.int32))  # NumPy in, two classes
    np.testing.assert_allclose(out["sum"], [3 + 3, 12 + 7])
    assert int(out["k"]) == 2
    fn(x, np.zeros((2, 5), np.int32))
    assert seen == [1, None] and fn.experimental_get_tracing_count() == 2


def test_arguments_are_checked_against_the_signature():
    fn, _ = _function()
    with pytest.raises(ValueError, match=r"`x` must have shape \(None, 3\).*Received: x with "
                                         r"shape \(2, 4\)"):
        fn(tf.zeros((2, 4)), tf.zeros((2, 1), tf.int32))
    with pytest.raises(TypeError, match="`k` must be a int32 tensor. Received: k with dtype "
                                        "float32"):
        fn(tf.zeros((2, 3)), tf.zeros((2, 1)))
    with pytest.raises(TypeError, match="takes 2 arguments .x, k.. Received: 1 arguments"):
        fn(tf.zeros((2, 3)))


def test_inside_a_tf_function_the_call_is_part_of_the_callers_graph():
    fn, seen = _function()

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    def caller(x):
        return fn(x, tf.ones([tf.shape(x)[0], 1], tf.int32))["sum"]

    np.testing.assert_allclose(caller(tf.ones((4, 3))), [4.0] * 4)
    assert seen == [1]  # the one-class signature, chosen by the static shape
    assert fn.get_concrete_function(*GENERAL).structured_input_signature[0][1].shape[1] is None
