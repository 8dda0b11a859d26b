"""Which kernel backend runs a launch, and the module class for each.

The choice has one source: ``cnn_gpu.backend.get_backend()`` (``set_backend``, then
``$CNN_GPU_BACKEND``, then the GPU probe). Its ``cuda`` and ``emulate`` backends name themselves;
under the ``numpy`` backend, a kernel launched directly runs on the GPU when one is usable and in
the emulator otherwise, so the same script works on a laptop and on a GPU machine.
"""

from __future__ import annotations

KERNEL_BACKENDS = ("cuda", "emulate")


def default_kernel_backend() -> str:
    """``cuda`` or ``emulate``, following the engine's backend choice."""
    from cnn_gpu.backend import get_backend

    from .device import gpu_status

    name = get_backend().name
    if name in KERNEL_BACKENDS:
        return name
    return "cuda" if gpu_status().available else "emulate"


def open_module(backend: str, code=None, path=None, options=(), name_expressions=None):
    """A compiled module of ``code`` or the ``.cu`` file ``path`` on kernel backend ``backend``."""
    if backend == "cuda":
        from .loader import CudaModule

        return CudaModule(code=code, path=path, options=options, name_expressions=name_expressions)
    if backend == "emulate":
        from .emulate import EmulatedModule

        return EmulatedModule(code=code, path=path, options=options, name_expressions=name_expressions)
    raise ValueError(f"kernel backend must be one of {KERNEL_BACKENDS}, got {backend!r}")
