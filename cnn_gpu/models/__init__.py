"""Keras's ``keras.models``: ``Sequential``, ``Model`` (the functional API) and ``load_model``."""

from cnn_gpu.models.functional import Model
from cnn_gpu.models.saving import load_model
from cnn_gpu.models.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
