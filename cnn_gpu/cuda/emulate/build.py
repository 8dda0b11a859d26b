"""Compiling with the host C++ compiler, and the on-disk cache of what it built.

Two kinds of shared library, both cached in the ``emulate`` folder of the cache
(cnn_gpu.utils.files.cache_folder) under a hash of everything that goes into them:

- the runtime (fibers, scheduler, fault handler), built once per compiler and runtime version;
- one library per module: the .cu source (after the extern __shared__ rewrite) with the launch
  stubs appended, compiled against cuda_emu.h and linked to the runtime by its full path, so
  loading a module also loads (once) the runtime it was built for.

Writes are atomic (build under a temporary name, then ``os.replace``), so processes sharing the
cache never load a half-written file. A test run builds hundreds of modules, and every edit of a
kernel or of the emulator makes new ones: past CACHE_LIMIT_BYTES, the first build of a process
removes the least recently used (cnn_gpu.utils.files.prune_cache).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from cnn_gpu.utils.files import atomic_write, build_folder, find_cached, prune_cache
from .errors import EmulatorCompileError

NATIVE_DIR = Path(__file__).parent / "native"
HEADER = NATIVE_DIR / "cuda_emu.h"
# -O1: measured as fast as -O2 on the tiled SGEMM (the time goes to fiber switches and memory)
#   and compiling as fast (parsing the header dominates), while a debugger still sees variables.
# -ffp-contract=off: no fused multiply-adds but those the source asks for (fmaf), so results do
#   not depend on the host CPU; a GPU contracts a*b+c, so tests compare with tolerances.
# -fno-strict-aliasing: kernels reinterpret float* as float4* and the like.
# -fstack-clash-protection: a large stack frame touches each page, so overflow hits the guard page.
KERNEL_FLAGS = ("-O1", "-g", "-fPIC", "-shared", "-ffp-contract=off", "-fno-strict-aliasing",
                "-fstack-clash-protection")
RUNTIME_FLAGS = ("-std=c++17", "-O2", "-g", "-fPIC", "-shared")
# What the build cache may hold before its least recently used files go: about 1,600 modules of
# 1.2 MB (a GEMM file's), several full test runs' worth.
CACHE_LIMIT_BYTES = 2 << 30
# On aarch64 g++ probes large frames every 64 KiB unless told the guard is one 4 KiB page.
ARCH = platform.machine().replace("arm64", "aarch64")
ARCH_KERNEL_FLAGS = {"aarch64": ("--param=stack-clash-protection-guard-size=12",)}.get(ARCH, ())


def cache_dir() -> Path:
    """Where new builds go (cnn_gpu.utils.files.build_folder); find_cached finds earlier ones."""
    return build_folder("emulate")


def compiler() -> str:
    return os.environ.get("CXX", "g++")


@functools.cache
def compiler_version(cxx: str) -> str:
    try:
        done = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise EmulatorCompileError(
            f"the CUDA emulator needs a C++17 compiler; {cxx!r} did not run ({e}). Install g++ "
            "or set CXX."
        ) from None
    return done.stdout


def fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:32]


def _native_files() -> list[Path]:
    return sorted(p for p in NATIVE_DIR.rglob("*") if p.suffix in (".h", ".cpp", ".S"))


def header_version() -> str:
    """Changes whenever any file of the emulator's C++ side changes."""
    return fingerprint(*(p.read_bytes() for p in _native_files()))


def runtime_library() -> Path:
    cxx = compiler()
    key = fingerprint(header_version(), compiler_version(cxx), *RUNTIME_FLAGS)
    name = f"runtime-{key}.so"
    found = find_cached("emulate", name)
    if found is not None:
        return found / name
    runtime = NATIVE_DIR / "runtime"
    switch = runtime / f"switch_{ARCH}.S"
    if not switch.exists():
        raise EmulatorCompileError(f"the CUDA emulator does not run on {ARCH}")
    target = cache_dir() / name
    _compile_atomically([cxx, *RUNTIME_FLAGS, *map(str, sorted(runtime.glob("*.cpp")) + [switch])], target,
                        "the emulator runtime")
    return target


def kernel_library(runtime: Path, source: str, source_file: Path, stubs: str, include_dirs: list[Path],
                   defines: list[str], std: str, extra_key: list[str]) -> Path:
    """Build (or find in the cache) the library of one module.

    ``source`` is the rewritten kernel source; g++ reports errors at ``source_file``'s lines.
    ``extra_key`` holds what else the result depends on (the included headers' contents).
    """
    cxx = compiler()
    key = fingerprint(str(runtime), source, str(source_file), stubs, *map(str, include_dirs), *defines, std,
                      *extra_key, header_version(), compiler_version(cxx), *KERNEL_FLAGS, *ARCH_KERNEL_FLAGS)
    found = find_cached("emulate", f"module-{key}.so")
    if found is not None:
        return found / f"module-{key}.so"
    target, program = cache_dir() / f"module-{key}.so", cache_dir() / f"module-{key}.cpp"
    text = f'#line 1 "{source_file}"\n{source}\n{stubs}'
    with atomic_write(program, "w") as file:
        file.write(text)
    command = [cxx, f"-std={std}", *KERNEL_FLAGS, *ARCH_KERNEL_FLAGS, "-include", str(HEADER),
               *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines),
               "-x", "c++", str(program), "-x", "none", str(runtime), "-Wl,-z,defs"]
    _compile_atomically(command, target, str(source_file))
    return target


def _compile_atomically(command: list[str], target: Path, what: str) -> None:
    prune_cache(target.parent, CACHE_LIMIT_BYTES)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        done = subprocess.run([*command, "-o", temporary], capture_output=True, text=True)
        if done.returncode != 0:
            raise EmulatorCompileError(f"{command[0]} could not compile {what}:\n{done.stderr.strip()}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
