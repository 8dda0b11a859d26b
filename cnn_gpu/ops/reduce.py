"""Row-wise reduction (sum, max): the NumPy reference and the wrappers of ``kernels/reduce.cu``."""

from __future__ import annotations

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import ceil_div, check_shape

VARIANTS = ("naive", "smem", "shuffle", "warp_per_row")
OPS = ("sum", "max")
C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
BLOCK = 256  # REDUCE_BLOCK of reduce.cu: every variant runs 256-thread blocks
WARP = 32

KERNELS = {
    (variant, op, dtype): Kernel(
        "reduce.cu",
        f"row_reduce_{variant}<{ctype}, Reduce::{op}>",
        [Array("in", dtype.name, ndim=2), Array("out", dtype.name, ndim=1), Scalar("rows", "int32"), Scalar("cols", "int32")],
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
    if getattr(x, "ndim", None) != 2 or np.dtype(x.dtype) not in C_TYPES:
        raise ValueError(f"x must be a 2-D float32 or float64 matrix, got {getattr(x, 'dtype', type(x))} "
                         f"of shape {getattr(x, 'shape', None)}")
    rows, cols = x.shape
    if rows == 0 or cols == 0:
        raise ValueError(f"row_reduce needs at least one row and one column, got shape {x.shape}")
    backend = resolve_backend(backend)
    if out is None:
        out = backend_xp(backend).empty(rows, dtype=x.dtype)
    check_shape(out, (rows,), "out")
    KERNELS[variant, op, np.dtype(x.dtype)]((_grid(variant, rows),), (BLOCK,), (x, out, rows, cols), backend=backend)
    return out
