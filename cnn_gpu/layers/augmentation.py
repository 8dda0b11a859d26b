"""Keras's preprocessing layers: RandomFlip, which mirrors training images at random; RandomTranslation,
RandomRotation and RandomZoom, which resample them through affine maps drawn at random
(ops/affine_transform.py); RandomContrast and RandomBrightness, which change their colours at random;
and Rescaling, which scales and shifts every input (``Rescaling(1 / 255)`` for 8-bit images)."""

from __future__ import annotations

from numbers import Real

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, check_channels_last
from cnn_gpu.layers.convolutional import IMAGE_LAYOUT
from cnn_gpu.ops import affine_transform
from cnn_gpu.ops.augment import MODES, draw_flips
from cnn_gpu.utils.rng import new_generator


def keras_factor(layer, factor, bounds=(-1, 1), name="factor", each=False):
    """Keras 3's (lower, upper) of a preprocessing factor: a number f within ``bounds`` gives
    (max(-|f|, bounds[0]), |f|); a pair, its values in order, refused if they miss the bounds
    altogether, or with ``each`` (RandomTranslation's, RandomZoom's) if either lies outside them."""
    numbers = list(factor) if isinstance(factor, (tuple, list)) else [factor]
    valid = len(numbers) in (1, 2) and all(isinstance(v, Real) and not isinstance(v, bool) for v in numbers)
    if valid and (len(numbers) == 1 or each):
        valid = all(bounds[0] <= v <= bounds[1] for v in numbers)
    elif valid:
        valid = numbers[0] <= bounds[1] and numbers[1] >= bounds[0]
    if not valid:
        raise ValueError(f"{layer.describe()}: {name} must be a number or a pair of numbers in "
                         f"[{bounds[0]}, {bounds[1]}], got {factor!r}")
    if len(numbers) == 1:
        return max(-abs(numbers[0]), bounds[0]), abs(numbers[0])
    return tuple(sorted(numbers))


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
        self.height_range = keras_factor(self, height_factor, name="height_factor", each=True)
        self.width_range = keras_factor(self, width_factor, name="width_factor", each=True)

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
        self.turns = keras_factor(self, factor)

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
        self.height_range = keras_factor(self, height_factor, name="height_factor", each=True)
        self.width_range = None if width_factor is None else keras_factor(self, width_factor, name="width_factor",
                                                                          each=True)

    def draw(self, n, height, width):
        height_zoom = 1.0 + self.uniform(self.height_range, n)
        width_zoom = height_zoom if self.width_range is None else 1.0 + self.uniform(self.width_range, n)
        return affine_transform.zooms(width_zoom, height_zoom, height, width)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class ColourAugmentation(RandomImageLayer):
    """What RandomContrast and RandomBrightness share: a value drawn for each training image from
    the factor's range (``draw``), the change (``adjust``, the backend's) clipped to ``value_range``,
    the range of the images' values, (0, 255) by default as Keras's."""

    ADJUST = None  # the backend's method, by name; its backward is that name + "_backward"

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
                or not all(isinstance(v, Real) and not isinstance(v, bool) for v in value_range)
                or not value_range[0] < value_range[1]):
            raise ValueError(f"{self.describe()}: value_range must be (low, high) with low < high, got {value_range!r}")
        self.factor, self.value_range = factor, tuple(float(v) for v in value_range)

    def move(self, x, drawn):
        y, self._saved = getattr(get_backend(), self.ADJUST)(x, drawn, self.value_range)
        return y

    def move_back(self, dz, drawn):
        return getattr(get_backend(), self.ADJUST + "_backward")(dz, self._saved)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


@LAYERS.register("random_contrast")
class RandomContrast(ColourAugmentation):
    """Each training image's channels moved away from (or toward) their mean over the image: m + c
    (x - m), c drawn from [1 - lower, 1 + upper] of the factor's (lower, upper), as Keras 3 draws it
    (a number f: (0, f), so c from [1, 1 + f]; a pair in [0, 1] order: its two values)."""

    ADJUST = "adjust_contrast"

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range, seed, **kwargs)
        self.lower, self.upper = keras_factor(self, factor, (0, 1))

    def draw(self, n, height, width):
        return self.generator.uniform(1.0 - self.lower, 1.0 + self.upper, n)


@LAYERS.register("random_brightness")
class RandomBrightness(ColourAugmentation):
    """Each training image shifted by a fraction of ``value_range``'s width, drawn from the factor's
    (lower, upper) (a number f: -f to f; a pair: its two values in order), as Keras 3 draws it."""

    ADJUST = "adjust_brightness"

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range, seed, **kwargs)
        self.lower, self.upper = keras_factor(self, factor)

    def draw(self, n, height, width):
        return self.generator.uniform(self.lower, self.upper, n) * (self.value_range[1] - self.value_range[0])


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
