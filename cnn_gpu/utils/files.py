"""Files that no reader ever sees half-written: saved models, the autotune cache, downloaded datasets,
the emulator's build cache. Each is written under a temporary name beside it and renamed into place.
And the one folder where cnn_gpu keeps what it can fetch or rebuild again (cache_folder): compiled
builds are found there even when it is read-only (find_cached), new ones go where they can be
written (build_folder), and the least recently used go past a size (prune_cache)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path


# Where the caches go, if set: the autotuner's choices, compiled kernels, the emulator's builds, the
# compile check's reports, downloaded datasets.
CACHE_DIR_ENV = "CNN_GPU_CACHE_DIR"


def cache_folder(name: str = "", create: bool = True) -> Path:
    """The cache's subfolder ``name`` (created unless ``create`` is false): in ``$CNN_GPU_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/cnn_gpu``, else ``~/.cache/cnn_gpu``."""
    root = os.environ.get(CACHE_DIR_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn_gpu"
    folder = Path(root) / name
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- builds: found in the cache, or in a folder of the process's own where the cache is read-only ---
# The folder of this process's own, made when build_folder first finds the cache unwritable.
_process_root: Path | None = None


def build_folder(name: str) -> Path:
    """Where a new build of kind ``name`` (``cubin``, ``emulate``) goes: the cache's folder, or where
    that cannot be created or written (a read-only home, a shared cache), a folder of this process's
    own, with one warning; builds there last as long as the process. find_cached looks in both."""
    global _process_root
    try:
        folder = cache_folder(name)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        error = f"{folder} is not writable"
    except OSError as failure:
        error = str(failure)
    if _process_root is None:
        _process_root = Path(tempfile.mkdtemp(prefix="cnn_gpu-cache-"))
        atexit.register(shutil.rmtree, _process_root, True)
        warnings.warn(f"cnn_gpu cannot write its cache folder ({error}); this process keeps its new builds in "
                      f"{_process_root} until it exits. Set ${CACHE_DIR_ENV} to a writable folder to keep them.",
                      stacklevel=2)
    folder = _process_root / name
    folder.mkdir(exist_ok=True)
    return folder


def is_process_own(folder) -> bool:
    """Whether ``folder`` is one build_folder made for this process alone (gone when it exits)."""
    return _process_root is not None and Path(folder).is_relative_to(_process_root)


def find_cached(name: str, *files: str) -> Path | None:
    """The folder holding every one of ``files`` among builds of kind ``name``: the cache's (which
    may be read-only), else this process's own; marked used (mark_used), or None if neither has them."""
    for folder in (cache_folder(name, create=False), *((_process_root / name,) if _process_root else ())):
        if all((folder / file).is_file() for file in files):
            for file in files:
                mark_used(folder / file)
            return folder
    return None


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
    and those still being written (atomic_write's hidden ``.part`` files, the emulator's ``.tmp``
    ones). Several processes may prune at once: a file another one removed counts as removed.
    Returns what this one removed."""
    folder = Path(folder)
    if folder in _pruned:
        return []
    _pruned.add(folder)
    entries = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(".") or entry.name.endswith(".tmp") or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                entries.append((info.st_mtime, info.st_size, Path(entry.path)))
    total, removed, recent = sum(size for _, size, _ in entries), [], time.time() - spare_s
    for mtime, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= max_bytes or mtime > recent:
            break
        try:
            if path.stat().st_mtime > recent:  # found and marked used since the listing
                continue
            path.unlink()
            removed.append(path)
        except FileNotFoundError:  # another process pruned it first
            pass
        except OSError:
            continue
        total -= size
    return removed


def kept_result(kind: str, key: str, make, max_bytes: int, read=lambda value: value, refresh: bool = False):
    """``read`` of ``make()``'s JSON-able result, kept in the cache's folder ``kind`` as ``<key>.json``,
    ``key`` a hash of everything the result depends on: an earlier process's is read back (find_cached),
    else, or with ``refresh``, or where the kept one cannot be read (``read`` raising ValueError or
    TypeError on it), made anew and kept (build_folder; prune_cache at ``max_bytes``). For checks
    whose answer takes long and is the same for the same inputs: the nvcc compile check's reports,
    the NVRTC compile test's lowered names."""
    name = f"{key}.json"
    folder = None if refresh else find_cached(kind, name)
    if folder is not None:
        try:
            return read(json.loads((folder / name).read_text()))
        except (OSError, ValueError, TypeError):  # unreadable, or not one this version wrote: made anew
            pass
    value = make()
    folder = build_folder(kind)
    prune_cache(folder, max_bytes)
    try:
        with atomic_write(folder / name, "w") as file:
            json.dump(value, file)
    except OSError as error:  # a full disk: the result holds for this call, the next one makes it again
        warnings.warn(f"cnn_gpu could not keep {name} in {folder} ({error})", stacklevel=2)
    return read(value)
