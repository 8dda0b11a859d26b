"""Weight penalties added to the training loss, and their gradients: L1 and L2 (Keras's
``regularizers.L1`` and ``L2``); the references, then the wrapper of ``kernels/regularizer.cu`` (L2's;
L1 runs as array operations on either module)."""

from __future__ import annotations

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import C_TYPES, array_module, ceil_div, check_float, check_shape, cpp_bool, dtype_name


def l2_penalty(w, factor, grad=None):
    """``factor * sum(w^2)`` as a 0-d array; with ``grad``, adds the penalty's gradient ``2 factor w`` into it
    in place."""
    if grad is not None:
        grad += (2 * factor) * w
    return factor * array_module(w).vdot(w, w)


def l1_penalty(w, factor, grad=None):
    """``factor * sum(|w|)`` as a 0-d array; with ``grad``, adds the penalty's gradient ``factor sign(w)``
    into it in place (0 at w = 0)."""
    xp = array_module(w)
    if grad is not None:
        grad += factor * xp.sign(w)
    return factor * xp.abs(w).sum()


# --- kernels: kernels/regularizer.cu -----------------------------------------------------------------
_THREADS = 256  # PENALTY_BLOCK of regularizer.cu
_MAX_BLOCKS = 1024  # enough blocks to fill the GPU; few enough sums for l2_penalty_total

PENALTY_KERNELS = {
    (dtype, with_grad): Kernel("regularizer.cu", f"l2_penalty_blocks<{ctype}, {cpp_bool(with_grad)}>",
                               [Array("w", dtype), Array("grad", dtype), Array("partial", dtype, ndim=1),
                                Scalar("n", "int64"), Scalar("twice_factor", dtype)])
    for dtype, ctype in C_TYPES.items() for with_grad in (False, True)
}
TOTAL_KERNELS = {
    dtype: Kernel("regularizer.cu", f"l2_penalty_total<{ctype}>",
                  [Array("partial", dtype, ndim=1), Array("penalty", dtype, ndim=0), Scalar("parts", "int32"),
                   Scalar("factor", dtype)])
    for dtype, ctype in C_TYPES.items()
}


def l2_penalty_kernel(w, factor, grad=None, backend=None):
    """``l2_penalty`` by kernels/regularizer.cu: a 0-d array of w's dtype, ``2 factor w`` added into
    ``grad`` (w's shape and dtype, C-contiguous) in place when given."""
    check_float(w, "w")
    if grad is not None:
        check_shape(grad, tuple(w.shape), "grad", "the weights' shape")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    penalty = xp.empty((), dtype=w.dtype)
    blocks = max(1, min(ceil_div(w.size, _THREADS), _MAX_BLOCKS))
    partial = xp.empty(blocks, dtype=w.dtype)
    as_t = w.dtype.type
    # Without a gradient the kernel never touches grad: w fills its slot.
    PENALTY_KERNELS[dtype_name(w), grad is not None]((blocks,), (_THREADS,),
                                                     (w, w if grad is None else grad, partial, w.size,
                                                      as_t(2 * factor)), backend=backend)
    TOTAL_KERNELS[dtype_name(w)]((1,), (_THREADS,), (partial, penalty, blocks, as_t(factor)), backend=backend)
    return penalty
