"""Which kernel variant runs a given problem: timed once per (op, shape, dtype, device), then cached.

Like cuDNN's find mode: the first call with a new key runs every candidate on the real arguments
(into scratch outputs), times each with CUDA events, and keeps the fastest. The choice is cached in
memory and on disk, as JSON in the cache folder (cnn_gpu.utils.files.cache_folder), written
atomically so that two processes never leave a torn file. Only the ``cuda`` backend times; op
wrappers use a fixed default under the emulator, and a forced choice (an argument or an
environment variable) skips all of this.
"""

from __future__ import annotations

import functools
import json
import statistics
from pathlib import Path

from cnn_gpu.utils.files import atomic_write, cache_folder

CACHE_FILE = "autotune.json"
# Launches per candidate: one untimed (compilation, first touch), then the median of REPEATS.
REPEATS = 5

_choices: dict[str, str] | None = None  # the cache file's contents, loaded on first use
# Per op, the choices made in this process under a key of the op's own: choose() builds a JSON line
# and names the device, too slow to do at every call of a small op (memo()).
_memos: dict[str, dict] = {}


def cache_path() -> Path:
    return cache_folder(create=False) / CACHE_FILE


def device_id() -> str:
    """The current GPU's name and compute capability: choices never travel between devices."""
    import cupy

    return _describe_device(cupy.cuda.Device().id)


@functools.lru_cache(maxsize=None)
def _describe_device(index: int) -> str:
    import cupy

    device = cupy.cuda.Device(index)
    name = cupy.cuda.runtime.getDeviceProperties(index)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    return f"{name} sm_{device.compute_capability}"


def cache_key(op: str, key: dict, device: str) -> str:
    """One line that names the problem: the op, its sorted parameters and the device."""
    return f"{op} {json.dumps(key, sort_keys=True)} {device}"


def _load() -> dict[str, str]:
    global _choices
    if _choices is None:
        try:
            _choices = json.loads(cache_path().read_text())
        except (OSError, ValueError):  # no cache yet, or one this version cannot read: start over
            _choices = {}
    return _choices


def _save(choices: dict[str, str]) -> None:
    """Write the whole cache, atomically: a process reading it meanwhile finds the old or the new."""
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as file:
        json.dump(choices, file, indent=1, sort_keys=True)


def time_ms(run, repeats: int = REPEATS) -> float:
    """Median milliseconds of ``run()`` on the GPU, by CUDA events, after one untimed launch."""
    import cupy

    run()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    samples = []
    for _ in range(repeats):
        start.record()
        run()
        stop.record()
        stop.synchronize()
        samples.append(cupy.cuda.get_elapsed_time(start, stop))
    return statistics.median(samples)


def choose(op: str, key: dict, candidates: dict, timer=time_ms, device: str | None = None) -> str:
    """The name of the fastest of ``candidates`` (name -> a zero-argument launch) for this problem.

    Timed on first sight of ``(op, key, device)`` and remembered; ``timer`` and ``device`` are
    there for tests.
    """
    choices = _load()
    line = cache_key(op, key, device or device_id())
    if choices.get(line) not in candidates:
        times = {name: timer(run) for name, run in candidates.items()}
        choices[line] = min(times, key=times.get)
        _save(choices)
    return choices[line]


def memo(op: str) -> dict:
    """``op``'s dict of the names choose() returned in this process, for the op to keep under a key of
    its own: a tuple that tells problems and devices apart as choose()'s key does, cheap to build.
    forget() empties it."""
    return _memos.setdefault(op, {})


def forget() -> None:
    """Drop the in-memory copy, so the next choice re-reads the cache file (tests use this)."""
    global _choices
    _choices = None
    for choices in _memos.values():
        choices.clear()
