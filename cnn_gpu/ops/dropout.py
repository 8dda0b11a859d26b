"""Inverted dropout: kept units are scaled by 1 / (1 - rate) in training, so inference is the identity."""

from __future__ import annotations

from cnn_gpu.ops.common import array_module, check_float


def dropout_forward(x, rate, rng):
    """``(y, mask)`` with ``y = x * mask``; ``mask`` is 0 for a dropped unit and 1 / (1 - rate) for a kept one.

    ``rng`` is a ``numpy.random.Generator`` (or CuPy's): a unit is kept where its uniform draw is
    >= ``rate``, as TensorFlow decides, so the same seed gives the same mask on every backend that
    draws on the host.
    """
    check_float(x, "x")
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    xp = array_module(x)
    draws = xp.asarray(rng.random(x.shape, dtype=x.dtype))
    mask = (draws >= rate).astype(x.dtype) * x.dtype.type(1 / (1 - rate))
    return x * mask, mask


def dropout_backward(dy, mask):
    return dy * mask
