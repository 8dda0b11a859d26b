"""Dense, Flatten, Reshape, Activation (and its named forms ReLU, ELU, Softmax), LeakyReLU, PReLU and Dropout."""

from __future__ import annotations

import math
from numbers import Integral, Real

from cnn_gpu import constraints, initializers, regularizers
from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer, ParametricLayer, check_channels_last, format_shape
from cnn_gpu.ops.activation import ReluArguments, check_softmax_axis, softmax_axes
from cnn_gpu.ops.common import array_module
from cnn_gpu.utils.registry import serialize
from cnn_gpu.utils.rng import new_generator


def check_positive_int(value, what):
    if not isinstance(value, Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


@LAYERS.register("dense")
class Dense(ParametricLayer):
    """``activation(x @ kernel + bias)``, kernel (features, units), over the last axis of the input:
    (batch, features) -> (batch, units), and as Keras's, (batch, ..., features) -> (batch, ..., units)
    (the same product on every position, a 1 x 1 convolution of an image)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)
        self.units = check_positive_int(units, f"{self.describe()}: units")

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.describe()} expects an input of at least 2 axes (batch, ..., features), "
                             f"got {format_shape(input_shape)}")
        return (*input_shape[:-1], self.units)

    def build_weights(self, input_shape):
        self.add_kernel_and_bias((input_shape[-1], self.units))

    def call(self, x, training, relu=False):
        # The backend's product takes a matrix: every position's features as a row.
        self._x_shape = x.shape
        self._x = x.reshape(-1, x.shape[-1])
        y = get_backend().dense_forward(self._x, self.params["kernel"], self.bias, relu=relu)
        return y.reshape(*x.shape[:-1], self.units)

    def call_backward(self, dz, need_dx):
        dx, dw, db = get_backend().dense_backward(self._x, self.params["kernel"], dz.reshape(-1, self.units),
                                                  need_dx=need_dx, need_db=self.use_bias)
        self.store_gradients(dw, db)
        return None if dx is None else dx.reshape(self._x_shape)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@LAYERS.register("flatten")
class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...), in row-major (channels-last) order like Keras."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.describe()} expects an input with a batch axis, got {format_shape(input_shape)}")
        return (input_shape[0], math.prod(input_shape[1:]))

    def call(self, x, training):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def call_backward(self, dz, need_dx):
        return dz.reshape(self._x_shape) if need_dx else None


@LAYERS.register("reshape")
class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape) in row-major order, as Keras's; one entry of target_shape
    may be -1, worked out from the others (the batch axis is never part of it)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(target_shape, (list, tuple)):
            raise ValueError(f"{self.describe()}: target_shape must be a tuple (without the batch axis), got "
                             f"{target_shape!r}")
        target_shape = tuple(target_shape)
        if (not all(isinstance(d, Integral) and not isinstance(d, bool) and (d > 0 or d == -1) for d in target_shape)
                or list(target_shape).count(-1) > 1 or not target_shape):
            raise ValueError(f"{self.describe()}: target_shape must be positive ints, at most one of them -1, "
                             f"got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"{self.describe()} expects an input with a batch axis, got {format_shape(input_shape)}")
        size, known = math.prod(input_shape[1:]), math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape and size % known == 0:
            shape = tuple(size // known if d == -1 else d for d in self.target_shape)
        else:
            shape = self.target_shape
        if math.prod(shape) != size:
            raise ValueError(f"{self.describe()}: cannot reshape {format_shape(input_shape)} ({size} values a "
                             f"sample) to {format_shape((None, *self.target_shape))}")
        return (input_shape[0], *shape)

    def call(self, x, training):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], *self.output_shape[1:])

    def call_backward(self, dz, need_dx):
        return dz.reshape(self._x_shape) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@LAYERS.register("permute")
class Permute(Layer):
    """The non-batch axes reordered: ``dims`` a permutation of 1 .. rank - 1 (Keras's, 1-based)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (list, tuple)) else ()
        if sorted(dims) != list(range(1, len(dims) + 1)) or not all(isinstance(d, Integral) for d in dims):
            raise ValueError(f"{self.describe()}: dims must be a permutation of 1 .. n (the batch axis stays), "
                             f"got {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"{self.describe()}: dims {self.dims} reorder {len(self.dims)} axes, but the input "
                             f"{format_shape(input_shape)} has {len(input_shape) - 1} besides the batch")
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, x, training):
        return x.transpose(0, *self.dims)

    def call_backward(self, dz, need_dx):
        return dz.transpose(0, *(1 + self.dims.index(axis) for axis in range(1, dz.ndim))) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@LAYERS.register("repeat_vector")
class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): each sample's vector repeated ``n`` times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, f"{self.describe()}: n")

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, 2, "(batch, features)", "")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, x, training):
        return array_module(x).repeat(x[:, None], self.n, axis=1)

    def call_backward(self, dz, need_dx):
        return dz.sum(axis=1) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@LAYERS.register("identity")
class Identity(Layer):
    """Its input, unchanged (a placeholder, as Keras's)."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, x, training):
        return x

    def call_backward(self, dz, need_dx):
        return dz if need_dx else None


@LAYERS.register("activation")
class Activation(Layer):
    """Applies ``activation`` (any name of ``ops.activation.FORWARD``: 'relu', 'softmax', 'elu', ...) on its own."""

    def __init__(self, activation, **kwargs):
        super().__init__(activation=activation, **kwargs)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class NamedActivation(Layer):
    """An activation as a layer of its own (Keras's ReLU, ELU, Softmax), at any of Keras's arguments.

    At Keras's default arguments the layer is its activation ACTIVATION, on the path
    Activation(ACTIVATION) takes (the activation kernels; a last Softmax the cross-entropy fuses). At
    any other value its activation is linear and ``call`` computes it with the backend's op that takes
    the arguments (``apply`` and ``apply_backward``)."""

    ACTIVATION = ""
    DEFAULTS = {}  # argument -> Keras's default

    def __init__(self, **kwargs):
        arguments = {name: kwargs.pop(name, default) for name, default in self.DEFAULTS.items()}
        super().__init__(**kwargs)
        for name, value in arguments.items():
            setattr(self, name, self.check_argument(name, value))
        self.at_defaults = all(getattr(self, name) == default for name, default in self.DEFAULTS.items())
        if self.at_defaults:
            self.activation = self.ACTIVATION

    def check_argument(self, name, value):
        """``value`` as the layer keeps it, or a ValueError naming the layer and the argument."""
        raise NotImplementedError

    def number(self, name, value, at_least=None):
        """``value`` as a finite float (not less than ``at_least``), or a ValueError naming ``name``."""
        if (not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value)
                or at_least is not None and value < at_least):
            bound = "" if at_least is None else f" >= {at_least}"
            raise ValueError(f"{self.describe()}: {name} must be a finite number{bound}, got {value!r}")
        return float(value)

    def call(self, x, training):
        if self.at_defaults:
            return x  # forward applies the activation
        self._x = x
        self._y = self.apply(x)
        return self._y

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return dz if self.at_defaults else self.apply_backward(dz)

    def get_config(self):
        return {**super().get_config(), **{name: getattr(self, name) for name in self.DEFAULTS}}


@LAYERS.register("relu")
class ReLU(NamedActivation):
    """Keras's relu: ``max_value`` (None: no cap) for x >= max_value, x above ``threshold``,
    ``negative_slope`` (x - threshold) at or below it; max_value, negative_slope and threshold >= 0, as
    Keras requires (and finite, but for max_value, which may be +inf). The derivative at the kinks is
    what Keras on JAX takes (``ops.activation.ReluArguments``)."""

    ACTIVATION = "relu"
    DEFAULTS = {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}

    def check_argument(self, name, value):
        if name != "max_value":
            return self.number(name, value, at_least=0)
        if value is not None and (not isinstance(value, Real) or isinstance(value, bool) or not value >= 0):
            raise ValueError(f"{self.describe()}: max_value must be None or a number >= 0, got {value!r}")
        return None if value is None else float(value)

    @property
    def arguments(self):
        return ReluArguments.keras(self.negative_slope, self.max_value, self.threshold)

    def apply(self, x):
        return get_backend().relu_forward(x, self.arguments)

    def apply_backward(self, dz):
        return get_backend().relu_backward(self._x, dz, self.arguments)


@LAYERS.register("elu")
class ELU(NamedActivation):
    """Keras's ELU: x above 0, ``alpha`` (e^x - 1) at or below (alpha any finite number, as Keras takes it)."""

    ACTIVATION = "elu"
    DEFAULTS = {"alpha": 1.0}

    def check_argument(self, name, value):
        return self.number(name, value)

    def apply(self, x):
        return get_backend().elu_forward(x, self.alpha)

    def apply_backward(self, dz):
        return get_backend().elu_backward(self._x, dz, self.alpha)


@LAYERS.register("softmax")
class Softmax(NamedActivation):
    """Keras's Softmax over ``axis``: an int or a tuple of ints (normalised together, as Keras's
    logsumexp over them), negative ones counting from the end; the batch axis too, as Keras allows.
    Keras's ``mask`` call argument is not supported (Sequential passes none)."""

    ACTIVATION = "softmax"
    DEFAULTS = {"axis": -1}

    def check_argument(self, name, value):
        # Its range is checked by build, which knows the input's rank.
        axes = self.checked(check_softmax_axis, value)
        return [int(a) for a in axes] if isinstance(value, (tuple, list)) else int(value)  # a list, as JSON keeps it

    def compute_output_shape(self, input_shape):
        self.checked(softmax_axes, self.axis, len(input_shape))
        return input_shape

    def apply(self, x):
        return get_backend().softmax_forward(x, self.axis)

    def apply_backward(self, dz):
        return get_backend().softmax_backward(self._y, dz, self.axis)


@LAYERS.register("leaky_relu")
class LeakyReLU(Layer):
    """x at or above 0, ``negative_slope`` x below (Keras's layer: 0.3 by default; Keras 2's ``alpha``
    is taken as the slope, as Keras 3 takes it)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        slope = negative_slope if alpha is None else alpha
        if not isinstance(slope, Real) or isinstance(slope, bool) or not slope >= 0:
            raise ValueError(f"{self.describe()}: negative_slope must be a number >= 0, got {slope!r}")
        self.negative_slope = float(slope)

    def call(self, x, training):
        self._x = x
        return get_backend().leaky_relu_forward(x, self.negative_slope)

    def call_backward(self, dz, need_dx):
        return get_backend().leaky_relu_backward(self._x, dz, self.negative_slope) if need_dx else None

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@LAYERS.register("p_re_lu", "prelu")
class PReLU(Layer):
    """x above 0, alpha x below, alpha a learned weight: one per input element (input_shape[1:]), or shared
    along ``shared_axes`` (1 for the rows of an image, [1, 2] for one alpha per channel). Keras's
    initial alpha is 0 (a ReLU); its weight is "alpha"."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        axes = [] if shared_axes is None else [shared_axes] if isinstance(shared_axes, Integral) else shared_axes
        if not all(isinstance(a, Integral) and not isinstance(a, bool) and a >= 1 for a in axes):
            raise ValueError(f"{self.describe()}: shared_axes must be axes >= 1 (not the batch's), got {shared_axes!r}")
        self.shared_axes = None if shared_axes is None else [int(a) for a in axes]

    def build_weights(self, input_shape):
        if any(a >= len(input_shape) for a in self.shared_axes or []):
            raise ValueError(f"{self.describe()}: shared_axes {self.shared_axes} past the input's "
                             f"{len(input_shape)} axes {format_shape(input_shape)}")
        shape = [1 if axis in (self.shared_axes or []) else size for axis, size in enumerate(input_shape) if axis]
        self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer)

    def call(self, x, training):
        self._x = x
        return get_backend().prelu_forward(x, self.params["alpha"])

    def call_backward(self, dz, need_dx):
        dx, dalpha = get_backend().prelu_backward(self._x, self.params["alpha"], dz)
        self.grads = {"alpha": dalpha}
        return dx if need_dx else None

    def constrained_weights(self):
        return {"alpha": self.alpha_constraint}

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": serialize(self.alpha_initializer),
                "alpha_regularizer": serialize(self.alpha_regularizer),
                "alpha_constraint": serialize(self.alpha_constraint), "shared_axes": self.shared_axes}


@LAYERS.register("dropout")
class Dropout(Layer):
    """Inverted dropout of ``rate`` in training (kept units scaled by 1 / (1 - rate)); identity otherwise.

    Masks come from the layer's own generator, seeded by ``seed`` or else by the global seed. With
    ``noise_shape`` (Keras's: an entry a axis, None for the input's size there, 1 to share the draw
    along that axis) one mask of that shape is drawn and broadcast over the input.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, Real) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise ValueError(f"{self.describe()}: rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None and (not isinstance(noise_shape, (tuple, list)) or not all(
                d is None or (isinstance(d, Integral) and not isinstance(d, bool) and d > 0) for d in noise_shape)):
            raise ValueError(f"{self.describe()}: noise_shape must be a tuple of positive ints or None, "
                             f"got {noise_shape!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.generator = new_generator(seed)

    def compute_output_shape(self, input_shape):
        if self.noise_shape is not None and (len(self.noise_shape) != len(input_shape) or any(
                d not in (None, 1, size) for d, size in zip(self.noise_shape[1:], input_shape[1:]))):
            raise ValueError(f"{self.describe()}: noise_shape {self.noise_shape} does not broadcast over an input "
                             f"{format_shape(input_shape)} (each entry None, 1 or the input's size)")
        return input_shape

    def call(self, x, training):
        self._mask = None
        if not training or self.rate == 0:
            return x
        shape = None if self.noise_shape is None else tuple(
            size if d is None else d for d, size in zip(self.noise_shape, x.shape))
        y, self._mask = get_backend().dropout_forward(x, self.rate, self.generator,
                                                      None if shape == x.shape else shape)
        return y

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return dz if self._mask is None else get_backend().dropout_backward(dz, self._mask)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape and list(self.noise_shape),
                "seed": self.seed}


class SpatialDropout(Dropout):
    """Dropout of whole channels: one draw per sample and channel, shared along its other axes
    (Keras's, channels last); ``RANK`` and ``LAYOUT`` are the input's."""

    RANK = LAYOUT = None

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None, *[1] * (self.RANK - 2), None), seed=seed, **kwargs)

    def compute_output_shape(self, input_shape):
        self.require_rank(input_shape, self.RANK, self.LAYOUT, "")
        return super().compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return config


@LAYERS.register("spatial_dropout1d")
class SpatialDropout1D(SpatialDropout):
    """A sequence's channels dropped whole: one draw per sequence and channel, shared by its steps."""

    RANK, LAYOUT = 3, "(batch, steps, channels)"


@LAYERS.register("spatial_dropout2d")
class SpatialDropout2D(SpatialDropout):
    """An image's channels dropped whole: one draw per image and channel, shared by its pixels."""

    RANK, LAYOUT = 4, "(batch, height, width, channels)"

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        check_channels_last(self, data_format)
