"""RandomFlip: Keras's data augmentation layer that mirrors training images at random."""

from __future__ import annotations

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
