"""The engine's one source of randomness: initial weights, dropout masks and shuffling all draw from it.

``set_random_seed(seed)`` resets it (and Python's and NumPy's global generators, as Keras does), so two
runs after the same seed draw the same numbers in the same order. Without a seed it starts from OS
entropy.
"""

from __future__ import annotations

import random
from numbers import Integral

import numpy as np

_generator = np.random.default_rng()


def set_random_seed(seed):
    """Seed everything the engine draws from: Python's ``random``, NumPy's global state and ours."""
    global _generator
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _generator = np.random.default_rng(int(seed))


def global_generator():
    """The engine's generator (replaced by each ``set_random_seed``, so never cache it)."""
    return _generator


def new_generator(seed=None):
    """A generator of one's own: from ``seed`` if given, else seeded by a draw from the global one."""
    if seed is None:
        seed = int(_generator.integers(2**63))
    return np.random.default_rng(seed)
