"""Keras's image reshaping layers, channels last: UpSampling2D (nearest or bilinear), ZeroPadding2D,
Cropping2D (ops/reshaping.py), and the preprocessing layers Resizing, CenterCrop and RandomCrop.
With the functional API the first three make an encoder-decoder's way back up (upsample, then
concatenate with the encoder's features, cropped or padded to fit). Bilinear resampling, cropping
and padding with a value run as steps of ops/affine_transform.py's op (``resample``)."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, check_channels_last, format_shape
from cnn_gpu.layers.convolutional import IMAGE_LAYOUT
from cnn_gpu.ops import affine_transform
from cnn_gpu.ops.window import as_pair
from cnn_gpu.utils.rng import new_generator


def edge_amounts(layer, value, name):
    """Keras's forms of ``((top, bottom), (left, right))``: an int for all four, a pair (height's,
    width's) of ints or of pairs; every amount an int >= 0."""
    def amount(v):
        if not isinstance(v, Integral) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{layer.describe()}: {name} must be ints >= 0, got {value!r}")
        return int(v)

    def pair(v):
        return (amount(v), amount(v)) if isinstance(v, Integral) else tuple(amount(a) for a in v)

    try:
        amounts = (pair(value), pair(value)) if isinstance(value, Integral) else tuple(pair(v) for v in value)
    except TypeError:
        amounts = ()
    if len(amounts) != 2 or any(len(a) != 2 for a in amounts):
        raise ValueError(f"{layer.describe()}: {name} must be an int, a pair of ints, or a pair of pairs "
                         f"((top, bottom), (left, right)), got {value!r}")
    return amounts


def resample(x, steps):
    """x through each affine step (a map row, the output's (rows, cols), the fill mode and value) in
    turn, the same map for every image, by bilinear interpolation: the output, and the trail that
    resample_backward takes back."""
    backend = get_backend()
    trail = []
    for row, out_hw, fill_mode, fill_value in steps:
        maps = backend.asarray(np.tile(row, (x.shape[0], 1)))
        trail.append((maps, x.shape, fill_mode))
        x = backend.affine_transform(x, maps, "bilinear", fill_mode, fill_value, out_hw)
    return x, trail


def resample_backward(dz, trail):
    backend = get_backend()
    for maps, shape, fill_mode in reversed(trail):
        dz = backend.affine_transform_backward(dz, maps, shape, "bilinear", fill_mode)
    return dz


def resize_steps(h, w, target, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, fill_value=0.0, resize=True):
    """The steps of Keras's bilinear resize of an (h, w) image to ``target``: first, if asked, a centred
    crop to the target's aspect ratio or padding with ``fill_value`` to it (either an exact copy, a
    whole-pixel shift), then, with ``resize``, the resize (none where the sizes already agree)."""
    steps = []
    if crop_to_aspect_ratio:
        top, left, rows, cols = affine_transform.aspect_crop(h, w, target)
        if (rows, cols) != (h, w):
            steps.append((affine_transform.translations(-left, -top)[0], (rows, cols), "constant", 0.0))
            h, w = rows, cols
    elif pad_to_aspect_ratio:
        top, left = affine_transform.aspect_pad(h, w, target)
        if top or left:
            steps.append((affine_transform.translations(left, top)[0], (h + 2 * top, w + 2 * left), "constant",
                          fill_value))
            h, w = h + 2 * top, w + 2 * left
    if resize and (h, w) != tuple(target):
        steps.append((affine_transform.resize((h, w), target), tuple(target), "nearest", 0.0))
    return steps


class ImageLayer(Layer):
    """A layer of an (N, H, W, C) input, channels last."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        n, h, w, c = input_shape
        return (n, *self.output_hw(h, w), c)

    def output_hw(self, h, w):
        """The output's height and width for an input's."""
        raise NotImplementedError


@LAYERS.register("up_sampling2d")
class UpSampling2D(ImageLayer):
    """Each image scaled up by ``size`` (rows, cols): interpolation='nearest' repeats each pixel into a
    block; 'bilinear' interpolates between pixel centres, its edges clamped, as Keras's
    (jax.image.resize), by ``resample``."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = self.checked(as_pair, size, "size")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{self.describe()}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.interpolation = interpolation

    def output_hw(self, h, w):
        return h * self.size[0], w * self.size[1]

    def call(self, x, training):
        backend = get_backend()
        if self.interpolation == "nearest":
            return backend.upsampling2d_forward(x, self.size)
        y, self._trail = resample(x, resize_steps(*x.shape[1:3], self.output_hw(*x.shape[1:3])))
        return y

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        if self.interpolation == "nearest":
            return get_backend().upsampling2d_backward(dz, self.size)
        return resample_backward(dz, self._trail)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


@LAYERS.register("zero_padding2d")
class ZeroPadding2D(ImageLayer):
    """Rows and columns of zeros around each image: ``padding`` ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = edge_amounts(self, padding, "padding")

    def output_hw(self, h, w):
        (top, bottom), (left, right) = self.padding
        return h + top + bottom, w + left + right

    def call(self, x, training):
        return get_backend().pad2d(x, self.padding)

    def call_backward(self, dz, need_dx):
        return get_backend().crop2d(dz, self.padding) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


@LAYERS.register("cropping2d")
class Cropping2D(ImageLayer):
    """Rows and columns cut from each image's edges: ``cropping`` ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = edge_amounts(self, cropping, "cropping")

    def output_hw(self, h, w):
        (top, bottom), (left, right) = self.cropping
        if top + bottom >= h or left + right >= w:
            raise ValueError(f"{self.describe()}: cropping {self.cropping} leaves nothing of an input "
                             f"{format_shape((None, h, w))}")
        return h - top - bottom, w - left - right

    def call(self, x, training):
        return get_backend().crop2d(x, self.cropping)

    def call_backward(self, dz, need_dx):
        return get_backend().pad2d(dz, self.cropping) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


class ResizingLayer(ImageLayer):
    """A layer that resizes every image to ``(height, width)``, in training and inference alike, by
    ``steps`` of bilinear resampling (``resample``)."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        if not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in (height, width)):
            raise ValueError(f"{self.describe()}: height and width must be ints >= 1, got {height!r} and {width!r}")
        self.target = (int(height), int(width))

    def steps(self, h, w):
        """The affine steps that take an (h, w) image to the target (resize_steps' form)."""
        raise NotImplementedError

    def output_hw(self, h, w):
        return self.target

    def call(self, x, training):
        y, self._trail = resample(x, self.steps(*x.shape[1:3]))
        return y

    def call_backward(self, dz, need_dx):
        return resample_backward(dz, self._trail) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "height": self.target[0], "width": self.target[1]}


@LAYERS.register("resizing")
class Resizing(ResizingLayer):
    """Each image resized by bilinear interpolation (Keras's, without antialiasing) or by taking each
    output pixel's nearest source pixel (``interpolation='nearest'``, as jax.image.resize picks it:
    ops/reshaping.py's resize_nearest), first cropped (``crop_to_aspect_ratio``) or padded with
    ``fill_value`` (``pad_to_aspect_ratio``), centred, to the target's aspect ratio if asked."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{self.describe()}: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.interpolation = interpolation
        for name, value, supported in (("fill_mode", fill_mode, "constant"), ("antialias", antialias, False)):
            if value != supported:
                raise ValueError(f"{self.describe()}: {name}={value!r} is not supported (only {supported!r})")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{self.describe()}: crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other")
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_value = float(fill_value)

    def steps(self, h, w):
        return resize_steps(h, w, self.target, self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value,
                            resize=self.interpolation == "bilinear")

    def call(self, x, training):
        y = super().call(x, training)
        if self.interpolation == "bilinear":
            return y
        self._cropped_shape = y.shape
        return get_backend().resize_nearest_forward(y, self.target)

    def call_backward(self, dz, need_dx):
        if need_dx and self.interpolation == "nearest":
            dz = get_backend().resize_nearest_backward(dz, self._cropped_shape)
        return super().call_backward(dz, need_dx)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": "constant", "fill_value": self.fill_value,
                "antialias": False}


@LAYERS.register("center_crop")
class CenterCrop(ResizingLayer):
    """The centred ``(height, width)`` window of each image, as Keras's: where the image is smaller along
    either side, its largest centred window of the target's aspect ratio, resized bilinearly."""

    def steps(self, h, w):
        rows, cols = self.target
        if h < rows or w < cols:
            return resize_steps(h, w, self.target, crop_to_aspect_ratio=True)
        if (h, w) == self.target:
            return []
        shift = affine_transform.translations(-((w - cols) // 2), -((h - rows) // 2))[0]
        return [(shift, self.target, "constant", 0.0)]


@LAYERS.register("random_crop")
class RandomCrop(ResizingLayer):
    """In training, one window of ``(height, width)`` for the whole batch, at a random place, as Keras 3
    draws it (its rows' offset, then its columns', from the layer's own generator, seeded by ``seed``
    or else by the global seed); in inference, or where an image is no larger than the window, the
    largest centred window of the target's aspect ratio, resized bilinearly, as Keras documents it
    (Keras 3.15's inference returns the input uncropped)."""

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)
        self.seed = seed
        self.generator = new_generator(seed)

    def call(self, x, training):
        (h, w), (rows, cols) = x.shape[1:3], self.target
        if training and h > rows and w > cols:
            top = int(self.generator.uniform(0, h - rows + 1))
            left = int(self.generator.uniform(0, w - cols + 1))
            steps = [(affine_transform.translations(-left, -top)[0], self.target, "constant", 0.0)]
        else:
            steps = resize_steps(h, w, self.target, crop_to_aspect_ratio=True)
        y, self._trail = resample(x, steps)
        return y

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
