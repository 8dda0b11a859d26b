"""Weight penalties added to the training loss, Keras's: ``l1(factor)`` adds factor * sum(|w|),
``l2(factor)`` factor * sum(w^2), ``l1_l2(l1, l2)`` both."""

from __future__ import annotations

from numbers import Real

from cnn_gpu.backend import get_backend
from cnn_gpu.utils.registry import Registry

REGULARIZERS = Registry("regularizer")


def check_factor(owner, name, value):
    if not isinstance(value, Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{owner}: the factor {name} must be a number >= 0, got {value!r}")
    return float(value)


class Regularizer:
    """``penalty(w, grad)``: the penalty of weights ``w`` as a 0-d backend array; with ``grad``, its
    gradient added into ``grad`` in place. Each factor is a constructor argument of the same name."""

    FACTORS = ()

    def __init__(self, **factors):
        for name, value in factors.items():
            setattr(self, name, check_factor(type(self).__name__, name, value))

    def __call__(self, w):
        """The penalty of weights ``w``, as a float."""
        return float(get_backend().to_numpy(self.penalty(w)))

    def penalty(self, w, grad=None):
        """The backend's ``<factor>_penalty`` for each factor that is not 0, summed (0 if none is)."""
        backend = get_backend()
        terms = [getattr(backend, f"{name}_penalty")(w, getattr(self, name), grad)
                 for name in self.FACTORS if getattr(self, name)]
        return sum(terms[1:], terms[0]) if terms else backend.xp.zeros((), dtype=w.dtype)

    def get_config(self):
        return {name: getattr(self, name) for name in self.FACTORS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@REGULARIZERS.register("l1")
class L1(Regularizer):
    """factor * sum(|w|); its gradient factor * sign(w). Keras 3's default factor is 0.01."""

    FACTORS = ("l1",)

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)


@REGULARIZERS.register("l2")
class L2(Regularizer):
    """factor * sum(w^2); Keras 3's default factor is 0.01."""

    FACTORS = ("l2",)

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)


@REGULARIZERS.register("l1_l2")
class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w^2); Keras's defaults are 0 for both."""

    FACTORS = ("l1", "l2")

    def __init__(self, l1=0.0, l2=0.0):
        super().__init__(l1=l1, l2=l2)


l1, l2, l1_l2 = L1, L2, L1L2


def get(identifier):
    """A regularizer from 'l1', 'l2', 'l1_l2', a config dict or an instance; None stays None."""
    return None if identifier is None else REGULARIZERS.get(identifier)
