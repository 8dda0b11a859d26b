"""The GPU probe: CuPy imports without a GPU and fails at first use; the probe must say why."""

import sys
import types

import pytest

from cnn_gpu.cuda import device


@pytest.fixture
def fresh_probe():
    device.gpu_status.cache_clear()
    yield device.gpu_status
    device.gpu_status.cache_clear()


def test_no_cupy_installed(monkeypatch, fresh_probe):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    status = fresh_probe()
    assert not status.available and "CuPy is not installed" in status.reason


def test_cupy_without_a_driver(monkeypatch, fresh_probe):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    runtime = types.SimpleNamespace(getDeviceCount=no_driver, runtimeGetVersion=lambda: 13000,
                                    driverGetVersion=lambda: 0)
    fake = types.SimpleNamespace(__version__="14.0.0", cuda=types.SimpleNamespace(runtime=runtime))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    status = fresh_probe()
    assert not status.available
    assert "CuPy 14.0.0 found no usable CUDA driver/device: cudaErrorInsufficientDriver" in status.reason
    assert "CUDA runtime: 13.0" in status.describe() and "CUDA driver:" not in status.describe()


def test_this_machine_is_described_consistently(fresh_probe):
    status = fresh_probe()
    assert status.describe().startswith(f"GPU available: {'yes' if status.available else 'no'}")
    assert status.available == (status.device_name is not None and status.nvrtc_version is not None)
