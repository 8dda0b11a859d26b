"""Label helpers for user data (host NumPy, before anything reaches a backend)."""

from __future__ import annotations

import numpy as np


def to_categorical(y, num_classes=None):
    """Integer class ids as one-hot float64 rows (Keras's dtype); a trailing axis of 1 is dropped."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)):
        raise ValueError(f"to_categorical: y must hold integer class ids, got {y.dtype} values")
    shape = y.shape[:-1] if y.ndim > 1 and y.shape[-1] == 1 else y.shape
    ids = y.reshape(-1).astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(f"to_categorical: class ids must be >= 0, got {ids.min()}")
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    elif ids.size and ids.max() >= num_classes:
        raise ValueError(f"to_categorical: class id {ids.max()} is out of range for num_classes={num_classes}")
    one_hot = np.zeros((ids.size, num_classes))
    one_hot[np.arange(ids.size), ids] = 1
    return one_hot.reshape(*shape, num_classes)
