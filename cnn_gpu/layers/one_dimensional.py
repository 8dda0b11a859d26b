"""Keras's 1-D convolution and pooling layers over (batch, steps, channels): each runs its 2-D twin on
the input seen as one row of an image, (batch, 1, steps, channels), a view, so that conv2d.cu's,
depthwise_conv2d.cu's and pool.cu's kernels serve sequences unchanged. A kernel keeps Keras's 1-D
shape (Conv1D's (kernel_size, channels, filters)) and is handed to the 2-D op with a leading axis of
1, a view too; its gradient comes back in the 1-D shape."""

from __future__ import annotations

from numbers import Integral

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS
from cnn_gpu.layers.convolutional import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from cnn_gpu.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from cnn_gpu.layers.reshaping import Cropping2D, UpSampling2D, ZeroPadding2D

SEQUENCE_LAYOUT = "(batch, steps, channels)"


def one(value, name):
    """An int, or a sequence of one int (a saved config's list), as that int; a ValueError naming ``name``."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int (or a list of one), got {value!r}")
    return int(value)


class AsImageRow:
    """The 1-D layer as its 2-D base class on a view of one image row: shapes, arrays and kernels gain
    the row axis going in and lose it coming out."""

    def add_weight(self, name, shape, initializer, regularizer=None, trainable=True):
        # A 2-D kernel of one row, (1, ...), is Keras's 1-D kernel with that axis dropped.
        super().add_weight(name, shape[1:] if len(shape) == 4 and shape[0] == 1 else shape, initializer, regularizer,
                           trainable)

    def weight(self, name):
        w = self.params[name]
        return w[None] if w.ndim == 3 else w

    def build_weights(self, input_shape):
        super().build_weights((input_shape[0], 1, *input_shape[1:]))

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 3, SEQUENCE_LAYOUT, "")
        shape = super().compute_output_shape((input_shape[0], 1, *input_shape[1:]))
        return (shape[0], *shape[2:]) if len(shape) == 4 else shape

    def call(self, x, training, **options):
        y = super().call(x[:, None], training, **options)
        return y[:, 0] if y.ndim == 4 else y

    def call_backward(self, dz, need_dx):
        dx = super().call_backward(dz[:, None] if dz.ndim == 3 else dz, need_dx)
        grads = getattr(self, "grads", None)
        if grads:
            self.grads = {name: g.reshape(self.params[name].shape) for name, g in grads.items()}
        return None if dx is None else dx[:, 0]

    def config_1d(self, config, *names):
        """The config with the 2-D pairs ``names`` as Keras's 1-D lists (their second entry)."""
        return {**config, **{name: [config[name][1]] for name in names}}


@LAYERS.register("conv1d")
class Conv1D(AsImageRow, Conv2D):
    """Keras's Conv1D: kernel (kernel_size, channels, filters); 'valid', 'same' or 'causal' padding
    (dilation_rate * (kernel_size - 1) zeros before the first step, none after: step t sees steps t
    and earlier only), strides and dilation along the steps."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 **kwargs):
        self.causal = padding == "causal"
        super().__init__(filters, (1, one(kernel_size, "kernel_size")), (1, one(strides, "strides")),
                         "valid" if self.causal else padding, data_format, (1, one(dilation_rate, "dilation_rate")),
                         **kwargs)
        # The zeros before the first step, as pad2d and crop2d take them: none but for causal padding.
        self.before = ((0, 0), ((self.kernel_size[1] - 1) * self.dilation_rate[1] if self.causal else 0, 0))

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 3, SEQUENCE_LAYOUT, "")
        steps = input_shape[1] if input_shape[1] is None else input_shape[1] + self.before[1][0]
        return super().compute_output_shape((input_shape[0], steps, input_shape[2]))

    def call(self, x, training, relu=False):
        if self.causal:
            x = get_backend().pad2d(x[:, None], self.before)[:, 0]
        return super().call(x, training, relu=relu)

    def call_backward(self, dz, need_dx):
        dx = super().call_backward(dz, need_dx)
        if dx is None or not self.causal:
            return dx
        return get_backend().crop2d(dx[:, None], self.before)[:, 0]

    def get_config(self):
        config = self.config_1d(super().get_config(), "kernel_size", "strides", "dilation_rate")
        return {**config, "padding": "causal"} if self.causal else config


@LAYERS.register("conv1d_transpose")
class Conv1DTranspose(AsImageRow, Conv2DTranspose):
    """Keras's Conv1DTranspose: kernel (kernel_size, filters, channels); Conv2DTranspose on one row."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, **kwargs):
        super().__init__(filters, (1, one(kernel_size, "kernel_size")), (1, one(strides, "strides")), padding,
                         output_padding, data_format, (1, one(dilation_rate, "dilation_rate")), **kwargs)

    def get_config(self):
        return self.config_1d(super().get_config(), "kernel_size", "strides", "dilation_rate")


@LAYERS.register("depthwise_conv1d")
class DepthwiseConv1D(AsImageRow, DepthwiseConv2D):
    """Keras's DepthwiseConv1D: kernel (kernel_size, channels, depth_multiplier); DepthwiseConv2D on one row."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, **kwargs):
        super().__init__((1, one(kernel_size, "kernel_size")), (1, one(strides, "strides")), padding,
                         depth_multiplier, data_format, (1, one(dilation_rate, "dilation_rate")), **kwargs)

    def get_config(self):
        return self.config_1d(super().get_config(), "kernel_size", "strides", "dilation_rate")


@LAYERS.register("separable_conv1d")
class SeparableConv1D(AsImageRow, SeparableConv2D):
    """Keras's SeparableConv1D: depthwise kernel (kernel_size, channels, depth_multiplier), pointwise
    kernel (1, channels * depth_multiplier, filters); SeparableConv2D on one row."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, **kwargs):
        super().__init__(filters, (1, one(kernel_size, "kernel_size")), (1, one(strides, "strides")), padding,
                         data_format, (1, one(dilation_rate, "dilation_rate")), depth_multiplier, **kwargs)

    def get_config(self):
        return self.config_1d(super().get_config(), "kernel_size", "strides", "dilation_rate")


class Pooling1D(AsImageRow):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        pool = one(pool_size, "pool_size")
        super().__init__((1, pool), (1, pool if strides is None else one(strides, "strides")), padding, data_format,
                         **kwargs)

    def get_config(self):
        return self.config_1d(super().get_config(), "pool_size", "strides")


@LAYERS.register("max_pooling1d")
class MaxPooling1D(Pooling1D, MaxPooling2D):
    pass


@LAYERS.register("average_pooling1d")
class AveragePooling1D(Pooling1D, AveragePooling2D):
    pass


class GlobalPooling1D(AsImageRow):
    """(batch, steps, channels) -> (batch, channels), or (batch, 1, channels) with ``keepdims`` (the
    2-D layer's (batch, 1, 1, channels) less the row axis)."""


@LAYERS.register("global_max_pooling1d")
class GlobalMaxPooling1D(GlobalPooling1D, GlobalMaxPooling2D):
    pass


@LAYERS.register("global_average_pooling1d")
class GlobalAveragePooling1D(GlobalPooling1D, GlobalAveragePooling2D):
    pass


@LAYERS.register("up_sampling1d")
class UpSampling1D(AsImageRow, UpSampling2D):
    """Each step repeated ``size`` times."""

    def __init__(self, size=2, **kwargs):
        super().__init__((1, one(size, "size")), **kwargs)

    def get_config(self):
        config = {**super().get_config(), "size": self.size[1]}
        del config["interpolation"]  # Keras's UpSampling1D repeats only
        return config


def edge_pair(layer, value, name):
    """Keras's 1-D (before, after): an int for both, or a pair of ints >= 0."""
    pair = (value, value) if isinstance(value, Integral) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 0 for v in pair):
        raise ValueError(f"{layer.__name__}: {name} must be an int or a pair of ints >= 0, got {value!r}")
    return ((0, 0), tuple(int(v) for v in pair))


@LAYERS.register("zero_padding1d")
class ZeroPadding1D(AsImageRow, ZeroPadding2D):
    """Zeros before and after each sequence's steps: ``padding`` an int or (before, after)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(edge_pair(ZeroPadding1D, padding, "padding"), **kwargs)

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding[1])}


@LAYERS.register("cropping1d")
class Cropping1D(AsImageRow, Cropping2D):
    """Steps cut from each sequence's start and end: ``cropping`` an int or (start, end)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(edge_pair(Cropping1D, cropping, "cropping"), **kwargs)

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping[1])}
