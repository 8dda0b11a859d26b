"""Keras's ``keras.models``: ``Sequential`` and ``load_model``."""

from cnn_gpu.models.saving import load_model
from cnn_gpu.models.sequential import Sequential

__all__ = ["Sequential", "load_model"]
