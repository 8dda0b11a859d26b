"""Files that no reader ever sees half-written: saved models, the autotune cache, downloaded datasets,
the emulator's build cache. Each is written under a temporary name beside it and renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


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
