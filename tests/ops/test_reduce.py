"""Every row-reduction variant against NumPy (float64), sum and max, and every column-sum variant,
float32 and float64."""

import numpy as np
import pytest

from cnn_gpu.ops.reduce import (COLUMN_VARIANTS, OPS, VARIANTS, column_sum, column_sum_reference, row_reduce,
                                row_reduce_reference)
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


# One element; fewer columns than a warp; 36 (a slab and 4 columns, 252 of flat's 256 lanes); 129
# (flat's worst: one column's worth of lanes per block); a bias gradient's shape (rows >> cols);
# more columns than flat takes.
# more rows than the partial rung's 256 blocks of 8 cover at once (each thread's loop goes round).
COLUMN_SHAPES = [(1, 1), (7, 10), (67, 36), (45, 129), (2000, 33), (9, 300), (5000, 40)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", COLUMN_SHAPES)
@pytest.mark.parametrize("variant", COLUMN_VARIANTS)
def test_column_sum_variant_matches_numpy(rng, kernel_backend, variant, shape, dtype):
    if variant == "flat" and shape[1] > 256:
        pytest.skip("flat takes at most 256 columns")
    x = random_array(rng, shape, dtype)
    out = on_backend(poisoned(shape[1], dtype), kernel_backend)
    column_sum(on_backend(x, kernel_backend), variant, out=out, backend=kernel_backend)
    assert_close(out, column_sum_reference(x.astype(np.float64)), what=f"column_sum {variant}")


@pytest.mark.parametrize("variant, setting, value", [("partial", "MAX_ROW_BLOCKS", 2),
                                                     ("flat", "FLAT_ELEMENTS_PER_THREAD", 64)])
def test_column_sums_where_each_thread_walks_many_rows(kernel_backend, rng, monkeypatch, variant, setting, value):
    """Few blocks for the rows, so that each thread goes round its loop of four rows at a time (column_sum.cuh)
    several times, and then its remainder, one row at a time."""
    import cnn_gpu.ops.reduce as reduce

    monkeypatch.setattr(reduce, setting, value)
    x = random_array(rng, (203, 40), np.float64)
    out = column_sum(on_backend(x, kernel_backend), variant, backend=kernel_backend)
    assert_close(out, x.sum(axis=0), what=f"column_sum {variant}")


def test_column_sum_flat_with_more_blocks_than_rows(kernel_backend, rng, monkeypatch):
    """A block whose run of rows is empty adds a zero row to partial, not garbage."""
    import cnn_gpu.ops.reduce as reduce

    monkeypatch.setattr(reduce, "FLAT_ELEMENTS_PER_THREAD", 1)  # 4 blocks of 2 rows: the last has none
    x = random_array(rng, (5, 200), np.float32)
    out = column_sum(on_backend(x, kernel_backend), "flat", backend=kernel_backend)
    assert_close(out, x.astype(np.float64).sum(axis=0))


@pytest.mark.parametrize("variant", COLUMN_VARIANTS)
def test_column_sum_propagates_nan_to_its_column_only(kernel_backend, variant):
    x = np.ones((50, 40), np.float32)
    x[17, 3] = np.nan
    host = to_host(column_sum(on_backend(x, kernel_backend), variant, backend=kernel_backend))
    assert np.isnan(host[3]) and np.array_equal(np.delete(host, 3), np.full(39, 50, np.float32))


def test_column_sum_is_the_same_bits_on_every_run(rng, kernel_backend):
    x = on_backend(random_array(rng, (3000, 20), np.float32), kernel_backend)
    first = to_host(column_sum(x, backend=kernel_backend))
    assert np.array_equal(first, to_host(column_sum(x, backend=kernel_backend)))


def test_more_rows_than_the_partial_blocks_index_are_refused_before_any_launch():
    import cnn_gpu.ops.reduce as reduce

    with pytest.raises(ValueError, match="index rows with int"):
        reduce.column_partial_grid(reduce.MAX_PARTIAL_ROWS + 1, 3)


def test_column_sum_of_no_rows_is_zero_and_bad_inputs_are_refused(kernel_backend):
    out = on_backend(poisoned(3, np.float32), kernel_backend)
    assert np.array_equal(to_host(column_sum(on_backend(np.ones((0, 3), np.float32), kernel_backend), out=out,
                                             backend=kernel_backend)), np.zeros(3))
    with pytest.raises(ValueError, match="at least one column"):
        column_sum(on_backend(np.ones((3, 0), np.float32), kernel_backend), backend=kernel_backend)
    with pytest.raises(ValueError, match="'flat' takes at most 256"):
        column_sum(on_backend(np.ones((3, 257), np.float32), kernel_backend), "flat", backend=kernel_backend)
    with pytest.raises(ValueError, match="2-D float32 or float64"):
        column_sum(on_backend(np.ones(3, np.float32), kernel_backend), backend=kernel_backend)
    with pytest.raises(ValueError, match="out must be float32"):
        column_sum(on_backend(np.ones((3, 2), np.float32), kernel_backend),
                   out=on_backend(np.ones(2, np.float64), kernel_backend), backend=kernel_backend)


@pytest.mark.parametrize("rows, cols, expected", [(32, 10, ["thread_per_column"]),
                                                  (257, 36, ["flat", "thread_per_column"]),
                                                  (300, 257, ["partial", "thread_per_column"])])
def test_column_sum_auto_takes_one_launch_for_few_rows(rng, kernel_backend, monkeypatch, rows, cols, expected):
    """Up to SERIAL_ROWS rows, rung 5 alone; past them the flat or partial rung, then rung 5 on its sums."""
    import cnn_gpu.ops.reduce as reduce

    launched = []
    for variant, kernels in reduce.COLUMN_KERNELS.items():
        monkeypatch.setitem(reduce.COLUMN_KERNELS, variant, {
            dtype: (lambda *args, v=variant, k=kernel, **kwargs: launched.append(v) or k(*args, **kwargs))
            for dtype, kernel in kernels.items()})
    x = random_array(rng, (rows, cols), np.float32)
    out = column_sum(on_backend(x, kernel_backend), backend=kernel_backend)
    assert launched == expected
    assert_close(out, x.astype(np.float64).sum(axis=0))
