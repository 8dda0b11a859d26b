"""Matrix transpose: the NumPy reference and the wrappers of ``kernels/transpose.cu``.

The smallest kernel family that shows coalescing and shared-memory bank conflicts, and the proof
that the loader, the signatures and the emulator work end to end; convolution's rung 8 transposes
its filters with it (conv2d.filters_transposed).
"""

from __future__ import annotations

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import ceil_div, output_array

VARIANTS = ("naive", "smem_unpadded", "smem_tiled")
# A block moves a TILE x TILE tile with TILE x BLOCK_ROWS threads (the constants of transpose.cu).
TILE, BLOCK_ROWS = 32, 8

KERNELS = {
    variant: Kernel(
        "transpose.cu",
        f"transpose_{variant}",
        [Array("src", "float32", ndim=2), Array("dst", "float32", ndim=2), Scalar("rows", "int32"), Scalar("cols", "int32")],
    )
    for variant in VARIANTS
}


def transpose_reference(x):
    """``x.T`` as a new C-contiguous array (NumPy or CuPy, as ``x``)."""
    return x.T.copy()


def transpose(src, variant="smem_tiled", out=None, backend=None):
    """``src.T`` for a 2-D float32 ``src``, by kernel ``transpose_<variant>``, into ``out`` if given."""
    if variant not in KERNELS:
        raise ValueError(f"transpose variant must be one of {VARIANTS}, got {variant!r}")
    if getattr(src, "ndim", None) != 2:
        raise ValueError(f"src must be a 2-D matrix, got shape {getattr(src, 'shape', None)}")
    backend = resolve_backend(backend)
    rows, cols = src.shape
    out = output_array(out, (cols, rows), src.dtype, "out", backend_xp(backend))
    grid = (ceil_div(cols, TILE), ceil_div(rows, TILE))
    KERNELS[variant](grid, (TILE, BLOCK_ROWS), (src, out, rows, cols), backend=backend)
    return out
