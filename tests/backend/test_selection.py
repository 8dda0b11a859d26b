import sys
import types

import numpy as np
import pytest

import cnn_gpu.backend as backend
from cnn_gpu.backend.numpy_backend import NumpyBackend


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch):
    """Every test starts with no backend chosen and no $CNN_GPU_BACKEND."""
    monkeypatch.setattr(backend, "_current", None)
    monkeypatch.delenv(backend.ENV_VAR, raising=False)


def fake_module(monkeypatch, name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, name, module)


def fake_gpu_probe(monkeypatch, available, reason):
    status = types.SimpleNamespace(available=available, reason=reason)
    fake_module(monkeypatch, "cnn_gpu.cuda", __path__=[])
    fake_module(monkeypatch, "cnn_gpu.cuda.device", gpu_status=lambda: status)


class FakeKernelBackend(NumpyBackend):
    name = "fake-kernels"


def test_set_backend_numpy_is_cached_and_explained():
    chosen = backend.set_backend("numpy")
    assert isinstance(chosen, NumpyBackend) and chosen.xp is np
    assert backend.get_backend() is chosen
    assert backend.backend_reason() == "numpy: chosen by set_backend()"


def test_unknown_names_list_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="backend name must be one of numpy, cuda, emulate; got 'tpu'"):
        backend.set_backend("tpu")
    monkeypatch.setenv(backend.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match=r"\$CNN_GPU_BACKEND must be one of numpy, cuda, emulate"):
        backend.get_backend()


def test_the_environment_variable_wins_over_the_probe(monkeypatch):
    fake_gpu_probe(monkeypatch, True, "an H100")
    monkeypatch.setenv(backend.ENV_VAR, "numpy")
    assert isinstance(backend.get_backend(), NumpyBackend)
    assert backend.backend_reason() == "numpy: chosen by $CNN_GPU_BACKEND"


def test_without_gpu_support_installed_auto_picks_numpy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cnn_gpu.cuda.device", None)  # makes the import fail
    assert backend.get_backend().name == "numpy"
    assert backend.backend_reason().startswith("numpy: no GPU support is installed")


def test_auto_picks_numpy_when_the_probe_finds_no_usable_gpu(monkeypatch):
    fake_gpu_probe(monkeypatch, False, "no CUDA driver")
    assert backend.get_backend().name == "numpy"
    assert backend.backend_reason() == "numpy: no usable GPU (no CUDA driver)"


def test_auto_picks_cuda_when_the_probe_finds_a_gpu(monkeypatch):
    fake_gpu_probe(monkeypatch, True, "NVIDIA H100, sm_90")
    fake_cupy = types.ModuleType("cupy")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    fake_module(monkeypatch, "cnn_gpu.backend.kernel_backend", KernelBackend=FakeKernelBackend)
    chosen = backend.get_backend()
    assert isinstance(chosen, FakeKernelBackend) and chosen.xp is fake_cupy
    assert backend.backend_reason() == "cuda: a GPU is usable (NVIDIA H100, sm_90)"


def test_emulate_runs_the_kernel_backend_on_numpy(monkeypatch):
    fake_module(monkeypatch, "cnn_gpu.backend.kernel_backend", KernelBackend=FakeKernelBackend)
    chosen = backend.set_backend("emulate")
    assert isinstance(chosen, FakeKernelBackend) and chosen.xp is np


def test_a_missing_kernel_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cnn_gpu.backend.kernel_backend", None)
    with pytest.raises(RuntimeError, match="kernel backend .* is not available"):
        backend.set_backend("emulate")


def test_cuda_without_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match=r"needs CuPy \(pip install 'cnn-gpu\[gpu\]'\)"):
        backend.set_backend("cuda")
