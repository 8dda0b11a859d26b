"""MaxPooling2D and AveragePooling2D over channels-last input (strides default to the pool size), and
their global forms, GlobalMaxPooling2D and GlobalAveragePooling2D: one window the size of the image."""

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


class GlobalPooling2D(Layer):
    """(batch, H, W, C) -> (batch, C), or (batch, 1, 1, C) with ``keepdims``: the pooling of
    ``pool_forward`` with one window of the whole image, so the same backend ops (and kernels) run it."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 4, IMAGE_LAYOUT, "")
        return (input_shape[0], 1, 1, input_shape[3]) if self.keepdims else (input_shape[0], input_shape[3])

    def call(self, x, training):
        self._x_shape = x.shape
        y = self.pool_forward(x, x.shape[1:3])
        return y if self.keepdims else y.reshape(x.shape[0], x.shape[3])

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        n, _, _, c = self._x_shape
        return self.pool_backward(dz.reshape(n, 1, 1, c), self._x_shape[1:3])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


@LAYERS.register("global_max_pooling2d")
class GlobalMaxPooling2D(GlobalPooling2D):
    def pool_forward(self, x, window):
        y, self._argmax = get_backend().max_pool2d_forward(x, window, window, "valid")
        return y

    def pool_backward(self, dy, window):
        return get_backend().max_pool2d_backward(dy, self._argmax, self._x_shape, window, window, "valid")


@LAYERS.register("global_average_pooling2d")
class GlobalAveragePooling2D(GlobalPooling2D):
    def pool_forward(self, x, window):
        return get_backend().avg_pool2d_forward(x, window, window, "valid")

    def pool_backward(self, dy, window):
        return get_backend().avg_pool2d_backward(dy, self._x_shape, window, window, "valid")
