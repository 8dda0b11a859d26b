"""MaxPooling2D and AveragePooling2D over channels-last input; strides default to the pool size."""

from __future__ import annotations

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, check_channels_last
from cnn_gpu.layers.convolutional import IMAGE_LAYOUT, image_output_shape
from cnn_gpu.ops.pool import pool2d_output_shape
from cnn_gpu.ops.window import as_pair, check_padding


class Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.pool_size = self.checked(as_pair, pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else self.checked(as_pair, strides, "strides")
        self.padding = self.checked(check_padding, padding)

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        return image_output_shape(self, pool2d_output_shape, input_shape, self.pool_size,
                                  self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


@LAYERS.register("max_pooling2d")
class MaxPooling2D(Pooling2D):
    def call(self, x, training):
        self._x_shape = x.shape
        y, self._argmax = get_backend().max_pool2d_forward(x, self.pool_size, self.strides, self.padding)
        return y

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return get_backend().max_pool2d_backward(dz, self._argmax, self._x_shape, self.pool_size,
                                                 self.strides, self.padding)


@LAYERS.register("average_pooling2d")
class AveragePooling2D(Pooling2D):
    def call(self, x, training):
        self._x_shape = x.shape
        return get_backend().avg_pool2d_forward(x, self.pool_size, self.strides, self.padding)

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return get_backend().avg_pool2d_backward(dz, self._x_shape, self.pool_size, self.strides, self.padding)
