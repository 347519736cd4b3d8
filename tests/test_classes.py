"""class_index / top_k -> an (N, K) class matrix; anything else is a clear error."""

import numpy as np
import pytest

from tf_gradcam.classes import TOP, class_matrix


def test_forms():
    def matrix(*args, **kwargs):
        return class_matrix(*args, **kwargs)[0].tolist()

    assert matrix(None, 3, 5) == [[TOP]] * 3
    assert matrix(4, 2, 5) == [[4], [4]]
    assert matrix(np.int64(2), 2, 5) == [[2], [2]]
    assert matrix([0, 4, 1], 3, 5) == [[0], [4], [1]]
    assert matrix(np.array([3]), 1, 5) == [[3]]
    assert matrix([[0, 4], [1, 2]], 2, 5) == [[0, 4], [1, 2]]
    assert matrix(None, 2, 5, top_k=3) == [[TOP] * 3] * 2
    assert class_matrix(1, 1, 2)[0].dtype == np.int32
    assert not class_matrix([1, 2], 2, 5)[1] and class_matrix([[1], [2]], 2, 5)[1]
    assert class_matrix(None, 2, 5, top_k=1)[1]
    assert matrix(123, 2, None) == [[123], [123]]  # custom targets take any int


@pytest.mark.parametrize("value, n, message", [
    (5, 2, r"out of range.*\[0, 4\].*Received: class_index=5"),
    (-1, 2, "out of range"),
    ([0, 1], 3, "one class per image .3 values"),
    ([[0, 1]], 2, "one class per image"),
    ([0, 9], 2, "Class index 9 is out of range"),
    ([[0, 9], [1, 2]], 2, "Class index 9 is out of range"),
    (np.zeros((2, 1, 1), int), 2, "one class per image"),
])
def test_value_errors(value, n, message):
    with pytest.raises(ValueError, match=message):
        class_matrix(value, n, 5)


@pytest.mark.parametrize("top_k, class_index, message", [
    (0, None, r"top_k.*Received: top_k=0"), (6, None, r"\[1, 5\]"), (2.0, None, "top_k"),
    (2, 1, "either `class_index` or `top_k`")])
def test_top_k_errors(top_k, class_index, message):
    with pytest.raises(ValueError, match=message):
        class_matrix(class_index, 2, 5, top_k=top_k)


@pytest.mark.parametrize("value", [1.0, True, "cat", [0.5, 1.0], [True, False]])
def test_type_errors(value):
    with pytest.raises(TypeError, match="Received: class_index="):
        class_matrix(value, 2, 5)
