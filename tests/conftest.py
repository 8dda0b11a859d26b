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
