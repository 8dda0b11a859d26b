"""Default names as Keras gives them: the class name in snake case, numbered from the second one on."""

from __future__ import annotations

import re
from collections import Counter

_used = Counter()


def snake_case(class_name):
    """``MaxPooling2D`` -> ``max_pooling2d``, ``Conv2D`` -> ``conv2d`` (Keras's rule)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``base`` the first time, then ``base_1``, ``base_2``, ... until ``clear_session()``."""
    count = _used[base]
    _used[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Forget the names handed out so far, so the next Conv2D is ``conv2d`` again (as in Keras)."""
    _used.clear()
