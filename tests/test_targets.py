"""class_index: None, one int, or one per image; anything else is a clear error."""

import numpy as np
import pytest

from tf_gradcam.targets import TOP1, class_indices


def test_forms():
    np.testing.assert_array_equal(class_indices(None, 3, 5), [TOP1] * 3)
    np.testing.assert_array_equal(class_indices(4, 2, 5), [4, 4])
    np.testing.assert_array_equal(class_indices(np.int64(2), 2, 5), [2, 2])
    np.testing.assert_array_equal(class_indices([0, 4, 1], 3, 5), [0, 4, 1])
    np.testing.assert_array_equal(class_indices(np.array([3]), 1, 5), [3])
    assert class_indices(1, 1, 2).dtype == np.int32


@pytest.mark.parametrize("value, n, message", [
    (5, 2, r"out of range.*\[0, 4\].*Received: class_index=5"),
    (-1, 2, "out of range"),
    ([0, 1], 3, "one class per image: 3 values"),
    ([[0, 1]], 2, "one class per image"),
    ([0, 9], 2, "Class index 9 is out of range"),
])
def test_value_errors(value, n, message):
    with pytest.raises(ValueError, match=message):
        class_indices(value, n, 5)


@pytest.mark.parametrize("value", [1.0, True, "cat", [0.5, 1.0], [True, False]])
def test_type_errors(value):
    with pytest.raises(TypeError, match="Received: class_index="):
        class_indices(value, 2, 5)
