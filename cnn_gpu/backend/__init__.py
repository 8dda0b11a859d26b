"""Which backend runs the math: chosen once, cached, and explained for ``cnn-gpu info``.

The name comes from ``set_backend(name)``, else ``$CNN_GPU_BACKEND``, else automatically: ``cuda``
when ``cnn_gpu.cuda.device.gpu_status()`` says a GPU is usable, ``numpy`` otherwise.
"""

from __future__ import annotations

import os

from cnn_gpu.backend.base import Backend

BACKENDS = ("numpy", "cuda", "emulate")
ENV_VAR = "CNN_GPU_BACKEND"

_current: Backend | None = None


def _gpu_status():
    """``(available, why)`` from the toolchain's GPU probe; no probe installed means no GPU."""
    try:
        from cnn_gpu.cuda.device import gpu_status
    except ImportError as error:
        return False, f"no GPU support is installed ({error})"
    status = gpu_status()
    if status.available:
        return True, f"a GPU is usable ({status.reason})"
    return False, f"no usable GPU ({status.reason})"


def _kernel_backend(xp):
    try:
        from cnn_gpu.backend.kernel_backend import KernelBackend
    except ImportError as error:
        raise RuntimeError(f"the kernel backend (cnn_gpu.backend.kernel_backend) is not available: {error}") from error
    return KernelBackend(xp=xp)


def _build(name):
    if name == "numpy":
        from cnn_gpu.backend.numpy_backend import NumpyBackend

        return NumpyBackend()
    if name == "emulate":
        import numpy

        return _kernel_backend(numpy)
    try:
        import cupy
    except ImportError as error:
        raise RuntimeError(f"the 'cuda' backend needs CuPy (pip install 'cnn-gpu[gpu]'): {error}") from error
    return _kernel_backend(cupy)


def _check_name(name, source):
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


def _use(name, why):
    """Build backend ``name`` and make it the one in use, carrying the reason it was chosen."""
    global _current
    _current = _build(name)
    _current.reason = f"{name}: {why}"
    return _current


def set_backend(name):
    """Use backend ``name`` (numpy, cuda or emulate) from now on, and return it."""
    return _use(_check_name(name, "backend name"), "chosen by set_backend()")


def get_backend():
    """The backend in use: built on first call from $CNN_GPU_BACKEND or the GPU probe, then cached."""
    if _current is not None:
        return _current
    env_name = os.environ.get(ENV_VAR)
    if env_name:
        return _use(_check_name(env_name, f"${ENV_VAR}"), f"chosen by ${ENV_VAR}")
    available, why = _gpu_status()
    return _use("cuda" if available else "numpy", why)


def backend_reason():
    """One sentence: which backend is in use and why."""
    return get_backend().reason
