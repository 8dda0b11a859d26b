"""Matrix products: the float64 GEMM reference with the kernels' options, and Dense forward/backward.

``gemm_reference`` is what every GEMM kernel is checked against; the Dense ops are the CPU path and
use the array module's own product in the inputs' dtype.
"""

from __future__ import annotations

from cnn_gpu.ops.common import array_module, check_float, check_ndim, check_same_dtype


def gemm_reference(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, relu=False):
    """``relu?(alpha * op(a) @ op(b) + beta * c + bias)`` in float64, ``op`` transposing when asked.

    The epilogue runs in that order: scale, add ``beta * c`` (an (M, N) matrix), add ``bias`` (N,)
    to every row, then clamp at zero. Returns a float64 (M, N) array.
    """
    xp = array_module(a)
    for name, m in (("a", a), ("b", b)):
        check_float(m, name)
        check_ndim(m, 2, name, "(rows, cols)")
    a64 = (a.T if trans_a else a).astype(xp.float64)
    b64 = (b.T if trans_b else b).astype(xp.float64)
    if a64.shape[1] != b64.shape[0]:
        raise ValueError(f"op(a) is {a64.shape} and op(b) is {b64.shape}: inner dimensions differ")
    out = alpha * (a64 @ b64)
    if c is not None:
        if c.shape != out.shape:
            raise ValueError(f"c must have shape {out.shape}, got {tuple(c.shape)}")
        out += beta * c.astype(xp.float64)
    if bias is not None:
        if bias.shape != (out.shape[1],):
            raise ValueError(f"bias must have shape ({out.shape[1]},), got {tuple(bias.shape)}")
        out += bias.astype(xp.float64)
    return xp.maximum(out, 0) if relu else out


def check_dense(x, w, b=None):
    """Fail with a message naming the argument unless x (N, I), w (I, O) and b (O,) fit together."""
    check_float(x, "x")
    check_float(w, "w")
    check_same_dtype(x, "x", w, "w")
    check_ndim(x, 2, "x", "(batch, features)")
    check_ndim(w, 2, "w", "(in_features, units)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} features but w expects {w.shape[0]} (w is {tuple(w.shape)})")
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise ValueError(f"b must have shape ({w.shape[1]},), got {tuple(b.shape)}")


def dense_forward(x, w, b=None):
    """``x @ w + b`` for x (N, I), w (I, O), b (O,) or None."""
    check_dense(x, w, b)
    y = x @ w
    if b is not None:
        y += b
    return y


def dense_backward_data(dy, w):
    """Gradient to the input: ``dy @ w.T``."""
    if dy.ndim != 2 or dy.shape[1] != w.shape[1]:
        raise ValueError(f"dy must be (batch, {w.shape[1]}) for w of shape {tuple(w.shape)}, got {tuple(dy.shape)}")
    return dy @ w.T


def dense_backward_weights(x, dy):
    """Gradients ``(dw, db)``: ``x.T @ dy`` and the batch sum of ``dy``."""
    if dy.ndim != 2 or dy.shape[0] != x.shape[0]:
        raise ValueError(f"dy must be ({x.shape[0]}, units) for x of shape {tuple(x.shape)}, got {tuple(dy.shape)}")
    return x.T @ dy, dy.sum(axis=0)
