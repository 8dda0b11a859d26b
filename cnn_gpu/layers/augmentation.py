"""Keras's preprocessing layers: RandomFlip, which mirrors training images at random; RandomTranslation,
RandomRotation and RandomZoom, which resample them through affine maps drawn at random
(ops/affine_transform.py); and Rescaling, which scales and shifts every input (``Rescaling(1 / 255)``
for 8-bit images)."""

from __future__ import annotations

from numbers import Real

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, check_channels_last
from cnn_gpu.layers.convolutional import IMAGE_LAYOUT
from cnn_gpu.ops import affine_transform
from cnn_gpu.ops.augment import MODES, draw_flips
from cnn_gpu.utils.rng import new_generator


class RandomImageLayer(Layer):
    """What the random augmentation layers share: in training, each image of a batch moved as the
    layer draws for it (``draw``), on the host, from the layer's own generator, seeded by ``seed`` or
    else by the global seed, so that the same images move on every backend; the identity in
    inference. The draws of the last training call are kept (``_drawn``, a backend array) for the
    backward, which takes the gradient back through the same moves."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.seed = seed
        self.generator = new_generator(seed)

    def draw(self, n, height, width):
        """What each of ``n`` images of (height, width) undergoes, freshly drawn: a NumPy array."""
        raise NotImplementedError

    def move(self, x, drawn):
        """The images of x moved as ``drawn`` says."""
        raise NotImplementedError

    def move_back(self, dz, drawn):
        """The gradient of ``move`` to x, given dz."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        return input_shape

    def call(self, x, training):
        self._drawn = None
        if not training:
            return x
        self._drawn = get_backend().asarray(self.draw(*x.shape[:3]))
        return self.move(x, self._drawn)

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return dz if self._drawn is None else self.move_back(dz, self._drawn)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@LAYERS.register("random_flip")
class RandomFlip(RandomImageLayer):
    """In training, each image, on a coin toss, mirrored left-right ('horizontal'), upside down
    ('vertical') or both, a half turn ('horizontal_and_vertical', as Keras 3 flips: one toss for both)."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        if mode not in MODES:
            raise ValueError(f"{self.describe()}: mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode = mode

    def draw(self, n, height, width):
        return draw_flips(n, self.mode, self.generator)

    def move(self, x, drawn):
        return get_backend().flip_images(x, drawn)

    def move_back(self, dz, drawn):
        return get_backend().flip_images(dz, drawn)  # a flip is its own inverse

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class AffineAugmentation(RandomImageLayer):
    """What RandomTranslation, RandomRotation and RandomZoom share: each training image resampled
    through an affine map of its own (``draw``: ops.affine_transform's rows, a subclass's), by
    bilinear or nearest interpolation, pixels from outside the image filled as ``fill_mode`` says
    ('reflect', 'wrap', 'nearest', or 'constant' with ``fill_value``). Keras's arguments and defaults."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed, data_format, **kwargs)
        for value, name, allowed in ((fill_mode, "fill_mode", affine_transform.FILL_MODES),
                                     (interpolation, "interpolation", affine_transform.INTERPOLATIONS)):
            if value not in allowed:
                raise ValueError(f"{self.describe()}: {name} must be one of {sorted(allowed)}, got {value!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def factor_range(self, factor, name):
        """Keras's (lower, upper) of a factor: a number f gives (-|f|, |f|), a pair its two values in
        order; every value in [-1, 1]."""
        values = list(factor) if isinstance(factor, (tuple, list)) else [factor]
        if len(values) not in (1, 2) or not all(isinstance(v, Real) and not isinstance(v, bool) and -1 <= v <= 1
                                                for v in values):
            raise ValueError(f"{self.describe()}: {name} must be a number or a pair of numbers in [-1, 1], "
                             f"got {factor!r}")
        return (-abs(values[0]), abs(values[0])) if len(values) == 1 else tuple(sorted(values))

    def uniform(self, bounds, n):
        return self.generator.uniform(bounds[0], bounds[1], n)

    def move(self, x, drawn):
        return get_backend().affine_transform(x, drawn, self.interpolation, self.fill_mode, self.fill_value)

    def move_back(self, dz, drawn):
        return get_backend().affine_transform_backward(dz, drawn, dz.shape, self.interpolation, self.fill_mode)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


@LAYERS.register("random_translation")
class RandomTranslation(AffineAugmentation):
    """Each training image shifted by a fraction of its height, drawn from ``height_factor``'s range,
    and of its width, from ``width_factor``'s (a number f: -f to f; a pair: lower to upper; positive:
    down and right)."""

    def __init__(self, height_factor, width_factor, **kwargs):
        super().__init__(**kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = self.factor_range(height_factor, "height_factor")
        self.width_range = self.factor_range(width_factor, "width_factor")

    def draw(self, n, height, width):
        down = self.uniform(self.height_range, n) * height  # Keras draws the rows' shift first
        right = self.uniform(self.width_range, n) * width
        return affine_transform.translations(right, down)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


@LAYERS.register("random_rotation")
class RandomRotation(AffineAugmentation):
    """Each training image turned about its centre by a fraction of a full turn drawn from
    ``factor``'s range (a number f: -f to f; a pair: lower to upper)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.turns = self.factor_range(factor, "factor")

    def draw(self, n, height, width):
        degrees = self.uniform((self.turns[0] * 360.0, self.turns[1] * 360.0), n)
        return affine_transform.rotations(np.deg2rad(degrees), height, width)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@LAYERS.register("random_zoom")
class RandomZoom(AffineAugmentation):
    """Each training image scaled about its centre: 1 + a draw from ``height_factor``'s range input
    rows to an output row (a number f: -f to f; a pair: lower to upper; positive: zoomed out), and
    likewise for columns from ``width_factor``'s, or by the rows' factor where it is None."""

    def __init__(self, height_factor, width_factor=None, **kwargs):
        super().__init__(**kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = self.factor_range(height_factor, "height_factor")
        self.width_range = None if width_factor is None else self.factor_range(width_factor, "width_factor")

    def draw(self, n, height, width):
        height_zoom = 1.0 + self.uniform(self.height_range, n)
        width_zoom = height_zoom if self.width_range is None else 1.0 + self.uniform(self.width_range, n)
        return affine_transform.zooms(width_zoom, height_zoom, height, width)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


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
