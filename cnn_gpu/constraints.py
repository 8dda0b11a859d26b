"""Keras's weight constraints: after each optimizer step, a layer's kernel (``kernel_constraint``) or bias
(``bias_constraint``) is replaced by its projection onto a set, as Keras's optimizers do.

``MaxNorm(max_value=2, axis=0)`` scales down each slice along ``axis`` whose L2 norm is above
max_value; ``UnitNorm(axis=0)`` scales each to norm 1; ``MinMaxNorm(min_value, max_value, rate, axis)``
moves each norm ``rate`` of the way into [min_value, max_value]; ``NonNeg()`` zeroes the negative
weights. Axis 0 of a Dense kernel (features, units) is the features: each unit's incoming weights
form one vector; for a Conv2D kernel (R, S, C, filters) use ``axis=[0, 1, 2]``, each filter whole.
Array operations on either module, no kernel of ours: a few passes over each weight a step.
"""

from __future__ import annotations

from cnn_gpu.ops.common import array_module
from cnn_gpu.utils.checks import check_number
from cnn_gpu.utils.registry import Registry

CONSTRAINTS = Registry("constraint")
EPSILON = 1e-7  # Keras's backend.epsilon(), under the norms' divisions


def check_axis(owner, axis):
    """An int, or a list of ints (kept as a list, JSON's form)."""
    axes = [axis] if isinstance(axis, int) and not isinstance(axis, bool) else axis
    if not isinstance(axes, (list, tuple)) or not axes or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"{owner}: axis must be an int or a list of ints, got {axis!r}")
    return axis if isinstance(axis, int) else list(axis)


class Constraint:
    """``constraint(w)`` -> the projected weights, a new array of w's module and dtype."""

    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class NormConstraint(Constraint):
    """A constraint on the L2 norm of each slice of w along ``axis``: w scaled by desired(norm) / (epsilon +
    norm), as Keras forms it."""

    def __init__(self, axis=0):
        self.axis = check_axis(type(self).__name__, axis)

    def __call__(self, w):
        xp = array_module(w)
        axis = self.axis if isinstance(self.axis, int) else tuple(self.axis)
        norms = xp.sqrt((w * w).sum(axis=axis, keepdims=True))
        return w * (self.desired(xp, norms) / (EPSILON + norms))

    def desired(self, xp, norms):
        raise NotImplementedError

    def get_config(self):
        return {"axis": self.axis}


@CONSTRAINTS.register("max_norm")
class MaxNorm(NormConstraint):
    def __init__(self, max_value=2, axis=0):
        super().__init__(axis)
        self.max_value = check_number("MaxNorm", "max_value", max_value, 0)

    def desired(self, xp, norms):
        return xp.clip(norms, 0, self.max_value)

    def get_config(self):
        return {"max_value": self.max_value, **super().get_config()}


@CONSTRAINTS.register("min_max_norm")
class MinMaxNorm(NormConstraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        super().__init__(axis)
        self.min_value = check_number("MinMaxNorm", "min_value", min_value, 0)
        self.max_value = check_number("MinMaxNorm", "max_value", max_value, self.min_value)
        self.rate = check_number("MinMaxNorm", "rate", rate, 0)

    def desired(self, xp, norms):
        return self.rate * xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, **super().get_config()}


@CONSTRAINTS.register("unit_norm")
class UnitNorm(NormConstraint):
    def desired(self, xp, norms):
        return 1


@CONSTRAINTS.register("non_neg")
class NonNeg(Constraint):
    def __call__(self, w):
        return array_module(w).maximum(w, 0)


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm


def get(identifier):
    """A constraint from None, a name ('max_norm', 'non_neg', ...), a config dict or an instance."""
    return None if identifier is None else CONSTRAINTS.get(identifier)
