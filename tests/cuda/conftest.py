from pathlib import Path

import pytest

KERNELS = Path(__file__).parent / "kernels"


@pytest.fixture
def emulate_backend(monkeypatch):
    """cnn_gpu.RawModule on the emulator, as on a machine without a GPU."""
    import cnn_gpu.backend

    monkeypatch.setenv("CNN_GPU_BACKEND", "emulate")
    # The backend is chosen once per process; forget the choice so that this test's variable counts.
    monkeypatch.setattr(cnn_gpu.backend, "_current", None)


@pytest.fixture
def unchecked(monkeypatch):
    """The fast path: one forward order, no guard copies."""
    monkeypatch.setenv("CNN_GPU_EMULATE_CHECKED", "0")
