"""Gradient checking by central differences in float64.

Every check reduces to a scalar function ``f`` of one float64 array: an op's output is contracted with
a fixed random upstream gradient ``dy`` (``op_scalar``), a loss already is a scalar. The analytic
gradient must match ``numerical_gradient(f, x)`` in relative norm (``gradient_error``).
"""

from __future__ import annotations

import numpy as np

# Central differences have truncation error ~ eps^2 f''' and rounding error ~ 1e-16 / eps; 1e-6
# balances the two near 1e-10 for inputs of order one.
EPS = 1e-6


def numerical_gradient(f, x, eps=EPS):
    """d f / d x by central differences; ``x`` (float64) is perturbed in place and restored."""
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for a gradient check, got {x.dtype}")
    grad = np.empty_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        up = float(f(x))
        flat_x[i] = saved - eps
        down = float(f(x))
        flat_x[i] = saved
        flat_grad[i] = (up - down) / (2 * eps)
    return grad


def gradient_error(f, x, analytic, eps=EPS):
    """||analytic - numerical|| / ||numerical|| for the gradient of scalar ``f`` at ``x``."""
    numerical = numerical_gradient(f, x, eps)
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}, expected {numerical.shape}")
    norm = np.linalg.norm(numerical)
    diff = np.linalg.norm(analytic - numerical)
    if not np.isfinite(diff):
        return float("inf")
    return float(diff / norm) if norm > 0 else float(diff)


def op_scalar(forward, dy):
    """The scalar ``sum(forward(x) * dy)``, whose gradient to x is the op's backward applied to dy."""
    return lambda x: float(np.sum(forward(x) * dy))


# What ``gradient_error`` reaches for a correct gradient of a smooth function of inputs of order one
# (the rounding in f, amplified by 1 / eps); a wrong gradient is off by order one.
TOLERANCE = 1e-6


def check_gradient(f, x, analytic, what="gradient", tol=TOLERANCE):
    """Raise AssertionError unless ``analytic`` is the gradient of scalar ``f`` at ``x``."""
    error = gradient_error(f, x, analytic)
    if not error <= tol:
        raise AssertionError(f"{what}: ||analytic - numerical|| / ||numerical|| = {error:.3g} > {tol:.1g}")
