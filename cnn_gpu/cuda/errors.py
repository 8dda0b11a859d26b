"""The error both doors to a kernel raise for an argument that does not fit it.

Defined here, below both, so that one ``except KernelArgumentError`` catches it from either: the
signature layer (``cnn_gpu.cuda.kernel``, on the cuda and emulate backends alike) and the emulator
itself (``cnn_gpu.cuda.emulate``, which also checks what a caller hands an ``EmulatedModule``
directly).
"""


class KernelArgumentError(TypeError):
    """An argument does not fit the kernel it was passed to (count, array or scalar, dtype, exact C type,
    contiguity, device, launch geometry); nothing was launched."""
