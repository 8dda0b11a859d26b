"""The timing harness every benchmark shares, so that every number in the project is taken the same way.

A benchmark script builds a ``Session``, then calls ``session.measure`` once per (variant, shape):

- timed with CUDA events around a batch of launches (wall clock under emulation, for dry runs),
  after warm-up launches that keep compilation and first-touch costs out; or, with
  ``timing="graph"``, around replays of a CUDA graph of the launches (see TIMINGS);
- the median and the p10/p90 spread of many such samples;
- inputs rotated: ``session.input_sets`` makes enough independent input sets that together they
  exceed the L2 cache several times, and consecutive launches cycle through them, so a repeat
  never finds its inputs still cached;
- the output re-checked against a float64 reference after timing (a fast wrong kernel fails);
- bandwidth as a fraction of the device's measured copy bandwidth, and arithmetic rates against
  cuBLAS's measured rates (``ceilings``), measured once per run and stored in every JSON.

``session.write()`` writes one JSON per benchmark (device, driver, CUDA/CuPy/PyTorch versions, git
commit, date, ceilings, results); ``benchmarks/report.py`` turns JSON into tables and plots.

A benchmark is a module ``benchmarks/<family>.py`` with ``main(argv)``; ``--dry-run`` runs it on
the emulator with tiny shapes and few repeats (CI does this), ``--out DIR`` says where JSON goes.
Set ``CNN_GPU_CEILINGS`` to a JSON path to share one ceilings measurement between the scripts of
one run (``gpu_check.sh`` does).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from benchmarks import run_info

DEFAULT_OUT = run_info.RESULTS
# A check's error above this fails the result; float32 element-wise kernels land far below it.
DEFAULT_TOLERANCE = 1e-5
# How many times the rotated input sets together exceed the L2 cache.
L2_MULTIPLE = 3
# The fewest timed samples a case gets, however slow its launches.
MIN_SAMPLES = 5
# Seconds between two writes of a script's JSON while it measures (and once more at exit): rewritten
# after every case, gemm.py's 735 results took 12 ms a write on average (the 2-core dev machine).
WRITE_EVERY_S = 2.0
# Under emulation there is no L2 to defeat; pretend a small one so the rotation logic still runs.
EMULATED_L2_BYTES = 64 * 1024
# How Session.measure times a case (its ``timing``; each result records the one used):
# - "launch": events around a batch of back-to-back calls, as a caller meets them. Where a call's
#   host side (the Python wrapper, its checks, the driver's launch: tens of microseconds) outlasts
#   its kernels, the host side is what this measures.
# - "graph": the calls, one per input set (at most GRAPH_CALLS sets), captured once into a CUDA
#   graph on a stream of their own, and the graph replayed between events: the GPU time of the
#   kernels and of the device's own gaps between them, without the host. If the capture fails, or
#   one replay leaves an output unwritten, the case is timed "launch" instead and ``timing_note``
#   says why: a benchmark never stops for it. CuPy's stream capture takes the calls, unless the
#   case names other calls for its graph (``Graph``: cuBLAS through PyTorch, whose capture CuPy refuses).
TIMINGS = ("launch", "graph")
GRAPH_CALLS = 64
# The printed rows' name column (format_row): the longest name a run prints, conv2d's
# implicit_gemm_3xtf32_pipelined_backward_filter timed as graph replays ("... [graph]", 54 characters).
NAME_WIDTH = 54


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; a script adds its own to it before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON result")
    parser.add_argument("--dry-run", action="store_true",
                        help="emulator, tiny shapes, few repeats: checks the script, measures nothing")
    parser.add_argument("--repeat", type=int, default=None, help="timed samples per case")
    return parser


def parse_args(description: str, argv=None):
    return argument_parser(description).parse_args(argv)


# --- statistics --------------------------------------------------------------------------------
def summarize(samples_ms) -> dict:
    """Median, p10, p90 and min of per-launch times in milliseconds."""
    samples = np.asarray(samples_ms, dtype=np.float64)
    p10, median, p90 = np.percentile(samples, [10, 50, 90])
    return {"median_ms": float(median), "p10_ms": float(p10), "p90_ms": float(p90),
            "min_ms": float(samples.min()), "samples": int(samples.size)}


def sum_tolerance(terms: int) -> float:
    """The check's tolerance for outputs that each sum ``terms`` float32 values (a row, a dot product
    of length K): their rounding error grows like sqrt(terms), so DEFAULT_TOLERANCE up to 1024, then more."""
    return DEFAULT_TOLERANCE * max(1.0, (terms / 1024) ** 0.5)


def rotation_count(bytes_per_set: int, l2_bytes: int) -> int:
    """Input sets needed so that together they exceed the L2 cache L2_MULTIPLE times (at least 2)."""
    return max(2, math.ceil(L2_MULTIPLE * l2_bytes / max(1, bytes_per_set)))


# --- timers: run ``launch(i)`` for i in range(count) and return milliseconds per launch -----------
class CudaEventTimer:
    """Events recorded on the current stream around the batch; the GPU's own clock."""

    def __init__(self, cupy):
        self.cupy = cupy

    def __call__(self, launch, first: int, count: int) -> float:
        start, stop = self.cupy.cuda.Event(), self.cupy.cuda.Event()
        start.record()
        for i in range(first, first + count):
            launch(i)
        stop.record()
        stop.synchronize()
        return self.cupy.cuda.get_elapsed_time(start, stop) / count


class WallTimer:
    """perf_counter around the batch: for the emulator, where launches are synchronous."""

    def __call__(self, launch, first: int, count: int) -> float:
        begin = time.perf_counter()
        for i in range(first, first + count):
            launch(i)
        return (time.perf_counter() - begin) * 1e3 / count


# --- graphs: ``capture(cupy, calls)`` captures what ``calls()`` launches and returns ``(on_stream,
# replay)``: ``with on_stream():`` makes the graph's stream current, ``replay()`` runs the graph there ---
def captured(begin, end, calls):
    """``end()``'s result after ``begin()`` and ``calls()``. A capture that ``calls()`` broke is still
    ended (a stream left capturing fails all later work), and ``calls()``'s error, the first, says why."""
    begin()
    try:
        calls()
    except BaseException:
        with contextlib.suppress(Exception):
            end()
        raise
    return end()


def capture_cupy(cupy, calls):
    """CuPy's stream capture, on a stream of its own, after one uncaptured run of ``calls()`` (as
    PyTorch's capture below warms up): a call may prepare something the first time it meets an
    operand (gemm()'s TMA rungs make its tensor maps and copy them to the device), which a capture
    refuses, and the capture must find it done."""
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        calls()
        stream.synchronize()
        graph = captured(stream.begin_capture, stream.end_capture, calls)
    return (lambda: stream), graph.launch


def capture_torch(cupy, calls):
    """PyTorch's graph API (CUDAGraph), on a PyTorch stream that CuPy is made to use as well: PyTorch
    replays on its current stream and the timer records CuPy's events on CuPy's, so the two must be
    one stream for the events to bracket the replays, and for CuPy's poisoning of the outputs to come
    before the replay that must overwrite them. Raises ImportError where PyTorch is missing."""
    import torch

    stream = torch.cuda.Stream()
    cupy_stream = cupy.cuda.ExternalStream(stream.cuda_stream)  # CuPy's handle on the same stream

    @contextlib.contextmanager
    def on_stream():
        with torch.cuda.stream(stream), cupy_stream:
            yield

    graph = torch.cuda.CUDAGraph()
    with on_stream():
        # Once uncaptured first, as PyTorch asks: what the calls set up on first use (cuBLAS's handle
        # and workspace for this stream, say) is then not set up inside the capture.
        calls()
        captured(graph.capture_begin, graph.capture_end, calls)
    return on_stream, graph.replay


@dataclasses.dataclass(frozen=True)
class Graph:
    """What a case's graph timing captures instead of its own calls through CuPy: ``run``, called with
    each input set as ``measure``'s ``run`` is and writing the same outputs, captured by ``capture``
    (capture_torch), recorded in the result as ``graph_via``. For calls that CuPy's stream capture
    refuses: CuPy raises on any cuBLAS call while a stream captures, PyTorch captures its own."""
    run: Callable
    via: Optional[str] = None
    capture: Callable = capture_cupy


# --- the session --------------------------------------------------------------------------------
class Session:
    """One benchmark script's run: backend, timer, ceilings, and the results it collects."""

    def __init__(self, benchmark: str, args, *, warmup: int = 5, repeat: int = 50, batch_ms: float = 1.0,
                 case_budget_ms: float = 3000.0):
        self.benchmark = benchmark
        self.dry_run = args.dry_run
        self.out_dir = Path(args.out)
        self.warmup = 1 if self.dry_run else warmup
        self.repeat = args.repeat or (3 if self.dry_run else repeat)
        # Launches per timed sample: enough to take about batch_ms, so event overhead stays small.
        self.batch_ms = batch_ms
        self.case_budget_ms = case_budget_ms
        self.results: list[dict] = []
        self.notes: list[str] = []  # what was left out and why (measure_baseline), written with the results
        if self.dry_run:
            self.backend, self.xp, self.timer = "emulate", np, WallTimer()
            self.l2_bytes = EMULATED_L2_BYTES
        else:
            import cupy

            self.backend, self.xp, self.timer = "cuda", cupy, CudaEventTimer(cupy)
            self.l2_bytes = int(cupy.cuda.Device().attributes["L2CacheSize"])
        self.rng = np.random.default_rng(0)
        self.ceilings = load_or_measure_ceilings(self.dry_run)
        # Once, not at every write: git and the packages' versions took 11 ms a call (the 2-core dev
        # machine, emulate), and gemm.py writes 735 results.
        self.environment = environment(self.backend)
        self._written_at, self._written_results = -math.inf, 0
        atexit.register(self._write_if_pending)  # a script stopped at its time limit keeps what it measured

    def pick(self, full, dry):
        """The real cases, or the tiny ones of a dry run."""
        return dry if self.dry_run else full

    def input_sets(self, make, bytes_per_set: int) -> list:
        """``make(rng)`` called enough times that the sets together exceed L2 (see rotation_count)."""
        return [make(self.rng) for _ in range(rotation_count(bytes_per_set, self.l2_bytes))]

    def uniform(self, rng, shape, dtype=np.float32, low=-1.0, high=1.0):
        """Random values on this session's device (never zeros: they can run faster than real data).
        A GPU draws them itself, from a seed that ``rng`` draws: NumPy's draws and their copy over
        take about 5 ns a number, and a benchmark's inputs, rotated past L2, hold hundreds of millions."""
        if self.dry_run:
            return self.xp.asarray(rng.uniform(low, high, size=shape).astype(dtype))
        return self.xp.random.RandomState(int(rng.integers(2**32))).uniform(low, high, size=shape, dtype=dtype)

    def measure(self, name: str, params: dict, run, input_sets, check, *, poison=(), bytes_moved=None,
                flops=None, tolerance=DEFAULT_TOLERANCE, timing="launch", graph: Optional[Graph] = None) -> dict:
        """Time ``run(input_set)`` cycling through ``input_sets``, then check the last run's output.

        ``poison`` lists the output buffers, filled with NaN first so that an element no launch
        writes fails the check. ``check(input_set)`` returns ``(output, float64 reference)`` for the
        set the last launch used. ``bytes_moved`` is the fewest bytes the op must move (each input
        read once, each output written once); ``flops`` its arithmetic; each gives a rate against
        the matching ceiling. ``timing`` is one of TIMINGS; times are per call of ``run`` either way.
        ``graph`` says what "graph" timing captures, if not ``run`` through CuPy (see Graph).
        """
        if timing not in TIMINGS:
            raise ValueError(f"timing must be one of {TIMINGS}, got {timing!r}")
        started = time.perf_counter()
        for buffer in poison:
            buffer.fill(np.nan)
        sets = len(input_sets)
        launch = lambda i: run(input_sets[i % sets])  # noqa: E731
        self.timer(launch, 0, 1)  # compiles the module on first use: never timed
        # What one timed launch is: one call (of input set i), or one replay of a graph of `calls`,
        # which runs on its stream (the current one in `on_stream()`, for the events too).
        calls, used, last_set = 1, {"timing": "launch"}, lambda launches: (launches - 1) % sets
        on_stream = contextlib.nullcontext
        if timing == "graph":
            graph = graph or Graph(run)
            try:
                on_stream, replay, calls = self._capture(graph, input_sets, poison, check)
                launch, last_set = lambda i: replay(), lambda launches: calls - 1  # noqa: E731
                used = {"timing": "graph", "graph_calls": calls, **({"graph_via": graph.via} if graph.via else {})}
            except Exception as error:  # whatever failed, the case is still timed, launch by launch
                used["timing_note"] = (f"{graph_label(graph.via)} requested, but {type(error).__name__}: {error}; "
                                       "timed launch by launch instead")
                print(f"{self.benchmark}: {name}: {used['timing_note']}", flush=True)
        with on_stream():
            one_ms = self.timer(launch, 1, 1)
            batch, warmup, repeat = self._plan(one_ms)
            self.timer(launch, 2, warmup)
            samples, next_launch = [], 2 + warmup
            for _ in range(repeat):
                samples.append(self.timer(launch, next_launch, batch) / calls)
                next_launch += batch
        output, reference = check(input_sets[last_set(next_launch)])
        error = relative_error(self.xp, output, reference)
        result = {"name": name, "params": params, **summarize(samples), "batch": batch, "input_sets": sets, **used,
                  "check": {"rel_error": error, "tolerance": tolerance, "passed": error <= tolerance}}
        result.update(self._rates(result["median_ms"], bytes_moved, flops))
        # The case's whole cost to the script (compiling, capturing, checking, timing): where the lent
        # machine's minutes go. At ac366b0 (H200) the timed samples were a third of gemm's 82 s and 0.6 s
        # of affine_transform's 15.
        result["wall_s"] = round(time.perf_counter() - started, 3)
        self.results.append(result)
        print(format_row(self.benchmark, result), flush=True)
        if time.monotonic() - self._written_at >= WRITE_EVERY_S:  # and at exit (__init__'s atexit)
            self.write()
        return result

    def _capture(self, graph, input_sets, poison, check):
        """``graph.run`` over the first GRAPH_CALLS input sets, captured by ``graph.capture``, and
        replayed once into poisoned outputs: ``(on_stream, replay, calls)``. Raises if the capture
        fails or that replay leaves an output unwritten (work that went to another stream, say)."""
        if self.dry_run:
            raise RuntimeError("the emulator has no CUDA graphs")
        cuda = self.xp.cuda
        calls = min(len(input_sets), GRAPH_CALLS)
        cuda.Device().synchronize()  # the inputs and outputs were written on other streams
        on_stream, replay = graph.capture(self.xp, lambda: [graph.run(inputs) for inputs in input_sets[:calls]])
        with on_stream():
            for buffer in poison:
                buffer.fill(np.nan)
            replay()
        cuda.Device().synchronize()
        # The poisoned outputs all finite again, or (with none named) the check's output: the float64
        # reference is computed once a case, for the last launch timed, not here too.
        written = (all(bool(self.xp.isfinite(buffer).all()) for buffer in poison) if poison
                   else relative_error(self.xp, *check(input_sets[calls - 1])) != math.inf)
        if not written:
            raise RuntimeError(f"one replay of the {calls}-call graph left the output unwritten")
        return on_stream, replay, calls

    def _plan(self, one_ms: float) -> tuple[int, int, int]:
        """Launches per sample, warm-up launches and samples for a launch of about ``one_ms``.

        A sample lasts about batch_ms, so event overhead stays small for short kernels; a slow
        variant (a naive rung on a bad shape) gets fewer samples, at least MIN_SAMPLES, so that one
        case stays within about case_budget_ms.
        """
        if self.dry_run:
            return 1, self.warmup, self.repeat
        one_ms = max(one_ms, 1e-6)
        batch = int(min(1000, max(1, math.ceil(self.batch_ms / one_ms))))
        affordable = int(self.case_budget_ms / (one_ms * batch))
        return batch, min(self.warmup, max(1, affordable // 10)), max(MIN_SAMPLES, min(self.repeat, affordable))

    def _rates(self, median_ms, bytes_moved, flops) -> dict:
        rates = {}
        if bytes_moved is not None:
            rates["bytes"] = int(bytes_moved)
            rates["gbps"] = bytes_moved / median_ms / 1e6
            copy = self.ceilings.get("copy_gbps")
            rates["fraction_of_copy"] = rates["gbps"] / copy if copy else None
        if flops is not None:
            rates["flops"] = int(flops)
            rates["tflops"] = flops / median_ms / 1e9
            fp32 = self.ceilings.get("cublas_fp32_tflops")
            rates["fraction_of_cublas_fp32"] = rates["tflops"] / fp32 if fp32 else None
        return rates

    def write(self) -> Path:
        """Write ``<out>/<benchmark>.json``; exit status 1 afterwards if any check failed."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{self.benchmark}.json"
        document = {"benchmark": self.benchmark, "dry_run": self.dry_run, "backend": self.backend,
                    "environment": self.environment, "ceilings": self.ceilings, "results": self.results,
                    **({"notes": self.notes} if self.notes else {})}
        path.write_text(json.dumps(document, indent=1) + "\n")
        self._written_at, self._written_results = time.monotonic(), len(self.results)
        return path

    def _write_if_pending(self):
        if self.results and self._written_results != len(self.results):
            self.write()

    def failed_checks(self) -> list[str]:
        return [r["name"] for r in self.results if not r["check"]["passed"]]


def relative_error(xp, output, reference) -> float:
    """||out - ref|| / ||ref|| in float64 on the output's device; NaN or Inf anywhere gives inf."""
    out = xp.asarray(output, dtype=np.float64)
    ref = xp.asarray(reference, dtype=np.float64)
    if out.shape != ref.shape or not bool(xp.isfinite(out).all()):
        return math.inf
    norm = float(xp.linalg.norm(ref))
    diff = float(xp.linalg.norm(out - ref))
    return diff / norm if norm > 0 else diff


def graph_label(via) -> str:
    """Graph timing, named with the calls it captured where they are not the case's own (Graph.via)."""
    return f"graph via {via}" if via else "graph"


def labelled_name(result: dict) -> str:
    """The result's name, marked when it was timed as graph replays (of which calls, where the result
    says) or its graph timing failed."""
    if result.get("timing") == "graph":
        return f"{result['name']} [{graph_label(result.get('graph_via'))}]"
    return f"{result['name']} [graph failed]" if "timing_note" in result else result["name"]


def format_row(benchmark: str, result: dict) -> str:
    """One line per result, as the scripts print it while they run."""
    params = " ".join(f"{k}={v}" for k, v in result["params"].items())
    rate = f"{result['gbps']:8.1f} GB/s" if "gbps" in result else f"{result.get('tflops', 0):8.2f} TFLOP/s"
    ok = "ok" if result["check"]["passed"] else f"WRONG (error {result['check']['rel_error']:.2g})"
    name = labelled_name(result)
    return f"{benchmark:12s} {name:{NAME_WIDTH}s} {params:28s} {result['median_ms']:10.4f} ms {rate}  {ok}"


def pytorch_baselines(session: Session):
    """``torch`` for a benchmark's PyTorch baselines (cuDNN's convolutions, its pooling), or None after
    a one-line note saying why they are left out: a dry run has no GPU, PyTorch is missing, or it
    sees no GPU (a CPU build)."""
    why = "a dry run has no GPU" if session.dry_run else None
    if why is None:
        try:
            import torch

            if torch.cuda.is_available():
                return torch
            why = f"PyTorch {torch.__version__} sees no GPU"
        except ImportError:
            why = "torch is not installed"
    print(f"{session.benchmark}: PyTorch baselines left out: {why}", flush=True)
    return None


def torch_views(torch, make=None):
    """``view(array)``: PyTorch's tensor on ``array``'s memory (DLPack, nothing copied), or what
    ``make(torch, array)`` makes of it (nchw_view; conv2d's filter, a copy), made once per array and
    kept, the array with it, so that its id stays its own. Making one is no part of what a baseline
    times (a view asks the driver where the memory lives, and may order PyTorch's stream after CuPy's)
    and must stay out of a graph capture: a baseline's first call, never captured (Session.measure and
    capture_torch run the calls once first), makes them all."""
    make = make or (lambda torch, array: torch.from_dlpack(array))
    made = {}

    def view(array):
        if id(array) not in made:
            made[id(array)] = array, make(torch, array)
        return made[id(array)][1]
    return view


def nchw_view(torch, array):
    """An NHWC array as PyTorch's NCHW tensor on its memory: channels_last strides, the layout in which
    PyTorch's convolutions and pooling read NHWC data."""
    return torch.from_dlpack(array).permute(0, 3, 1, 2)


def measure_baseline(session: Session, name: str, *args, **kwargs):
    """``session.measure`` for a vendor baseline, whose failure (a library error on a GPU run, which
    no CI reaches) is reported and recorded as a note instead of ending the benchmark: its result, or
    None."""
    try:
        return session.measure(name, *args, **kwargs)
    except Exception as error:  # whatever the library raised, our kernels' cases still run
        print(f"{session.benchmark}: {name} left out: {type(error).__name__}: {error}", flush=True)
        session.notes.append(f"{name}: {type(error).__name__}: {error}")
        return None


def finish(session: Session) -> int:
    """Write the JSON and return the script's exit status: 1 if any output was wrong."""
    print(f"wrote {session.write()}")
    failed = session.failed_checks()
    if failed:
        print(f"{session.benchmark}: wrong output from {', '.join(failed)}")
    return 1 if failed else 0


def run_shapes(benchmark: str, doc: str, argv, shapes, dry_shapes, measure_shape, **session_options) -> int:
    """A benchmark that runs ``measure_shape(session, torch, shape)`` at each shape (``dry_shapes`` on a
    dry run), ``torch`` being pytorch_baselines' answer, then finishes: its ``main``'s whole body.
    ``session_options`` go to the Session (``case_budget_ms``)."""
    session = Session(benchmark, parse_args(doc, argv), **session_options)
    torch = pytorch_baselines(session)
    for shape in session.pick(shapes, dry_shapes):
        measure_shape(session, torch, shape)
    return finish(session)


# --- the device's ceilings ------------------------------------------------------------------------
COPY_BYTES = 1 << 30  # a 1 GiB device-to-device copy: far past any L2
MATMUL_SIZE = 8192  # 8192^3 float32: large enough for cuBLAS to reach its peak


def load_or_measure_ceilings(dry_run: bool) -> dict:
    """The ceilings of this run: read from $CNN_GPU_CEILINGS if a script measured them already."""
    if dry_run:
        return {"note": "dry run on the emulator: no ceilings"}
    shared = os.environ.get("CNN_GPU_CEILINGS")
    if shared and Path(shared).is_file():
        return json.loads(Path(shared).read_text())
    try:
        ceilings = measure_ceilings()
    except Exception as error:  # the benchmarks still run and say so: rates without fractions
        ceilings = {"error": f"measuring the ceilings failed: {type(error).__name__}: {error}"}
        print(ceilings["error"], flush=True)
    if shared:
        Path(shared).write_text(json.dumps(ceilings, indent=1) + "\n")
    return ceilings


def measure_ceilings() -> dict:
    """Copy bandwidth (bytes read + written) and cuBLAS float32 rates, TF32 off and on."""
    import cupy
    from cupy._core import _routines_linalg as cublas_modes  # CuPy's switch for cuBLAS's compute type

    timer = CudaEventTimer(cupy)
    copy_ms = measure_copy_ms(cupy, timer)

    n = MATMUL_SIZE
    a = cupy.random.random_sample((n, n), dtype=cupy.float32) - 0.5
    b = cupy.random.random_sample((n, n), dtype=cupy.float32) - 0.5
    # A few rows of the exact product are enough to tell TF32 (error near 1e-4) from FP32 (1e-6).
    rows_ref = a[:64].astype(cupy.float64) @ b.astype(cupy.float64)
    ceilings = {"copy_gbps": 2 * COPY_BYTES / copy_ms / 1e6, "copy_bytes": COPY_BYTES, "matmul_size": n}
    previous = cublas_modes.get_compute_type(np.dtype(np.float32))
    try:
        for label, mode in (("fp32", cublas_modes.COMPUTE_TYPE_FP32), ("tf32", cublas_modes.COMPUTE_TYPE_TF32)):
            cublas_modes.set_compute_type(np.dtype(np.float32), mode)
            c = a @ b
            product = lambda i: cupy.matmul(a, b, out=c)  # noqa: E731
            timer(product, 0, 2)
            ms = summarize([timer(product, 0, 1) for _ in range(10)])["median_ms"]
            ceilings[f"cublas_{label}_tflops"] = 2 * n**3 / ms / 1e9
            ceilings[f"cublas_{label}_rel_error"] = relative_error(cupy, c[:64], rows_ref)
    finally:
        cublas_modes.set_compute_type(np.dtype(np.float32), previous)
    return ceilings


def measure_copy_ms(cupy, timer) -> float:
    """Milliseconds of one COPY_BYTES device-to-device copy; its two buffers are freed on return,
    before cuBLAS's operands are made."""
    src = cupy.ones(COPY_BYTES // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    copy = lambda i: cupy.copyto(dst, src)  # noqa: E731
    timer(copy, 0, 3)
    return summarize([timer(copy, 0, 5) for _ in range(10)])["median_ms"]


# --- where and when ----------------------------------------------------------------------------
def environment(backend: str) -> dict:
    """Device, versions, git commit and date, for the JSON header."""
    env = run_info.describe_run("cupy-cuda13x", "torch", "cnn-gpu")
    if backend == "cuda":
        from cnn_gpu.cuda.device import gpu_status

        status = gpu_status()
        env.update(device=status.device_name, compute_capability=status.compute_capability,
                   cuda_driver=status.driver_version, cuda_runtime=status.runtime_version, nvrtc=status.nvrtc_version)
    elif backend == "emulate":
        env.update(device=f"emulator on {run_info.cpu_model()}")
    else:
        env.update(device=f"CPU: {run_info.cpu_model()}")
    return env


def benchmark_modules() -> list[str]:
    """The benchmark scripts: every ``benchmarks/*.py`` that runs a harness Session (gpu_check.sh runs each)."""
    folder = Path(__file__).resolve().parent
    return sorted(f"benchmarks.{path.stem}" for path in folder.glob("*.py") if path.stem != "harness"
                  and any(start in path.read_text() for start in ("harness.Session(", "harness.run_shapes(")))


if __name__ == "__main__":
    # `python -m benchmarks.harness list`: the benchmark modules, one a line.
    # `python -m benchmarks.harness ceilings`: measure (or load) and print this run's ceilings.
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "list":
        print("\n".join(benchmark_modules()))
    elif command == "ceilings":
        print(json.dumps(load_or_measure_ceilings(dry_run=False), indent=1))
    else:
        sys.exit("usage: python -m benchmarks.harness list|ceilings")
