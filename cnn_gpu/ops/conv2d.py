"""2-D convolution (cross-correlation, as frameworks compute it), NHWC input, (R, S, C, K) kernel.

Problem names as everywhere in the project: input (N, H, W, C), kernel (R, S, C, K), output
(N, P, Q, K), with strides, ``valid``/``same`` padding and dilation.

The reference is im2col: every window of the padded input gathered into one (N*P*Q, R*S*C) matrix
(a strided view, copied once by the reshape), then a single GEMM per pass:

- forward:         y  = cols @ w            (N*P*Q, K)
- backward filter: dw = cols.T @ dy         (R*S*C, K)
- backward data:   dcols = dy @ w.T, folded back onto the input (``window.fold``)
"""

from __future__ import annotations

from cnn_gpu.ops import window
from cnn_gpu.ops.common import array_module, check_float, check_ndim, check_same_dtype, check_shape


def conv2d_geometry(x_shape, w_shape, strides=1, padding="valid", dilation=1):
    """Validated ``window.Geometry`` of a convolution; errors name the argument that is wrong."""
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, H, W, C), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w must be 4-D (R, S, C, K), got shape {tuple(w_shape)}")
    if x_shape[3] != w_shape[2]:
        raise ValueError(f"x has {x_shape[3]} channels but w expects {w_shape[2]} (w is {tuple(w_shape)})")
    return window.geometry(x_shape[1:3], tuple(w_shape[:2]), strides, padding, dilation)


def conv2d_output_shape(x_shape, w_shape, strides=1, padding="valid", dilation=1):
    """(N, P, Q, K) of ``conv2d_forward`` for these shapes and options."""
    g = conv2d_geometry(x_shape, w_shape, strides, padding, dilation)
    return (x_shape[0], *g.out_hw, w_shape[3])


def check_conv2d(x, w, b=None):
    """Fail unless x, w (and b) are float arrays of one dtype with a bias of shape (K,)."""
    check_float(x, "x")
    check_float(w, "w")
    check_same_dtype(x, "x", w, "w")
    check_ndim(x, 4, "x", "(N, H, W, C)")
    check_ndim(w, 4, "w", "(R, S, C, K)")
    if b is not None:
        check_shape(b, (w.shape[3],), "b")


def im2col(x, g):
    """(N*P*Q, R*S*C) matrix of every window of ``x``, zero-padded as ``g`` says."""
    cols = window.window_view(window.pad(x, g), g)
    return cols.reshape(-1, cols.shape[3] * cols.shape[4] * cols.shape[5])


def conv2d_forward(x, w, b=None, strides=1, padding="valid", dilation=1):
    """y[n, p, q, k] = sum over r, s, c of x_padded[n, p*sh + r*dh, q*sw + s*dw, c] * w[r, s, c, k] + b[k]."""
    check_conv2d(x, w, b)
    g = conv2d_geometry(x.shape, w.shape, strides, padding, dilation)
    k = w.shape[3]
    y = im2col(x, g) @ w.reshape(-1, k)
    if b is not None:
        y += b
    return y.reshape(x.shape[0], *g.out_hw, k)


def conv2d_backward_data(dy, w, x_shape, strides=1, padding="valid", dilation=1):
    """Gradient to the input (N, H, W, C) given dy (N, P, Q, K)."""
    g = conv2d_geometry(x_shape, w.shape, strides, padding, dilation)
    r, s, c, k = w.shape
    check_shape(dy, (x_shape[0], *g.out_hw, k), "dy", "the forward output's shape")
    dcols = (dy.reshape(-1, k) @ w.reshape(-1, k).T).reshape(dy.shape[0], *g.out_hw, r, s, c)
    return window.fold(lambda i, j: dcols[:, :, :, i, j], g, x_shape, dy.dtype, array_module(dy))


def conv2d_backward_filter(x, dy, w_shape, strides=1, padding="valid", dilation=1):
    """Gradients ``(dw, db)`` to the kernel (R, S, C, K) and the bias (K,) given dy (N, P, Q, K)."""
    g = conv2d_geometry(x.shape, w_shape, strides, padding, dilation)
    k = w_shape[3]
    check_shape(dy, (x.shape[0], *g.out_hw, k), "dy", "the forward output's shape")
    dy_rows = dy.reshape(-1, k)
    dw = im2col(x, g).T @ dy_rows
    return dw.reshape(w_shape), dy_rows.sum(axis=0)
