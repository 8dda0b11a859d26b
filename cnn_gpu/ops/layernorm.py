"""Layer normalization over the last axis (Keras's LayerNormalization at axis=-1): each sample's row of
features normalised by its own mean and variance, then scaled by gamma and shifted by beta; no batch
statistics, so training and inference compute the same.

    y = (x - mean) / sqrt(var + epsilon) * gamma + beta         (mean, var over the last axis)
    dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)),     g = dy * gamma, x_hat the normalised x
    dgamma = sum of dy * x_hat over every axis but the last,    dbeta = sum of dy likewise

A reference on either array module (the kernel backends run it on CuPy; no kernel of ours yet).
"""

from __future__ import annotations

from typing import NamedTuple

from cnn_gpu.ops.common import array_module, check_float, check_shape


class LayerNormStatistics(NamedTuple):
    """What the backward needs of the forward: the normalised x and each row's 1 / sqrt(var + epsilon)."""

    normalized: object
    inv_std: object


def layer_norm_forward(x, gamma=None, beta=None, epsilon=1e-3):
    """``(y, LayerNormStatistics)``; gamma and beta of shape (features,), either None to skip it."""
    check_float(x, "x")
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None:
            check_shape(p, (x.shape[-1],), name)
    xp = array_module(x)
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    inv_std = 1 / xp.sqrt((centered * centered).mean(axis=-1, keepdims=True) + x.dtype.type(epsilon))
    normalized = centered * inv_std
    y = normalized * gamma if gamma is not None else normalized.copy()
    if beta is not None:
        y += beta
    return y, LayerNormStatistics(normalized, inv_std)


def layer_norm_backward(dy, gamma, statistics):
    """``(dx, dgamma, dbeta)`` of layer_norm_forward given dy (dgamma, dbeta summed over all but the last axis)."""
    normalized, inv_std = statistics
    check_shape(dy, normalized.shape, "dy", "the forward output's shape")
    g = dy * gamma if gamma is not None else dy
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True) - normalized * (g * normalized).mean(axis=-1, keepdims=True))
    leading = tuple(range(dy.ndim - 1))
    return dx, (dy * normalized).sum(axis=leading), dy.sum(axis=leading)
