"""What ``cnn-gpu info`` reports: the backend and why, the GPU, CuPy, nvcc and the cache folder.

Each probe may fail on its own (no driver, no CuPy, no CUDA toolkit, a broken install) without
hiding the others, so the report is most useful exactly where something is missing.
"""

from __future__ import annotations

import platform
import shutil
import subprocess

import numpy

import cnn_gpu


def _versions():
    return f"cnn-gpu {cnn_gpu.__version__}, Python {platform.python_version()}, NumPy {numpy.__version__}"


def _backend():
    from cnn_gpu.backend import backend_reason

    return backend_reason()


def _gpu():
    try:
        from cnn_gpu.cuda.device import gpu_status
    except ImportError:
        return _gpu_from_nvidia_smi()
    status = gpu_status()
    return f"{'usable' if status.available else 'none usable'} ({status.reason})"


def _gpu_from_nvidia_smi():
    if not shutil.which("nvidia-smi"):
        return "none seen (no nvidia-smi on PATH)"
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return f"none seen (nvidia-smi: {(out.stderr or out.stdout).strip()})"
    gpus = [line.rsplit(",", 1) for line in out.stdout.splitlines() if "," in line]
    return "; ".join(f"{name.strip()} (driver {driver.strip()})" for name, driver in gpus) or "none seen by nvidia-smi"


def _cupy():
    try:
        import cupy
    except ImportError:
        return "not installed (pip install 'cnn-gpu[gpu]' on a machine with a GPU)"
    runtime = cupy.cuda.runtime.runtimeGetVersion()
    return f"{cupy.__version__} (CUDA runtime {runtime // 1000}.{runtime % 1000 // 10})"


def _nvcc():
    from cnn_gpu.cuda.compile_check import find_nvcc

    nvcc = find_nvcc()
    if not nvcc:
        return "not found (needed only to compile kernels ahead of time; CuPy compiles at run time)"
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30)
    release = [line for line in out.stdout.splitlines() if "release" in line]
    return f"{nvcc}: {release[-1].strip() if release else out.stdout.strip() or out.stderr.strip()}"


def _cache():
    from cnn_gpu.utils.files import cache_folder

    root = cache_folder(create=False)
    if not root.is_dir():
        return f"{root} (empty: nothing built or downloaded yet)"
    sizes = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        sizes.append(f"{folder.name} {size / 2**20:.0f} MB")
    return f"{root} ({', '.join(sizes) or 'no builds yet'}; $CNN_GPU_CACHE_DIR moves it)"


PROBES = {"versions": _versions, "backend": _backend, "GPU": _gpu, "CuPy": _cupy, "nvcc": _nvcc, "cache": _cache}


def report() -> list[tuple[str, str]]:
    """``(what, finding)`` rows; a probe that raises reports its error instead."""
    rows = []
    for what, probe in PROBES.items():
        try:
            finding = probe()
        except Exception as error:  # noqa: BLE001 -- a diagnostic must report any failure, not stop
            finding = f"unavailable ({type(error).__name__}: {error})"
        rows.append((what, finding))
    return rows
