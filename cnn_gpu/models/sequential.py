"""Sequential: a stack of layers, built as soon as its input shape is known so that errors come early."""

from __future__ import annotations

from cnn_gpu import losses, optimizers
from cnn_gpu.backend import get_backend
from cnn_gpu.layers import InputLayer, Layer, deserialize
from cnn_gpu.layers.base import SymbolicTensor, format_shape
from cnn_gpu.models import saving, summary, training
from cnn_gpu.models.data import whole_batch
from cnn_gpu.utils.naming import unique_name
from cnn_gpu.utils.registry import serialize


class Sequential:
    """Keras's Sequential model: ``add`` layers, ``compile``, ``fit``, ``evaluate``, ``predict``, ``save``."""

    several_inputs = False  # one input array (a functional Model may take a list)

    def __init__(self, layers=None, trainable=True, name=None):
        self.name = name or unique_name("sequential")
        self.layers = []
        self._trainable = bool(trainable)
        self.input_layer = None
        self.built = False
        self.optimizer = None
        self.loss = None
        self.metrics_names_given = []
        self.compiled = False
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False  # freezes the layers given, as the setter does

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As Keras's: setting it sets every layer's too (a frozen model trains no weight, and its
        BatchNormalization layers normalise by their moving statistics)."""
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = self._trainable

    # --- structure -------------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer; once the input shape is known, the layer is built (and checked) right away."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):  # Input(shape)
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self.layers or self.input_layer is not None:
                raise ValueError(f"model '{self.name}': an Input must come first, before any other layer")
            self.input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"model '{self.name}': add() takes a layer, got {layer!r}")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"model '{self.name}': all layers need unique names; '{layer.name}' is taken")
        if not self.layers and self.input_layer is None and layer.declared_input_shape is not None:
            self.input_layer = InputLayer(shape=layer.declared_input_shape, dtype=layer.dtype)
        self.layers.append(layer)
        self.built = False
        if self.input_layer is not None:
            self.build()

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by ``index`` in ``layers``, as Keras's (a name first if both)."""
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"model '{self.name}' has no layer '{name}'; its layers are "
                             f"{[layer.name for layer in self.layers]}")
        if index is None:
            raise ValueError(f"model '{self.name}': get_layer needs a name or an index")
        if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
            raise ValueError(f"model '{self.name}' has {len(self.layers)} layers, no index {index!r}")
        return self.layers[index]

    def pop(self):
        """Remove the last layer (Keras's Sequential.pop); the model is built again for what remains."""
        if not self.layers:
            raise TypeError(f"model '{self.name}' has no layers to pop")
        layer = self.layers.pop()
        self.built = False
        if self.layers and self.input_layer is not None:
            self.build()
        return layer

    @property
    def input_shape(self):
        return None if self.input_layer is None else self.input_layer.batch_shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    @property
    def dtype(self):
        return self.layers[0].dtype if self.layers else "float32"

    def build(self, input_shape=None):
        """Build every layer for ``input_shape`` (batch first, e.g. ``(None, 28, 28, 1)``)."""
        if input_shape is not None:
            self.input_layer = InputLayer(batch_shape=(None, *tuple(input_shape)[1:]), dtype=self.dtype)
        if self.input_layer is None:
            raise ValueError(f"model '{self.name}' has no input shape: give the first layer input_shape=..., "
                             "start with Input(shape), or call build((None, ...))")
        if not self.layers:
            raise ValueError(f"model '{self.name}' has no layers to build")
        shape = self.input_layer.batch_shape
        for layer in self.layers:
            if layer.dtype != self.dtype:
                raise ValueError(f"{layer.describe()} is {layer.dtype} but the model is {self.dtype}: "
                                 "give every layer the same dtype")
            if layer.built and layer.input_shape != shape:
                raise ValueError(f"{layer.describe()} was built for input {format_shape(layer.input_shape)}, "
                                 f"here it gets {format_shape(shape)}")
            layer.build(shape)
            shape = layer.output_shape
        self.built = True

    def require_built(self, action):
        if not self.built:
            raise ValueError(f"model '{self.name}' is not built, so it cannot {action}: give it an input "
                             "shape (input_shape=..., Input(shape) or build()) or call fit() first")

    # --- the math: forward, backward, gradients -------------------------------------------------
    def forward(self, x, training=False, logits=False):
        """The output for backend array ``x``; ``logits`` stops the last layer before its activation."""
        for layer in self.layers[:-1]:
            x = layer.forward(x, training)
        return self.layers[-1].forward(x, training, logits=logits)

    def backward(self, dy):
        """Back through every layer; the first layer skips its (unused) input gradient."""
        for index in range(len(self.layers) - 1, -1, -1):
            dy = self.layers[index].backward(dy, need_dx=index > 0)

    @property
    def trains_on_logits(self):
        """Whether training feeds the loss the last layer's pre-activation (softmax + cross-entropy)."""
        return self.loss.trains_on_logits(self.layers[-1].activation)

    def compute_loss(self, x, y, training=True, sample_weight=None):
        """``(loss, output)`` for one batch: the data loss (weighted by sample, if given) plus every weight
        penalty, as a float."""
        terms, output = self.loss_terms(x, y, training, sample_weight)
        return self.total_loss(terms), output

    def loss_terms(self, x, y, training=True, sample_weight=None):
        """``(terms, output)`` for one batch, nothing read back: the data loss (weighted by sample, if
        given), each weight penalty and each layer's activity penalty, backend arrays (or a user's
        numbers), for total_loss."""
        output = self.forward(x, training, logits=self.trains_on_logits)
        value, self._output_gradient = self.loss.value_and_gradient(y, output, logits=self.trains_on_logits,
                                                                    sample_weight=sample_weight)
        penalties = [reg.penalty(layer.params[name]) for layer, name, reg in self.regularized_weights()]
        penalties += [layer.activity_penalty() for layer in self.layers if layer.activity_regularizer is not None]
        return [value, *penalties], output

    @staticmethod
    def total_loss(terms):
        """loss_terms' sum as a float: the terms read back at once, on a GPU one wait for its queue, not
        one each."""
        backend = get_backend()
        # (asarray: a user's loss or regularizer may return a Python or NumPy number, which CuPy's stack refuses.)
        host = (backend.to_numpy(backend.xp.stack([backend.xp.asarray(t) for t in terms])) if len(terms) > 1
                else [backend.to_numpy(terms[0])])
        return float(host[0]) + sum(float(t) for t in host[1:])

    def compute_gradients(self):
        """Gradients of the last loss (``loss_terms``, or ``compute_loss``) to every trainable weight,
        penalties included."""
        if not self.trainable:  # as trainable_weights: a frozen model's layers added later train nothing either
            return []
        self.backward(self._output_gradient)
        for layer, name, reg in self.regularized_weights():
            reg.penalty(layer.params[name], layer.grads[name])
        return [layer.grads[name] for layer in self.layers for name in layer.trainable_names]

    def regularized_weights(self):
        return [(layer, name, reg) for layer in self.layers for name, reg in layer.regularizers.items()]

    # --- weights ---------------------------------------------------------------------------------
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self):
        """Every weight as a NumPy array, layer by layer (kernel, then bias), like Keras."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """The inverse of ``get_weights``: counts and shapes must match."""
        self.require_built("set weights")
        weights = list(weights)
        expected = sum(len(layer.params) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"model '{self.name}' has {expected} weight arrays, got {len(weights)}")
        start = 0
        for layer in self.layers:
            layer.set_weights(weights[start:start + len(layer.params)])
            start += len(layer.params)

    # --- compile, train, use -----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (names or objects, as in Keras)."""
        if loss is None:
            raise ValueError(f"model '{self.name}': compile() needs a loss, e.g. loss='categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list, e.g. metrics=['accuracy'], got {metrics!r}")
        self.metrics_names_given = list(metrics)
        self.compiled = True

    def require_compiled(self, action):
        if not self.compiled:
            raise RuntimeError(f"model '{self.name}': call compile(optimizer, loss, metrics) before {action}()")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None):
        """Train on arrays (x, y), or on a PyDataset's or a generator's batches (x alone; a generator's
        epoch is ``steps_per_epoch`` batches, a validation generator's ``validation_steps``), like Keras."""
        return training.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                            shuffle, initial_epoch, class_weight, sample_weight, steps_per_epoch, validation_steps)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 return_dict=False):
        """The loss (each sample's weighted by ``sample_weight`` if given), or ``[loss, metric, ...]`` with
        metrics (a dict with ``return_dict``), like Keras; x may be a PyDataset or a generator (of
        ``steps`` batches)."""
        return training.evaluate(self, x, y, batch_size, verbose, return_dict, sample_weight, steps=steps)

    def predict(self, x, batch_size=None, verbose="auto", steps=None):
        """The outputs (probabilities after a softmax) for ``x`` (arrays, a PyDataset or a generator of
        ``steps`` batches), as one NumPy array."""
        return training.predict(self, x, batch_size, verbose, steps)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on (x, y); that batch's loss, or ``[loss, metric, ...]`` (Keras's)."""
        return training.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """The loss (and metrics) of (x, y) as one batch, in inference mode."""
        return training.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        """The outputs for ``x`` as one batch."""
        return training.predict(self, x, whole_batch(self, x), 0)

    def summary(self, line_length=None, print_fn=None):
        summary.print_summary(self, line_length, print_fn)

    def save(self, filepath, overwrite=True):
        """One file: the architecture and compile config as JSON plus the weights as .npz (see saving)."""
        saving.save_model(self, filepath, overwrite)

    def save_weights(self, filepath, overwrite=True):
        saving.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath):
        saving.load_weights(self, filepath)

    # --- config ----------------------------------------------------------------------------------
    def get_config(self):
        layers = [serialize(self.input_layer)] if self.input_layer is not None else []
        layers += [serialize(layer) for layer in self.layers]
        return {"name": self.name, "trainable": self.trainable, "layers": layers}

    @classmethod
    def from_config(cls, config):
        layers = [deserialize(entry) for entry in config.get("layers", [])]
        return cls(layers, trainable=config.get("trainable", True), name=config.get("name"))

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {"optimizer": serialize(self.optimizer), "loss": serialize(self.loss),
                "metrics": [m if isinstance(m, str) else m.name for m in self.metrics_names_given]}
