"""Every declared kernel compiled before its first launch, all at once: ``cnn-gpu compile``.

A process compiles a kernel's module at its first launch, unless an earlier process left that build
in the disk cache (``loader.cached_cubin``). NVRTC compiles a module on one core, up to seconds for
each GEMM instance (a module per template instance on the GPU: ``kernel.module_expressions``), so a
machine's first training run or benchmark waits for them one after another. This builds every
module that launches will ask for (each file with each set of options it is declared with, and each
of its instances) at once, spread over the cores, the largest first. ``benchmarks/gpu_check.sh``
runs it before anything else.

The architecture is the GPU's own unless one is named (``cnn-gpu compile --arch sm_90``): NVRTC runs
on the CPU, so naming one needs no GPU. A file built for one architecture only (``sources.ARCH_SPECIFIC``)
is left out where its code could not run.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ..utils.files import CACHE_DIR_ENV, build_folder, find_cached, is_process_own
from .loader import build_files, build_key, build_options, cached_cubin, target_architecture
from .sources import compute_capability


@dataclass(frozen=True)
class Build:
    """One module as a launch will ask for it: the source, every NVRTC option, the instances."""

    path: Path
    options: tuple[str, ...]
    name_expressions: tuple[str, ...]
    label: str  # the file, and the options its kernels were declared with, for a person to read

    def describe(self) -> str:
        return " ".join((self.label, *self.name_expressions))


def declared_builds(capability: str, benchmark_builds: bool = False) -> list[Build]:
    """The module of every declared kernel on the GPU (``kernel.module_expressions``), built for compute
    capability ``capability``, the largest first (by source size: NVRTC's time grows with it). Kernels
    declared with options of their own (the tile sweep's ``-lineinfo``) are only ever launched by
    benchmarks: their builds only with ``benchmark_builds``."""
    from .kernel import declared_kernels, module_build, module_expressions

    builds = []
    modules = dict.fromkeys((k.file, k.options, module_expressions(k, "cuda")) for k in declared_kernels())
    for file, options, names in modules:
        if options and not benchmark_builds:
            continue
        path, options_with_target = module_build(file, options)
        target = target_architecture(options_with_target)
        if target is not None and compute_capability(target) != capability:
            continue
        builds.append(Build(path, build_options(options_with_target, path.parent, capability), names,
                            " ".join((file, *options))))
    return sorted(builds, key=lambda build: -build.path.stat().st_size)


def per_file(done: list[tuple[Build, float]]) -> list[str]:
    """A line for each file and options of ``done`` (precompile's pairs), the most compiling first:
    how many modules, their seconds together and the longest one's."""
    seconds: dict[str, list[float]] = {}
    for build, spent in done:
        seconds.setdefault(build.label, []).append(spent)
    return [f"{label}: {len(spent)} module{'s' * (len(spent) > 1)}, {sum(spent):.1f} s of compiling, "
            f"the longest {max(spent):.1f} s"
            for label, spent in sorted(seconds.items(), key=lambda item: -sum(item[1]))]


def missing(builds: list[Build]) -> list[Build]:
    """The ``builds`` no earlier process left in the cache (loader.cached_cubin's key)."""
    return [build for build in builds if find_cached("cubin", *build_files(
        build_key(build.path.read_text(), build.options, build.name_expressions))) is None]


def compile_build(build: Build) -> float:
    """Seconds to have ``build`` in the disk cache (near zero when it was there already)."""
    start = time.perf_counter()
    cached_cubin(build.path.read_text(), build.options, build.name_expressions, str(build.path))
    return time.perf_counter() - start


def gpu_capability() -> str:
    """The current GPU's compute capability, as CuPy spells it (``"90"``)."""
    from .device import gpu_status

    status = gpu_status()
    if not status.available:
        raise RuntimeError(f"no usable GPU ({status.reason}): name an architecture to compile for, "
                           "e.g. `cnn-gpu compile --arch sm_90`")
    return status.compute_capability


def precompile(builds: list[Build], jobs: int | None = None, report=print) -> list[tuple[Build, float]]:
    """``builds`` compiled into the disk cache by ``jobs`` processes (default: one per core), each
    reported as it finishes; the (build, seconds) pairs in the order they finished. A build that
    fails raises its ``CompileError`` once the others have finished. A cache that cannot be written
    has nothing to fill: that raises a RuntimeError first."""
    folder = build_folder("cubin")
    if is_process_own(folder):
        raise RuntimeError(f"the kernel cache cannot be written, so there is nothing to fill: set ${CACHE_DIR_ENV} "
                           "to a writable folder")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(builds)))
    done, failures = [], []
    # spawn, not fork: the caller may hold a CUDA context, which a forked child must not inherit.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(compile_build, build): build for build in builds}
        for future in as_completed(futures):
            build = futures[future]
            try:
                seconds = future.result()
            except Exception as error:  # a CompileError, or a worker that died
                failures.append(error)
                report(f"{build.describe()}: failed")
                continue
            done.append((build, seconds))
            report(f"{build.describe()}: {seconds:.1f} s")
    if failures:
        raise failures[0]
    return done
