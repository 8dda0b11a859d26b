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
Modules compile lazily, at a kernel's first launch: on the GPU a module per template instance (and
one for a file's ``extern "C"`` kernels), in the emulator a module per file with every instance
declared for it (``module_expressions`` says why).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass, field

import numpy as np

from .dispatch import KERNEL_BACKENDS, default_kernel_backend, open_module
# CUDA's launch limits, defined once (the emulator enforces them too).
from .emulate.module import MAX_BLOCK, MAX_GRID, MAX_THREADS_PER_BLOCK
from .errors import KernelArgumentError
from .sources import compute_capability, kernel_path, target_arch
from ..utils.checks import only_ints


@dataclass(frozen=True)
class Array:
    """A pointer parameter: ``dtype`` is the element type (``"float32"`` for ``float*``)."""

    name: str
    dtype: str
    ndim: int | None = None
    # The parsed dtype, kept so a launch compares instead of parsing (launches are a hot path).
    _dtype: np.dtype = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_dtype", np.dtype(self.dtype))

    def check(self, value, kernel: str, backend: str):
        """``value`` if it fits, but for its device: check_device, once the current one is known."""
        expected_type = backend_xp(backend).ndarray
        if not isinstance(value, expected_type):
            raise KernelArgumentError(
                f"{self.where(kernel)} must be a {expected_type.__module__}.ndarray on the {backend!r} backend, "
                f"got {type(value).__module__}.{type(value).__name__}"
            )
        if value.dtype != self._dtype:
            raise KernelArgumentError(f"{self.where(kernel)} must have dtype {self.dtype}, got {value.dtype}")
        if not value.flags.c_contiguous:
            raise KernelArgumentError(f"{self.where(kernel)} must be C-contiguous (got strides {value.strides})")
        if self.ndim is not None and value.ndim != self.ndim:
            raise KernelArgumentError(f"{self.where(kernel)} must be {self.ndim}-D, got shape {value.shape}")
        return value

    def check_device(self, value, kernel: str, device: int):
        """Fail unless the CuPy array ``value`` is on GPU ``device``, the current one."""
        # CuPy itself compares data.device_id with the current device; value.device.id would build
        # a Device object first.
        if value.data.device_id != device:
            raise KernelArgumentError(
                f"{self.where(kernel)} is on GPU {value.data.device_id}, but the current device is GPU {device}")

    def where(self, kernel: str) -> str:
        return f"{kernel}: argument {self.name!r}"


@dataclass(frozen=True)
class Scalar:
    """A by-value parameter of C type ``ctype``: int32, uint32, int64, uint64, float32 or float64."""

    name: str
    ctype: str
    # The C type's NumPy scalar type and its range, worked out once (np.iinfo is slow to build), the
    # range as Python numbers (they compare fastest with the Python numbers callers pass), and the
    # Python type callers usually pass for this C type: int for the integers, float for the floats.
    _type: type = field(init=False, repr=False, compare=False)
    _range: tuple = field(init=False, repr=False, compare=False)
    _usual: type = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        dtype = np.dtype(self.ctype)
        usual = int if dtype.kind in "iu" else float
        limits = np.iinfo(dtype) if usual is int else np.finfo(dtype)
        object.__setattr__(self, "_type", dtype.type)
        object.__setattr__(self, "_range", (usual(limits.min), usual(limits.max)))
        object.__setattr__(self, "_usual", usual)

    def check(self, value, kernel: str, backend: str = ""):
        """``value`` as the exact C type (``backend`` is for Array.check's signature)."""
        kind = type(value)
        if kind is self._type:  # already the exact C type: nothing to convert or range-check
            return value
        low, high = self._range
        if kind is self._usual and low <= value <= high:  # the usual case, settled in two comparisons
            return self._type(value)
        # Everything else: refused with the reason, or (another integer or float type, NaN or an
        # infinity for a float parameter) range-checked and converted.
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise KernelArgumentError(f"{self.where(kernel)} must be a number, got {type(value).__name__}")
        if self._usual is int:
            if not isinstance(value, (int, np.integer)):
                raise KernelArgumentError(
                    f"{self.where(kernel)} must be an integer, got {type(value).__name__} {value!r}")
            if not low <= int(value) <= high:
                raise KernelArgumentError(f"{self.where(kernel)} = {value} is outside [{low}, {high}]")
        elif math.isfinite(value) and abs(float(value)) > high:
            raise KernelArgumentError(f"{self.where(kernel)} = {value} overflows {self.ctype}")
        return self._type(value)

    def where(self, kernel: str) -> str:
        return f"{kernel}: argument {self.name!r} ({self.ctype})"


def backend_xp(backend: str):
    """The array module whose arrays kernels take on ``backend``: CuPy for cuda, NumPy for emulate."""
    if backend == "cuda":
        import cupy

        return cupy
    return np


def current_device(backend: str) -> int:
    """The current GPU's index on the cuda backend (0 on the emulator). A CUDA runtime call, so a
    launch asks once for all its arrays, and after their other checks: it fails without a driver,
    and a wrong argument should still be named there."""
    if backend != "cuda":
        return 0
    import cupy

    return cupy.cuda.runtime.getDevice()


def runs_here(file: str, backend: str) -> bool:
    """Whether kernels of ``file`` can run on ``backend`` here: always in the emulator; on the GPU when
    the file needs no particular architecture (sources.ARCH_SPECIFIC) or the device is that one."""
    arch = target_arch(file)
    if backend != "cuda" or arch is None:
        return True
    import cupy

    return compute_capability(arch) == cupy.cuda.Device().compute_capability


def resolve_backend(backend: str | None) -> str:
    """``backend`` checked, or the default kernel backend when it is None."""
    backend = backend or default_kernel_backend()
    if backend not in KERNEL_BACKENDS:
        raise ValueError(f"kernel backend must be one of {KERNEL_BACKENDS}, got {backend!r}")
    return backend


_INTEGER = (int, np.integer)


def _launch_dims(what: str, value, limits, kernel: str) -> tuple[int, int, int]:
    """``value`` (1 to 3 ints, the missing ones 1) as a 3-tuple of Python ints within ``limits``."""
    dims = tuple(value)
    dims += (1,) * (3 - len(dims))
    if len(dims) == 3:  # spelled out, not looped: launches are a hot path
        x, y, z = dims
        if (isinstance(x, _INTEGER) and isinstance(y, _INTEGER) and isinstance(z, _INTEGER)
                and 1 <= x <= limits[0] and 1 <= y <= limits[1] and 1 <= z <= limits[2]):
            return int(x), int(y), int(z)
    raise KernelArgumentError(f"{kernel}: {what} {dims} must be 1 to 3 positive ints within {limits}")


# Geometries already checked, by (grid, block, shared_mem) as passed: a training step launches the same
# few dozen each step, and a dict lookup costs a tenth of checking one again.
_CHECKED_LAUNCHES: dict = {}
_MAX_CHECKED_LAUNCHES = 4096  # past this many, the dict starts again (batch sizes vary, shapes little)


def check_launch(grid, block, shared_mem, kernel: str):
    """Grid and block as 3-tuples of ints within CUDA's limits; anything else is an error here."""
    # Hashable, and no bool or float.
    if type(grid) is tuple and type(block) is tuple and type(shared_mem) is int and only_ints(grid + block):
        key = (grid, block, shared_mem)
        checked = _CHECKED_LAUNCHES.get(key)
        if checked is None:
            if len(_CHECKED_LAUNCHES) >= _MAX_CHECKED_LAUNCHES:
                _CHECKED_LAUNCHES.clear()
            checked = _CHECKED_LAUNCHES[key] = _check_launch(grid, block, shared_mem, kernel)
        return checked
    return _check_launch(grid, block, shared_mem, kernel)


def _check_launch(grid, block, shared_mem, kernel: str):
    grid, block = _launch_dims("grid", grid, MAX_GRID, kernel), _launch_dims("block", block, MAX_BLOCK, kernel)
    if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
        raise KernelArgumentError(f"{kernel}: block {block} has more than {MAX_THREADS_PER_BLOCK} threads")
    if not isinstance(shared_mem, _INTEGER) or shared_mem < 0:
        raise KernelArgumentError(f"{kernel}: shared_mem must be a non-negative int, got {shared_mem!r}")
    return grid, block, int(shared_mem)


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
        self.array_positions = tuple(i for i, param in enumerate(self.params) if isinstance(param, Array))
        # What check_args's fast path compares each argument with (see _cast_if_usual).
        self._usual_arrays = tuple((i, param._dtype, param.ndim) for i, param in enumerate(self.params)
                                   if isinstance(param, Array))
        self._usual_scalars = tuple((i, param._type, param._usual, *param._range)
                                    for i, param in enumerate(self.params) if isinstance(param, Scalar))
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
        checked = self._cast_if_usual(args, backend_xp(backend).ndarray)
        if checked is None:  # something unusual, maybe wrong: every check in turn, which names the first bad one
            checked = tuple([param.check(value, self.name, backend) for param, value in zip(self.params, args)])
        if backend == "cuda":
            device = current_device(backend)
            for i in self.array_positions:
                if checked[i].data.device_id != device:
                    self.params[i].check_device(checked[i], self.name, device)
        return checked

    def _cast_if_usual(self, args, ndarray) -> tuple | None:
        """``args`` as check_args returns them, when each is what wrappers pass: an array exactly of
        type ``ndarray``, of its dtype and ndim, C-contiguous; a scalar of its exact C type, or an int
        (a float for a float parameter) within range. Otherwise None, and Array.check and Scalar.check
        decide. The same checks, inline: a launch passes up to 45 arguments, and a call of each one's
        check cost more than the check itself."""
        for i, dtype, ndim in self._usual_arrays:
            value = args[i]
            if (type(value) is not ndarray or (value.dtype is not dtype and value.dtype != dtype)
                    or not value.flags.c_contiguous or (ndim is not None and value.ndim != ndim)):
                return None
        checked = list(args)
        for i, exact, usual, low, high in self._usual_scalars:
            value = args[i]
            kind = type(value)
            if kind is usual and low <= value <= high:
                checked[i] = exact(value)
            elif kind is not exact:
                return None
        return tuple(checked)

    def cast(self, **scalars) -> tuple:
        """The named scalar arguments as their parameters' exact C types, in the order given, checked as
        a launch checks them: for a wrapper that keeps the ones that stay the same from launch to launch."""
        params = {param.name: param for param in self.params}
        return tuple(params[name].check(value, self.name) for name, value in scalars.items())

    def __call__(self, grid, block, args, shared_mem=0, backend=None):
        """Check everything, compile the file if this is its first launch, then launch."""
        backend = resolve_backend(backend)
        self.launch_checked(check_launch(grid, block, shared_mem, self.name), self.check_args(args, backend), backend)

    def launch_checked(self, geometry, args, backend: str):
        """Launch with nothing checked again: ``geometry`` as check_launch returns it, ``args`` as
        check_args does (or cast and checked by the same Array and Scalar checks: gemm() checks each
        array once per call and keeps the rest per problem shape), ``backend`` resolved. Compiles the
        file if this is its first launch."""
        grid, block, shared_mem = geometry
        module_for(self, backend).get_function(self.name)(grid, block, args, shared_mem=shared_mem)


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


def module_expressions(kernel: Kernel, backend: str) -> tuple[str, ...]:
    """The name expressions of the module that serves ``kernel`` on ``backend``.

    On the GPU, the kernel's own instance alone (none for an ``extern "C"`` kernel: those are in
    every build of their file). NVRTC spends its time on each instance's code and shares next to
    nothing between them: on the 2-core dev machine, for sm_90, gemm_wgmma.cu's 13 instances took
    26.2 s together and 24.0 s one by one, the longest 2.6 s; the whole library 133.9 s against 143.8
    (``benchmarks/results/compile_modules_devbox_sm_90.json``). So a process compiles only the instances
    it launches, and ``cnn-gpu compile`` spreads them over every core, where a module a file waited
    for its slowest file (gemm_wgmma.cu, 68 s of gpu_check.sh's 70 s compile step at ac366b0, H200
    host, ``benchmarks/results/gpu_check.log``). The emulator's builds have a fixed cost each, the
    host compiler reading the emulator's headers, so there a file's instances build together."""
    if backend == "cuda":
        return (kernel.name,) if kernel.templated else ()
    return name_expressions_for(kernel.file, kernel.options)


def module_build(file: str, options: tuple) -> tuple:
    """What ``file`` compiled with ``options`` is built from: its path, and the options with the
    architecture the file must be built for (if any)."""
    arch = target_arch(file)
    return kernel_path(file), (*options, f"-arch={arch}") if arch else options


def module_for(kernel: Kernel, backend: str):
    """The compiled module that serves ``kernel`` on ``backend`` (module_expressions), compiled on
    first use. The key holds the name expressions: in the emulator an op module imported after the
    first compile adds template instances, and the file is compiled once more with them."""
    expressions = module_expressions(kernel, backend)
    key = (kernel.file, kernel.options, backend, expressions)
    if key not in _MODULES:
        path, build_options = module_build(kernel.file, kernel.options)
        _MODULES[key] = open_module(backend, path=str(path), options=build_options,
                                    name_expressions=list(expressions) or None)
    return _MODULES[key]
