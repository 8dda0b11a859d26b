"""BatchNormalization, LayerNormalization and GroupNormalization over the channel (last) axis, as Keras's,
and the preprocessing layer Normalization (a fixed or adapted mean and variance)."""

from __future__ import annotations

import collections.abc
import itertools
from numbers import Real

import numpy as np

from cnn_gpu import initializers, regularizers
from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, format_shape
from cnn_gpu.ops.common import array_module
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


@LAYERS.register("group_normalization")
class GroupNormalization(LayerNormalization):
    """Keras's GroupNormalization: the channels (last axis) cut into ``groups`` runs of consecutive
    channels, each sample's group normalised by the mean and variance over its positions and channels,
    then each channel scaled by ``gamma`` and shifted by ``beta``; like LayerNormalization, the same in
    training and inference, and independent of the batch size. groups=1 normalises each sample as a
    whole, groups = channels each channel apart (instance normalization).

    The layer-norm op does the work on a view of each group as one row: (N, ..., C) -> (N, groups,
    positions x C / groups), and its backward the way back; gamma and beta act per channel outside it."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ValueError(f"{self.describe()}: groups must be a positive int, got {groups!r}")
        self.groups = groups

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        if input_shape[-1] % self.groups:
            raise ValueError(f"{self.describe()}: {input_shape[-1]} channels cannot be cut into {self.groups} "
                             "groups of equal size")
        return shape

    def as_rows(self, x):
        """(N, ..., C) -> (N, groups, positions x C / groups): each sample's group one row."""
        n, channels = x.shape[0], x.shape[-1]
        return x.reshape(n, -1, self.groups, channels // self.groups).transpose(0, 2, 1, 3).reshape(n, self.groups, -1)

    def from_rows(self, rows, shape):
        """as_rows' inverse, back to ``shape``."""
        return rows.reshape(shape[0], self.groups, -1, shape[-1] // self.groups).transpose(0, 2, 1, 3).reshape(shape)

    def call(self, x, training):
        rows, self._statistics = get_backend().layer_norm_forward(self.as_rows(x), None, None, self.epsilon)
        self._normalized = self.from_rows(rows, x.shape)
        y = self._normalized * self.params["gamma"] if self.scale else self._normalized.copy()
        if self.center:
            y += self.params["beta"]
        return y

    def call_backward(self, dz, need_dx):
        leading = tuple(range(dz.ndim - 1))
        self.grads = {}
        if self.scale:
            self.grads["gamma"] = (dz * self._normalized).sum(axis=leading)
        if self.center:
            self.grads["beta"] = dz.sum(axis=leading)
        if not need_dx:
            return None
        d_normalized = dz * self.params["gamma"] if self.scale else dz
        dx, _, _ = get_backend().layer_norm_backward(self.as_rows(d_normalized), None, self._statistics)
        return self.from_rows(dx, dz.shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@LAYERS.register("normalization")
class Normalization(Layer):
    """Keras's Normalization: (x - mean) / max(sqrt(variance), 1e-7), a mean and variance for each index
    along ``axis`` (-1: each feature or channel; None: one for all), or with ``invert`` the way back,
    x max(sqrt(variance), 1e-7) + mean. The statistics are given (``mean`` and ``variance``, numbers or
    lists along the axis) or learned from data by ``adapt``, which keeps them as the layer's weights
    "mean", "variance" and "count" (not trainable), as Keras keeps them (0, 1 and 0 before it: the
    identity). The same in training and inference; the gradient is dy divided (or, inverted,
    multiplied) by the same spread."""

    EPSILON = 1e-7  # keras.backend.epsilon(): the smallest spread divided by

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is not None and (not isinstance(axis, int) or isinstance(axis, bool) or axis == 0):
            raise ValueError(f"{self.describe()}: axis must be an int other than 0 (the batch), or None, got {axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"{self.describe()}: give mean and variance together, or neither (and call adapt)")
        self.axis, self.invert = axis, bool(invert)
        self.given = None if mean is None else (np.asarray(mean, dtype=np.float64), np.asarray(variance, np.float64))

    def statistics_shape(self, input_shape):
        """The mean's and variance's shape: the input's size along ``axis``, or () for axis None."""
        if self.axis is None:
            return ()
        axis = self.axis % len(input_shape) if -len(input_shape) <= self.axis < len(input_shape) else 0
        if axis == 0:
            raise ValueError(f"{self.describe()}: axis {self.axis} is not an axis of the input "
                             f"{format_shape(input_shape)} besides the batch")
        return (input_shape[axis],)

    def compute_output_shape(self, input_shape):
        shape = self.statistics_shape(input_shape)
        if self.given is not None and any(np.ndim(v) and np.shape(v) != shape for v in self.given):
            raise ValueError(f"{self.describe()}: mean and variance must be numbers or {shape[0]} values along "
                             f"axis {self.axis}, got shapes {np.shape(self.given[0])} and {np.shape(self.given[1])}")
        return input_shape

    def build_weights(self, input_shape):
        if self.given is None:
            shape = self.statistics_shape(input_shape)
            self.add_weight("mean", shape, "zeros", trainable=False)
            self.add_weight("variance", shape, "ones", trainable=False)
            self.add_weight("count", (), "zeros", trainable=False)

    def adapt(self, data, steps=None):
        """Learn the mean and variance, over every axis but ``axis``, from ``data``: an array of samples
        (the batch axis first), or a PyDataset's or a generator's batches (``x``, or ``(x, ...)``; at most
        ``steps`` of them), each batch's moments combined exactly as one array's would be (Chan's
        update), as Keras's adapt does (the population variance)."""
        if self.given is not None:
            raise ValueError(f"{self.describe()} was given its mean and variance: there is nothing to adapt")
        count, mean, m2 = 0, 0.0, 0.0  # the samples so far, their mean and their sum of squared deviations
        for batch in adapt_batches(data, steps):
            batch = np.asarray(batch, dtype=np.float64)
            if not self.built:
                self.build((None, *batch.shape[1:]))
            axes = tuple(a for a in range(batch.ndim) if self.axis is None or a != self.axis % batch.ndim)
            n = int(np.prod([batch.shape[a] for a in axes]))
            batch_mean = batch.mean(axis=axes, keepdims=True)
            batch_m2 = ((batch - batch_mean) ** 2).sum(axis=axes)
            delta = batch_mean.reshape(batch_m2.shape) - mean
            m2 = m2 + batch_m2 + delta ** 2 * count * n / (count + n)
            mean, count = mean + delta * n / (count + n), count + n
        if count == 0:
            raise ValueError(f"{self.describe()}: adapt was given no samples")
        backend = get_backend()
        for name, value in (("mean", mean), ("variance", m2 / count), ("count", count)):
            self.params[name] = backend.asarray(np.asarray(value, dtype=self.dtype).reshape(self.params[name].shape))

    def broadcast(self, x):
        """The mean and the spread, max(sqrt(variance), 1e-7), shaped to broadcast over x."""
        xp = array_module(x)
        mean, variance = self.given if self.given is not None else (self.params["mean"], self.params["variance"])
        mean, variance = xp.asarray(mean, dtype=x.dtype), xp.asarray(variance, dtype=x.dtype)
        if self.axis is not None and mean.ndim:
            shape = [1] * x.ndim
            shape[self.axis % x.ndim] = -1
            mean, variance = mean.reshape(shape), variance.reshape(shape)
        return mean, xp.maximum(xp.sqrt(variance), x.dtype.type(self.EPSILON))

    def call(self, x, training):
        mean, self._spread = self.broadcast(x)
        return x * self._spread + mean if self.invert else (x - mean) / self._spread

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return dz * self._spread if self.invert else dz / self._spread

    def get_config(self):
        given = {} if self.given is None else {"mean": self.given[0].tolist(), "variance": self.given[1].tolist()}
        return {**super().get_config(), "axis": self.axis, "invert": self.invert, **given}


def adapt_batches(data, steps=None):
    """The arrays Normalization.adapt reads: ``data`` itself, or the x of each of a dataset's batches
    (all of a PyDataset's, a generator's until it ends; at most ``steps``)."""
    from cnn_gpu.models.batching import is_dataset  # the models use the layers: imported when adapt runs

    if not is_dataset(data):
        yield data
        return
    if isinstance(data, collections.abc.Iterator):
        items = itertools.islice(data, steps)
    else:
        items = (data[i] for i in range(len(data) if steps is None else min(steps, len(data))))
    for item in items:
        yield item[0] if isinstance(item, tuple) else item
