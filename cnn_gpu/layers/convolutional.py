"""The convolutions, channels-last input (batch, H, W, C), as in Keras: Conv2D, kernel (kernel_h, kernel_w,
C, filters); Conv2DTranspose, kernel (kernel_h, kernel_w, filters, C); DepthwiseConv2D, kernel (kernel_h,
kernel_w, C, depth_multiplier); SeparableConv2D, a depthwise kernel then a pointwise (1, 1,
C * depth_multiplier, filters) one."""

from __future__ import annotations

from cnn_gpu import constraints, initializers, regularizers
from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, ParametricLayer, check_channels_last
from cnn_gpu.layers.core import check_positive_int
from cnn_gpu.ops.conv2d import conv2d_output_shape
from cnn_gpu.ops.conv2d_transpose import conv2d_transpose_output_shape
from cnn_gpu.ops.depthwise_conv2d import depthwise_conv2d_output_shape
from cnn_gpu.ops.window import as_pair, check_padding
from cnn_gpu.utils.registry import serialize

IMAGE_LAYOUT = "(batch, height, width, channels)"


def image_output_shape(layer, compute, input_shape, *args):
    """``compute((1, H, W, C), ...)`` (an op's output shape) with the batch put back, or the op's error
    naming the layer."""
    return (input_shape[0], *layer.checked(compute, (1, *input_shape[1:]), *args)[1:])


def refuse_kernel_arguments(layer_class, kwargs, *kernels):
    """Keras names the depthwise and separable convolutions' kernel arguments after their kernels
    (depthwise_initializer, pointwise_regularizer, ...) and refuses kernel_* with a ValueError: so do
    we, by name here, where Python's TypeError would name SlidingWindowLayer.__init__ instead."""
    for argument in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
        if argument in kwargs:
            keras_names = " or ".join(argument.replace("kernel", kernel, 1) for kernel in kernels)
            raise ValueError(f"Unrecognized keyword argument passed to {layer_class.__name__}: '{argument}' "
                             f"(Keras names it {keras_names})")


class SlidingWindowLayer(ParametricLayer):
    """What the convolutions share: their window's arguments (kernel_size, strides, padding,
    dilation_rate), checked once, and their output shape."""

    def __init__(self, kernel_size, strides, padding, data_format, dilation_rate, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.kernel_size = self.checked(as_pair, kernel_size, "kernel_size")
        self.strides = self.checked(as_pair, strides, "strides")
        self.dilation_rate = self.checked(as_pair, dilation_rate, "dilation_rate")
        self.padding = self.checked(check_padding, padding)

    @property
    def window(self):
        """The arguments every backend convolution takes after its operands."""
        return self.strides, self.padding, self.dilation_rate

    def weight(self, name):
        """Parameter ``name`` as the 2-D ops take it (the 1-D layers' kernels gain a leading axis of 1)."""
        return self.params[name]

    def window_output_shape(self, compute, input_shape, kernel_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        return image_output_shape(self, compute, input_shape, kernel_shape, *self.window)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate)}


@LAYERS.register("conv2d")
class Conv2D(SlidingWindowLayer):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)
        self.filters = check_positive_int(filters, f"{self.describe()}: filters")

    def compute_output_shape(self, input_shape):
        return self.window_output_shape(conv2d_output_shape, input_shape,
                                        (*self.kernel_size, input_shape[-1], self.filters))

    def build_weights(self, input_shape):
        self.add_kernel_and_bias((*self.kernel_size, input_shape[3], self.filters))

    def call(self, x, training, relu=False):
        self._x = x
        return get_backend().conv2d_forward(x, self.weight("kernel"), self.bias, *self.window, relu=relu)

    def call_backward(self, dz, need_dx):
        dx, dw, db = get_backend().conv2d_backward(self._x, self.weight("kernel"), dz, *self.window,
                                                   need_dx=need_dx, need_db=self.use_bias)
        self.store_gradients(dw, db)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@LAYERS.register("conv2d_transpose")
class Conv2DTranspose(SlidingWindowLayer):
    """The adjoint of a Conv2D of the same window: (H, W) to (H - 1) * stride + max(extent, stride)
    ('valid') or H * stride ('same'), ``filters`` channels out (ops/conv2d_transpose.py; run by
    conv2d's kernels). Keras's output_padding is supported at its default, None, only."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer, **kwargs)
        self.filters = check_positive_int(filters, f"{self.describe()}: filters")
        if output_padding is not None:
            raise ValueError(f"{self.describe()}: output_padding={output_padding!r} is not supported (only None)")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:  # as Keras refuses it
            raise ValueError(f"{self.describe()}: strides > 1 together with dilation_rate > 1 is not supported, "
                             f"got strides={self.strides} and dilation_rate={self.dilation_rate}")

    def compute_output_shape(self, input_shape):
        return self.window_output_shape(conv2d_transpose_output_shape, input_shape,
                                        (*self.kernel_size, self.filters, input_shape[-1]))

    def build_weights(self, input_shape):
        self.add_kernel_and_bias((*self.kernel_size, self.filters, input_shape[3]), self.filters)

    def call(self, x, training, relu=False):
        self._x = x
        return get_backend().conv2d_transpose_forward(x, self.weight("kernel"), self.bias, *self.window, relu=relu)

    def call_backward(self, dz, need_dx):
        dx, dw, db = get_backend().conv2d_transpose_backward(self._x, self.weight("kernel"), dz, *self.window,
                                                             need_dx=need_dx, need_db=self.use_bias)
        self.store_gradients(dw, db)
        return dx

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "output_padding": None}


@LAYERS.register("depthwise_conv2d")
class DepthwiseConv2D(SlidingWindowLayer):
    """Each input channel convolved with ``depth_multiplier`` filters of its own: C * depth_multiplier
    outputs, channel c * depth_multiplier + m from filter m of channel c. Keras names its arguments
    depthwise_*; its weights are "kernel" (R, S, C, depth_multiplier) and "bias" (C * depth_multiplier,)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, **kwargs):
        refuse_kernel_arguments(type(self), kwargs, "depthwise")
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=depthwise_constraint, **kwargs)
        self.depth_multiplier = check_positive_int(depth_multiplier, f"{self.describe()}: depth_multiplier")

    def compute_output_shape(self, input_shape):
        return self.window_output_shape(depthwise_conv2d_output_shape, input_shape,
                                        (*self.kernel_size, input_shape[-1], self.depth_multiplier))

    def build_weights(self, input_shape):
        self.add_kernel_and_bias((*self.kernel_size, input_shape[3], self.depth_multiplier),
                                 input_shape[3] * self.depth_multiplier)

    def call(self, x, training, relu=False):
        self._x = x
        return get_backend().depthwise_conv2d_forward(x, self.weight("kernel"), self.bias, *self.window, relu=relu)

    def call_backward(self, dz, need_dx):
        dx, dw, db = get_backend().depthwise_conv2d_backward(self._x, self.weight("kernel"), dz, *self.window,
                                                             need_dx=need_dx, need_db=self.use_bias)
        self.store_gradients(dw, db)
        return dx

    def get_config(self):
        config = super().get_config()
        for name in ("initializer", "regularizer", "constraint"):
            config[f"depthwise_{name}"] = config.pop(f"kernel_{name}")
        return {**config, "depth_multiplier": self.depth_multiplier}


@LAYERS.register("separable_conv2d")
class SeparableConv2D(SlidingWindowLayer):
    """A depthwise convolution (no bias) then a pointwise one, 1 x 1 over its C * depth_multiplier
    channels into ``filters``, with the bias and the activation. Weights in Keras's order and names:
    "depthwise_kernel" (R, S, C, depth_multiplier), "pointwise_kernel" (1, 1, C * depth_multiplier,
    filters), "bias" (filters,). The pointwise step is a matrix product of every pixel's channels,
    so it runs as Dense does (``dense_forward``: the GEMM ladder on the kernel backends), where
    ParametricLayer's kernel_* attributes hold the pointwise kernel's (its constructor takes Keras's
    pointwise_* names, and refuses kernel_*)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, depthwise_constraint=None, pointwise_constraint=None, **kwargs):
        refuse_kernel_arguments(type(self), kwargs, "depthwise", "pointwise")
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=pointwise_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=pointwise_constraint, **kwargs)
        self.filters = check_positive_int(filters, f"{self.describe()}: filters")
        self.depth_multiplier = check_positive_int(depth_multiplier, f"{self.describe()}: depth_multiplier")
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def constrained_weights(self):
        return {"depthwise_kernel": self.depthwise_constraint, "pointwise_kernel": self.kernel_constraint,
                "bias": self.bias_constraint}

    def compute_output_shape(self, input_shape):
        shape = self.window_output_shape(depthwise_conv2d_output_shape, input_shape,
                                         (*self.kernel_size, input_shape[-1], self.depth_multiplier))
        return (*shape[:3], self.filters)

    def build_weights(self, input_shape):
        channels = input_shape[3] * self.depth_multiplier
        self.add_weight("depthwise_kernel", (*self.kernel_size, input_shape[3], self.depth_multiplier),
                        self.depthwise_initializer, self.depthwise_regularizer)
        self.add_weight("pointwise_kernel", (1, 1, channels, self.filters), self.kernel_initializer,
                        self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)

    def _pointwise_matrix(self):
        return self.params["pointwise_kernel"].reshape(-1, self.filters)

    def call(self, x, training, relu=False):
        backend = get_backend()
        self._x = x
        self._z = backend.depthwise_conv2d_forward(x, self.weight("depthwise_kernel"), None, *self.window)
        y = backend.dense_forward(self._z.reshape(-1, self._z.shape[3]), self._pointwise_matrix(), self.bias,
                                  relu=relu)
        return y.reshape(*self._z.shape[:3], self.filters)

    def call_backward(self, dz, need_dx):
        backend = get_backend()
        z = self._z
        dz_pixels, dpointwise, db = backend.dense_backward(z.reshape(-1, z.shape[3]), self._pointwise_matrix(),
                                                           dz.reshape(-1, self.filters), need_db=self.use_bias)
        dx, ddepthwise, _ = backend.depthwise_conv2d_backward(self._x, self.weight("depthwise_kernel"),
                                                              dz_pixels.reshape(z.shape), *self.window,
                                                              need_dx=need_dx, need_db=False)
        self.grads = {"depthwise_kernel": ddepthwise,
                      "pointwise_kernel": dpointwise.reshape(self.params["pointwise_kernel"].shape)}
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        config = super().get_config()
        for name in ("initializer", "regularizer", "constraint"):
            config[f"pointwise_{name}"] = config.pop(f"kernel_{name}")
        return {**config, "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": serialize(self.depthwise_initializer),
                "depthwise_regularizer": serialize(self.depthwise_regularizer),
                "depthwise_constraint": serialize(self.depthwise_constraint)}
