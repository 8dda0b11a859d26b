"""``EmulatedModule``: cupy.RawModule's interface, running kernels on the CPU."""

from __future__ import annotations

import ctypes
import os
import re
import zlib
from pathlib import Path

import numpy as np

from cnn_gpu.utils.files import atomic_write, find_cached

from . import build, launch, source
from .checked import ArrayArg, run_checked
from .errors import EmulationError, KernelArgumentError, LaunchConfigError

MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)
MAX_THREADS_PER_BLOCK = 1024
MAX_DYNAMIC_SHARED = 227 * 1024  # CNN_EMU_MAX_DYNAMIC_SHARED
MAX_CLUSTER_BLOCKS = 8  # kMaxClusterBlocks: a portable cluster size
MAX_CLUSTER_THREADS = 2048  # kMaxThreads: the threads the emulator runs together


def checked_mode() -> bool:
    return os.environ.get("CNN_GPU_EMULATE_CHECKED", "").lower() in ("1", "true", "yes", "on")


class EmulatedModule:
    """A CUDA C module compiled for the CPU; the same arguments as ``cupy.RawModule``.

    ``options`` honoured: ``-I<dir>`` (also ``-I dir``, ``--include-path=``), ``-D<name>[=value]``
    (also ``--define-macro=``), ``-std=c++17`` or later; other options (``--use_fast_math``,
    ``-arch=...``) are accepted and ignored. A ``path=`` module also searches its own folder.
    Compiles on first use (``get_function`` or ``compile``).
    """

    def __init__(self, code=None, path=None, options=(), name_expressions=None):
        if (code is None) == (path is None):
            raise TypeError("EmulatedModule takes exactly one of code= and path=")
        self._path = Path(path).resolve() if path is not None else None
        self._code = code if code is not None else self._path.read_text()
        self._include_dirs, self._defines, self._std = _parse_options(options)
        if self._path is not None:
            self._include_dirs.append(self._path.parent)
        self._name_expressions = tuple(name_expressions or ())
        self._kernels = source.find_kernels(self._code)
        plain = [k.name for k in self._kernels.values() if not k.is_template]
        self._entries = list(dict.fromkeys(plain + list(self._name_expressions)))
        self._library: ctypes.CDLL | None = None
        self._runtime: ctypes.CDLL | None = None
        self._functions: dict[str, EmulatedKernel] = {}

    @property
    def name(self) -> str:
        return str(self._path) if self._path else "<code>"

    def compile(self) -> None:
        if self._library is not None:
            return
        source_file = self._path
        if source_file is None:  # keep the code in the cache, so compile errors point at a real file
            name = f"code-{build.fingerprint(self._code)}.cu"
            found = find_cached("emulate", name)
            source_file = (found or build.cache_dir()) / name
            if found is None:
                with atomic_write(source_file, "w") as file:
                    file.write(self._code)
        headers = source.included_files(self._code, source_file.parent, self._include_dirs)
        runtime = build.runtime_library()
        path = build.kernel_library(
            runtime, source.rewrite_extern_shared(self._code), source_file, source.launch_stubs(self._entries),
            self._include_dirs, self._defines, self._std,
            extra_key=[f"{h}\n{h.read_text(errors='replace')}" for h in headers])
        self._runtime = launch.runtime(str(runtime))  # loaded first: the module links to it
        self._library = ctypes.CDLL(str(path))

    def get_function(self, name: str) -> "EmulatedKernel":
        """The kernel ``name``: an ``extern "C"`` kernel or one of the name expressions."""
        if name in self._functions:
            return self._functions[name]
        if name not in self._name_expressions:
            decl = self._kernels.get(name)
            if decl is None or decl.is_template:
                raise EmulationError(
                    f"no kernel '{name}' in {self.name}: extern \"C\" kernels are "
                    f"{[k for k, d in self._kernels.items() if not d.is_template]}, name expressions "
                    f"{list(self._name_expressions)} (a templated kernel needs its instance there)")
        self.compile()
        if name not in self._name_expressions and not hasattr(self._library, name):
            raise EmulationError(
                f"kernel '{name}' in {self.name} has C++ linkage: declare it extern \"C\" or pass "
                "it in name_expressions, as CuPy requires")
        base = name.split("<")[0].strip()
        decl = self._kernels.get(base)
        kernel = EmulatedKernel(name, self._runtime, self._library, self._entries.index(name),
                                decl.params if decl else (), decl.cluster if decl else (1, 1, 1))
        self._functions[name] = kernel
        return kernel


def _parse_options(options) -> tuple[list[Path], list[str], str]:
    if isinstance(options, str):
        raise TypeError("options must be a tuple of strings, not one string")
    include_dirs, defines, std = [], [], "c++17"
    items = list(options)
    while items:
        option = items.pop(0)
        if not isinstance(option, str):
            raise TypeError(f"option {option!r} is not a string")
        for flag, target in (("-I", include_dirs), ("--include-path=", include_dirs),
                             ("-D", defines), ("--define-macro=", defines)):
            if option.startswith(flag):
                value = option[len(flag):] or (items.pop(0) if items else "")
                target.append(Path(value).resolve() if target is include_dirs else value)
                break
        else:
            version = re.fullmatch(r"--?std=c\+\+(\d\d)", option)
            if version and int(version.group(1)) > 17:  # below C++17, our header still needs 17
                std = f"c++{version.group(1)}"
    return include_dirs, defines, std


class EmulatedKernel:
    """A kernel of an ``EmulatedModule``, called as ``kernel(grid, block, args, shared_mem=0)``."""

    def __init__(self, name: str, runtime: ctypes.CDLL, library: ctypes.CDLL, index: int,
                 param_names: tuple[str, ...], cluster: tuple[int, int, int] = (1, 1, 1)):
        self.name, self._runtime, self.cluster = name, runtime, cluster
        describe = getattr(library, f"cnn_emu_params_{index}")
        describe.restype = ctypes.POINTER(launch.ParamInfo)
        count = ctypes.c_int()
        infos = describe(ctypes.byref(count))
        self.params = [(chr(p.kind), p.size, chr(p.pointee_kind) if p.pointee_kind else "", p.pointee_size)
                       for p in (infos[i] for i in range(count.value))]
        if len(param_names) != len(self.params):
            param_names = tuple(f"#{i}" for i in range(len(self.params)))
        self.param_names = param_names
        self._body = ctypes.cast(getattr(library, f"cnn_emu_body_{index}"), ctypes.c_void_p).value

    def __call__(self, grid, block, args, shared_mem=0):
        grid = _dims(grid, "grid", MAX_GRID, self.name)
        block = _dims(block, "block", MAX_BLOCK, self.name)
        if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
            raise LaunchConfigError(f"kernel '{self.name}': block {block} has more than 1024 threads")
        self._check_cluster(grid, block)
        if not isinstance(shared_mem, (int, np.integer)) or not 0 <= shared_mem <= MAX_DYNAMIC_SHARED:
            raise LaunchConfigError(
                f"kernel '{self.name}': shared_mem={shared_mem!r} must be an int from 0 to {MAX_DYNAMIC_SHARED}")
        if not isinstance(args, (tuple, list)):
            raise KernelArgumentError(f"kernel '{self.name}': args must be a tuple, not {type(args).__name__}")
        if len(args) != len(self.params):
            raise KernelArgumentError(
                f"kernel '{self.name}' takes {len(self.params)} arguments {self.param_names}, got {len(args)}")
        slots, keep_alive, arrays = (ctypes.c_void_p * max(len(args), 1))(), [], []
        for i, (arg, param) in enumerate(zip(args, self.params)):
            value = self._pack(i, arg, param)
            keep_alive.append(value)
            slots[i] = ctypes.addressof(value)
            if isinstance(arg, np.ndarray):
                arrays.append(ArrayArg(self.param_names[i], arg, value))
        seed = zlib.crc32(f"{self.name}{grid}{block}{shared_mem}".encode())
        if checked_mode():
            run_checked(self._runtime, self.name, self._body, slots, arrays, grid, block, int(shared_mem), seed,
                        self.cluster)
            return
        result = launch.run(self._runtime, self._body, slots, grid, block, int(shared_mem), "forward",
                            checked=False, print_=True, seed=seed, cluster=self.cluster)
        if result.status:
            raise launch.error_for(result, self.name)

    def _check_cluster(self, grid, block):
        """A thread-block cluster's launch as CUDA allows it, and as the emulator runs it: its blocks'
        threads together, whole warps each."""
        size = self.cluster[0] * self.cluster[1] * self.cluster[2]
        if size == 1:
            return
        threads = block[0] * block[1] * block[2]
        if any(g % c for g, c in zip(grid, self.cluster)):
            raise LaunchConfigError(f"kernel '{self.name}': grid {grid} is not a whole number of its clusters "
                                    f"{self.cluster} (__cluster_dims__)")
        if size > MAX_CLUSTER_BLOCKS or size * threads > MAX_CLUSTER_THREADS or threads % 32:
            raise LaunchConfigError(
                f"kernel '{self.name}': the emulator runs a cluster's blocks together, at most "
                f"{MAX_CLUSTER_BLOCKS} blocks, {MAX_CLUSTER_THREADS} threads in all, each block whole warps; "
                f"clusters of {self.cluster} blocks of {threads} threads are not emulated")

    def _pack(self, i: int, arg, param):
        kind, size, pointee_kind, pointee_size = param
        what = f"kernel '{self.name}': argument {i} ('{self.param_names[i]}')"
        if kind == "p":
            if not isinstance(arg, np.ndarray):
                raise KernelArgumentError(
                    f"{what} is a pointer parameter: pass a NumPy array, not {type(arg).__name__}")
            if not (arg.flags.c_contiguous or arg.flags.f_contiguous):
                raise KernelArgumentError(f"{what} is not contiguous: pass np.ascontiguousarray(...)")
            # A scalar pointee must match the dtype; void, char and struct pointees take any array.
            if pointee_kind in "iufb" and pointee_size > 1 and (
                    arg.dtype.kind != pointee_kind or arg.dtype.itemsize != pointee_size):
                expected = np.dtype(f"{pointee_kind}{pointee_size}")
                raise KernelArgumentError(f"{what} points to {expected}, but the array is {arg.dtype}")
            return ctypes.c_void_p(arg.ctypes.data)
        if kind == "?":
            raise KernelArgumentError(f"{what} has a parameter type the emulator cannot pass from Python")
        expected = np.dtype(bool) if kind == "b" else np.dtype(f"{kind}{size}")
        if not isinstance(arg, np.generic):
            raise KernelArgumentError(
                f"{what} must be a NumPy scalar of the parameter's exact type: pass "
                f"np.{expected.type.__name__}({arg!r})")
        if arg.dtype != expected:
            raise KernelArgumentError(f"{what} is {arg.dtype}, but the parameter is {expected}: cast it")
        return (ctypes.c_char * size).from_buffer_copy(arg.tobytes())


def _dims(value, what: str, limits: tuple, kernel: str) -> tuple[int, int, int]:
    if isinstance(value, (int, np.integer)):
        value = (value,)
    if (not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3
            or not all(isinstance(d, (int, np.integer)) for d in value)):
        raise LaunchConfigError(
            f"kernel '{kernel}': {what} must be an int or a tuple of up to 3 ints, not {value!r}")
    dims = tuple(int(d) for d in value) + (1,) * (3 - len(value))
    for d, limit, axis in zip(dims, limits, "xyz"):
        if not 1 <= d <= limit:
            raise LaunchConfigError(f"kernel '{kernel}': {what}.{axis} = {d} is outside 1..{limit}")
    return dims
