"""Model: Keras's functional API, a graph of layers from one ``Input`` to one output.

    inputs = Input((32, 32, 3))
    x = Conv2D(16, 3, padding="same", activation="relu")(inputs)
    y = Conv2D(16, 3, padding="same")(x)
    x = Activation("relu")(Add()([x, y]))          # a residual connection
    outputs = Dense(10, activation="softmax")(GlobalAveragePooling2D()(x))
    model = Model(inputs, outputs)

Calling a layer on symbolic tensors builds it and records its inputs (``Layer.__call__``); the model
orders the layers so that each comes after those it reads (``layers``), and everything else is
Sequential's: compile, fit, evaluate, predict, weights, saving. Only the walk differs. The forward
pass keeps each tensor's value until the layers reading it have run; the backward pass goes through
the layers in reverse order and adds up the gradients of a tensor that several layers read (a
residual connection's input gets its branch's and the shortcut's).
"""

from __future__ import annotations

from cnn_gpu.layers import InputLayer, deserialize
from cnn_gpu.layers.base import SymbolicTensor
from cnn_gpu.models.sequential import Sequential
from cnn_gpu.utils.naming import unique_name
from cnn_gpu.utils.registry import serialize


def single_tensor(value, what, model_name):
    """The one symbolic tensor of ``value`` (a tensor, or a list or tuple of one); more is refused by name."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, SymbolicTensor):
        raise TypeError(f"model '{model_name}': {what} must be one symbolic tensor (Input(...) or a layer's output); "
                        f"several inputs or outputs are not supported, got {value!r}")
    return value


def graph_order(inputs, outputs, model_name):
    """The tensors between ``inputs`` and ``outputs``, each after the tensors its layer reads (depth
    first from the output, so ``outputs`` is last: Sequential's layers[-1] is the output layer here
    too), ``inputs`` left out; an error if some path leads to another Input."""
    order, seen = [], set()

    def visit(tensor):
        if tensor is inputs or id(tensor) in seen:
            return
        if isinstance(tensor.layer, InputLayer):
            raise ValueError(f"model '{model_name}': the output depends on {tensor.layer.describe()}, which is not "
                             "the model's input")
        seen.add(id(tensor))
        for source in tensor.inputs:
            visit(source)
        order.append(tensor)

    visit(outputs)
    return order


class Model(Sequential):
    """Keras's ``Model(inputs, outputs)`` of one input and one output; the layers in between may branch
    and merge (Add, Concatenate)."""

    def __init__(self, inputs, outputs, name=None, trainable=True):
        super().__init__(name=name or unique_name("functional"))
        self.input_tensor = single_tensor(inputs, "inputs", self.name)
        if not isinstance(self.input_tensor.layer, InputLayer):
            raise ValueError(f"model '{self.name}': inputs must come from Input(...), got the output of "
                             f"{self.input_tensor.layer.describe()}")
        self.output_tensor = single_tensor(outputs, "outputs", self.name)
        if self.output_tensor is self.input_tensor:
            raise ValueError(f"model '{self.name}' has no layers between its input and its output")
        self._tensors = graph_order(self.input_tensor, self.output_tensor, self.name)
        self.input_layer = self.input_tensor.layer
        self.layers = [tensor.layer for tensor in self._tensors]
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"model '{self.name}': all layers need unique names, got {names}")
        self.built = True
        if not trainable:
            self.trainable = False

    def add(self, layer):
        raise TypeError(f"model '{self.name}': a functional Model is fixed by its inputs and outputs; "
                        "call the layer on a tensor and make a new Model instead")

    def pop(self):
        raise TypeError(f"model '{self.name}': a functional Model has no pop; make a new Model whose "
                        "outputs are the tensor you want")

    def build(self, input_shape=None):
        """Built when its layers were called; a different input shape would need them called again."""
        if input_shape is not None and tuple(input_shape)[1:] != self.input_layer.batch_shape[1:]:
            raise ValueError(f"model '{self.name}' takes inputs of shape {self.input_layer.batch_shape}, "
                             f"got {tuple(input_shape)}")

    # --- the math: the graph walked forward, then backward ----------------------------------------
    def forward(self, x, training=False, logits=False):
        values = {id(self.input_tensor): x}
        for tensor in self._tensors:
            arrays = [values[id(source)] for source in tensor.inputs]
            values[id(tensor)] = tensor.layer.forward(arrays if tensor.layer.TAKES_LIST else arrays[0], training,
                                                      logits=logits and tensor is self.output_tensor)
        return values[id(self.output_tensor)]

    def backward(self, dy):
        """Each layer's gradient once every layer reading its output has added its part; a layer that
        reads only the model's input skips its (unused) input gradient."""
        gradients = {id(self.output_tensor): dy}
        for tensor in reversed(self._tensors):
            need_dx = any(source is not self.input_tensor for source in tensor.inputs)
            dx = tensor.layer.backward(gradients.pop(id(tensor)), need_dx=need_dx)
            if not need_dx:
                continue
            for source, part in zip(tensor.inputs, dx if tensor.layer.TAKES_LIST else [dx]):
                if source is not self.input_tensor:
                    key = id(source)
                    gradients[key] = part if key not in gradients else gradients[key] + part

    def layer_inputs(self):
        """Every layer, the InputLayer first, by the names of the layers it reads (the summary's
        "Connected to")."""
        return {self.input_layer: [], **{tensor.layer: [source.layer.name for source in tensor.inputs]
                                         for tensor in self._tensors}}

    # --- config ----------------------------------------------------------------------------------
    def get_config(self):
        """The input layer, then every layer (in order) with the names of the layers it reads."""
        layers = [{**serialize(tensor.layer), "inbound": [source.layer.name for source in tensor.inputs]}
                  for tensor in self._tensors]
        return {"name": self.name, "trainable": self.trainable, "input_layer": serialize(self.input_layer),
                "layers": layers}

    @classmethod
    def from_config(cls, config):
        input_layer = deserialize(config["input_layer"])
        inputs = SymbolicTensor(input_layer.batch_shape, input_layer)
        tensors = {input_layer.name: inputs}
        for entry in config.get("layers", []):
            layer = deserialize({key: entry[key] for key in ("class_name", "config")})
            sources = [tensors[name] for name in entry["inbound"]]
            tensors[layer.name] = layer(sources if layer.TAKES_LIST else sources[0])
        return cls(inputs, tensors[layer.name], name=config.get("name"), trainable=config.get("trainable", True))
