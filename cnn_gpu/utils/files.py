"""Files that no reader ever sees half-written: saved models, the autotune cache, downloaded datasets,
the emulator's build cache. Each is written under a temporary name beside it and renamed into place.
And the one folder where cnn_gpu keeps what it can fetch or rebuild again (cache_folder), with the
least recently used builds pruned past a size (prune_cache)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path


# Where the caches go, if set: the autotuner's choices, compiled kernels, the emulator's builds, the
# kernel resource report, downloaded datasets.
CACHE_DIR_ENV = "CNN_GPU_CACHE_DIR"


def cache_folder(name: str = "", create: bool = True) -> Path:
    """The cache's subfolder ``name`` (created unless ``create`` is false): in ``$CNN_GPU_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/cnn_gpu``, else ``~/.cache/cnn_gpu``. Where it cannot be created or written
    (a read-only home, a full disk), ``create`` gives a folder of this process's own instead, with a
    warning: builds then last as long as the process."""
    root = os.environ.get(CACHE_DIR_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn_gpu"
    folder = Path(root) / name
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"{folder} is not writable")
        except OSError as error:
            folder = _process_cache(error) / name
            folder.mkdir(parents=True, exist_ok=True)
    return folder


# The folder of this process's own, once cache_folder has found the cache unwritable.
_process_root: Path | None = None


def _process_cache(error: OSError) -> Path:
    global _process_root
    if _process_root is None:
        _process_root = Path(tempfile.mkdtemp(prefix="cnn_gpu-cache-"))
        atexit.register(shutil.rmtree, _process_root, True)
        warnings.warn(f"cnn_gpu cannot write its cache folder ({error}); this process keeps its compiled kernels "
                      f"in {_process_root} until it exits. Set ${CACHE_DIR_ENV} to a writable folder to keep them.",
                      stacklevel=3)
    return _process_root


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


def mark_used(path) -> None:
    """Touch a cached file that was just found, so that prune_cache takes it for recently used."""
    with contextlib.suppress(OSError):
        os.utime(path)


# The folders prune_cache has gone through in this process: once each is enough, since a process adds
# to a cache far less than a limit's worth.
_pruned: set = set()


def prune_cache(folder, max_bytes: int, spare_s: float = 3600.0) -> list[Path]:
    """Remove the least recently used files of cache ``folder`` (by modification time: a cache hit
    calls mark_used) until the rest take at most ``max_bytes``, once per process and folder. Spared:
    files used within ``spare_s`` seconds (another process may be about to load one it just found)
    and hidden ones (atomic_write's, still being written). Returns what it removed."""
    folder = Path(folder)
    if folder in _pruned:
        return []
    _pruned.add(folder)
    entries = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                entries.append((info.st_mtime, info.st_size, Path(entry.path)))
    total, removed, recent = sum(size for _, size, _ in entries), [], time.time() - spare_s
    for mtime, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= max_bytes or mtime > recent:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            removed.append(path)
    return removed
