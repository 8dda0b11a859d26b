import platform
import types

import pytest

from cnn_gpu.backend.host_memory import keep_freed_memory
from cnn_gpu.backend import numpy_backend
from cnn_gpu.backend.numpy_backend import NumpyBackend


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_malloc_options_and_asking_twice_is_harmless():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True


def test_the_backend_keeps_freed_memory_for_numpy_arrays_only(monkeypatch):
    calls = []
    monkeypatch.setattr(numpy_backend, "keep_freed_memory", lambda: calls.append("numpy"))
    NumpyBackend()
    NumpyBackend(xp=types.ModuleType("cupy"))
    assert calls == ["numpy"]
