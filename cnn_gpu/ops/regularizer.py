"""Weight penalties added to the training loss, and their gradients: L2 (Keras's ``regularizers.L2``)."""

from __future__ import annotations

from cnn_gpu.ops.common import array_module


def l2_penalty(w, factor, grad=None):
    """``factor * sum(w^2)`` as a 0-d array; with ``grad``, adds the penalty's gradient ``2 factor w`` into it
    in place."""
    if grad is not None:
        grad += (2 * factor) * w
    return factor * array_module(w).vdot(w, w)
