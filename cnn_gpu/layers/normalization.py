"""BatchNormalization and LayerNormalization over the channel (last) axis, as Keras's."""

from __future__ import annotations

from numbers import Real

from cnn_gpu import initializers, regularizers
from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, format_shape
from cnn_gpu.utils.registry import serialize


@LAYERS.register("batch_normalization")
class BatchNormalization(Layer):
    """Normalises each channel by the batch's mean and variance in training, by the moving ones (which
    follow the batch's with ``momentum``) in inference, then scales by ``gamma`` and shifts by ``beta``.

    Weights, in Keras's order: gamma (``scale``), beta (``center``), moving_mean and moving_variance
    (not trainable). As in Keras, a layer with ``trainable=False`` runs in inference mode in training
    too. Only ``axis=-1`` (channels last) is supported.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"{self.describe()}: axis must be an int, got {axis!r}")
        if not isinstance(momentum, Real) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ValueError(f"{self.describe()}: momentum must be a number in [0, 1], got {momentum!r}")
        if not isinstance(epsilon, Real) or isinstance(epsilon, bool) or not epsilon > 0:
            raise ValueError(f"{self.describe()}: epsilon must be a positive number, got {epsilon!r}")
        if beta_constraint is not None or gamma_constraint is not None or synchronized:
            raise ValueError(f"{self.describe()}: constraints and synchronized are not supported")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.initializers = {name: initializers.get(init) for name, init in (
            ("gamma", gamma_initializer), ("beta", beta_initializer), ("moving_mean", moving_mean_initializer),
            ("moving_variance", moving_variance_initializer))}
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_regularizer = regularizers.get(beta_regularizer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.describe()} expects an input with a batch axis, got {format_shape(input_shape)}")
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(f"{self.describe()}: only the last axis (channels last) can be normalised, got axis="
                             f"{self.axis} for input {format_shape(input_shape)}")
        return input_shape

    def build_weights(self, input_shape):
        channels = (input_shape[-1],)
        if self.scale:
            self.add_weight("gamma", channels, self.initializers["gamma"], self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", channels, self.initializers["beta"], self.beta_regularizer)
        self.add_weight("moving_mean", channels, self.initializers["moving_mean"], trainable=False)
        self.add_weight("moving_variance", channels, self.initializers["moving_variance"], trainable=False)

    def call(self, x, training):
        self._x = x
        p = self.params
        y, self._statistics = get_backend().batch_norm_forward(
            x, p.get("gamma"), p.get("beta"), p["moving_mean"], p["moving_variance"], self.momentum, self.epsilon,
            training=training and self.trainable)
        return y

    def call_backward(self, dz, need_dx):
        dx, dgamma, dbeta = get_backend().batch_norm_backward(self._x, dz, self.params.get("gamma"), self._statistics)
        self.grads = {name: g for name, g, kept in (("gamma", dgamma, self.scale), ("beta", dbeta, self.center))
                      if kept}
        return dx if need_dx else None

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            **{f"{name}_initializer": serialize(init) for name, init in self.initializers.items()},
            "beta_regularizer": serialize(self.beta_regularizer),
            "gamma_regularizer": serialize(self.gamma_regularizer),
        }


@LAYERS.register("layer_normalization")
class LayerNormalization(Layer):
    """Normalises each sample's features (the last axis) by their own mean and variance, then scales by
    ``gamma`` and shifts by ``beta`` (Keras's weights and order); the same in training and inference.
    Only ``axis=-1`` is supported, and not Keras's deprecated ``rms_scaling``."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, [-1], (-1,)):
            raise ValueError(f"{self.describe()}: only axis=-1 (the last) is supported, got {axis!r}")
        if not isinstance(epsilon, Real) or isinstance(epsilon, bool) or not epsilon > 0:
            raise ValueError(f"{self.describe()}: epsilon must be a positive number, got {epsilon!r}")
        if beta_constraint is not None or gamma_constraint is not None or rms_scaling:
            raise ValueError(f"{self.describe()}: constraints and rms_scaling are not supported")
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.initializers = {"gamma": initializers.get(gamma_initializer), "beta": initializers.get(beta_initializer)}
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_regularizer = regularizers.get(beta_regularizer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.describe()} expects an input with a batch axis, got {format_shape(input_shape)}")
        return input_shape

    def build_weights(self, input_shape):
        if self.scale:
            self.add_weight("gamma", input_shape[-1:], self.initializers["gamma"], self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", input_shape[-1:], self.initializers["beta"], self.beta_regularizer)

    def call(self, x, training):
        y, self._statistics = get_backend().layer_norm_forward(x, self.params.get("gamma"), self.params.get("beta"),
                                                               self.epsilon)
        return y

    def call_backward(self, dz, need_dx):
        dx, dgamma, dbeta = get_backend().layer_norm_backward(dz, self.params.get("gamma"), self._statistics)
        self.grads = {name: g for name, g, kept in (("gamma", dgamma, self.scale), ("beta", dbeta, self.center))
                      if kept}
        return dx if need_dx else None

    def get_config(self):
        return {
            **super().get_config(), "axis": -1, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            **{f"{name}_initializer": serialize(init) for name, init in self.initializers.items()},
            "beta_regularizer": serialize(self.beta_regularizer),
            "gamma_regularizer": serialize(self.gamma_regularizer),
        }
