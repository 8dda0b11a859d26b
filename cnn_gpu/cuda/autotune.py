"""Which kernel variant runs a given problem: timed once per (op, shape, dtype, device and candidate
set), then cached.

Like cuDNN's find mode: the first call with a new key runs every candidate on the real arguments
(into scratch outputs), leaves out any whose result the op's check finds wrong (a kernel never run
on this GPU before may be: the op says why, as a warning), times each remaining one's kernels
(replays of a CUDA graph of its calls, by CUDA events: sampler), the candidates in turn, round after
round, and keeps the one of least median. The choice is cached in memory and on disk, as JSON in
the cache folder (cnn_gpu.utils.files.cache_folder), written atomically so that two processes never
leave a torn file. Only the ``cuda`` backend times; op wrappers use a fixed default under the
emulator, and a forced choice (an argument or an environment variable) skips all of this.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import warnings
from pathlib import Path

from cnn_gpu.utils.files import atomic_write, cache_folder

CACHE_FILE = "autotune.json"
# Each candidate: one untimed call (compilation, first touch), then GRAPH_CALLS calls captured in a
# CUDA graph, whose replays are the samples (sampler). ROUNDS rounds each take one sample of every
# candidate, in turn, each round starting one candidate further on; a candidate's time is the median
# of its samples. Timed one candidate after another, whatever drifts while they are timed (the
# GPU's clock rising from idle, another process's work) would count against the first ones alone.
# The margins are small: in benchmarks/results/gemm.json (NVIDIA H200, ac366b0) the two fastest
# FP32 rungs of a Dense product were 0.4% apart at the closest, and for one product (5408 -> 64
# backward to data at batch 32) the autotuner, then timing one candidate after another, chose the
# second fastest, 8% slower than the first.
ROUNDS = 7
GRAPH_CALLS = 10
# How choices are timed, part of each cached choice's key: a choice timed otherwise (call by call with
# the host's time, or by graph one candidate after another) is timed again.
TIMED_BY = "graph-rounds"

# The rungs no op's autotuner offers, comma-separated: benchmarks/gpu_check.sh names there those whose
# GPU tests failed (benchmarks/unproven.py), of every op, so that no later process launches them.
EXCLUDE_ENV = "CNN_GPU_AUTOTUNE_EXCLUDE"

_choices: dict[str, str] | None = None  # the cache file's contents, loaded on first use
# Per op, the choices made in this process under a key of the op's own: choose() builds a JSON line
# and names the device, too slow to do at every call of a small op (memo()).
_memos: dict[str, dict] = {}


def excluded(variants) -> set[str]:
    """The names among ``variants``, one op's, that $CNN_GPU_AUTOTUNE_EXCLUDE lists. The others it lists
    are other ops' (benchmarks/unproven.py, which writes the list, names only their rungs)."""
    return {name for name in os.environ.get(EXCLUDE_ENV, "").split(",") if name in variants}


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


def sampler(run):
    """A function that times ``run()``'s kernels on the GPU once, in milliseconds per call, the
    host's time left out; called once each round (choose).

    GRAPH_CALLS calls are captured in a CUDA graph, on a stream of their own, and a sample is one
    replay timed by CUDA events. Timed call by call, the GPU would wait for the host between calls: a
    small product's kernels take a few microseconds, less than gemm() spends on the host, so the host
    would decide, and a variant of two launches (split-K) would lose to one whose kernel is slower.
    Where the capture or the first replay fails, a sample is one call timed alone, the host's time
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
    except Exception:  # noqa: BLE001 (whatever the graph refused, call by call still times it; a fault
        # in the kernels themselves fails those calls too, and says so)
        return lambda: _event_ms(run)

    def sample():
        with stream:
            return _event_ms(graph.launch) / GRAPH_CALLS
    return sample


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


def _event_ms(run):
    """Milliseconds of ``run()`` on the current stream, by CUDA events around it."""
    import cupy

    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    run()
    stop.record()
    stop.synchronize()
    return cupy.cuda.get_elapsed_time(start, stop)


def median_times(samplers: dict, rounds: int = ROUNDS) -> dict:
    """Each candidate's median over ``rounds`` samples (``samplers``: name -> sampler), the candidates
    sampled in turn each round, round r starting at the r-th: none is always timed first."""
    names = list(samplers)
    samples = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(samplers[name]())
    return {name: statistics.median(times) for name, times in samples.items()}


class NoCorrectCandidate(RuntimeError):
    """Every candidate's result failed the op's check."""


def choose(op: str, key: dict, candidates: dict, timer=sampler, device: str | None = None, check=None) -> str:
    """The name of the fastest of ``candidates`` (name -> a zero-argument launch) for this problem.

    Timed on first sight of ``(op, key, device)`` and remembered. ``check(name)``, if given, runs
    candidate ``name`` once and returns why its result is wrong, or None: a wrong one is left out
    with a warning, never timed, never chosen. Like the timing, the check runs only when no choice
    is remembered for the key. ``timer`` (sampler's stand-in) and ``device`` are there for tests.
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
        times = median_times({name: timer(run) for name, run in candidates.items() if name not in wrong})
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
