"""Is there a GPU we can run kernels on, and if not, why not.

CuPy imports fine on a machine with no driver or no device and fails only at the first device
call, so "import cupy worked" proves nothing. ``gpu_status()`` makes those first calls itself,
catches what they raise and turns it into a reason a person can act on. It also needs NVRTC,
since the ``cuda`` backend compiles every kernel through it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuStatus:
    """What ``gpu_status()`` found. ``available`` is True only if kernels can be compiled and run."""

    available: bool
    reason: str
    device_name: str | None = None
    compute_capability: str | None = None  # CuPy's spelling: "90" for 9.0
    cupy_version: str | None = None
    driver_version: int | None = None  # CUDA's encoding: 13000 for 13.0
    runtime_version: int | None = None
    nvrtc_version: str | None = None

    def describe(self) -> str:
        """One line per fact, for ``cnn-gpu info`` and benchmark headers."""
        lines = [f"GPU available: {'yes' if self.available else 'no'} ({self.reason})"]
        facts = {
            "device": self.device_name,
            "compute capability": self.compute_capability,
            "CuPy": self.cupy_version,
            "CUDA driver": _cuda_version_text(self.driver_version),
            "CUDA runtime": _cuda_version_text(self.runtime_version),
            "NVRTC": self.nvrtc_version,
        }
        lines += [f"{key}: {value}" for key, value in facts.items() if value]
        return "\n".join(lines)


def _cuda_version_text(version: int | None) -> str | None:
    """13020 -> "13.2" (CUDA encodes major * 1000 + minor * 10); 0 means no driver."""
    if not version:
        return None
    return f"{version // 1000}.{version % 1000 // 10}"


@functools.lru_cache(maxsize=1)
def gpu_status() -> GpuStatus:
    """Probe CuPy, the driver, the device and NVRTC once per process."""
    try:
        import cupy
    except ImportError as error:
        return GpuStatus(False, f"CuPy is not installed ({error}); install cnn-gpu[gpu]")
    except Exception as error:  # a broken CuPy install raises anything from its native modules
        return GpuStatus(False, f"CuPy failed to import: {type(error).__name__}: {error}")

    runtime = cupy.cuda.runtime
    versions = {"cupy_version": cupy.__version__}
    versions["runtime_version"] = _probe(runtime.runtimeGetVersion)
    versions["driver_version"] = _probe(runtime.driverGetVersion)
    try:
        count = runtime.getDeviceCount()
    except Exception as error:  # CUDARuntimeError: no driver, a driver too old, no device node
        return GpuStatus(False, f"CuPy {cupy.__version__} found no usable CUDA driver/device: {error}",
                         **versions)
    if count == 0:
        return GpuStatus(False, "the CUDA driver sees no device", **versions)

    device = cupy.cuda.Device()
    name = runtime.getDeviceProperties(device.id)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    found = {"device_name": name, "compute_capability": device.compute_capability, **versions}
    try:
        nvrtc = ".".join(map(str, cupy.cuda.nvrtc.getVersion()))
    except Exception as error:  # the NVRTC shared library is a separate install
        return GpuStatus(False, f"{name} found, but NVRTC (needed to compile kernels) is missing: {error}",
                         **found)
    return GpuStatus(True, f"{name}, {count} device(s) visible", nvrtc_version=nvrtc, **found)


def _probe(call):
    """``call()``, or None where it raises (a version query on a machine with no driver)."""
    try:
        return call()
    except Exception:
        return None
