"""Keras's learning-rate schedules (``keras.optimizers.schedules``): pass one as an optimizer's
``learning_rate`` and each step takes ``schedule(step)``, step counting the updates made before it
(0 for the first), as Keras's optimizers do.

A schedule is plain arithmetic on the host: the optimizer hands the rate to its kernel as a scalar,
so nothing runs on the device and nothing is read back. Keras computes in the initial rate's dtype
(float32); these compute in float64, a relative difference near 1e-7 at most.
"""

from __future__ import annotations

import math
from numbers import Real

from cnn_gpu.utils.registry import Registry

SCHEDULES = Registry("learning rate schedule")


def positive(owner, name, value):
    if not isinstance(value, Real) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a number > 0, got {value!r}")
    return value


class LearningRateSchedule:
    """``schedule(step)`` -> the learning rate of update ``step`` (0 first). A subclass sets ``rate``;
    its constructor's arguments are its config."""

    def __call__(self, step):
        return float(self.rate(float(step)))

    def rate(self, step):
        raise NotImplementedError

    def get_config(self):
        return dict(self._config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def remember(self, **arguments):
        """Keep the constructor's arguments as the config (Keras's names and values)."""
        self._config = arguments


class StepDecay(LearningRateSchedule):
    """The rate as a function of p = step / decay_steps, floored if ``staircase``: Keras's exponential and
    inverse-time decays, which take the same arguments."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        name = name or type(self).__name__
        self.remember(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps, decay_rate=decay_rate,
                      staircase=staircase, name=name)
        self.initial, self.steps = initial_learning_rate, positive(name, "decay_steps", decay_steps)
        self.decay, self.staircase = decay_rate, bool(staircase)

    def rate(self, step):
        p = step / self.steps
        return self.decayed(math.floor(p) if self.staircase else p)


@SCHEDULES.register()
class ExponentialDecay(StepDecay):
    """initial_learning_rate * decay_rate ** p."""

    def decayed(self, p):
        return self.initial * self.decay ** p


@SCHEDULES.register()
class InverseTimeDecay(StepDecay):
    """initial_learning_rate / (1 + decay_rate * p)."""

    def decayed(self, p):
        return self.initial / (1 + self.decay * p)


@SCHEDULES.register()
class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to and including step boundaries[0], values[i] after boundaries[i - 1] up to and
    including boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        self.remember(boundaries=list(boundaries), values=list(values), name=name)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{name}: boundaries must be one fewer than values, got {len(boundaries)} boundaries "
                             f"and {len(values)} values")
        self.boundaries, self.values = list(boundaries), list(values)

    def rate(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]


@SCHEDULES.register()
class PolynomialDecay(LearningRateSchedule):
    """From initial_learning_rate to end_learning_rate over decay_steps along (1 - step / decay_steps)
    ** power, then end_learning_rate (or, with ``cycle``, again over the next multiple of decay_steps)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.remember(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps,
                      end_learning_rate=end_learning_rate, power=power, cycle=cycle, name=name)
        self.initial, self.steps = initial_learning_rate, positive(name, "decay_steps", decay_steps)
        self.end, self.power, self.cycle = end_learning_rate, power, bool(cycle)

    def rate(self, step):
        steps = self.steps
        if self.cycle:
            steps *= 1.0 if step == 0 else math.ceil(step / self.steps)
        else:
            step = min(step, steps)
        return (self.initial - self.end) * (1 - step / steps) ** self.power + self.end


@SCHEDULES.register()
class CosineDecay(LearningRateSchedule):
    """Half a cosine from the rate down to alpha times it over decay_steps, then alpha times it; with
    ``warmup_target``, first a straight line from initial_learning_rate up to warmup_target over
    warmup_steps, and the cosine from there."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.remember(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps, alpha=alpha, name=name,
                      warmup_target=warmup_target, warmup_steps=warmup_steps)
        self.initial, self.steps = initial_learning_rate, positive(name, "decay_steps", decay_steps)
        self.alpha, self.warmup_target, self.warmup_steps = alpha, warmup_target, warmup_steps

    def decayed(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def rate(self, step):
        if self.warmup_target is None:
            return self.decayed(min(step, self.steps), self.initial)
        step = min(step, self.steps + self.warmup_steps)
        if step < self.warmup_steps:
            return (self.warmup_target - self.initial) * step / self.warmup_steps + self.initial
        return self.decayed(step - self.warmup_steps, self.warmup_target)


@SCHEDULES.register()
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decays that start over (SGDR): the first over first_decay_steps, each next t_mul times as
    long and m_mul times as high, each from the peak down to alpha times it."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        self.remember(initial_learning_rate=initial_learning_rate, first_decay_steps=first_decay_steps, t_mul=t_mul,
                      m_mul=m_mul, alpha=alpha, name=name)
        self.initial, self.steps = initial_learning_rate, positive(name, "first_decay_steps", first_decay_steps)
        self.t_mul, self.m_mul, self.alpha = positive(name, "t_mul", t_mul), m_mul, alpha

    def restart(self, fraction):
        """(which decay, how far through it) at ``fraction`` = step / first_decay_steps. With t_mul != 1
        decay i starts at fraction (t_mul^i - 1) / (t_mul - 1); at a start, a logarithm's rounding
        may put the step a hair before it, so a value within 1e-9 of a whole number counts as it."""
        if self.t_mul == 1.0:
            i = math.floor(fraction)
            return i, fraction - i
        where = math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul)
        i = round(where) if abs(where - round(where)) < 1e-9 else math.floor(where)
        start = (1.0 - self.t_mul ** i) / (1.0 - self.t_mul)
        return i, (fraction - start) / self.t_mul ** i

    def rate(self, step):
        i, fraction = self.restart(step / self.steps)
        cosine = 0.5 * self.m_mul ** i * (1.0 + math.cos(math.pi * fraction))
        return self.initial * ((1 - self.alpha) * cosine + self.alpha)


def get(identifier):
    """A schedule from a ``{'class_name', 'config'}`` dict (a saved optimizer's) or an instance."""
    return SCHEDULES.get(identifier)


__all__ = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay", "LearningRateSchedule",
           "PiecewiseConstantDecay", "PolynomialDecay"]
