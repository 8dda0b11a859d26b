"""Parameter updates of Keras 3's SGD, Adam and RMSprop, in place, in the parameter's dtype.

The formulas follow ``keras/src/optimizers/{sgd,adam,rmsprop}.py`` term for term (where epsilon sits
matters: Adam adds it to sqrt(v) after folding both bias corrections into the step size; RMSprop adds
it under the square root).
"""

from __future__ import annotations

import math

from cnn_gpu.ops.common import array_module


def sgd_update(param, grad, velocity, lr, momentum=0.0, nesterov=False):
    """``v = momentum v - lr g``; then ``w += v``, or ``w += momentum v - lr g`` with Nesterov.

    With ``momentum == 0`` Keras keeps no velocity (pass None) and the step is ``w -= lr g``.
    """
    if momentum == 0:
        param -= lr * grad
        return
    velocity *= momentum
    velocity -= lr * grad
    if nesterov:
        param += momentum * velocity - lr * grad
    else:
        param += velocity


def adam_update(param, grad, m, v, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1):
    """One Adam step; ``step`` counts from 1. ``w -= alpha m / (sqrt(v) + epsilon)`` with
    ``alpha = lr sqrt(1 - beta_2^step) / (1 - beta_1^step)``."""
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")
    xp = array_module(param)
    alpha = lr * math.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    # One scratch buffer for every intermediate: a Dense kernel's update touches megabytes.
    scratch = grad - m
    scratch *= 1 - beta_1
    m += scratch
    xp.multiply(grad, grad, out=scratch)
    scratch -= v
    scratch *= 1 - beta_2
    v += scratch
    xp.sqrt(v, out=scratch)
    scratch += epsilon
    xp.divide(m, scratch, out=scratch)
    scratch *= alpha
    param -= scratch


def rmsprop_update(param, grad, velocity, lr, rho=0.9, epsilon=1e-7):
    """``v = rho v + (1 - rho) g^2``; ``w -= lr g / sqrt(v + epsilon)`` (no momentum, not centered)."""
    velocity *= rho
    velocity += (1 - rho) * grad * grad
    param -= lr * grad / array_module(velocity).sqrt(velocity + epsilon)

