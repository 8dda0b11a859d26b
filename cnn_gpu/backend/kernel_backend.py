"""The ``cuda`` and ``emulate`` backends: the numpy backend's ops, with our kernels where they exist.

``KernelBackend(xp=cupy)`` is the ``cuda`` backend; ``KernelBackend(xp=numpy)`` is ``emulate``,
which runs the very same kernels through the CPU emulator. Every op inherited from
``NumpyBackend`` is array-module generic, so before a family's kernels land it runs the reference
on CuPy (cuda) or NumPy (emulate); an override below replaces it once they have.
"""

from __future__ import annotations

import numpy

from cnn_gpu.backend.numpy_backend import NumpyBackend
from cnn_gpu.ops import activation


class KernelBackend(NumpyBackend):
    def __init__(self, xp):
        super().__init__(xp)
        self.name = "emulate" if xp is numpy else "cuda"

    # --- activations: kernels/activation.cu (softmax stays on the reference) ---------------------
    def activation_forward(self, name, x):
        if name not in activation.KERNEL_ACTIVATIONS:
            return super().activation_forward(name, x)
        return activation.bias_activation_forward(self.xp.ascontiguousarray(x), None, name, backend=self.name)

    def activation_backward(self, name, x, y, dy):
        if name not in activation.KERNEL_ACTIVATIONS:
            return super().activation_backward(name, x, y, dy)
        contiguous = self.xp.ascontiguousarray
        dx, _ = activation.bias_activation_backward(contiguous(y), contiguous(dy), name, with_bias=False,
                                                    backend=self.name)
        return dx
