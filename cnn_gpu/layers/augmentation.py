"""Keras's preprocessing layers: RandomFlip, which mirrors training images at random, and Rescaling,
which scales and shifts every input (``Rescaling(1 / 255)`` for 8-bit images)."""

from __future__ import annotations

from numbers import Real

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, check_channels_last
from cnn_gpu.layers.convolutional import IMAGE_LAYOUT
from cnn_gpu.ops.augment import MODES, draw_flips
from cnn_gpu.utils.rng import new_generator


@LAYERS.register("random_flip")
class RandomFlip(Layer):
    """In training, each image, on a coin toss, mirrored left-right ('horizontal'), upside down
    ('vertical') or both, a half turn ('horizontal_and_vertical', as Keras 3 flips: one toss for both);
    the identity in inference. The flips come from the layer's own generator, seeded by ``seed`` or
    else by the global seed, on the host: the same images flip on every backend."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        if mode not in MODES:
            raise ValueError(f"{self.describe()}: mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode = mode
        self.seed = seed
        self.generator = new_generator(seed)

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        return input_shape

    def call(self, x, training):
        self._flips = None
        if not training:
            return x
        backend = get_backend()
        self._flips = backend.asarray(draw_flips(x.shape[0], self.mode, self.generator))
        return backend.flip_images(x, self._flips)

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        # A flip is its own inverse: the gradient goes back through the same flips.
        return dz if self._flips is None else get_backend().flip_images(dz, self._flips)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}


@LAYERS.register("rescaling")
class Rescaling(Layer):
    """``x * scale + offset``, in training and inference alike: each a number, or one per channel (a
    list, broadcast over the last axis), as Keras's."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = (self.checked(self.numbers, value, name)
                                   for value, name in ((scale, "scale"), (offset, "offset")))

    @staticmethod
    def numbers(value, name):
        """A float, or a list of floats for one per channel."""
        if isinstance(value, Real) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1 and len(value) > 0 and all(
                isinstance(v, Real) and not isinstance(v, bool) for v in value):
            return [float(v) for v in value]
        raise ValueError(f"{name} must be a number or a list of numbers (one per channel), got {value!r}")

    def compute_output_shape(self, input_shape):
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if isinstance(value, list) and len(value) != input_shape[-1]:
                raise ValueError(f"{self.describe()}: {name} has {len(value)} values for an input of "
                                 f"{input_shape[-1]} channels")
        return input_shape

    def call(self, x, training):
        return get_backend().rescale(x, self.scale, self.offset)

    def call_backward(self, dz, need_dx):
        return get_backend().rescale(dz, self.scale, 0.0) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
