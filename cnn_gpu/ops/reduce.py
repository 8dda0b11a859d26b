"""Row-wise reduction (sum, max) and column-wise sum: the NumPy references and the wrappers of
``kernels/reduce.cu``. The column sum is the bias gradient of Dense and Conv2D on the kernel backends."""

from __future__ import annotations

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, current_device, resolve_backend
from cnn_gpu.ops.common import C_TYPES, WARP, ceil_div, dtype_name, output_array
from cnn_gpu.ops.gemm_plans import split_k_workspace

VARIANTS = ("naive", "smem", "shuffle", "warp_per_row")
OPS = ("sum", "max")
BLOCK = 256  # REDUCE_BLOCK of reduce.cu: every variant runs 256-thread blocks

KERNELS = {
    (variant, op, dtype): Kernel(
        "reduce.cu",
        f"row_reduce_{variant}<{ctype}, Reduce::{op}>",
        [Array("in", dtype, ndim=2), Array("out", dtype, ndim=1), Scalar("rows", "int32"), Scalar("cols", "int32")],
    )
    for variant in VARIANTS
    for op in OPS
    for dtype, ctype in C_TYPES.items()
}


def row_reduce_reference(x, op="sum"):
    """``x.sum(axis=1)`` or ``x.max(axis=1)``, on NumPy or CuPy as ``x``."""
    return x.sum(axis=1) if op == "sum" else x.max(axis=1)


def _grid(variant: str, rows: int) -> int:
    """Blocks of BLOCK threads: one thread, one block or one warp per row."""
    rows_per_block = {"naive": BLOCK, "smem": 1, "shuffle": 1, "warp_per_row": BLOCK // WARP}[variant]
    return ceil_div(rows, rows_per_block)


def row_reduce(x, op="sum", variant="shuffle", out=None, backend=None):
    """The ``op`` of each row of 2-D float ``x`` by kernel ``row_reduce_<variant>``, into ``out`` if given."""
    if variant not in VARIANTS or op not in OPS:
        raise ValueError(f"row_reduce takes op in {OPS} and variant in {VARIANTS}, got {op!r}, {variant!r}")
    if getattr(x, "ndim", None) != 2 or dtype_name(x) not in C_TYPES:
        raise ValueError(f"x must be a 2-D float32 or float64 matrix, got {getattr(x, 'dtype', type(x))} "
                         f"of shape {getattr(x, 'shape', None)}")
    rows, cols = x.shape
    if rows == 0 or cols == 0:
        raise ValueError(f"row_reduce needs at least one row and one column, got shape {x.shape}")
    backend = resolve_backend(backend)
    out = output_array(out, (rows,), x.dtype, "out", backend_xp(backend))
    KERNELS[variant, op, dtype_name(x)]((_grid(variant, rows),), (BLOCK,), (x, out, rows, cols), backend=backend)
    return out


# --- column sums: rungs 5 to 7 of kernels/reduce.cu --------------------------------------------------

COLUMN_VARIANTS = ("thread_per_column", "partial", "flat")
COLUMN_BLOCK_ROWS = 8  # COLUMN_BLOCK_ROWS of column_sum.cuh: column_sum_partial's block is 32 x 8 threads
MAX_ROW_BLOCKS = 256  # column_sum_partial's blocks down the rows: the rows of partial the last step adds
FLAT_ELEMENTS_PER_THREAD = 16  # column_sum_flat: enough loads per thread to keep bytes in flight
MAX_FLAT_BLOCKS = 1024  # column_sum_flat: enough blocks to fill the chip, few enough rows of partial
# column_sum's auto choice runs up to this many rows by rung 5 alone: one launch, where rungs 6 and 7
# take two, and a Dense bias gradient's batch (32 to 256 rows) is a short walk for each thread.
SERIAL_ROWS = 256


def _column_kernels(name, out_name, out_ndim):
    return {dtype: Kernel("reduce.cu", f"{name}<{ctype}>",
                          [Array("in", dtype, ndim=2), Array(out_name, dtype, ndim=out_ndim),
                           Scalar("rows", "int32"), Scalar("cols", "int32")])
            for dtype, ctype in C_TYPES.items()}


COLUMN_KERNELS = {
    "thread_per_column": _column_kernels("column_sum_thread_per_column", "out", 1),
    "partial": _column_kernels("column_sum_partial", "partial", 2),
    "flat": _column_kernels("column_sum_flat", "partial", 2),
}


def column_sum_reference(x):
    """``x.sum(axis=0)`` of a 2-D ``x``, on NumPy or CuPy as ``x``."""
    return x.sum(axis=0)


# column_sum.cuh's int row index steps by up to COLUMN_BLOCK_ROWS x MAX_ROW_BLOCKS past the last row.
MAX_PARTIAL_ROWS = 2**31 - 1 - COLUMN_BLOCK_ROWS * MAX_ROW_BLOCKS


def column_partial_grid(rows: int, cols: int) -> tuple[int, int]:
    """column_sum_partial's grid (and bias_act_backward's): 32-column slabs by blocks down the rows.
    Row b of its ``partial`` receives the column sums of the blocks with blockIdx.y == b."""
    if rows > MAX_PARTIAL_ROWS:
        raise ValueError(f"the column-sum blocks index rows with int: {rows} rows is more than {MAX_PARTIAL_ROWS}")
    return ceil_div(cols, WARP), min(ceil_div(rows, COLUMN_BLOCK_ROWS), MAX_ROW_BLOCKS)


def column_flat_grid(rows: int, cols: int) -> tuple[int]:
    """column_sum_flat's grid (and batch_norm_sums_flat's): enough blocks for FLAT_ELEMENTS_PER_THREAD
    elements a thread, at most MAX_FLAT_BLOCKS; block b's column sums are row b of ``partial``."""
    return (min(ceil_div(rows * cols, BLOCK * FLAT_ELEMENTS_PER_THREAD), MAX_FLAT_BLOCKS),)


def finish_column_sum(partial, out, backend):
    """``out = partial.sum(axis=0)`` by column_sum_thread_per_column, in a fixed order: the last step
    of the partial and flat variants, and of bias_act_backward's bias gradient."""
    parts, cols = partial.shape
    COLUMN_KERNELS["thread_per_column"][dtype_name(partial)](
        (ceil_div(cols, BLOCK),), (BLOCK,), (partial, out, parts, cols), backend=backend)
    return out


def column_sum(x, variant="auto", out=None, backend=None):
    """The sum of each column of 2-D float ``x`` by the ``column_sum_<variant>`` kernel, into ``out``
    if given; ``auto`` takes ``thread_per_column`` for up to SERIAL_ROWS rows, else ``flat`` where the
    columns fit its block (cols <= 256), else ``partial``."""
    if getattr(x, "ndim", None) != 2 or dtype_name(x) not in C_TYPES:
        raise ValueError(f"x must be a 2-D float32 or float64 matrix, got {getattr(x, 'dtype', type(x))} "
                         f"of shape {getattr(x, 'shape', None)}")
    rows, cols = x.shape
    if cols == 0:
        raise ValueError(f"column_sum needs at least one column, got shape {x.shape}")
    if variant == "auto":
        variant = "thread_per_column" if rows <= SERIAL_ROWS else "flat" if cols <= BLOCK else "partial"
    if variant not in COLUMN_VARIANTS or (variant == "flat" and cols > BLOCK):
        raise ValueError(f"variant must be 'auto' or one of {COLUMN_VARIANTS} ('flat' takes at most {BLOCK} "
                         f"columns), got {variant!r} for {cols} columns")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    out = output_array(out, (cols,), x.dtype, "out", xp)
    if out.dtype != x.dtype:
        raise ValueError(f"out must be {x.dtype} like x, got {out.dtype}")
    if rows == 0:  # the sum of nothing, as NumPy's
        out[...] = 0
        return out
    kernels = COLUMN_KERNELS[variant]
    if variant == "thread_per_column":
        kernels[dtype_name(x)]((ceil_div(cols, BLOCK),), (BLOCK,), (x, out, rows, cols), backend=backend)
        return out
    if variant == "partial":
        grid, block = column_partial_grid(rows, cols), (WARP, COLUMN_BLOCK_ROWS)
    else:
        grid, block = column_flat_grid(rows, cols), (BLOCK,)
    # Read by finish_column_sum's launch and by nothing after it: a workspace kept for the process.
    partial = split_k_workspace(backend, current_device(backend), (grid[-1], cols), dtype_name(x), owner="column sums")
    kernels[dtype_name(x)](grid, block, (x, partial, rows, cols), backend=backend)
    return finish_column_sum(partial, out, backend)
