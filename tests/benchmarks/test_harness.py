"""The harness's logic, dry-run on the CPU: statistics, rotation, budgets, checks, ceilings, git metadata."""

import contextlib
import itertools
import json
import sys
import time
import types

import numpy as np
import pytest

from benchmarks import harness, run_info


def test_summary_statistics():
    stats = harness.summarize(np.arange(1, 102))
    assert (stats["median_ms"], stats["p10_ms"], stats["p90_ms"], stats["min_ms"], stats["samples"]) == (51, 11, 91, 1, 101)


@pytest.mark.parametrize("bytes_per_set, l2, expected", [(10, 100, 30), (1000, 100, 2), (0, 100, 300)])
def test_rotation_exceeds_l2(bytes_per_set, l2, expected):
    count = harness.rotation_count(bytes_per_set, l2)
    assert count == expected and count >= 2
    assert count * bytes_per_set >= harness.L2_MULTIPLE * l2 or bytes_per_set == 0 or count == 2


def test_relative_error_never_passes_nan():
    ref = np.ones(4)
    assert harness.relative_error(np, ref * 1.5, ref) == pytest.approx(0.5)
    assert harness.relative_error(np, np.array([1, 1, np.nan, 1]), ref) == np.inf
    assert harness.relative_error(np, np.ones(3), ref) == np.inf


def dry_session(tmp_path, **kw):
    return harness.Session("unit", harness.parse_args("", ["--dry-run", "--out", str(tmp_path), "--repeat", "4"]), **kw)


def test_measure_rotates_inputs_checks_the_last_output_and_writes_json(tmp_path):
    session = dry_session(tmp_path)
    sets = session.input_sets(lambda rng: rng.uniform(-1, 1, 1024), 8 * 1024)
    assert len(sets) == harness.rotation_count(8 * 1024, harness.EMULATED_L2_BYTES) > 2
    out, used = np.empty(1024), []

    def run(x):
        used.append(x)
        np.multiply(x, 2, out=out)

    result = session.measure("double", {"n": 1024}, run, sets, lambda x: (out, 2 * x), poison=[out], bytes_moved=16 * 1024)
    assert result["check"]["passed"] and result["samples"] == 4 and result["gbps"] > 0
    assert len({id(x) for x in used}) == min(len(used), len(sets))  # consecutive launches use different sets
    document = json.loads(session.write().read_text())
    assert document["results"][0]["name"] == "double" and document["environment"]["git_commit"]
    assert document["environment"]["device"].startswith("emulator")
    assert harness.finish(session) == 0


def test_the_json_is_rewritten_at_most_every_few_seconds_and_completed_at_exit(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "WRITE_EVERY_S", 1e9)  # however slow the machine, the second comes too soon
    session = dry_session(tmp_path)
    sets, out = [np.ones(4), np.ones(4)], np.empty(4)
    for name in ("first", "second"):
        session.measure(name, {}, lambda x: np.multiply(x, 2, out=out), sets, lambda x: (out, 2 * x))
    path = tmp_path / f"{session.benchmark}.json"
    assert [r["name"] for r in json.loads(path.read_text())["results"]] == ["first"]
    session._write_if_pending()  # what the interpreter's exit runs
    assert [r["name"] for r in json.loads(path.read_text())["results"]] == ["first", "second"]


def test_an_output_left_unwritten_fails_the_check(tmp_path):
    session = dry_session(tmp_path)
    sets = session.input_sets(lambda rng: rng.uniform(-1, 1, 16), 8 * 16)
    out = np.zeros(16)
    result = session.measure("lazy", {}, lambda x: np.multiply(x[:8], 2, out=out[:8]), sets,
                             lambda x: (out, 2 * x), poison=[out])
    assert not result["check"]["passed"] and result["check"]["rel_error"] == np.inf
    assert harness.finish(session) == 1


def test_a_slow_case_gets_fewer_samples_and_a_fast_one_is_batched(tmp_path):
    session = dry_session(tmp_path)
    session.dry_run, session.repeat, session.warmup = False, 50, 5
    batch, warmup, repeat = session._plan(one_ms=1000.0)
    assert (batch, warmup, repeat) == (1, 1, harness.MIN_SAMPLES)
    batch, warmup, repeat = session._plan(one_ms=0.01)
    assert (batch, warmup, repeat) == (100, 5, 50)


class FakeEvent:
    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


def fake_cupy(monkeypatch):
    """Enough of CuPy, on NumPy, to run measure_ceilings on the CPU."""
    modes = types.SimpleNamespace(COMPUTE_TYPE_FP32=4, COMPUTE_TYPE_TF32=6, state=[1], calls=[])
    modes.get_compute_type = lambda dtype: modes.state[-1]
    modes.set_compute_type = lambda dtype, mode: (modes.calls.append(mode), modes.state.append(mode))
    cupy = types.SimpleNamespace(
        float32=np.float32, float64=np.float64, ones=np.ones, empty_like=np.empty_like, copyto=np.copyto,
        matmul=np.matmul, asarray=np.asarray, isfinite=np.isfinite, linalg=np.linalg,
        random=types.SimpleNamespace(random_sample=lambda shape, dtype: np.random.random_sample(shape).astype(dtype)),
        cuda=types.SimpleNamespace(Event=FakeEvent, get_elapsed_time=lambda a, b: (b.t - a.t) * 1e3 + 1e-6),
    )
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy._core", types.SimpleNamespace(_routines_linalg=modes))
    monkeypatch.setattr(harness, "COPY_BYTES", 1 << 16)
    monkeypatch.setattr(harness, "MATMUL_SIZE", 96)
    return modes


def test_ceilings_measure_copy_and_both_cublas_modes_then_restore_the_mode(monkeypatch):
    modes = fake_cupy(monkeypatch)
    ceilings = harness.measure_ceilings()
    assert modes.calls == [4, 6, 1]  # FP32, TF32, then back to what it was
    for key in ("copy_gbps", "cublas_fp32_tflops", "cublas_tf32_tflops"):
        assert ceilings[key] > 0
    assert ceilings["cublas_fp32_rel_error"] < 1e-5


def test_ceilings_are_measured_once_per_run_and_shared(monkeypatch, tmp_path):
    fake_cupy(monkeypatch)
    shared = tmp_path / "ceilings.json"
    monkeypatch.setenv("CNN_GPU_CEILINGS", str(shared))
    first = harness.load_or_measure_ceilings(dry_run=False)
    monkeypatch.setattr(harness, "measure_ceilings", lambda: pytest.fail("measured twice"))
    assert harness.load_or_measure_ceilings(dry_run=False) == json.loads(shared.read_text()) == first


def test_a_failed_ceiling_measurement_is_recorded_not_fatal(monkeypatch):
    monkeypatch.delenv("CNN_GPU_CEILINGS", raising=False)
    monkeypatch.setattr(harness, "measure_ceilings", lambda: 1 / 0)
    assert "ZeroDivisionError" in harness.load_or_measure_ceilings(dry_run=False)["error"]


def make_git(tmp_path, head, refs=None, packed=None):
    git = tmp_path / "repo.git"
    git.mkdir()
    (git / "HEAD").write_text(head + "\n")
    for ref, sha in (refs or {}).items():
        (git / ref).parent.mkdir(parents=True, exist_ok=True)
        (git / ref).write_text(sha + "\n")
    if packed:
        (git / "packed-refs").write_text("# pack-refs with: peeled\n" + "".join(f"{s} {r}\n" for r, s in packed.items()))
    return git


def test_git_head_without_git(tmp_path):
    sha = "a" * 40
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git = make_git(tmp_path, "ref: refs/heads/main", refs={"refs/heads/main": sha})
    (checkout / ".git").symlink_to(git)
    assert run_info.read_git_head(checkout) == sha
    assert run_info.read_git_head(tmp_path / "nowhere") .startswith("unknown")


def test_git_head_of_a_worktree_with_packed_refs(tmp_path):
    sha = "b" * 40
    common = make_git(tmp_path, "ref: refs/heads/main", packed={"refs/heads/toolchain": sha})
    worktree_git = common / "worktrees" / "toolchain"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/toolchain\n")
    (worktree_git / "commondir").write_text("../..\n")
    checkout = tmp_path / "wt"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {worktree_git}\n")
    assert run_info.read_git_head(checkout) == sha


def test_this_checkouts_commit_is_found(monkeypatch):
    monkeypatch.delenv("CNN_GPU_GIT_COMMIT", raising=False)
    commit = run_info.git_commit()
    assert int(commit[:40], 16) and commit[40:] in ("", "+uncommitted")
    monkeypatch.setenv("CNN_GPU_GIT_COMMIT", "c0ffee")
    assert run_info.git_commit() == "c0ffee"


# --- graph timing: the harness's logic on a stand-in for CuPy's streams and graphs -----------------
class FakeGraphCuda:
    """CuPy's cuda namespace as graph timing uses it. A stream's capture records the calls that
    ``capturable`` work makes while it is open, and its graph replays them; ``replays`` decides
    whether a graph runs what it recorded (False: work that never reached the graph)."""

    def __init__(self, replays=True):
        self.recording, self.replays, self.captures = None, replays, 0
        self.current = 0  # the pointer of CuPy's current stream (ExternalStream sets it; 0: the default)
        cuda = self

        class ExternalStream:  # CuPy's wrapper of a stream another library made
            def __init__(self, ptr):
                self.ptr = ptr

            def __enter__(self):
                self.outer, cuda.current = cuda.current, self.ptr

            def __exit__(self, *exc):
                cuda.current = self.outer

        class Stream:
            def __init__(self, non_blocking=False):
                assert non_blocking, "a capture needs a stream of its own"

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def begin_capture(self):
                assert cuda.recording is None
                cuda.recording, cuda.captures = [], cuda.captures + 1

            def end_capture(self):
                calls, cuda.recording = cuda.recording, None
                return types.SimpleNamespace(launch=lambda: [call() for call in calls if cuda.replays])

            def synchronize(self):
                pass


        self.Stream, self.ExternalStream, self.Event = Stream, ExternalStream, FakeEvent
        self.Device = lambda: types.SimpleNamespace(synchronize=lambda: None)
        self.get_elapsed_time = lambda a, b: (b.t - a.t) * 1e3 + 1e-6

    def capturable(self, work):
        """Run ``work`` now, or record it if a capture is open."""
        if self.recording is None:
            work()
        else:
            self.recording.append(work)


def graph_session(tmp_path, cuda):
    session = dry_session(tmp_path)
    session.dry_run = False
    session.xp = types.SimpleNamespace(cuda=cuda, asarray=np.asarray, isfinite=np.isfinite, linalg=np.linalg)
    session.timer = harness.CudaEventTimer(session.xp)
    return session


def doubling_case(session, run_work, bytes_per_set=8 * 64):
    sets = session.input_sets(lambda rng: rng.uniform(-1, 1, 64), bytes_per_set)
    out = np.empty(64)
    return sets, out, (lambda x: run_work(lambda: np.multiply(x, 2, out=out))), (lambda x: (out, 2 * x))


def test_graph_timing_times_replays_of_the_captured_calls_and_checks_the_last_set(tmp_path):
    cuda = FakeGraphCuda()
    session = graph_session(tmp_path, cuda)
    sets, out, run, check = doubling_case(session, cuda.capturable)
    checked = []
    result = session.measure("double", {}, run, sets, lambda x: checked.append(x) or check(x), poison=[out],
                             timing="graph")
    calls = min(len(sets), harness.GRAPH_CALLS)
    assert (result["timing"], result["graph_calls"], cuda.captures) == ("graph", calls, 1)
    assert len(checked) == 1, "the poisoned output tells the capture's replay wrote it: one reference a case"
    assert "timing_note" not in result and result["check"]["passed"]
    assert np.array_equal(out, 2 * sets[calls - 1]), "the check must use the set of the graph's last call"
    assert harness.labelled_name(result) == "double [graph]"


def test_graph_timing_runs_every_captured_set_once_before_the_capture(tmp_path):
    # Like gemm()'s TMA rungs, a call that prepares something on first meeting an operand (there:
    # tensor maps copied from the host), which a capture refuses.
    cuda = FakeGraphCuda()
    seen = set()

    def run_work(x, work):
        if id(x) not in seen:
            assert cuda.recording is None, "a first call with these operands inside the capture"
            seen.add(id(x))
        cuda.capturable(work)

    session = graph_session(tmp_path, cuda)
    sets = session.input_sets(lambda rng: rng.uniform(-1, 1, 64), harness.EMULATED_L2_BYTES)
    out = np.empty(64)
    result = session.measure("prepared", {}, lambda x: run_work(x, lambda: np.multiply(x, 2, out=out)), sets,
                             lambda x: (out, 2 * x), poison=[out], timing="graph")
    assert len(sets) > 1 and result["timing"] == "graph" and "timing_note" not in result


def test_graph_timing_reports_the_time_per_call_not_per_replay(tmp_path):
    cuda = FakeGraphCuda()
    session = graph_session(tmp_path, cuda)
    # Input sets large enough that three cover the pretend L2: a graph of 3 calls of 1 ms each.
    sets, out, run, check = doubling_case(session, lambda work: cuda.capturable(lambda: (time.sleep(1e-3), work())),
                                          bytes_per_set=harness.EMULATED_L2_BYTES)
    result = session.measure("sleepy", {}, run, sets, check, poison=[out], timing="graph")
    assert result["graph_calls"] == len(sets) == 3
    assert 1.0 <= result["median_ms"] < 2.5, result["median_ms"]


@pytest.mark.parametrize("failure", ["raises while captured", "graph runs nothing", "emulator"])
def test_a_failed_graph_capture_times_launch_by_launch_and_says_why(tmp_path, failure):
    cuda = FakeGraphCuda(replays=failure != "graph runs nothing")

    def run_work(work):
        if cuda.recording is not None and failure == "raises while captured":
            raise RuntimeError("cannot be captured")
        work()  # "graph runs nothing": the work happens at capture time and never reaches the graph

    session = dry_session(tmp_path) if failure == "emulator" else graph_session(tmp_path, cuda)
    sets, out, run, check = doubling_case(session, run_work)
    result = session.measure("double", {}, run, sets, check, poison=[out], timing="graph")
    expected = {"raises while captured": "RuntimeError: cannot be captured",
                "graph runs nothing": "left the output unwritten", "emulator": "no CUDA graphs"}[failure]
    assert result["timing"] == "launch" and "graph_calls" not in result
    assert expected in result["timing_note"] and "timed launch by launch" in result["timing_note"]
    assert result["check"]["passed"] and cuda.recording is None, "a failed capture must be ended"
    assert harness.labelled_name(result) == "double [graph failed]"


def test_an_unknown_timing_is_refused(tmp_path):
    session = dry_session(tmp_path)
    with pytest.raises(ValueError, match="timing must be one of"):
        session.measure("x", {}, lambda x: None, [np.ones(1)], lambda x: (x, x), timing="wall")


# --- graph timing through PyTorch (capture_torch), on a stand-in for PyTorch beside FakeGraphCuda ----
class FakeTorch:
    """PyTorch as capture_torch uses it, on NumPy. Streams are numbers; a CUDAGraph records the ``mm``
    calls made between capture_begin and capture_end and replays them. ``mm`` and ``replay`` assert
    that PyTorch's current stream is CuPy's (``cupy.current``), where the timer records its events,
    and ``mm`` counts the calls it runs at once (``uncaptured``)."""

    def __init__(self, cupy: FakeGraphCuda):
        torch, numbers = self, itertools.count(1)
        self.cupy, self.current, self.recording, self.uncaptured = cupy, 0, None, 0

        class Stream:
            def __init__(self):
                self.cuda_stream = next(numbers)

        @contextlib.contextmanager
        def stream(chosen):
            outer, torch.current = torch.current, chosen.cuda_stream
            try:
                yield
            finally:
                torch.current = outer

        class CUDAGraph:
            def capture_begin(self):
                assert torch.recording is None and torch.current != 0, "a capture needs a stream of its own"
                torch.recording, self.stream = [], torch.current

            def capture_end(self):
                self.calls, torch.recording = torch.recording, None

            def replay(self):
                assert torch.current == torch.cupy.current == self.stream, "replayed where the events are not"
                for call in self.calls:
                    call()

        self.cuda = types.SimpleNamespace(Stream=Stream, stream=stream, CUDAGraph=CUDAGraph)

    def mm(self, a, b, out):
        assert self.current == self.cupy.current, "PyTorch and CuPy on different streams"
        work = lambda: np.matmul(a, b, out=out)  # noqa: E731
        if self.recording is None:
            self.uncaptured += 1
            work()
        else:
            self.recording.append(work)


def torch_product_case(session, torch):
    """A product timed by launch with NumPy, and its graph through (fake) torch.mm."""
    sets = session.input_sets(lambda rng: (rng.uniform(-1, 1, (4, 8)), rng.uniform(-1, 1, (8, 4))), 8 * 64)
    out = np.empty((4, 4))
    run = lambda x: np.matmul(*x, out=out)  # noqa: E731
    graph = harness.Graph(lambda x: torch.mm(*x, out=out), "torch.mm", harness.capture_torch)
    return sets, out, run, graph, (lambda x: (out, x[0] @ x[1]))


def test_torch_graph_timing_replays_where_cupy_times_and_says_what_it_captured(tmp_path, monkeypatch):
    cuda = FakeGraphCuda()
    torch = FakeTorch(cuda)
    monkeypatch.setitem(sys.modules, "torch", torch)
    session = graph_session(tmp_path, cuda)
    sets, out, run, graph, check = torch_product_case(session, torch)
    result = session.measure("mm", {}, run, sets, check, poison=[out], timing="graph", graph=graph)
    calls = min(len(sets), harness.GRAPH_CALLS)
    assert (result["timing"], result["graph_calls"], result["graph_via"]) == ("graph", calls, "torch.mm")
    assert "timing_note" not in result and result["check"]["passed"]
    assert np.array_equal(out, sets[calls - 1][0] @ sets[calls - 1][1])
    # The graph's calls ran once uncaptured first (PyTorch's warm-up), and CuPy's capture was not used.
    assert (torch.uncaptured, cuda.captures, torch.recording) == (calls, 0, None)
    assert (torch.current, cuda.current) == (0, 0), "both libraries back on their default streams"
    assert harness.labelled_name(result) == "mm [graph via torch.mm]"


@pytest.mark.parametrize("failure", ["no torch", "raises while captured"])
def test_a_torch_graph_that_cannot_be_had_times_launch_by_launch_and_says_why(tmp_path, monkeypatch, failure):
    cuda = FakeGraphCuda()
    torch = FakeTorch(cuda)
    monkeypatch.setitem(sys.modules, "torch", None if failure == "no torch" else torch)
    session = graph_session(tmp_path, cuda)
    sets, out, run, graph, check = torch_product_case(session, torch)

    def refuse_capture(x, product=graph.run):
        if torch.recording is not None:
            raise RuntimeError("operation not permitted when stream is capturing")
        product(x)

    graph = harness.Graph(refuse_capture, graph.via, graph.capture)
    result = session.measure("mm", {}, run, sets, check, poison=[out], timing="graph", graph=graph)
    expected = {"no torch": "ModuleNotFoundError", "raises while captured": "RuntimeError: operation not permitted"}
    assert result["timing"] == "launch" and "graph_calls" not in result and "graph_via" not in result
    assert result["timing_note"].startswith(f"graph via torch.mm requested, but {expected[failure]}")
    assert result["check"]["passed"] and torch.recording is None, "a failed capture must be ended"
    assert (torch.current, cuda.current) == (0, 0)


@pytest.mark.gpu
def test_a_gpu_sessions_random_inputs_are_drawn_on_the_device_in_their_range(tmp_path, monkeypatch):
    import cupy

    monkeypatch.setattr(harness, "load_or_measure_ceilings", lambda dry_run: {})
    session = harness.Session("unit", harness.parse_args("", ["--out", str(tmp_path)]))
    first, second = (session.uniform(session.rng, (3, 1001), low=0.5, high=2.0) for _ in range(2))
    assert isinstance(first, cupy.ndarray) and first.dtype == np.float32 and first.shape == (3, 1001)
    values = cupy.asnumpy(first)
    assert 0.5 <= values.min() < 0.6 and 1.9 < values.max() <= 2.0
    assert not np.array_equal(values, cupy.asnumpy(second)), "each call draws anew"
