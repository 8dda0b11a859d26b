"""The Layer contract: parameters and shapes here, every bit of math in the backend.

A layer is built once for an input shape ``(None, ...)``: ``compute_output_shape`` validates it
(raising an error that names the layer) and ``build_weights`` creates the parameters. Then
``forward(x, training)`` runs ``call`` and the optional activation, caching what ``backward(dy)``
needs; ``backward`` fills ``self.grads`` (one entry per weight, same order) and returns the gradient
to the input.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu import constraints, initializers, regularizers
from cnn_gpu.backend import get_backend
from cnn_gpu.ops.activation import check_activation
from cnn_gpu.utils.naming import snake_case, unique_name
from cnn_gpu.utils.registry import Registry, serialize

LAYERS = Registry("layer")
DTYPES = ("float32", "float64")


def format_shape(shape):
    """``(None, 26, 26, 32)`` as Keras prints it."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def check_dtype(dtype):
    name = np.dtype(dtype).name if dtype is not None else "float32"
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


def check_channels_last(layer, data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer.describe()}: only data_format='channels_last' is supported, got {data_format!r}")


class SymbolicTensor:
    """Keras's functional API: what ``Input(shape)`` gives, and what a layer called on symbolic tensors
    gives back. It holds no values: its shape (batch first, None), the layer that makes it and that
    layer's input tensors, the edges that ``cnn_gpu.models.Model`` walks."""

    def __init__(self, shape, layer, inputs=()):
        self.shape = tuple(shape)
        self.layer = layer
        self.inputs = tuple(inputs)

    @property
    def dtype(self):
        return self.layer.dtype

    def __repr__(self):
        return f"<SymbolicTensor shape={format_shape(self.shape)} from {self.layer.describe()}>"


class Layer:
    """Base of every layer. Keyword arguments are Keras's: name, dtype, trainable, input_shape, input_dim,
    activity_regularizer (a penalty on the layer's output, added to the loss as Keras 3 adds it: not
    divided by the batch size)."""

    # Whether ``call`` takes a list of arrays (the merge layers: Add, Concatenate), not one array.
    TAKES_LIST = False
    INPUT_IS_DIFFERENTIABLE = True  # False for a layer whose input is ids (Embedding): no gradient to check there

    def __init__(self, activation=None, name=None, dtype=None, trainable=True, input_shape=None, input_dim=None,
                 activity_regularizer=None):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.activity = None  # the output the last forward pass kept for activity_regularizer's penalty
        self.dtype = check_dtype(dtype)
        self.trainable = trainable
        self.activation = check_activation(activation or "linear")
        if input_dim is not None:
            input_shape = (input_dim,)
        # Only the first layer of a Sequential model uses it, as in Keras.
        self.declared_input_shape = None if input_shape is None else tuple(input_shape)
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.params = {}
        self.frozen_params = set()  # names of weights no optimizer updates (BatchNormalization's statistics)
        self.regularizers = {}
        self.grads = {}
        self._activation_cache = None
        self.inbound = None  # the symbolic tensors this layer was called on (the functional API)

    def describe(self):
        """How errors name this layer: ``Dense layer 'dense_1'``."""
        return f"{type(self).__name__} layer '{self.name}'"

    def checked(self, check, *args):
        """``check(*args)``: an op's check of an argument, its ValueError prefixed with this layer's name."""
        try:
            return check(*args)
        except ValueError as error:
            raise ValueError(f"{self.describe()}: {error}") from None

    # --- building --------------------------------------------------------------------------------
    def build(self, input_shape):
        """Check ``input_shape`` (batch first, None allowed) and create the weights."""
        input_shape = tuple(input_shape)
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        self.input_shape = input_shape
        if not self.built:
            self.build_weights(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def build_weights(self, input_shape):
        """Create the parameters (``add_weight``); parameterless layers keep the default."""

    def require_rank(self, input_shape, rank, layout, advice):
        if len(input_shape) != rank:
            raise ValueError(
                f"{self.describe()} expects a {rank}-D input {layout}, got {format_shape(input_shape)}{advice}"
            )

    def add_weight(self, name, shape, initializer, regularizer=None, trainable=True):
        """A parameter; ``trainable=False`` makes one that the layer updates itself, without gradients."""
        self.params[name] = initializers.get(initializer)(shape, self.dtype)
        if regularizer is not None:
            self.regularizers[name] = regularizer
        if not trainable:
            self.frozen_params.add(name)

    def __call__(self, inputs):
        """The functional API: this layer applied to the symbolic tensor(s) ``inputs`` (``Input(shape)``'s
        or another layer's) gives the symbolic tensor of its output; the layer is built for their
        shape(s) here, so a mismatch fails at once, naming the layer. Each layer is called once: a
        layer shared between two places of a model is not supported."""
        given_list = isinstance(inputs, (list, tuple))
        tensors = list(inputs) if given_list else [inputs]
        if not all(isinstance(t, SymbolicTensor) for t in tensors):
            kinds = ", ".join(type(t).__name__ for t in tensors)
            raise TypeError(f"{self.describe()} is called on Input(...) or on another layer's output, got {kinds} "
                            "(to compute on arrays, build a model and call predict)")
        if given_list != self.TAKES_LIST:
            raise TypeError(f"{self.describe()} takes " + ("a list of tensors" if self.TAKES_LIST else "one tensor")
                            + f", got {'a list' if given_list else 'one'}")
        if self.inbound is not None:
            raise ValueError(f"{self.describe()} is already called on another input: shared layers are not "
                             "supported, make a second layer")
        for t in tensors:
            if t.dtype != self.dtype:
                raise ValueError(f"{self.describe()} is {self.dtype} but its input from {t.layer.describe()} is "
                                 f"{t.dtype}: give every layer the same dtype")
        self.build([t.shape for t in tensors] if given_list else tensors[0].shape)
        self.inbound = tuple(tensors)
        return SymbolicTensor(self.output_shape, self, tensors)

    # --- running ---------------------------------------------------------------------------------
    def forward(self, x, training=False, logits=False):
        """The layer's output; with ``logits``, stop before the activation (the fused loss applies it)."""
        z = self.call(x, training)
        if self.activation == "linear" or logits:
            self._activation_cache = None
            return self.kept_for_activity_penalty(z, logits)
        y = get_backend().activation_forward(self.activation, z)
        self._activation_cache = (z, y)
        return self.kept_for_activity_penalty(y)

    def kept_for_activity_penalty(self, y, logits=False):
        """``y``, the layer's output, kept for activity_regularizer's penalty (activity_penalty) and its
        gradient (backward) if the layer has one."""
        if self.activity_regularizer is not None:
            if logits and self.activation != "linear":
                raise ValueError(f"{self.describe()}: an activity_regularizer on the layer whose {self.activation} "
                                 "the loss fuses is not supported: its output is never formed")
            self.activity = y
        return y

    def activity_penalty(self):
        """activity_regularizer's penalty of the last forward pass's output, a 0-d backend array."""
        return self.activity_regularizer.penalty(self.activity)

    def backward(self, dy, need_dx=True):
        """Gradient to the input (None unless ``need_dx``); weight gradients go to ``self.grads``."""
        if self.activity_regularizer is not None:
            # The penalty's gradient added to a copy: in a functional model dy may be another layer's too.
            dy = dy.copy()
            self.activity_regularizer.penalty(self.activity, dy)
        if self._activation_cache is not None:
            z, y = self._activation_cache
            dy = get_backend().activation_backward(self.activation, z, y, dy)
        return self.call_backward(dy, need_dx)

    def call(self, x, training):
        return x

    def call_backward(self, dz, need_dx):
        return dz

    # --- weights ---------------------------------------------------------------------------------
    @property
    def weights(self):
        return list(self.params.values())

    @property
    def trainable_names(self):
        """The names of the weights an optimizer updates, in order: those ``backward`` puts in ``grads``."""
        return [name for name in self.params if name not in self.frozen_params] if self.trainable else []

    @property
    def trainable_weights(self):
        return [self.params[name] for name in self.trainable_names]

    @property
    def non_trainable_weights(self):
        trainable = set(self.trainable_names)
        return [w for name, w in self.params.items() if name not in trainable]

    def count_params(self):
        return sum(math.prod(w.shape) for w in self.weights)

    def constrained_weights(self):
        """{weight name: its constraint or None} (Keras's ``*_constraint`` arguments); none here."""
        return {}

    def apply_constraints(self):
        """Project each constrained weight onto its constraint, in place (after each optimizer step, as
        Keras's optimizers do; a frozen layer's weights are not stepped, so not projected either)."""
        for name, constraint in self.constrained_weights().items():
            if constraint is not None and name in self.trainable_names:
                self.params[name][...] = constraint(self.params[name])

    def get_weights(self):
        """The weights as NumPy arrays (copies), in Keras's order (kernel, then bias)."""
        return [np.array(get_backend().to_numpy(w)) for w in self.weights]

    def set_weights(self, weights):
        """Copy NumPy arrays into the weights in place; counts and shapes must match exactly."""
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(f"{self.describe()} has {len(self.params)} weights, got {len(weights)} arrays")
        for (name, current), new in zip(self.params.items(), weights):
            new = np.asarray(new)
            if tuple(new.shape) != tuple(current.shape):
                raise ValueError(
                    f"{self.describe()}: weight '{name}' has shape {tuple(current.shape)}, got {tuple(new.shape)}"
                )
            current[...] = get_backend().asarray(new, dtype=self.dtype)

    # --- config ----------------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments as JSON-ready values (subclasses add theirs)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ParametricLayer(Layer):
    """A layer with a kernel, an optional bias and an activation: Dense and Conv2D."""

    def __init__(self, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.use_bias = bool(use_bias)
        # Resolved now, so that an unknown name fails when the layer is created.
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def constrained_weights(self):
        return {"kernel": self.kernel_constraint, "bias": self.bias_constraint}

    def forward(self, x, training=False, logits=False):
        """As Layer's, but a ReLU goes to ``call``, which hands it to the backend's product: the kernel
        backends apply it in the GEMM's (or convolution's) epilogue, one pass instead of two."""
        if self.activation != "relu" or logits:
            return super().forward(x, training, logits)
        y = self.call(x, training, relu=True)
        # The gradient of ReLU needs only where its input was positive, which is where y is.
        self._activation_cache = (y, y)
        return self.kept_for_activity_penalty(y)

    def add_kernel_and_bias(self, kernel_shape, outputs=None):
        """"kernel", and "bias" if the layer has one: ``outputs`` long, by default the kernel's last axis."""
        self.add_weight("kernel", kernel_shape, self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (outputs or kernel_shape[-1],), self.bias_initializer, self.bias_regularizer)

    @property
    def bias(self):
        return self.params.get("bias")

    def store_gradients(self, dw, db):
        self.grads = {"kernel": dw, "bias": db} if self.use_bias else {"kernel": dw}

    def get_config(self):
        return {
            **super().get_config(),
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": serialize(self.kernel_initializer),
            "bias_initializer": serialize(self.bias_initializer),
            "kernel_regularizer": serialize(self.kernel_regularizer),
            "bias_regularizer": serialize(self.bias_regularizer),
            "kernel_constraint": serialize(self.kernel_constraint),
            "bias_constraint": serialize(self.bias_constraint),
        }


@LAYERS.register("input_layer")
class InputLayer(Layer):
    """Declares the input shape of a Sequential model; it holds nothing and is not listed in summaries."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
        super().__init__(name=name, dtype=dtype)
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer needs shape (without the batch axis) or batch_shape")
            batch_shape = (batch_size, *tuple(shape))
        self.batch_shape = tuple(batch_shape)
        if not all(isinstance(d, int) and d > 0 for d in self.batch_shape[1:]):
            raise ValueError(f"{self.describe()}: shape must be positive ints, got {format_shape(self.batch_shape[1:])}")
        self.output_shape, self.built = self.batch_shape, True  # as a functional model's summary lists it

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "batch_shape": list(self.batch_shape)}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """Keras's ``Input(shape)``: the symbolic tensor a functional model starts from (call layers on it),
    or, put first in a Sequential model, what fixes its input shape."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return SymbolicTensor(layer.batch_shape, layer)
