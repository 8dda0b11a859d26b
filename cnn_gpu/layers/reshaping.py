"""Keras's image reshaping layers, channels last: UpSampling2D (nearest or bilinear), ZeroPadding2D,
Cropping2D (ops/reshaping.py). With the functional API they make an encoder-decoder's way back up
(upsample, then concatenate with the encoder's features, cropped or padded to fit)."""

from __future__ import annotations

from numbers import Integral

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, check_channels_last, format_shape
from cnn_gpu.layers.convolutional import IMAGE_LAYOUT
from cnn_gpu.ops import affine_transform
from cnn_gpu.ops.window import as_pair


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
    block; 'bilinear' interpolates between pixel centres, its edges clamped, as Keras's (jax.image.resize),
    through ops/affine_transform.py's map."""

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
        self._map = backend.asarray(affine_transform.upsampling(self.size, x.shape[0]))
        return backend.affine_transform(x, self._map, "bilinear", "nearest", 0.0, self.output_hw(*x.shape[1:3]))

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        backend = get_backend()
        if self.interpolation == "nearest":
            return backend.upsampling2d_backward(dz, self.size)
        n, h, w, c = dz.shape
        return backend.affine_transform_backward(dz, self._map, (n, h // self.size[0], w // self.size[1], c),
                                                 "bilinear", "nearest")

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
