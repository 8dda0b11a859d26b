"""Files that no reader ever sees half-written: saved models, the autotune cache, downloaded datasets,
the emulator's build cache. Each is written under a temporary name beside it and renamed into place.
And the one folder where cnn_gpu keeps what it can fetch or rebuild again (cache_folder)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


# Where the caches go, if set: the autotuner's choices, compiled kernels, the emulator's builds, the
# kernel resource report, downloaded datasets.
CACHE_DIR_ENV = "CNN_GPU_CACHE_DIR"


def cache_folder(name: str = "", create: bool = True) -> Path:
    """The cache's subfolder ``name`` (created unless ``create`` is false): in ``$CNN_GPU_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/cnn_gpu``, else ``~/.cache/cnn_gpu``."""
    root = os.environ.get(CACHE_DIR_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn_gpu"
    folder = Path(root) / name
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def atomic_write(target, mode="wb"):
    """A file object (``mode`` ``"wb"`` or ``"w"``) that becomes ``target`` only if the block completes.

    It writes ``.<name>.<random>.part`` in ``target``'s folder, flushed to the disk before
    ``os.replace`` renames it over ``target`` (atomic within a folder), so a reader finds the old file
    or the whole new one. An error in the block leaves the old file and removes the temporary.
    """
    target = Path(target)
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, mode) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
