"""The ``cuda`` side of ``cnn_gpu.cuda.RawModule``: our kernels compiled by NVRTC, loaded by CuPy.

``CudaModule`` takes the arguments of ``cupy.RawModule`` (with ``path`` naming a ``.cu`` source,
not a cubin) and adds what CuPy leaves to the caller:

- every compile gets ``-std=c++17`` and ``-I`` the kernels folder, so ``#include "ptx.cuh"`` works
  from a checkout and from a wheel, and the architecture: the one the options name (``-arch=sm_90a``:
  Hopper's wgmma exists only in that arch-specific target, whose code runs only on a GPU of that
  compute capability, which the module checks), else the GPU's own (``sm_90``);
- one build per (source hash, options, name expressions) in this process, and a disk cache of
  cubins under them (cached_cubin), so that the next process loads what this one compiled. CuPy's
  own cache does not serve a module with name expressions (it compiles again to learn the mangled
  names, in every process), and NVRTC takes up to seconds over each GEMM instance. The cache keys on
  the source and the options, not on the files the source includes, so the options carry a hash of
  those that might be (compile_options): an edited ``ptx.cuh`` (or ``conv2d.cu``, which
  ``conv2d_wgmma.cu`` includes) is a new build, and the old one stays until the
  folder passes CUBIN_CACHE_LIMIT_BYTES and it is among the least recently used (prune_cache).
  ``cnn-gpu compile`` fills the cache for every declared kernel at once
  (``cnn_gpu/cuda/precompile.py``). CuPy's compile settings (``CUPY_CACHE_DIR``,
  ``CUPY_COMPILE_WITH_PTX``, ...) do not apply: CuPy only loads the cubins;
- a compile error names the ``.cu`` file, line and message;
- a launch that fails, or (with ``CNN_GPU_DEBUG_SYNC=1``) a kernel that faults while running,
  raises ``KernelLaunchError`` naming the kernel and its launch geometry. Without debug sync an
  asynchronous fault surfaces at the next synchronising call, wherever that is: rerun with
  ``CNN_GPU_DEBUG_SYNC=1`` to find the kernel.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cnn_gpu.utils.files import atomic_write, build_folder, find_cached, prune_cache
from .sources import compute_capability, kernels_dir

# What the cubin cache may hold before a new build removes its least recently used files (prune_cache):
# a build of every module (`cnn-gpu compile --all`) takes tens of MB for one GPU architecture.
CUBIN_CACHE_LIMIT_BYTES = 1 << 30
# Above this, a kernel may use dynamic shared memory only after raising its own limit.
DEFAULT_DYNAMIC_SHARED_LIMIT = 48 * 1024


class CompileError(RuntimeError):
    """NVRTC rejected a kernel source; the message is the compiler's, with the real file names."""


class KernelLaunchError(RuntimeError):
    """A kernel could not be launched, or faulted while running (seen with ``CNN_GPU_DEBUG_SYNC=1``)."""


def debug_sync_enabled() -> bool:
    """``CNN_GPU_DEBUG_SYNC=1``: synchronise after every launch so a fault names its kernel."""
    return os.environ.get("CNN_GPU_DEBUG_SYNC", "0") not in ("", "0")


def compile_options(options=(), source_dir: Path | None = None) -> tuple[str, ...]:
    """The NVRTC options of every build: C++17, the include folders, a hash of the headers and kernel
    files in them (a macro no kernel reads: it makes the disk cache's keys change with whatever a
    source may include, another kernel file too: conv2d_wgmma.cu includes conv2d.cu), then the
    caller's."""
    folders = [kernels_dir()]
    if source_dir is not None and source_dir != folders[0]:
        folders.insert(0, source_dir)
    digest = hashlib.sha256()
    for folder in folders:
        for header in sorted([*folder.glob("*.cuh"), *folder.glob("*.cu")]):
            digest.update(header.name.encode() + b"\0" + header.read_bytes() + b"\0")
    return ("-std=c++17", *(f"-I{folder}" for folder in folders), f"-DCNN_GPU_HEADERS={digest.hexdigest()[:16]}",
            *options)


def target_architecture(options) -> str | None:
    """The architecture ``-arch=``/``--gpu-architecture=`` names in ``options`` (``"sm_90a"``), or None."""
    for option in options:
        for prefix in ("-arch=", "--gpu-architecture="):
            if option.startswith(prefix):
                return option[len(prefix):]
    return None


def build_options(options, source_dir: Path | None, compute_capability: str) -> tuple[str, ...]:
    """Every option of a build: compile_options's, then the architecture (the one ``options`` names,
    else ``sm_<compute_capability>``, CuPy's spelling: ``"90"``), and ``-ftz=true``, as CuPy gives its
    own builds (subnormals flushed to zero; every figure in benchmarks/results was measured so)."""
    options = compile_options(tuple(options), source_dir)
    if target_architecture(options) is None:
        options += (f"-arch=sm_{compute_capability}",)
    return (*options, "-ftz=true")


def compile_cubin(code: str, options, name_expressions, label: str) -> tuple[bytes, dict[str, str]]:
    """``code`` compiled by NVRTC with ``options`` (which name the architecture) into a cubin, and the
    mangled name of each name expression. Needs NVRTC, not a GPU."""
    from cupy.cuda import nvrtc

    program = nvrtc.createProgram(code, label, (), ())
    try:
        for name in name_expressions:
            nvrtc.addNameExpression(program, name)
        try:
            nvrtc.compileProgram(program, tuple(options))
        except nvrtc.NVRTCError:
            raise CompileError(f"NVRTC could not compile {label}:\n{nvrtc.getProgramLog(program).strip()}") from None
        return nvrtc.getCUBIN(program), {name: nvrtc.getLoweredName(program, name) for name in name_expressions}
    finally:
        nvrtc.destroyProgram(program)


def nvrtc_version() -> tuple[int, int]:
    from cupy.cuda import nvrtc

    return tuple(nvrtc.getVersion())


def build_key(code: str, options, name_expressions) -> str:
    """A hash of everything an NVRTC build depends on: the source, the options (compile_options's
    carry the headers' hash), the name expressions and NVRTC's version."""
    digest = hashlib.sha256()
    for part in (code, *options, *name_expressions, repr(nvrtc_version())):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def build_files(key: str) -> tuple[str, str]:
    """The cache's two files of build ``key``: the cubin, and its name expressions' lowered names."""
    return f"{key}.cubin", f"{key}.json"


def cached_cubin(code: str, options, name_expressions, label: str) -> tuple[Path, dict[str, str]]:
    """compile_cubin's result as a cubin file and the lowered names, from the cache folder's ``cubin``
    (find_cached: read-only will do) when an earlier process built the same thing (build_key), else
    compiled and kept for the next (build_folder). NVRTC
    takes seconds to tens of seconds over each GEMM module, and every process that launches a
    kernel needs its module: a training run, each benchmark, each rung's tests in gpu_check.sh."""
    key = build_key(code, options, name_expressions)
    cubin_file, names_file = build_files(key)
    folder = find_cached("cubin", cubin_file, names_file)
    if folder is None:
        cubin, lowered_names = compile_cubin(code, options, name_expressions, label)
        folder = build_folder("cubin")
        prune_cache(folder, CUBIN_CACHE_LIMIT_BYTES)
        with atomic_write(folder / cubin_file) as out:
            out.write(cubin)
        with atomic_write(folder / names_file, "w") as out:  # last: its presence says the cubin is whole
            json.dump(lowered_names, out)
    return folder / cubin_file, json.loads((folder / names_file).read_text())


class CudaModule:
    """A compiled kernel source on the current GPU; ``get_function(name)`` gives a launchable kernel."""

    _builds: dict = {}  # (source hash, options, name expressions) -> (cupy.RawModule, lowered names)

    def __init__(self, code=None, path=None, options=(), name_expressions=None):
        import cupy

        from .device import gpu_status

        if (code is None) == (path is None):
            raise ValueError("CudaModule takes exactly one of code= (source text) or path= (a .cu file)")
        status = gpu_status()
        if not status.available:
            raise RuntimeError(f"the cuda kernel backend needs a usable GPU: {status.reason}")
        if path is not None:
            path = Path(path)
            code = path.read_text()
        self.label = str(path) if path is not None else "<code>"
        self.arch = cupy.cuda.Device().compute_capability
        target = target_architecture(options)
        if target is not None and compute_capability(target) != self.arch:
            raise RuntimeError(f"{self.label} is built for {target} only; this GPU is sm_{self.arch}")
        self.options = build_options(options, path.parent if path is not None else None, self.arch)
        self.name_expressions = tuple(sorted(set(name_expressions))) if name_expressions else ()
        key = (hashlib.sha256(code.encode()).hexdigest(), self.options, self.name_expressions)
        if key not in CudaModule._builds:
            cubin, lowered_names = cached_cubin(code, self.options, self.name_expressions, self.label)
            CudaModule._builds[key] = cupy.RawModule(path=str(cubin)), lowered_names
        self._raw, self._lowered_names = CudaModule._builds[key]
        self._functions: dict[str, CudaFunction] = {}

    def get_function(self, name: str) -> CudaFunction:
        """The kernel ``name`` (an ``extern "C"`` name, or one of the name expressions)."""
        if name not in self._functions:
            try:
                kernel = self._raw.get_function(self._lowered_names.get(name, name))
            except Exception as error:  # CuPy raises CUDADriverError or KeyError for a missing name
                raise KeyError(f"no kernel {name!r} in {self.label}: {error}") from None
            self._functions[name] = CudaFunction(kernel, name)
        return self._functions[name]


class CudaFunction:
    """One kernel; call it as ``kernel(grid, block, args, shared_mem=0)`` like a CuPy RawKernel.

    Launches are on the hot path of training (a few microseconds of Python each is all a small
    layer can afford), so nothing here is computed unless an error needs it.
    """

    def __init__(self, kernel, name: str):
        self.kernel = kernel
        self.name = name
        self.dynamic_shared_limit = DEFAULT_DYNAMIC_SHARED_LIMIT  # what the kernel is known to allow

    def __call__(self, grid, block, args, shared_mem=0):
        import cupy

        errors = (cupy.cuda.driver.CUDADriverError, cupy.cuda.runtime.CUDARuntimeError)
        try:
            if shared_mem > self.dynamic_shared_limit:
                # Above 48 KB a kernel must opt in; asked once per size, not at every launch.
                if shared_mem > self.kernel.max_dynamic_shared_size_bytes:
                    self.kernel.max_dynamic_shared_size_bytes = shared_mem
                self.dynamic_shared_limit = shared_mem
            self.kernel(tuple(grid), tuple(block), tuple(args), shared_mem=shared_mem)
        except errors as error:
            raise KernelLaunchError(f"launch of {self.describe(grid, block, shared_mem)} failed: {error}") from error
        if debug_sync_enabled():
            try:
                cupy.cuda.get_current_stream().synchronize()
            except errors as error:
                raise KernelLaunchError(f"{self.describe(grid, block, shared_mem)} faulted while running: {error}") \
                    from error

    def describe(self, grid, block, shared_mem):
        return f"kernel {self.name} (grid={tuple(grid)}, block={tuple(block)}, shared_mem={shared_mem})"
