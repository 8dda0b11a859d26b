import os

import numpy as np
import pytest

# Every emulated launch in the tests runs in checked mode: bounds, poisoned shared memory, several
# schedule orders.
os.environ.setdefault("CNN_GPU_EMULATE_CHECKED", "1")


@pytest.fixture
def rng(request):
    """A random generator seeded per test (fresh values every run, the seed printed on failure)."""
    seed = int.from_bytes(os.urandom(4), "little")
    request.node.user_properties.append(("seed", seed))
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)


class FakeNetwork:
    """Serves given bytes at given URLs through urllib.request.urlopen; records every request."""

    def __init__(self):
        self.served, self.requests = {}, []

    def urlopen(self, url, timeout):
        import io
        import urllib.error

        self.requests.append(url)
        if url not in self.served:
            raise urllib.error.URLError("no network in tests")
        return io.BytesIO(self.served[url])


@pytest.fixture
def offline_data(tmp_path, monkeypatch):
    """Datasets isolated from this machine: an empty cache, no $CNN_GPU_DATA, no Debian folder, and
    a fake network (returned) that refuses every URL it was not given bytes for."""
    from cnn_gpu.datasets import fetch

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CNN_GPU_CACHE_DIR", raising=False)
    monkeypatch.delenv("CNN_GPU_DATA", raising=False)
    monkeypatch.setattr(fetch, "SYSTEM_DIRS", (tmp_path / "system",))
    network = FakeNetwork()
    monkeypatch.setattr(fetch.urllib.request, "urlopen", network.urlopen)
    return network


@pytest.fixture
def launches(monkeypatch):
    """Kernel launches reach this list instead of a compiler; a test that expects none asserts it stays empty."""
    from cnn_gpu.cuda import kernel as kernel_module
    from helpers import RecordingModule

    recorded = []
    monkeypatch.setattr(kernel_module, "open_module", lambda backend, **kw: RecordingModule(recorded))
    monkeypatch.setattr(kernel_module, "kernel_path", lambda file: f"/kernels/{file}")
    monkeypatch.setattr(kernel_module, "_MODULES", {})
    return recorded


@pytest.fixture
def fake_cupy(monkeypatch):
    """A helpers.FakeCupy as ``cupy``, for the cuda backend's host-side checks on any machine (not for
    split-K or autotuning, which ask more of CuPy). gemm's per-device caches (and the ops' workspaces)
    are fresh for the test, so that no fake array outlives it."""
    import functools
    import sys

    from cnn_gpu.ops import gemm_plans
    from helpers import FakeCupy

    fake = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(gemm_plans, "_PLANS", {})
    monkeypatch.setattr(gemm_plans, "_WORKSPACES", {})
    monkeypatch.setattr(gemm_plans, "placeholder_vector",
                        functools.lru_cache(maxsize=None)(gemm_plans.placeholder_vector.__wrapped__))
    return fake


@pytest.fixture
def fresh_backend(monkeypatch):
    """No backend chosen yet, and whichever the test sets is forgotten after it."""
    from cnn_gpu import backend

    monkeypatch.setattr(backend, "_current", None)


# --- kernel backends: every op test runs on each (the emulator always, the GPU where there is one) ---
@pytest.fixture(params=["emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def kernel_backend(request):
    """The name of a kernel backend; tests make their arrays with ``helpers.on_backend``."""
    return request.param


def pytest_runtest_setup(item):
    """Skip a ``gpu``-marked test, with the probe's reason, where no GPU is usable."""
    if item.get_closest_marker("gpu") is None:
        return
    from cnn_gpu.cuda.device import gpu_status

    status = gpu_status()
    if not status.available:
        pytest.skip(f"needs a GPU: {status.reason}")
