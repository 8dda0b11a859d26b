"""Which kernel variant runs a given problem: timed once per (op, shape, dtype, device and candidate
set), then cached.

Like cuDNN's find mode: the first call with a new key runs every candidate on the real arguments
(into scratch outputs), leaves out any whose result the op's check finds wrong (a kernel never run
on this GPU before may be: the op says why, as a warning), times each remaining one's kernels
(replays of a CUDA graph of its calls, by CUDA events: time_ms), and keeps the fastest. The choice
is cached in memory and on disk, as JSON in the cache folder (cnn_gpu.utils.files.cache_folder),
written atomically so that two processes never leave a torn file. Only the ``cuda`` backend times; op wrappers use a fixed default under the
emulator, and a forced choice (an argument or an environment variable) skips all of this.
"""

from __future__ import annotations

import functools
import hashlib
import json
import statistics
import warnings
from pathlib import Path

from cnn_gpu.utils.files import atomic_write, cache_folder

CACHE_FILE = "autotune.json"
# Launches per candidate: one untimed (compilation, first touch), then the median of REPEATS
# replays of a graph of GRAPH_CALLS calls (time_ms).
REPEATS = 5
GRAPH_CALLS = 10
# How choices are timed, part of each cached choice's key: a choice timed otherwise (before kernel
# times by graph, call by call with the host's time) is timed again.
TIMED_BY = "graph"

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


def cache_key(op: str, key: dict, device: str, candidates) -> str:
    """One line that names the problem: the op, its sorted parameters, the device, how it was timed
    and a digest of the candidates' names, so that a choice made before a candidate joined is timed
    again (with it) rather than kept."""
    among = hashlib.sha256(" ".join(sorted(candidates)).encode()).hexdigest()[:12]
    return f"{op} {json.dumps(key, sort_keys=True)} {device} timed-by-{TIMED_BY} among-{among}"


def _load() -> dict[str, str]:
    global _choices
    if _choices is None:
        try:
            _choices = json.loads(cache_path().read_text())
        except (OSError, ValueError):  # no cache yet, or one this version cannot read: start over
            _choices = {}
    return _choices


def _save(choices: dict[str, str]) -> None:
    """Write the whole cache, atomically: a process reading it meanwhile finds the old or the new.
    Where it cannot be written, the choices hold for this process only (a warning says so)."""
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w") as file:
            json.dump(choices, file, indent=1, sort_keys=True)
    except OSError as error:
        warnings.warn(f"autotune: could not save the choices to {path} ({error}); they hold for this process only",
                      stacklevel=3)


def time_ms(run, repeats: int = REPEATS) -> float:
    """Median milliseconds per call of ``run()``'s kernels on the GPU, the host's time left out.

    GRAPH_CALLS calls are captured in a CUDA graph, on a stream of their own, and its replays timed
    by CUDA events. Timed call by call, the GPU would wait for the host between calls: a small
    product's kernels take a few microseconds, less than gemm() spends on the host, so the host would
    decide, and a variant of two launches (split-K) would lose to one whose kernel is slower. Where
    the capture or a replay fails, the calls are timed one by one (launch_time_ms), the host's time
    included.
    """
    import cupy

    run()  # untimed: compilation, workspaces, first touch
    cupy.cuda.Device().synchronize()  # the arguments were written on another stream
    stream = cupy.cuda.Stream(non_blocking=True)
    try:
        with stream:
            graph = _captured(stream, run, GRAPH_CALLS)
            graph.launch()  # untimed: the graph's upload
            return _event_median_ms(graph.launch, repeats) / GRAPH_CALLS
    except Exception:  # noqa: BLE001 (whatever the graph refused, call by call still times it; a fault
        # in the kernels themselves fails those calls too, and says so)
        return launch_time_ms(run, repeats)


def _captured(stream, run, calls):
    """``calls`` calls of ``run()`` captured on ``stream`` (the current one). A capture that a call
    broke is still ended, since a stream left capturing fails all later work, and the call's error
    is the one raised."""
    stream.begin_capture()
    try:
        for _ in range(calls):
            run()
    except BaseException:
        try:
            stream.end_capture()
        except Exception:  # noqa: BLE001 (the call's error says why; this one follows from it)
            pass
        raise
    return stream.end_capture()


def launch_time_ms(run, repeats: int = REPEATS) -> float:
    """Median milliseconds of ``run()`` call by call, by CUDA events around each, after one untimed call."""
    run()
    return _event_median_ms(run, repeats)


def _event_median_ms(run, repeats):
    import cupy

    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    samples = []
    for _ in range(repeats):
        start.record()
        run()
        stop.record()
        stop.synchronize()
        samples.append(cupy.cuda.get_elapsed_time(start, stop))
    return statistics.median(samples)


class NoCorrectCandidate(RuntimeError):
    """Every candidate's result failed the op's check."""


def choose(op: str, key: dict, candidates: dict, timer=time_ms, device: str | None = None, check=None) -> str:
    """The name of the fastest of ``candidates`` (name -> a zero-argument launch) for this problem.

    Timed on first sight of ``(op, key, device)`` and remembered. ``check(name)``, if given, runs
    candidate ``name`` once and returns why its result is wrong, or None: a wrong one is left out
    with a warning, never timed, never chosen. Like the timing, the check runs only when no choice
    is remembered for the key. ``timer`` and ``device`` are there for tests.
    """
    choices = _load()
    line = cache_key(op, key, device or device_id(), candidates)
    if choices.get(line) not in candidates:
        reasons = {name: check(name) for name in candidates} if check else {}
        wrong = {name: reason for name, reason in reasons.items() if reason}
        for name, reason in wrong.items():
            warnings.warn(f"autotune {op} {json.dumps(key, sort_keys=True)}: {name} left out, its result is "
                          f"wrong ({reason})", RuntimeWarning, stacklevel=2)
        if len(wrong) == len(candidates):
            raise NoCorrectCandidate(f"autotune {op} {json.dumps(key, sort_keys=True)}: every candidate's result "
                                     "is wrong (warnings above say how)")
        times = {name: timer(run) for name, run in candidates.items() if name not in wrong}
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
