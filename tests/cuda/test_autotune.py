"""The autotuner: fastest candidate chosen once per key and device, remembered on disk, atomically."""

import json
import sys
import types

import pytest

from cnn_gpu.cuda import autotune


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path))
    autotune.forget()
    yield tmp_path
    autotune.forget()


class FakeTimer:
    """Samplers whose samples come from a table instead of the GPU; counts the candidates prepared
    (``calls``) and the samples taken, in order (``samples``)."""

    def __init__(self, times):
        self.times, self.calls, self.samples = times, [], []

    def __call__(self, run):
        name = run()
        self.calls.append(name)
        return lambda: self.sample(name)

    def sample(self, name):
        self.samples.append(name)
        return self.times[name]


class WarmingTimer(FakeTimer):
    """A GPU whose clock is still rising: the first ``slow`` samples, whichever candidates they are of,
    take twice as long."""

    def __init__(self, times, slow):
        super().__init__(times)
        self.slow = slow

    def sample(self, name):
        return super().sample(name) * (2 if len(self.samples) <= self.slow else 1)


def candidates(*names):
    return {name: (lambda name=name: name) for name in names}


def test_the_fastest_candidate_is_chosen_and_cached_on_disk(cache_dir):
    timer = FakeTimer({"slow": 3.0, "fast": 1.0, "middle": 2.0})
    key = {"m": 5, "n": 7, "k": 9}
    assert autotune.choose("gemm", key, candidates("slow", "fast", "middle"), timer, device="gpu0") == "fast"
    assert sorted(timer.calls) == ["fast", "middle", "slow"]
    stored = json.loads((cache_dir / autotune.CACHE_FILE).read_text())
    assert stored == {autotune.cache_key("gemm", key, "gpu0", ["slow", "fast", "middle"]): "fast"}
    assert [p.name for p in cache_dir.iterdir()] == [autotune.CACHE_FILE], "no temporary file may remain"

    # A second process (the in-memory copy dropped) reads the file and times nothing.
    autotune.forget()
    timer.calls.clear()
    assert autotune.choose("gemm", key, candidates("slow", "fast", "middle"), timer, device="gpu0") == "fast"
    assert timer.calls == []


def test_candidates_are_sampled_in_turn_each_round_starting_one_further_on(cache_dir):
    timer = FakeTimer({"a": 1.0, "b": 2.0, "c": 3.0})
    autotune.choose("gemm", {"m": 1}, candidates("a", "b", "c"), timer, device="d")
    rounds = [timer.samples[i:i + 3] for i in range(0, len(timer.samples), 3)]
    assert len(rounds) == autotune.ROUNDS and rounds[:4] == [list("abc"), list("bca"), list("cab"), list("abc")]


def test_a_slow_start_does_not_count_against_whichever_candidate_is_timed_first(cache_dir):
    # "a" is the faster by 10%; the GPU's first three samples take twice as long. Timed one candidate
    # after another (a, a, a, ...), "a"'s median would be doubled; in turn, each has one slow sample.
    timer = WarmingTimer({"a": 1.0, "b": 1.1, "c": 1.2}, slow=3)
    assert autotune.choose("gemm", {"m": 1}, candidates("a", "b", "c"), timer, device="d") == "a"


def test_another_device_or_shape_is_timed_anew(cache_dir):
    timer = FakeTimer({"a": 1.0, "b": 2.0})
    autotune.choose("gemm", {"m": 1}, candidates("a", "b"), timer, device="gpu0")
    autotune.choose("gemm", {"m": 1}, candidates("a", "b"), timer, device="gpu1")
    autotune.choose("gemm", {"m": 2}, candidates("a", "b"), timer, device="gpu0")
    assert len(timer.calls) == 6
    assert len(json.loads((cache_dir / autotune.CACHE_FILE).read_text())) == 3


def test_a_cached_choice_no_longer_offered_is_timed_again(cache_dir):
    autotune.choose("gemm", {"m": 1}, candidates("gone", "b"), FakeTimer({"gone": 1.0, "b": 2.0}), device="d")
    assert autotune.choose("gemm", {"m": 1}, candidates("b", "c"), FakeTimer({"b": 2.0, "c": 1.0}), device="d") == "c"


def test_a_choice_made_before_a_candidate_joined_is_timed_again_with_it(cache_dir):
    assert autotune.choose("gemm", {"m": 1}, candidates("a", "b"), FakeTimer({"a": 1.0, "b": 2.0}), device="d") == "a"
    autotune.forget()
    timer = FakeTimer({"a": 1.0, "b": 2.0, "new": 0.5})
    assert autotune.choose("gemm", {"m": 1}, candidates("a", "b", "new"), timer, device="d") == "new"
    assert sorted(timer.calls) == ["a", "b", "new"]


def test_a_candidate_whose_result_is_wrong_is_left_out_with_a_warning(cache_dir):
    timer = FakeTimer({"slow": 3.0, "fast": 1.0, "middle": 2.0})
    check = {"fast": "relative error 1.0e+00 against float64"}.get
    with pytest.warns(RuntimeWarning, match=r"fast left out, its result is wrong \(relative error 1.0e\+00"):
        chosen = autotune.choose("gemm", {"m": 1}, candidates("slow", "fast", "middle"), timer, device="d", check=check)
    assert chosen == "middle" and sorted(timer.calls) == ["middle", "slow"], "a wrong candidate was timed"
    with pytest.warns(RuntimeWarning), pytest.raises(autotune.NoCorrectCandidate, match="every candidate"):
        autotune.choose("gemm", {"m": 2}, candidates("fast"), timer, device="d", check=check)


def test_an_unreadable_cache_file_is_replaced(cache_dir):
    (cache_dir / autotune.CACHE_FILE).write_text("{not json")
    assert autotune.choose("conv", {"n": 1}, candidates("x"), FakeTimer({"x": 1.0}), device="d") == "x"
    stored = json.loads((cache_dir / autotune.CACHE_FILE).read_text())
    assert stored == {autotune.cache_key("conv", {"n": 1}, "d", ["x"]): "x"}


def test_a_cache_that_cannot_be_written_keeps_the_choice_for_this_process_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "a_file" / "cache"))  # below a file: no folder
    autotune.forget()
    timer = FakeTimer({"x": 1.0, "y": 2.0})
    with pytest.warns(UserWarning, match="could not save the choices .* for this process only"):
        assert autotune.choose("conv", {"n": 1}, candidates("x", "y"), timer, device="d") == "x"
    assert autotune.choose("conv", {"n": 1}, candidates("x", "y"), timer, device="d") == "x"
    assert len(timer.calls) == 2, "timed again"
    autotune.forget()


def test_an_ops_memo_is_one_dict_per_op_and_forget_empties_it(cache_dir):
    memo = autotune.memo("gemm")
    memo[(1, 2, 3)] = "fast"
    assert autotune.memo("gemm") is memo and autotune.memo("conv") is not memo
    autotune.forget()
    assert memo == {} and autotune.memo("gemm") is memo


class FakeCupy:
    """CuPy as sampler uses it: streams that capture, graphs that replay, and events whose elapsed time
    is read from a clock the calls advance (``cost`` per call; ``host`` more per call made outside
    a graph, the time a host spends launching)."""

    def __init__(self, cost, host, capturable=True):
        fake = self
        self.clock, self.calls, self.recording, self.ended = 0.0, 0, None, 0

        def call():
            fake.calls += 1
            if fake.recording is not None:
                if not capturable:
                    raise RuntimeError("not capturable")
                fake.recording.append(cost)
            else:
                fake.clock += cost + host

        class Stream:
            def __init__(self, non_blocking=False):
                assert non_blocking

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def begin_capture(self):
                fake.recording = []

            def end_capture(self):
                costs, fake.recording = fake.recording, None
                fake.ended += 1

                def launch():
                    fake.clock += sum(costs)
                return types.SimpleNamespace(launch=launch)

        class Event:
            def record(self):
                self.t = fake.clock

            def synchronize(self):
                pass

        self.call = call
        self.cuda = types.SimpleNamespace(Stream=Stream, Event=Event,
                                          Device=lambda: types.SimpleNamespace(synchronize=lambda: None),
                                          get_elapsed_time=lambda a, b: b.t - a.t)


def test_a_candidate_is_timed_by_its_kernels_not_by_the_host_that_launches_them(monkeypatch):
    fake = FakeCupy(cost=0.004, host=0.030)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    sample = autotune.sampler(fake.call)
    assert [sample(), sample()] == pytest.approx([0.004, 0.004])
    # One call untimed, GRAPH_CALLS captured, and nothing else run outside the graph.
    assert fake.calls == 1 + autotune.GRAPH_CALLS and fake.ended == 1


def test_a_candidate_whose_calls_cannot_be_captured_is_timed_call_by_call(monkeypatch):
    fake = FakeCupy(cost=0.004, host=0.030, capturable=False)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert autotune.sampler(fake.call)() == pytest.approx(0.034)
    assert fake.recording is None and fake.ended == 1, "the broken capture must be ended"


def test_a_graph_whose_replay_fails_falls_back_to_call_by_call_timing(monkeypatch):
    fake = FakeCupy(cost=0.004, host=0.030)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    end_capture = fake.cuda.Stream.end_capture

    def unlaunchable(self):
        end_capture(self)
        return types.SimpleNamespace(launch=lambda: (_ for _ in ()).throw(RuntimeError("cannot launch")))
    monkeypatch.setattr(fake.cuda.Stream, "end_capture", unlaunchable)
    assert autotune.sampler(fake.call)() == pytest.approx(0.034)
