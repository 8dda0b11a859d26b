"""The GEMM benchmark, dry-run on the emulator: every rung and the baseline measured and checked,
the JSON written, and the README's ladder table generated from it."""

import json
import sys
import types

import numpy as np
import pytest

from benchmarks import gemm as gemm_benchmark
from benchmarks import gemm_call_overhead
from benchmarks import harness
from benchmarks import report
from cnn_gpu import cli
from cnn_gpu.cuda.loader import KernelLaunchError
from cnn_gpu.ops.gemm import EMULATE_DEFAULT, gemm_reference
from cnn_gpu.ops.gemm_variants import GEMM_SWEEP, GEMM_VARIANTS



def test_the_dry_run_measures_every_variant_and_the_table_comes_from_its_json(tmp_path):
    assert cli.main(["bench", "gemm", "--dry-run", "--out", str(tmp_path), "--repeat", "1"]) == 0
    document = json.loads((tmp_path / "gemm.json").read_text())
    names = {r["name"] for r in document["results"]}
    assert names == {"numpy_matmul", "autotuned", *GEMM_VARIANTS}
    assert all(r["check"]["passed"] for r in document["results"])
    # gemm() as Dense calls it, on each Dense product only, naming the rung it ran.
    autotuned = [r for r in document["results"] if r["name"] == "autotuned"]
    assert {r["params"]["case"] for r in autotuned} == {f"dense68x12_b8_{p}" for p in
                                                        ("forward", "backward_data", "backward_weights")}
    assert all(r["params"]["chosen"] == EMULATE_DEFAULT for r in autotuned)
    cases = {r["params"]["case"] for r in document["results"]}
    assert cases == {"square40", "dense68x12_b8_forward", "dense68x12_b8_backward_data",
                     "dense68x12_b8_backward_weights"}
    # Every Dense product is timed twice: as graph replays, every rung, which the emulator cannot
    # capture, so those are timed launch by launch too and say so; and launch by launch, only the
    # baseline and the autotuned call.
    for case in cases:
        rows = [r for r in document["results"] if r["params"]["case"] == case]
        assert all(r["timing"] == "launch" for r in rows)
        noted = [r for r in rows if "no CUDA graphs" in r.get("timing_note", "")]
        assert len(noted) == (len(rows) - 2 if case.startswith("dense") else 0)
        if case.startswith("dense"):
            assert sorted(r["name"] for r in rows if r not in noted) == ["autotuned", "numpy_matmul"]
    table = report.ladder(report.load([tmp_path / "gemm.json"]), "square40").splitlines()
    assert table[0] == "| kernel | GFLOP/s | % of cuBLAS | check |"
    assert len(table) == 2 + 1 + len(GEMM_VARIANTS)
    assert table[2].startswith("| numpy_matmul |") and "| baseline | ok (" in table[2]
    assert table[3].startswith("| gemm_naive |") and "% | ok (" in table[3]


def test_the_ladder_table_gives_a_wrong_kernel_no_fraction_of_cublas(tmp_path):
    # At 1b45d2c gemm_3xtf32_mma was wrong (2.9e-5) and fast: its 109% of cuBLAS was no result.
    def result(name, tflops, vs, error, passed):
        return {"name": name, "params": {"case": "square40"}, "median_ms": 1.0, "tflops": tflops, "vs_cublas": vs,
                "check": {"rel_error": error, "tolerance": 1e-5, "passed": passed}}
    document = {"results": [result("cublas_fp32", 50.0, None, 1e-6, True), result("gemm_fast", 55.0, 1.1, 2.9e-5, False),
                            result("gemm_slow", 25.0, 0.5, 1e-6, True)]}
    (tmp_path / "gemm.json").write_text(json.dumps(document))
    table = report.ladder(report.load([tmp_path / "gemm.json"]), "square40").splitlines()
    assert table[3] == "| gemm_fast | 55000 | — | **WRONG** (2.9e-05) |"
    assert table[4] == "| gemm_slow | 25000 | 50.0% | ok (1.0e-06) |"


def test_cases_and_kernels_choose_what_is_timed(tmp_path, capsys):
    assert gemm_benchmark.main(["--dry-run", "--out", str(tmp_path), "--repeat", "1", "--cases", "forward",
                                "--kernels", "gemm_split_k,gemm_naive"]) == 0
    results = json.loads((tmp_path / "gemm.json").read_text())["results"]
    assert {r["params"]["case"] for r in results} == {"dense68x12_b8_forward"}
    # A Dense product's autotuned call runs whichever rungs are asked for, as its cuBLAS baselines do.
    assert [r["name"] for r in results] == ["numpy_matmul", "autotuned", "gemm_split_k", "gemm_naive",  # graph
                                            "numpy_matmul", "autotuned"]  # launch by launch
    table = report.by_case(report.load([tmp_path / "gemm.json"]), "forward").splitlines()
    assert table[0] == "| case | timing | numpy_matmul | autotuned | gemm_split_k | gemm_naive |"
    assert [row.split(" | ")[1] for row in table[2:]] == ["launch (graph failed)", "launch"]
    with pytest.raises(SystemExit):
        gemm_benchmark.main(["--dry-run", "--out", str(tmp_path), "--kernels", "gemm_fastest"])
    assert "no such rungs: gemm_fastest" in capsys.readouterr().err


def test_the_call_overhead_script_times_every_variant_with_launches_stubbed(capsys, monkeypatch):
    launched = []
    monkeypatch.setattr(gemm_call_overhead.StubModule, "get_function",
                        lambda self, name: lambda *args, **kwargs: launched.append(name))
    assert gemm_call_overhead.main(["--calls", "5", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["gemm_smem_tiled", "gemm_tf32_mma", "gemm_split_k", "autotuned"]
    assert all(float(line.split()[2]) > 0 for line in lines)
    # Each variant: one untimed call and 2 rounds of 5; split-K launches twice per call (slices, reduce).
    assert len(launched) == 11 * (1 + 1 + 2 + 1)


def test_the_call_overhead_script_profiles_each_case_on_request(capsys):
    assert gemm_call_overhead.main(["--calls", "5", "--rounds", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    cases = len(gemm_call_overhead.VARIANTS)
    assert out.count("us per call") == out.count("by cumulative time") == out.count("by own time") == cases
    assert "gemm.py:" in out and "(gemm)" in out and "(check)" in out


def test_the_full_run_covers_the_squares_and_every_dense_product_goal_cases_first():
    problems = gemm_benchmark.problems(dry_run=False)
    squares = [shapes["a"][0] for prefix, shapes, _ in problems if prefix.startswith("square")]
    assert sorted(squares) == gemm_benchmark.SQUARES
    # The 4096 square, then every Dense product, then the other squares.
    assert problems[0][0] == f"square{gemm_benchmark.TRANSPOSED_SQUARE}"
    assert {p[0].startswith("dense") for p in problems[1:1 + len(gemm_benchmark.DENSE_LAYERS) * len(gemm_benchmark.BATCHES)]} == {True}
    dense = {prefix + label: product for prefix, _, products in problems if prefix.startswith("dense")
             for label, *product in products}
    assert len(dense) == len(gemm_benchmark.DENSE_LAYERS) * len(gemm_benchmark.BATCHES) * 3
    # x^T dy at batch 32: M = 5408, N = 64, K = 32, x (32, 5408) read transposed.
    assert dense["dense5408x64_b32_backward_weights"] == [5408, 64, 32, True, False, ("x", "dy")]
    assert gemm_benchmark.SWEEP_SQUARE in gemm_benchmark.SQUARES  # the sweep's square is one of them


def test_the_sweep_times_the_squares_a_b_alone_though_transposes_are_timed_beside_it():
    # A GPU run's sweep square carries the transposed products too (the dry run's has one product),
    # which once failed the sweep on the H100 before it timed anything.
    n = gemm_benchmark.SWEEP_SQUARE
    prefix, shapes, product = gemm_benchmark.sweep_problem(dry_run=False)
    assert (prefix, shapes) == (f"square{n}", {"a": (n, n), "b": (n, n)})
    assert product == ("", n, n, n, False, False, ("a", "b"))
    assert gemm_benchmark.sweep_problem(dry_run=True)[2][1:4] == (40, 36, 20)


def test_the_sweep_dry_run_measures_every_tiling_after_the_baseline(tmp_path):
    assert gemm_benchmark.main(["--sweep", "--dry-run", "--out", str(tmp_path), "--repeat", "1"]) == 0
    assert not (tmp_path / "gemm.json").exists()
    results = json.loads((tmp_path / "gemm_sweep.json").read_text())["results"]
    # Hopper's tilings first, no GPU having timed them yet; then the others, in GEMM_SWEEP's order.
    order = gemm_benchmark.sweep_order()
    assert sorted(order, key=GEMM_SWEEP.index) == GEMM_SWEEP
    assert [v.name for v in order].index("gemm_warptiled_double_buffered") == sum("wgmma" in v.name for v in order)
    assert [r["name"] for r in results] == ["numpy_matmul"] + [v.name for v in order]
    assert [r["params"].get("tiling") for r in results] == [None] + [v.tiling.label for v in order]
    assert {r["params"]["case"] for r in results} == {"square40"}
    assert all(r["check"]["passed"] and r["vs_cublas"] is not None for r in results[1:])
    table = report.ladder(report.load([tmp_path / "gemm_sweep.json"]), "square40").splitlines()
    assert table[0] == "| kernel | tiling | GFLOP/s | % of cuBLAS | check |"
    assert [row.split(" | ")[1] for row in table[3:]] == [v.tiling.label for v in order]


def test_a_run_cut_off_by_the_time_limit_still_writes_what_it_measured(tmp_path, monkeypatch):
    measure = gemm_benchmark.measure_product
    calls = []

    def measure_twice(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt  # what gpu_check.sh's `timeout --signal=INT` delivers
        calls.append(args)
        return measure(*args)

    monkeypatch.setattr(gemm_benchmark, "measure_product", measure_twice)
    assert gemm_benchmark.main(["--dry-run", "--out", str(tmp_path), "--repeat", "1"]) == 0
    document = json.loads((tmp_path / "gemm.json").read_text())
    assert [r["name"] for r in document["results"]] == ["numpy_matmul", "autotuned"]


def test_a_tiling_the_device_will_not_launch_costs_only_its_own_row(tmp_path, monkeypatch):
    measure = gemm_benchmark.measure_rung
    refused = GEMM_SWEEP[1]

    def refuse_one(session, sets, case, product, kernel, *args):
        if kernel == refused:
            raise KernelLaunchError("launch of kernel ... failed: too many resources requested for launch")
        return measure(session, sets, case, product, kernel, *args)

    monkeypatch.setattr(gemm_benchmark, "measure_rung", refuse_one)
    assert gemm_benchmark.main(["--sweep", "--dry-run", "--out", str(tmp_path), "--repeat", "1"]) == 1
    results = json.loads((tmp_path / "gemm_sweep.json").read_text())["results"]
    assert [r["params"].get("tiling") for r in results[1:]] == [v.tiling.label for v in gemm_benchmark.sweep_order()
                                                                if v != refused]


# --- the cuBLAS baselines' graphs through PyTorch (TorchProduct), on stand-ins for PyTorch and CuPy ---
def fake_torch(monkeypatch, tf32):
    """PyTorch as TorchProduct uses it, on NumPy: ``viewed`` lists the arrays from_dlpack was given,
    ``modes`` the TF32 flag each ``mm`` ran under; the flag starts opposite to ``tf32``."""
    flags = types.SimpleNamespace(allow_tf32=not tf32)
    torch = types.SimpleNamespace(viewed=[], modes=[], backends=types.SimpleNamespace(
        cuda=types.SimpleNamespace(matmul=flags)))
    torch.from_dlpack = lambda array: torch.viewed.append(array) or array
    torch.mm = lambda a, b, out: torch.modes.append(flags.allow_tf32) or np.matmul(a, b, out=out)
    monkeypatch.setitem(sys.modules, "torch", torch)
    return torch


def dense_operands(batch=8, fan_in=20, units=5):
    rng = np.random.default_rng(0)
    return {name: rng.uniform(-1, 1, shape) for name, shape in
            {"x": (batch, fan_in), "w": (fan_in, units), "dy": (batch, units)}.items()}


@pytest.mark.parametrize("tf32", [False, True])
def test_the_torch_baseline_multiplies_the_views_cublas_gets_under_its_own_tf32_setting(monkeypatch, tf32):
    torch = fake_torch(monkeypatch, tf32)
    ops = dense_operands()
    run = gemm_benchmark.TorchProduct(tf32)
    for label, m, n, k, trans_a, trans_b, (name_a, name_b) in gemm_benchmark.dense_products(8, 20, 5):
        out = np.empty((m, n))
        for _ in range(2):
            run(ops[name_a], ops[name_b], trans_a, trans_b, out)
        np.testing.assert_allclose(out, gemm_reference(ops[name_a], ops[name_b], trans_a, trans_b), err_msg=label)
    assert torch.modes == [tf32] * 6, "the flag is set for every call"
    assert torch.backends.cuda.matmul.allow_tf32 is (not tf32), "and restored after it"
    # One view per array, made at its first call: none is made where a later call is being captured.
    assert len(torch.viewed) == len({id(array) for array in torch.viewed}) == 3 + 3


def test_graph_timing_of_the_cublas_baselines_captures_torch_mm_and_launch_timing_cupy(monkeypatch):
    torch = fake_torch(monkeypatch, False)
    modes = types.SimpleNamespace(COMPUTE_TYPE_FP32=4, COMPUTE_TYPE_TF32=6, used=[])
    modes.get_compute_type = lambda dtype: 1
    modes.set_compute_type = lambda dtype, mode: modes.used.append(mode)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(_core=None))
    monkeypatch.setitem(sys.modules, "cupy._core", types.SimpleNamespace(_routines_linalg=modes))
    ops = dense_operands()
    product = gemm_benchmark.dense_products(8, 20, 5)[2]  # x^T dy
    reference = gemm_reference(ops["x"], ops["dy"], True, False)
    for timing in harness.TIMINGS:
        session = RecordingSession()
        case, _ = gemm_benchmark.measure_baselines(session, [ops], "dense20x5_b8_", product, timing)
        assert [name for name, _, _ in session.measured] == ["cublas_fp32", "cublas_tf32"]
        modes.used.clear()
        torch.modes.clear()
        for name, run, kw in session.measured:
            graph = kw["graph"]
            assert kw["timing"] == timing and (graph.via, graph.capture) == ("torch.mm", harness.capture_torch)
            for calls in (run, graph.run):  # launch timing's (cupy.matmul), then graph timing's (torch.mm)
                case["out"].fill(np.nan)
                calls(ops)
                np.testing.assert_allclose(case["out"], reference, err_msg=name)
        assert modes.used == [4, 1, 6, 1], "CuPy's compute type: FP32, TF32, each restored"
        assert torch.modes == [False, True], "PyTorch's TF32 flag: off for cublas_fp32, on for cublas_tf32"


class RecordingSession:
    """What measure_baselines uses of a Session on the GPU; ``measure`` records what it was given."""
    dry_run, xp = False, np

    def __init__(self):
        self.measured = []

    def measure(self, name, params, run, sets, check, **kw):
        self.measured.append((name, run, kw))
        return {"timing": kw["timing"], "tflops": 1.0}


def test_the_dense_goal_pairs_the_autotuned_call_with_cublas_timed_the_same_way(tmp_path):
    def result(name, case, timing, ms, note=None, passed=True, chosen=None):
        r = {"name": name, "params": {"case": case, **({"chosen": chosen} if chosen else {})}, "median_ms": ms,
             "timing": timing, "check": {"rel_error": 1e-7, "tolerance": 1e-5, "passed": passed}}
        return {**r, "timing_note": note} if note else r
    results = [result("cublas_fp32", "dense64x10_b32_forward", "graph", 0.004),
               result("autotuned", "dense64x10_b32_forward", "graph", 0.003, chosen="gemm_coalesced"),
               result("cublas_fp32", "dense64x10_b32_forward", "launch", 0.030),
               result("autotuned", "dense64x10_b32_forward", "launch", 0.036, chosen="gemm_coalesced"),
               # cuBLAS's graph fell back to launches: nothing to pair the autotuned graph time with.
               result("cublas_fp32", "dense5408x64_b32_forward", "launch", 0.03, note="graph failed"),
               result("autotuned", "dense5408x64_b32_forward", "graph", 0.010, chosen="gemm_split_k"),
               result("cublas_fp32", "square256", "launch", 0.01), result("autotuned", "square256", "launch", 0.001)]
    (tmp_path / "gemm.json").write_text(json.dumps({"results": results}))
    lines = report.dense_goal(report.load([tmp_path / "gemm.json"])).splitlines()
    assert lines[2] == "| dense64x10_b32_forward | graph | gemm_coalesced | 3.0 | 4.0 | 0.75 | yes |"
    assert lines[3] == "| dense64x10_b32_forward | launch | gemm_coalesced | 36.0 | 30.0 | 1.20 | **no** |"
    assert len(lines) == 4 + 1 + 2
    assert lines[-2:] == ["graph: no slower in 1 of 1", "launch: no slower in 0 of 1"]
