"""Kernel signatures: every launch is checked against the C parameter list before anything runs.

A kernel wrapper declares each kernel once, at module level::

    TRANSPOSE = Kernel("transpose.cu", "transpose_smem_tiled",
                       [Array("src", "float32"), Array("dst", "float32"),
                        Scalar("rows", "int32"), Scalar("cols", "int32")])
    TRANSPOSE(grid, block, (src, dst, rows, cols))

and calls it like a CuPy RawKernel. Why the checks: CuPy passes a Python int as int64 and a float
as float64, and a kernel reading an ``int`` or ``float`` parameter then sees garbage, silently; a
float64 array handed to a ``float*`` is read as twice as many wrong numbers. So each array's dtype,
C-contiguity, ndim (if declared) and device are checked, and each scalar is cast to the exact C type
after a range check, on both kernel backends, before the module is even compiled.

Templated kernels are declared by a name expression (``"row_reduce_shuffle<float, Reduce::sum>"``).
Modules compile lazily, at the first launch of any kernel of a file: one compile per (file,
options, backend) with the name expressions of every kernel declared for that file.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass

import numpy as np

from .dispatch import KERNEL_BACKENDS, default_kernel_backend, open_module
# CUDA's launch limits, defined once (the emulator enforces them too).
from .emulate.module import MAX_BLOCK, MAX_GRID, MAX_THREADS_PER_BLOCK
from .sources import kernel_path


class KernelArgumentError(TypeError):
    """An argument does not match the kernel's declared signature; nothing was launched."""


@dataclass(frozen=True)
class Array:
    """A pointer parameter: ``dtype`` is the element type (``"float32"`` for ``float*``)."""

    name: str
    dtype: str
    ndim: int | None = None

    def check(self, value, kernel: str, backend: str):
        where = f"{kernel}: argument {self.name!r}"
        expected_type = _array_type(backend)
        if not isinstance(value, expected_type):
            raise KernelArgumentError(
                f"{where} must be a {expected_type.__module__}.ndarray on the {backend!r} backend, "
                f"got {type(value).__module__}.{type(value).__name__}"
            )
        if value.dtype != np.dtype(self.dtype):
            raise KernelArgumentError(f"{where} must have dtype {self.dtype}, got {value.dtype}")
        if not value.flags.c_contiguous:
            raise KernelArgumentError(f"{where} must be C-contiguous (got strides {value.strides})")
        if self.ndim is not None and value.ndim != self.ndim:
            raise KernelArgumentError(f"{where} must be {self.ndim}-D, got shape {value.shape}")
        if backend == "cuda":
            _check_current_device(value, where)
        return value


@dataclass(frozen=True)
class Scalar:
    """A by-value parameter of C type ``ctype``: int32, uint32, int64, uint64, float32 or float64."""

    name: str
    ctype: str

    def check(self, value, kernel: str, backend: str):
        where = f"{kernel}: argument {self.name!r} ({self.ctype})"
        dtype = np.dtype(self.ctype)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise KernelArgumentError(f"{where} must be a number, got {type(value).__name__}")
        if dtype.kind in "iu":
            if not isinstance(value, (int, np.integer)):
                raise KernelArgumentError(f"{where} must be an integer, got {type(value).__name__} {value!r}")
            limits = np.iinfo(dtype)
            if not limits.min <= int(value) <= limits.max:
                raise KernelArgumentError(f"{where} = {value} is outside [{limits.min}, {limits.max}]")
            return dtype.type(value)
        if math.isfinite(value) and abs(float(value)) > float(np.finfo(dtype).max):
            raise KernelArgumentError(f"{where} = {value} overflows {self.ctype}")
        return dtype.type(value)


def backend_xp(backend: str):
    """The array module whose arrays kernels take on ``backend``: CuPy for cuda, NumPy for emulate."""
    if backend == "cuda":
        import cupy

        return cupy
    return np


def _array_type(backend: str):
    return backend_xp(backend).ndarray


def _check_current_device(value, where: str):
    import cupy

    current = cupy.cuda.Device().id
    if value.device.id != current:
        raise KernelArgumentError(f"{where} is on GPU {value.device.id}, but the current device is GPU {current}")


def resolve_backend(backend: str | None) -> str:
    """``backend`` checked, or the default kernel backend when it is None."""
    backend = backend or default_kernel_backend()
    if backend not in KERNEL_BACKENDS:
        raise ValueError(f"kernel backend must be one of {KERNEL_BACKENDS}, got {backend!r}")
    return backend


def check_shape(array, expected, name: str):
    """Fail unless ``array.shape`` matches ``expected``, where a ``None`` entry matches any size."""
    shape = tuple(array.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if not ok:
        sizes = ["any" if e is None else str(e) for e in expected]
        wanted = f"({', '.join(sizes)}{',' if len(sizes) == 1 else ''})"
        raise ValueError(f"{name} must have shape {wanted}, got {shape}")
    return array


def check_launch(grid, block, shared_mem, kernel: str):
    """Grid and block as 3-tuples of ints within CUDA's limits; anything else is an error here."""
    dims = []
    for what, value, limits in (("grid", grid, MAX_GRID), ("block", block, MAX_BLOCK)):
        value = tuple(value) + (1,) * (3 - len(tuple(value)))
        if len(value) != 3 or not all(isinstance(v, (int, np.integer)) and 1 <= v <= m for v, m in zip(value, limits)):
            raise KernelArgumentError(f"{kernel}: {what} {value} must be 1 to 3 positive ints within {limits}")
        dims.append(tuple(int(v) for v in value))
    if dims[1][0] * dims[1][1] * dims[1][2] > MAX_THREADS_PER_BLOCK:
        raise KernelArgumentError(f"{kernel}: block {dims[1]} has more than {MAX_THREADS_PER_BLOCK} threads")
    if not isinstance(shared_mem, (int, np.integer)) or shared_mem < 0:
        raise KernelArgumentError(f"{kernel}: shared_mem must be a non-negative int, got {shared_mem!r}")
    return dims[0], dims[1], int(shared_mem)


# Every declared kernel, in declaration order: the compile check and `cnn-gpu kernels` read this.
_REGISTRY: dict[tuple[str, str, tuple], Kernel] = {}
# (file, options, backend, name expressions) -> a compiled module.
_MODULES: dict = {}
# (file, options) -> (Kernel.declarations when computed, name expressions).
_EXPRESSIONS: dict = {}


class Kernel:
    """One kernel of ``kernels/<file>``, its parameters, and how it may compile."""

    declarations = 0  # counts every declaration: cached name expressions go stale when it moves

    def __init__(self, file: str, name: str, params, *, options=(), may_spill: bool = False):
        self.file = file
        self.name = name  # an extern "C" name, or a name expression for a template instance
        self.params = tuple(params)
        self.options = tuple(options)
        self.may_spill = may_spill
        key = (file, name, self.options)
        if key in _REGISTRY and _REGISTRY[key].params != self.params:
            raise ValueError(f"kernel {name} of {file} declared twice with different parameters")
        _REGISTRY[key] = self
        Kernel.declarations += 1

    @property
    def templated(self) -> bool:
        return "<" in self.name

    def __repr__(self):
        return f"Kernel({self.file!r}, {self.name!r})"

    def check_args(self, args, backend: str) -> tuple:
        """``args`` checked and cast in order, or a ``KernelArgumentError`` naming the first bad one."""
        if len(args) != len(self.params):
            names = ", ".join(p.name for p in self.params)
            raise KernelArgumentError(f"{self.name} takes {len(self.params)} arguments ({names}), got {len(args)}")
        return tuple(param.check(value, self.name, backend) for param, value in zip(self.params, args))

    def __call__(self, grid, block, args, shared_mem=0, backend=None):
        """Check everything, compile the file if this is its first launch, then launch."""
        backend = resolve_backend(backend)
        grid, block, shared_mem = check_launch(grid, block, shared_mem, self.name)
        args = self.check_args(args, backend)
        function = module_for(self.file, self.options, backend).get_function(self.name)
        function(grid, block, args, shared_mem=shared_mem)


def declared_kernels() -> list[Kernel]:
    """Every kernel declared by the op modules (importing each ``cnn_gpu.ops`` module first)."""
    import cnn_gpu.ops

    for info in pkgutil.iter_modules(cnn_gpu.ops.__path__, "cnn_gpu.ops."):
        importlib.import_module(info.name)
    return list(_REGISTRY.values())


def name_expressions_for(file: str, options: tuple) -> tuple[str, ...]:
    """The template instances declared for ``file`` compiled with ``options``.

    Asked at every launch, so the answer is kept until the next kernel declaration.
    """
    declared_at, expressions = _EXPRESSIONS.get((file, options), (-1, ()))
    if declared_at != Kernel.declarations:
        expressions = tuple(sorted({k.name for k in _REGISTRY.values()
                                    if k.file == file and k.options == options and k.templated}))
        _EXPRESSIONS[file, options] = (Kernel.declarations, expressions)
    return expressions


def module_for(file: str, options: tuple, backend: str):
    """The compiled module of ``file`` on ``backend``, compiled on first use.

    The key holds the name expressions too: an op module imported after the first compile adds
    template instances, and the file is compiled once more with them.
    """
    expressions = name_expressions_for(file, options)
    key = (file, options, backend, expressions)
    if key not in _MODULES:
        _MODULES[key] = open_module(backend, path=str(kernel_path(file)), options=options,
                                    name_expressions=list(expressions) or None)
    return _MODULES[key]
