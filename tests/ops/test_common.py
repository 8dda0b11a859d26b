import numpy as np
import pytest

from cnn_gpu.ops.common import C_TYPES, check_shape, dtype_name


def test_a_byte_swapped_array_is_named_as_numpy_writes_it_so_no_kernel_table_takes_it():
    assert dtype_name(np.ones(2, np.float32)) == "float32"
    swapped = np.ones(2, ">f4" if np.little_endian else "<f4")
    assert dtype_name(swapped) == str(swapped.dtype) and dtype_name(swapped) not in C_TYPES


def test_check_shape():
    a = np.empty((3, 4))
    assert check_shape(a, (3, None), "a") is a
    with pytest.raises(ValueError, match=r"a must have shape \(3, 5\), got \(3, 4\)"):
        check_shape(a, (3, 5), "a")
    with pytest.raises(ValueError, match=r"shape \(any,\)"):
        check_shape(a, (None,), "a")
