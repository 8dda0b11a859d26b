"""Initial weights as Keras draws them, from the engine's seeded generator (``set_random_seed``).

Values are drawn on the host with NumPy and copied to the backend once, so a seed gives the same
weights on every backend.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.utils.registry import Registry
from cnn_gpu.utils.rng import global_generator

INITIALIZERS = Registry("initializer")

# Keras's VarianceScaling divides the truncated normal's stddev by the stddev of a unit normal
# truncated to [-2, 2], so the truncated draw ends up with the variance it asks for.
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """``(fan_in, fan_out)``: a conv kernel (R, S, C, K) counts its R*S taps on both sides."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Callable ``init(shape, dtype)`` -> a backend array."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype="float32"):
        # A fixed seed gives the same values on every call, as in Keras; else the global generator.
        generator = global_generator() if self.seed is None else np.random.default_rng(self.seed)
        return get_backend().asarray(self.draw(tuple(shape), generator), dtype=dtype)

    def draw(self, shape, generator):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def truncated_normal(generator, shape, mean, stddev):
    """Normal draws cut at two standard deviations (those beyond drawn again), as Keras's truncated_normal."""
    values = generator.standard_normal(size=shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = generator.standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2
    return values * stddev + mean if mean else values * stddev


@INITIALIZERS.register("variance_scaling")
class VarianceScaling(Initializer):
    """Keras's VarianceScaling: draws of variance ``scale`` / n, n the fan_in, the fan_out or their
    mean (``mode``), from a normal truncated at two standard deviations (its stddev raised so that the
    truncated draws keep that variance), an untruncated normal, or a uniform of that variance."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not isinstance(scale, Real) or isinstance(scale, bool) or not scale > 0:
            raise ValueError(f"VarianceScaling: scale must be a number > 0, got {scale!r}")
        if mode not in self.MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {', '.join(self.DISTRIBUTIONS)}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def draw(self, shape, generator):
        fan_in, fan_out = compute_fans(shape)
        fan = max(1, {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode])
        variance = self.scale / fan
        if self.distribution == "uniform":
            limit = math.sqrt(3 * self.scale / fan)  # (one rounding: glorot's sqrt(6 / (fan_in + fan_out)) exactly)
            return generator.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return generator.standard_normal(size=shape) * math.sqrt(variance)
        return truncated_normal(generator, shape, 0.0, math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def named_variance_scaling(name, scale, mode, distribution, doc):
    """Keras's named VarianceScaling initializers: their only argument is the seed."""

    class Named(VarianceScaling):
        __doc__ = doc

        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    Named.__name__ = Named.__qualname__ = "".join(part.capitalize() for part in name.split("_"))
    return INITIALIZERS.register(name)(Named)


GlorotUniform = named_variance_scaling("glorot_uniform", 1.0, "fan_avg", "uniform",
                                       "Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)): Keras's "
                                       "default kernel.")
GlorotNormal = named_variance_scaling("glorot_normal", 1.0, "fan_avg", "truncated_normal",
                                      "Truncated normal of variance 2 / (fan_in + fan_out).")
HeNormal = named_variance_scaling("he_normal", 2.0, "fan_in", "truncated_normal",
                                  "Truncated normal of variance 2 / fan_in (He et al.), for ReLU layers.")
HeUniform = named_variance_scaling("he_uniform", 2.0, "fan_in", "uniform",
                                   "Uniform of variance 2 / fan_in: limit sqrt(6 / fan_in).")
LecunNormal = named_variance_scaling("lecun_normal", 1.0, "fan_in", "truncated_normal",
                                     "Truncated normal of variance 1 / fan_in (LeCun), selu's.")
LecunUniform = named_variance_scaling("lecun_uniform", 1.0, "fan_in", "uniform",
                                      "Uniform of variance 1 / fan_in: limit sqrt(3 / fan_in).")


@INITIALIZERS.register("random_normal", "normal")
class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def draw(self, shape, generator):
        return generator.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@INITIALIZERS.register("truncated_normal")
class TruncatedNormal(RandomNormal):
    """RandomNormal with the draws beyond two standard deviations drawn again (the stddev as given)."""

    def draw(self, shape, generator):
        return truncated_normal(generator, shape, self.mean, self.stddev)


@INITIALIZERS.register("random_uniform", "uniform")
class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def draw(self, shape, generator):
        return generator.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@INITIALIZERS.register("constant")
class Constant(Initializer):
    """Every element ``value``."""

    def __init__(self, value=0.0):
        super().__init__(seed=None)
        self.value = float(value)

    def draw(self, shape, generator):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class Fixed(Constant):
    """A Constant of no arguments: its class's VALUE."""

    VALUE = 0.0

    def __init__(self):
        super().__init__(self.VALUE)

    def get_config(self):
        return {}


@INITIALIZERS.register("zeros")
class Zeros(Fixed):
    """Biases, a BatchNormalization's beta and moving mean."""


@INITIALIZERS.register("ones")
class Ones(Fixed):
    """A BatchNormalization's gamma and moving variance."""

    VALUE = 1.0


def get(identifier):
    """An initializer from a name ('glorot_uniform', 'he_normal', 'zeros', ...), a config or an instance."""
    return INITIALIZERS.get(identifier)
