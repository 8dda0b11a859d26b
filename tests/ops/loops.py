"""Plain-loop oracles, compiled by numba, that the vectorised references are cross-checked against.

Written from the definitions, one output (or one input) element at a time, in float64, with their own
padding arithmetic: nothing here shares code with ``cnn_gpu.ops``.
"""

import numba
import numpy as np


def same_or_valid(size, window, stride, dilation, padding):
    """(outputs, padding before) along one axis, from TensorFlow's documented rules."""
    extent = dilation * (window - 1) + 1
    if padding == "valid":
        return (size - extent) // stride + 1, 0
    out = (size + stride - 1) // stride
    total = max(0, (out - 1) * stride + extent - size)
    return out, total // 2


def conv_geometry(x_shape, w_shape, strides, padding, dilation):
    p, top = same_or_valid(x_shape[1], w_shape[0], strides[0], dilation[0], padding)
    q, left = same_or_valid(x_shape[2], w_shape[1], strides[1], dilation[1], padding)
    return p, q, top, left


@numba.njit(cache=True)
def gemm(a, b, alpha, beta, c, bias, relu):
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n))
    for i in range(m):
        for j in range(n):
            acc = 0.0
            for l in range(k):
                acc += a[i, l] * b[l, j]
            v = alpha * acc + beta * c[i, j] + bias[j]
            out[i, j] = max(v, 0.0) if relu else v
    return out


@numba.njit(cache=True)
def _conv_forward(x, w, p_out, q_out, sh, sw, dh, dw, top, left):
    n_, h, wd, c_ = x.shape
    r_, s_, _, k_ = w.shape
    y = np.zeros((n_, p_out, q_out, k_))
    for n in range(n_):
        for p in range(p_out):
            for q in range(q_out):
                for k in range(k_):
                    acc = 0.0
                    for r in range(r_):
                        i = p * sh + r * dh - top
                        for s in range(s_):
                            j = q * sw + s * dw - left
                            if 0 <= i < h and 0 <= j < wd:
                                for c in range(c_):
                                    acc += x[n, i, j, c] * w[r, s, c, k]
                    y[n, p, q, k] = acc
    return y


@numba.njit(cache=True)
def _conv_backward(x, w, dy, sh, sw, dh, dw, top, left):
    """dx and dw by scattering every output gradient to the inputs and weights it was made from."""
    n_, h, wd, c_ = x.shape
    r_, s_, _, k_ = w.shape
    _, p_out, q_out, _ = dy.shape
    dx = np.zeros(x.shape)
    dwt = np.zeros(w.shape)
    for n in range(n_):
        for p in range(p_out):
            for q in range(q_out):
                for k in range(k_):
                    g = dy[n, p, q, k]
                    for r in range(r_):
                        i = p * sh + r * dh - top
                        for s in range(s_):
                            j = q * sw + s * dw - left
                            if 0 <= i < h and 0 <= j < wd:
                                for c in range(c_):
                                    dx[n, i, j, c] += g * w[r, s, c, k]
                                    dwt[r, s, c, k] += g * x[n, i, j, c]
    return dx, dwt


def conv_forward(x, w, b, strides, padding, dilation):
    p, q, top, left = conv_geometry(x.shape, w.shape, strides, padding, dilation)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = _conv_forward(x64, w64, p, q, strides[0], strides[1], dilation[0], dilation[1], top, left)
    return y + b.astype(np.float64)


def conv_backward(x, w, dy, strides, padding, dilation):
    """(dx, dw, db) in float64."""
    _, _, top, left = conv_geometry(x.shape, w.shape, strides, padding, dilation)
    dy64 = dy.astype(np.float64)
    dx, dw = _conv_backward(
        x.astype(np.float64), w.astype(np.float64), dy64, strides[0], strides[1], dilation[0], dilation[1], top, left
    )
    return dx, dw, dy64.sum(axis=(0, 1, 2))


@numba.njit(cache=True)
def _pool(x, dy, is_max, ph, pw, sh, sw, p_out, q_out, top, left):
    """(y, dx): max or mean of the real elements of each window, and the gradient routed back."""
    n_, h, wd, c_ = x.shape
    y = np.zeros((n_, p_out, q_out, c_))
    dx = np.zeros(x.shape)
    for n in range(n_):
        for p in range(p_out):
            for q in range(q_out):
                for c in range(c_):
                    best = -np.inf
                    best_i = best_j = -1
                    total = 0.0
                    count = 0
                    for r in range(ph):
                        i = p * sh + r - top
                        for s in range(pw):
                            j = q * sw + s - left
                            if 0 <= i < h and 0 <= j < wd:
                                v = x[n, i, j, c]
                                total += v
                                count += 1
                                if v > best:  # strictly greater: the first maximum keeps the win
                                    best, best_i, best_j = v, i, j
                    if is_max:
                        y[n, p, q, c] = best
                        dx[n, best_i, best_j, c] += dy[n, p, q, c]
                    else:
                        y[n, p, q, c] = total / count
                        for r in range(ph):
                            i = p * sh + r - top
                            for s in range(pw):
                                j = q * sw + s - left
                                if 0 <= i < h and 0 <= j < wd:
                                    dx[n, i, j, c] += dy[n, p, q, c] / count
    return y, dx


def pool(x, dy, kind, pool_size, strides, padding):
    """(y, dx) in float64 for kind 'max' or 'avg'; ``dy`` may be None for the forward alone."""
    p, top = same_or_valid(x.shape[1], pool_size[0], strides[0], 1, padding)
    q, left = same_or_valid(x.shape[2], pool_size[1], strides[1], 1, padding)
    dy64 = np.zeros((x.shape[0], p, q, x.shape[3])) if dy is None else dy.astype(np.float64)
    return _pool(x.astype(np.float64), dy64, kind == "max", *pool_size, *strides, p, q, top, left)
