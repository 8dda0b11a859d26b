"""Model: Keras's functional API, a graph of layers from one ``Input`` or several to one output.

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

A model of several inputs, ``Model([image, features], outputs)``, takes a list of arrays in the same
order wherever a single one would go (``fit([x_image, x_features], y)``, predict, evaluate).
"""

from __future__ import annotations

from cnn_gpu.layers import InputLayer, deserialize
from cnn_gpu.layers.base import SymbolicTensor
from cnn_gpu.models.sequential import Sequential
from cnn_gpu.utils.naming import unique_name
from cnn_gpu.utils.registry import serialize


def symbolic_tensors(value, what, model_name):
    """``value`` (a symbolic tensor, or a list or tuple of them) as a list of tensors."""
    tensors = list(value) if isinstance(value, (list, tuple)) else [value]
    if not tensors or not all(isinstance(t, SymbolicTensor) for t in tensors):
        raise TypeError(f"model '{model_name}': {what} must be symbolic tensors (Input(...) or a layer's output), "
                        f"got {value!r}")
    return tensors


def single_tensor(value, what, model_name):
    """The one symbolic tensor of ``value`` (a tensor, or a list or tuple of one); more is refused by name."""
    tensors = symbolic_tensors(value, what, model_name)
    if len(tensors) != 1:
        raise TypeError(f"model '{model_name}': {what} must be one symbolic tensor; several outputs are not "
                        f"supported, got {len(tensors)}")
    return tensors[0]


def graph_order(inputs, outputs, model_name):
    """The tensors between ``inputs`` (a list) and ``outputs``, each after the tensors its layer reads
    (depth first from the output, so ``outputs`` is last: Sequential's layers[-1] is the output layer
    here too), ``inputs`` left out; an error if some path leads to another Input, or an input leads
    nowhere."""
    order, seen, reached = [], set(), set()

    def visit(tensor):
        if any(tensor is source for source in inputs):
            reached.add(id(tensor))
            return
        if id(tensor) in seen:
            return
        if isinstance(tensor.layer, InputLayer):
            raise ValueError(f"model '{model_name}': the output depends on {tensor.layer.describe()}, which is not "
                             "one of the model's inputs")
        seen.add(id(tensor))
        for source in tensor.inputs:
            visit(source)
        order.append(tensor)

    visit(outputs)
    unused = [tensor.layer.describe() for tensor in inputs if id(tensor) not in reached]
    if unused:
        raise ValueError(f"model '{model_name}': the output does not depend on {', '.join(unused)}")
    return order


class Model(Sequential):
    """Keras's ``Model(inputs, outputs)`` of one input or a list of them, and one output; the layers in
    between may branch and merge (Add, Concatenate)."""

    def __init__(self, inputs, outputs, name=None, trainable=True):
        super().__init__(name=name or unique_name("functional"))
        self.input_tensors = symbolic_tensors(inputs, "inputs", self.name)
        for tensor in self.input_tensors:
            if not isinstance(tensor.layer, InputLayer):
                raise ValueError(f"model '{self.name}': inputs must come from Input(...), got the output of "
                                 f"{tensor.layer.describe()}")
        if len({id(tensor) for tensor in self.input_tensors}) != len(self.input_tensors):
            raise ValueError(f"model '{self.name}': an input is listed twice")
        self.several_inputs = isinstance(inputs, (list, tuple)) and len(self.input_tensors) > 1
        self.output_tensor = single_tensor(outputs, "outputs", self.name)
        if any(self.output_tensor is tensor for tensor in self.input_tensors):
            raise ValueError(f"model '{self.name}' has no layers between its input and its output")
        self._tensors = graph_order(self.input_tensors, self.output_tensor, self.name)
        self.input_layers = [tensor.layer for tensor in self.input_tensors]
        self.input_layer = self.input_layers[0]
        self.layers = [tensor.layer for tensor in self._tensors]
        names = [layer.name for layer in self.input_layers + self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"model '{self.name}': all layers need unique names, got {names}")
        self.built = True
        if not trainable:
            self.trainable = False

    @property
    def input_shape(self):
        """The input's batch shape; with several inputs, the list of theirs (as Keras's)."""
        shapes = [layer.batch_shape for layer in self.input_layers]
        return shapes if self.several_inputs else shapes[0]

    def add(self, layer):
        raise TypeError(f"model '{self.name}': a functional Model is fixed by its inputs and outputs; "
                        "call the layer on a tensor and make a new Model instead")

    def pop(self):
        raise TypeError(f"model '{self.name}': a functional Model has no pop; make a new Model whose "
                        "outputs are the tensor you want")

    def build(self, input_shape=None):
        """Built when its layers were called; a different input shape would need them called again."""
        if input_shape is None:
            return
        given = [tuple(shape)[1:] for shape in (input_shape if self.several_inputs else [input_shape])]
        if given != [layer.batch_shape[1:] for layer in self.input_layers]:
            raise ValueError(f"model '{self.name}' takes inputs of shape {self.input_shape}, got {input_shape}")

    # --- the math: the graph walked forward, then backward ----------------------------------------
    def forward(self, x, training=False, logits=False):
        """The output for x: an array, or with several inputs a list of them in the inputs' order."""
        arrays = list(x) if self.several_inputs else [x]
        if len(arrays) != len(self.input_tensors):
            raise ValueError(f"model '{self.name}' takes {len(self.input_tensors)} inputs, got {len(arrays)}")
        values = {id(tensor): array for tensor, array in zip(self.input_tensors, arrays)}
        for tensor in self._tensors:
            arrays = [values[id(source)] for source in tensor.inputs]
            values[id(tensor)] = tensor.layer.forward(arrays if tensor.layer.TAKES_LIST else arrays[0], training,
                                                      logits=logits and tensor is self.output_tensor)
        return values[id(self.output_tensor)]

    def backward(self, dy):
        """Each layer's gradient once every layer reading its output has added its part; a layer that
        reads only the model's inputs skips its (unused) input gradient."""
        inputs = {id(tensor) for tensor in self.input_tensors}
        gradients = {id(self.output_tensor): dy}
        for tensor in reversed(self._tensors):
            need_dx = any(id(source) not in inputs for source in tensor.inputs)
            dx = tensor.layer.backward(gradients.pop(id(tensor)), need_dx=need_dx)
            if not need_dx:
                continue
            for source, part in zip(tensor.inputs, dx if tensor.layer.TAKES_LIST else [dx]):
                if id(source) not in inputs:
                    key = id(source)
                    gradients[key] = part if key not in gradients else gradients[key] + part

    def layer_inputs(self):
        """Every layer, the InputLayers first, by the names of the layers it reads (the summary's
        "Connected to")."""
        return {**{layer: [] for layer in self.input_layers},
                **{tensor.layer: [source.layer.name for source in tensor.inputs] for tensor in self._tensors}}

    # --- config ----------------------------------------------------------------------------------
    def get_config(self):
        """The input layers, then every layer (in order) with the names of the layers it reads."""
        layers = [{**serialize(tensor.layer), "inbound": [source.layer.name for source in tensor.inputs]}
                  for tensor in self._tensors]
        return {"name": self.name, "trainable": self.trainable, "several_inputs": self.several_inputs,
                "input_layers": [serialize(layer) for layer in self.input_layers], "layers": layers}

    @classmethod
    def from_config(cls, config):
        """A model from get_config's dict (or from one saved before several inputs: its "input_layer")."""
        input_layers = [deserialize(entry) for entry in config.get("input_layers", [config.get("input_layer")])]
        inputs = [SymbolicTensor(layer.batch_shape, layer) for layer in input_layers]
        tensors = {layer.name: tensor for layer, tensor in zip(input_layers, inputs)}
        for entry in config.get("layers", []):
            layer = deserialize({key: entry[key] for key in ("class_name", "config")})
            sources = [tensors[name] for name in entry["inbound"]]
            tensors[layer.name] = layer(sources if layer.TAKES_LIST else sources[0])
        return cls(inputs if config.get("several_inputs") else inputs[0], tensors[layer.name],
                   name=config.get("name"), trainable=config.get("trainable", True))
