"""The door to CUDA kernels: ``RawModule`` gives CuPy's on a GPU and the CPU emulator otherwise."""

import os


def backend() -> str:
    """``emulate`` or ``cuda``, from ``CNN_GPU_BACKEND`` (default ``cuda``)."""
    return "emulate" if os.environ.get("CNN_GPU_BACKEND") == "emulate" else "cuda"


def RawModule(code=None, path=None, options=(), name_expressions=None):
    """A CUDA C module with ``cupy.RawModule``'s arguments, on the current backend."""
    if backend() == "emulate":
        from .emulate import EmulatedModule

        return EmulatedModule(code=code, path=path, options=options, name_expressions=name_expressions)
    from .loader import CudaModule  # CuPy, imported only when the cuda backend is used

    return CudaModule(code=code, path=path, options=options, name_expressions=name_expressions)
