"""Activations, forward and backward: relu, sigmoid, tanh, softmax (last axis), linear.

Every backward takes the forward's input ``x``, its output ``y`` and the upstream gradient ``dy`` and
uses whichever of ``x`` and ``y`` gives the cheaper formula.
"""

from __future__ import annotations

from cnn_gpu.ops.common import array_module


def relu(x):
    # A zero of x's own type: with a Python 0 NumPy takes a slower mixed-type path (2x on float32).
    return array_module(x).maximum(x, x.dtype.type(0))


def relu_backward(x, y, dy):
    return dy * (x > 0)


def sigmoid(x):
    """1 / (1 + e^-x), written with e^-|x| so that no exponential overflows for large |x|."""
    xp = array_module(x)
    z = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, z) / (1 + z)


def sigmoid_backward(x, y, dy):
    return dy * y * (1 - y)


def tanh(x):
    return array_module(x).tanh(x)


def tanh_backward(x, y, dy):
    return dy * (1 - y * y)


def softmax(x):
    """Softmax over the last axis; subtracting the row maximum keeps every exponent <= 0."""
    xp = array_module(x)
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(x, y, dy):
    # The Jacobian is diag(y) - y y^T; applied to dy without forming it.
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def linear(x):
    return x


def linear_backward(x, y, dy):
    return dy


FORWARD = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "linear": linear}
BACKWARD = {
    "relu": relu_backward,
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "softmax": softmax_backward,
    "linear": linear_backward,
}


def check_activation(name):
    """``name`` if it is a known activation, else a ValueError listing the known ones."""
    if name not in FORWARD:
        raise ValueError(f"activation must be one of {sorted(FORWARD)}, got {name!r}")
    return name


def activation_forward(name, x):
    return FORWARD[check_activation(name)](x)


def activation_backward(name, x, y, dy):
    return BACKWARD[check_activation(name)](x, y, dy)
