"""Weight penalties added to the training loss: ``l2(factor)`` adds factor * sum(w^2)."""

from __future__ import annotations

from numbers import Real

from cnn_gpu.backend import get_backend
from cnn_gpu.utils.registry import Registry

REGULARIZERS = Registry("regularizer")


@REGULARIZERS.register("l2")
class L2:
    """factor * sum(w^2); Keras 3's default factor is 0.01."""

    def __init__(self, l2=0.01):
        if not isinstance(l2, Real) or isinstance(l2, bool) or not l2 >= 0:
            raise ValueError(f"L2: the factor l2 must be a number >= 0, got {l2!r}")
        self.l2 = float(l2)

    def __call__(self, w):
        """The penalty of weights ``w``, as a float."""
        return float(get_backend().to_numpy(get_backend().l2_penalty(w, self.l2)))

    def penalty(self, w, grad=None):
        """The penalty as a 0-d backend array; with ``grad``, adds its gradient into ``grad`` in place."""
        return get_backend().l2_penalty(w, self.l2, grad)

    def get_config(self):
        return {"l2": self.l2}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


l2 = L2


def get(identifier):
    """A regularizer from 'l2', a config dict or an instance; None stays None."""
    return None if identifier is None else REGULARIZERS.get(identifier)
