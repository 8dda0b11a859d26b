"""Keras's Embedding: integer ids (a model's input, as floats or ints) to rows of a learned table."""

from __future__ import annotations

from cnn_gpu import constraints, initializers, regularizers
from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import LAYERS, Layer
from cnn_gpu.utils.registry import serialize


@LAYERS.register("embedding")
class Embedding(Layer):
    """Each id in [0, input_dim) becomes row id of the weight "embeddings" (input_dim, output_dim): an input
    of shape (batch, ...) becomes (batch, ..., output_dim), as a first layer (the ids carry no gradient).
    An id that is not a whole number in range fails with the values it got. Keras's mask_zero, LoRA and
    quantization are not supported."""

    INPUT_IS_DIFFERENTIABLE = False

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{self.describe()}: {name} must be a positive int, got {value!r}")
        for name, value in (("mask_zero", mask_zero), ("weights", weights), ("lora_rank", lora_rank)):
            if value not in (None, False):
                raise ValueError(f"{self.describe()}: {name}={value!r} is not supported")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def build_weights(self, input_shape):
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                        self.embeddings_regularizer)

    def call(self, x, training):
        y, self._ids = get_backend().embedding_forward(x, self.params["embeddings"])
        self._x = x
        return y

    def call_backward(self, dz, need_dx):
        self.grads = {"embeddings": get_backend().embedding_backward(self._ids, dz, self.input_dim)}
        return get_backend().zeros(self._x.shape, self._x.dtype) if need_dx else None

    def constrained_weights(self):
        return {"embeddings": self.embeddings_constraint}

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": serialize(self.embeddings_initializer),
                "embeddings_regularizer": serialize(self.embeddings_regularizer),
                "embeddings_constraint": serialize(self.embeddings_constraint)}
