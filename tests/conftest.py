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
