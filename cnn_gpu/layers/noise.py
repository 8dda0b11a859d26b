"""Keras's noise layers, regularizers active in training only: GaussianNoise adds zero-mean normal
noise of ``stddev`` to every unit; GaussianDropout multiplies every unit by normal noise of mean 1
and standard deviation sqrt(rate / (1 - rate)), dropout's variance without its zeros. Both are the
identity in inference. The draws come from the layer's own generator, seeded by ``seed`` or else by
the global seed, as Dropout's masks do (on the kernel backends a Philox key from it, the noise drawn
on the device by kernels/dropout.cu's gaussian_noise; ops/dropout.py)."""

from __future__ import annotations

import math
from numbers import Real

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer
from cnn_gpu.utils.rng import new_generator


class NoiseLayer(Layer):
    """What the two share: the noise's ``stddev``, whether it multiplies, the draws' generator."""

    MULTIPLY = False

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = stddev, seed
        self.generator = new_generator(seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, x, training):
        self._saved = None
        if not training or self.stddev == 0:
            self._identity = True
            return x
        self._identity = False
        y, self._saved = get_backend().gaussian_noise_forward(x, self.stddev, self.generator, self.MULTIPLY)
        return y

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return dz if self._identity else get_backend().gaussian_noise_backward(dz, self._saved)


@LAYERS.register("gaussian_noise")
class GaussianNoise(NoiseLayer):
    """x + stddev z in training, z standard normal draws, one a unit."""

    def __init__(self, stddev, seed=None, **kwargs):
        if not isinstance(stddev, Real) or isinstance(stddev, bool) or not stddev >= 0:
            raise ValueError(f"GaussianNoise: stddev must be a number >= 0, got {stddev!r}")
        super().__init__(float(stddev), seed, **kwargs)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@LAYERS.register("gaussian_dropout")
class GaussianDropout(NoiseLayer):
    """x (1 + s z) in training, s = sqrt(rate / (1 - rate)), z standard normal draws, one a unit."""

    MULTIPLY = True

    def __init__(self, rate, seed=None, **kwargs):
        if not isinstance(rate, Real) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        super().__init__(math.sqrt(self.rate / (1 - self.rate)), seed, **kwargs)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
