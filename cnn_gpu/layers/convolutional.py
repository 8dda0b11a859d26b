"""Conv2D: channels-last input (batch, H, W, C), kernel (kernel_h, kernel_w, C, filters) as in Keras."""

from __future__ import annotations

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, ParametricLayer, check_channels_last
from cnn_gpu.layers.core import check_positive_int
from cnn_gpu.ops.conv2d import conv2d_output_shape
from cnn_gpu.ops.window import as_pair, check_padding

IMAGE_LAYOUT = "(batch, height, width, channels)"


def image_output_shape(layer, compute, input_shape, *args):
    """``compute((1, H, W, C), ...)`` (an op's output shape) with the batch put back, or the op's error
    naming the layer."""
    return (input_shape[0], *layer.checked(compute, (1, *input_shape[1:]), *args)[1:])


@LAYERS.register("conv2d")
class Conv2D(ParametricLayer):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        check_channels_last(self, data_format)
        self.filters = check_positive_int(filters, f"{self.describe()}: filters")
        self.kernel_size = self.checked(as_pair, kernel_size, "kernel_size")
        self.strides = self.checked(as_pair, strides, "strides")
        self.dilation_rate = self.checked(as_pair, dilation_rate, "dilation_rate")
        self.padding = self.checked(check_padding, padding)

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        kernel_shape = (*self.kernel_size, input_shape[3], self.filters)
        return image_output_shape(self, conv2d_output_shape, input_shape, kernel_shape,
                                  self.strides, self.padding, self.dilation_rate)

    def build_weights(self, input_shape):
        self.add_kernel_and_bias((*self.kernel_size, input_shape[3], self.filters))

    def call(self, x, training, relu=False):
        self._x = x
        return get_backend().conv2d_forward(x, self.params["kernel"], self.bias, self.strides,
                                            self.padding, self.dilation_rate, relu=relu)

    def call_backward(self, dz, need_dx):
        dx, dw, db = get_backend().conv2d_backward(self._x, self.params["kernel"], dz, self.strides,
                                                   self.padding, self.dilation_rate, need_dx=need_dx,
                                                   need_db=self.use_bias)
        self.store_gradients(dw, db)
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
        }
