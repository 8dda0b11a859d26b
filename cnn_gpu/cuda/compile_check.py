"""Compile every kernel with nvcc for each target architecture and read ptxas's resource report.

No GPU is needed: ``nvcc -cubin`` stops at machine code. Each ``kernels/*.cu`` file (every one
present, declared or not) is compiled once per architecture through a generated source that
includes it and takes the address of each template instance the registry declares for it (what
``name_expressions`` does under NVRTC), with warnings as errors. ptxas's ``-v`` report gives, per
kernel and architecture, registers, static shared memory, stack frame and spills.

A file that needs an architecture-specific target (``sources.ARCH_SPECIFIC``: wgmma's sm_90a) is
compiled for that one instead.

A kernel fails the check if it spills unless its ``Kernel`` declaration says ``may_spill=True``;
that flag covers every instance of the template of that name in that file. A file also fails if
ptxas reports a "Potential Performance Loss": an info message, not a warning, so ``-Werror`` lets it
pass, but it means code that runs far below what its source asks for (wgmma serialized, each one
waited for before the next issues, when ordinary instructions touch the accumulators of a wgmma in
flight, or seem to); or if it had to add a wgmma fence the source left out (info C7519, "warpgroup.arrive
is injected"): the source would then be wrong as PTX, its fences no longer the lesson they claim.

A file that passed keeps its report in the cache folder (``compile_check``), under a hash of everything
the check of it depends on (check_key): nvcc's version and flags, the architecture, every kernel
source, the instances declared for it. Checking it again with all of them the same finds that report,
where nvcc would take up to a minute to write the same one; a change to any of them compiles it anew.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..utils.files import kept_result
from .kernel import declared_kernels
from .sources import kernel_files, kernels_dir, target_arch

ARCHES = ("sm_80", "sm_90")
NVCC_FLAGS = ("-cubin", "-std=c++17", "-Werror", "all-warnings", "-Xptxas", "-v,-Werror")
CHECKS = "compile_check"  # the cache folder's subfolder of passed checks (cnn_gpu.utils.files.cache_folder)
CHECKS_CACHE_LIMIT_BYTES = 64 << 20  # a check of every file for both architectures keeps about 0.3 MB


@dataclass(frozen=True)
class KernelResources:
    file: str
    arch: str
    kernel: str  # demangled: "row_reduce_shuffle<float, (Reduce)0>" (enums print as their values)
    registers: int
    shared_bytes: int
    stack_bytes: int
    spill_store_bytes: int
    spill_load_bytes: int
    may_spill: bool

    @property
    def spills(self) -> bool:
        return self.spill_store_bytes > 0 or self.spill_load_bytes > 0


class CompileCheckError(RuntimeError):
    """nvcc rejected a kernel file (an error, or a warning made an error)."""


# Where the CUDA toolkit installs nvcc when it is not on PATH.
NVCC_FALLBACK = Path("/usr/local/cuda/bin/nvcc")


def find_nvcc() -> str | None:
    """nvcc on PATH, else the toolkit's default location, else None."""
    return shutil.which("nvcc") or (str(NVCC_FALLBACK) if os.access(NVCC_FALLBACK, os.X_OK) else None)


def instantiation_source(file: str, name_expressions) -> str:
    """A .cu that includes ``file`` and odr-uses each template instance, so nvcc emits its code."""
    lines = [f'#include "{file}"', "", "void cnn_gpu_instantiate_declared_kernels() {"]
    lines += [f"    (void)&{name};" for name in name_expressions]
    return "\n".join(lines + ["}", ""])


_PERFORMANCE_LOSS = re.compile(r"^.*Potential Performance Loss.*$", re.MULTILINE)
_MISSING_FENCE = re.compile(r"^.*\(C7519\).*$", re.MULTILINE)
_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+a?)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def parse_ptxas_report(text: str) -> list[dict]:
    """One dict per entry function: mangled name, arch, registers, smem, stack and spill bytes."""
    entries, current = [], None
    for line in text.splitlines():
        if match := _ENTRY.search(line):
            current = {"mangled": match[1], "arch": match[2], "shared_bytes": 0}
            entries.append(current)
        elif current and (match := _FRAME.search(line)):
            current.update(stack_bytes=int(match[1]), spill_store_bytes=int(match[2]), spill_load_bytes=int(match[3]))
        elif current and (match := _USED.search(line)):
            current.update(registers=int(match[1]), shared_bytes=int(match[2] or 0))
    return entries


def demangle(names: list[str]) -> list[str]:
    """C++ names as a reader writes them, minus the parameter list; mangled names if c++filt is missing."""
    if not names or not shutil.which("c++filt"):
        return names
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    # "void f<float, (Act)1>(float const*, int)": the parameter list opens after the last '>'.
    lines = [re.sub(r"^void ", "", line) for line in out.splitlines()]
    return [line[:line.index("(", line.rfind(">") + 1)] if "(" in line else line for line in lines]


def _base_name(kernel: str) -> str:
    return kernel.split("<")[0].strip()


def compile_file(nvcc: str, path: Path, arch: str, kernels) -> list[KernelResources]:
    """Compile one file for one architecture; CompileCheckError with nvcc's output if it fails."""
    mine = [k for k in kernels if k.file == path.name]
    spill_ok = {_base_name(k.name) for k in mine if k.may_spill}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"check_{path.stem}.cu"
        source.write_text(instantiation_source(path.name, sorted({k.name for k in mine if k.templated})))
        command = [nvcc, *NVCC_FLAGS, f"-arch={arch}", f"-I{path.parent}", f"-I{kernels_dir()}",
                   str(source), "-o", str(Path(tmp) / "out.cubin")]
        done = subprocess.run(command, capture_output=True, text=True)
    log = done.stdout + done.stderr
    if done.returncode != 0:
        raise CompileCheckError(f"nvcc failed on {path.name} for {arch}:\n{log.replace(str(source), source.name)}")
    if losses := _PERFORMANCE_LOSS.findall(log):
        raise CompileCheckError(f"ptxas reports a performance loss in {path.name} for {arch}:\n" + "\n".join(losses))
    if fences := _MISSING_FENCE.findall(log):
        raise CompileCheckError(f"ptxas added wgmma fences missing from {path.name} for {arch}:\n" + "\n".join(fences))
    entries = parse_ptxas_report(log)
    names = demangle([e["mangled"] for e in entries])
    return [KernelResources(file=path.name, arch=e["arch"], kernel=name, registers=e["registers"],
                            shared_bytes=e["shared_bytes"], stack_bytes=e["stack_bytes"],
                            spill_store_bytes=e["spill_store_bytes"], spill_load_bytes=e["spill_load_bytes"],
                            may_spill=_base_name(name) in spill_ok)
            for e, name in zip(entries, names)]


def arches_for(file: str, arches=ARCHES) -> tuple[str, ...]:
    """The architectures ``file`` is checked for: its own target if it needs one, else ``arches``."""
    return (target_arch(file),) if target_arch(file) else tuple(arches)


def nvcc_version(nvcc: str) -> str:
    return subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout


def check_key(version: str, path: Path, arch: str, kernels) -> str:
    """What the check of ``path`` for ``arch`` depends on: nvcc's ``version`` and flags, whether c++filt
    names the kernels, the file and every kernel source it may include (those beside it and in
    kernels/: conv2d_wgmma.cu includes conv2d.cu), and the instances and may_spill flags ``kernels``
    declares for it. Contents, not paths: another checkout of the same sources finds the same key."""
    digest = hashlib.sha256("\0".join([version, *NVCC_FLAGS, arch, str(bool(shutil.which("c++filt")))]).encode())
    for source in sorted({*path.parent.glob("*.cu*"), *kernels_dir().glob("*.cu*"), path}):
        digest.update(b"\0" + source.name.encode() + b"\0" + source.read_bytes())
    digest.update(b"\0" + path.name.encode())
    for kernel in kernels:
        if kernel.file == path.name:
            digest.update(f"\0{kernel.name}:{kernel.may_spill}".encode())
    return digest.hexdigest()


def checked_file(nvcc: str, version: str, path: Path, arch: str, kernels, refresh: bool = False):
    """compile_file's rows: those an earlier check of the same sources kept (check_key), else, or with
    ``refresh``, compiled anew, and kept if they pass."""
    return kept_result(CHECKS, check_key(version, path, arch, kernels),
                       lambda: [asdict(row) for row in compile_file(nvcc, path, arch, kernels)],
                       CHECKS_CACHE_LIMIT_BYTES, lambda rows: [KernelResources(**row) for row in rows], refresh)


def check_all(nvcc: str, files=None, arches=ARCHES, refresh: bool = False) -> list[KernelResources]:
    """Every file for every architecture (checked_file: compiled where no earlier check kept it, in
    parallel); raises on the first file that fails."""
    kernels, version = declared_kernels(), nvcc_version(nvcc)
    jobs = [(path, arch) for path in (files or kernel_files()) for arch in arches_for(path.name, arches)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda job: checked_file(nvcc, version, job[0], job[1], kernels, refresh), jobs)
        return [row for rows in results for row in rows]


def spilling_kernels(rows: list[KernelResources]) -> list[KernelResources]:
    """The rows that spill registers without their kernel's ``may_spill=True``."""
    return [r for r in rows if r.spills and not r.may_spill]


def format_report(rows: list[KernelResources]) -> str:
    """A fixed-width table, one line per kernel and architecture."""
    header = f"{'file':18s} {'arch':6s} {'regs':>4s} {'smem B':>7s} {'stack B':>7s} {'spill B':>7s}  kernel"
    lines = [header, "-" * len(header)]
    for r in sorted(rows, key=lambda r: (r.file, r.kernel, r.arch)):
        spill = r.spill_store_bytes + r.spill_load_bytes
        flag = " (may spill)" if r.may_spill and spill else (" SPILLS" if spill else "")
        lines.append(f"{r.file:18s} {r.arch:6s} {r.registers:4d} {r.shared_bytes:7d} {r.stack_bytes:7d} "
                     f"{spill:7d}  {r.kernel}{flag}")
    return "\n".join(lines)
