"""The door to CUDA kernels: ``RawModule`` gives CuPy's on a GPU and the CPU emulator otherwise.

Which one follows the engine's backend choice (``cnn_gpu.cuda.dispatch.default_kernel_backend``):
``set_backend``/``$CNN_GPU_BACKEND`` ``cuda`` or ``emulate`` name it; under ``numpy`` (or the
default) a kernel runs on the GPU when one is usable and in the emulator otherwise.
"""


def RawModule(code=None, path=None, options=(), name_expressions=None):
    """A CUDA C module with ``cupy.RawModule``'s arguments, on the current kernel backend."""
    from .dispatch import default_kernel_backend, open_module  # CuPy is imported only for cuda

    return open_module(default_kernel_backend(), code=code, path=path, options=options,
                       name_expressions=name_expressions)
