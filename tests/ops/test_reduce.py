"""Every row-reduction variant against NumPy (float64), sum and max, float32 and float64."""

import numpy as np
import pytest

from cnn_gpu.ops.reduce import OPS, VARIANTS, row_reduce, row_reduce_reference
from helpers import TOLERANCE, assert_close, on_backend, poisoned, random_array, to_host

# One element; rows shorter than a warp; longer than a block of 256 (several strides); many rows.
SHAPES = [(1, 1), (3, 17), (5, 300), (67, 33)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_matches_numpy(rng, kernel_backend, variant, op, shape, dtype):
    x = random_array(rng, shape, dtype)
    out = on_backend(poisoned(shape[0], dtype), kernel_backend)
    row_reduce(on_backend(x, kernel_backend), op, variant, out=out, backend=kernel_backend)
    assert_close(out, row_reduce_reference(x.astype(np.float64), op), what=f"{variant} {op}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_max_propagates_nan_and_handles_all_negative_rows(kernel_backend, variant):
    x = -np.arange(1, 41, dtype=np.float32).reshape(2, 20)
    x[1, 7] = np.nan
    out = row_reduce(on_backend(x, kernel_backend), "max", variant, backend=kernel_backend)
    host = to_host(out)
    assert host[0] == -1 and np.isnan(host[1])


def test_sum_of_a_long_row_stays_accurate(rng, kernel_backend):
    x = random_array(rng, (2, 5000), np.float32)
    out = row_reduce(on_backend(x, kernel_backend), "sum", "shuffle", backend=kernel_backend)
    assert_close(out, x.astype(np.float64).sum(axis=1), tol=10 * TOLERANCE[np.dtype(np.float32)])


def test_empty_and_wrong_inputs_are_refused(kernel_backend):
    with pytest.raises(ValueError, match="at least one row and one column"):
        row_reduce(on_backend(np.ones((3, 0), np.float32), kernel_backend), backend=kernel_backend)
    with pytest.raises(ValueError, match="op in"):
        row_reduce(on_backend(np.ones((3, 2), np.float32), kernel_backend), "mean", backend=kernel_backend)
    with pytest.raises(ValueError, match="2-D float32 or float64"):
        row_reduce(on_backend(np.ones((3, 2), np.int32), kernel_backend), backend=kernel_backend)
