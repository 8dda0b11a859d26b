"""Where the kernel sources live: ``kernels/`` beside the package in a checkout, package data in a wheel.

A checkout has ``kernels/`` at the repository root; an installed wheel carries the same files as
``cnn_gpu/kernels/`` (``setup.py`` maps the folder into the package). The checkout wins when both
exist, so an editable install always compiles the files being edited.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
_CANDIDATES = (_PACKAGE.parent / "kernels", _PACKAGE / "kernels")


def kernels_dir() -> Path:
    """The folder holding ``*.cu`` and ``*.cuh``; also the include path every compile gets."""
    for folder in _CANDIDATES:
        if any(folder.glob("*.cu")):
            return folder
    raise FileNotFoundError(
        "no kernel sources found: looked for *.cu in " + " and ".join(str(c) for c in _CANDIDATES)
    )


def kernel_path(file: str) -> Path:
    """The full path of kernel source ``file`` (a name such as ``"transpose.cu"``)."""
    path = kernels_dir() / file
    if not path.is_file():
        raise FileNotFoundError(f"kernel source {file!r} not found in {kernels_dir()}")
    return path


# Kernel files built for one architecture target, whose instructions exist on no earlier GPU: wgmma
# is Hopper's alone (sm_90a code runs on compute capability 9.0 only), thread-block clusters came with
# Hopper (sm_90). Every other file is built for the GPU at hand (and checked for sm_80 and sm_90 by
# the compile check).
ARCH_SPECIFIC = {"gemm_wgmma.cu": "sm_90a", "conv2d_wgmma.cu": "sm_90a", "ptx_probe_hopper.cu": "sm_90a",
                 "gemm_cluster.cu": "sm_90"}


def target_arch(file: str) -> str | None:
    """The architecture ``file`` must be built for (``"sm_90a"``), or None for any."""
    return ARCH_SPECIFIC.get(file)


def compute_capability(arch: str) -> str:
    """The compute capability, as CuPy spells it, of the GPUs an architecture target runs on:
    ``"sm_90a"`` (and ``"sm_90"``) -> ``"90"``."""
    return arch.removeprefix("sm_").rstrip("a")


def kernel_files() -> list[Path]:
    """Every ``*.cu`` file present, sorted by name: the compile check covers each."""
    return sorted(kernels_dir().glob("*.cu"))


