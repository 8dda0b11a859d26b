"""Initial weights as Keras draws them, from the engine's seeded generator (``set_random_seed``).

Values are drawn on the host with NumPy and copied to the backend once, so a seed gives the same
weights on every backend.
"""

from __future__ import annotations

import math

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


@INITIALIZERS.register("glorot_uniform")
class GlorotUniform(Initializer):
    """Uniform on [-limit, limit] with limit = sqrt(6 / (fan_in + fan_out)): Keras's default kernel."""

    def draw(self, shape, generator):
        fan_in, fan_out = compute_fans(shape)
        limit = math.sqrt(6 / max(1, fan_in + fan_out))
        return generator.uniform(-limit, limit, size=shape)


@INITIALIZERS.register("he_normal")
class HeNormal(Initializer):
    """Normal with stddev sqrt(2 / fan_in), truncated to two stddevs (redrawn beyond), as Keras does."""

    def draw(self, shape, generator):
        fan_in, _ = compute_fans(shape)
        stddev = math.sqrt(2 / max(1, fan_in)) / TRUNCATED_NORMAL_STDDEV
        values = generator.standard_normal(size=shape)
        outside = np.abs(values) > 2
        while outside.any():
            values[outside] = generator.standard_normal(size=int(outside.sum()))
            outside = np.abs(values) > 2
        return values * stddev


class Constant(Initializer):
    """Every element ``VALUE``: Zeros (biases, a BatchNormalization's beta and moving mean) and Ones
    (its gamma and moving variance)."""

    VALUE: float

    def __init__(self):
        super().__init__(seed=None)

    def draw(self, shape, generator):
        return np.full(shape, self.VALUE)

    def get_config(self):
        return {}


@INITIALIZERS.register("zeros")
class Zeros(Constant):
    VALUE = 0.0


@INITIALIZERS.register("ones")
class Ones(Constant):
    VALUE = 1.0


def get(identifier):
    """An initializer from a name ('glorot_uniform', 'he_normal', 'zeros', 'ones'), a config or an instance."""
    return INITIALIZERS.get(identifier)
