"""benchmarks/gemm_counters.py: ncu's raw page read back, kernels shared out among cases by the
markers, the table, and the whole run with a stand-in for ncu that runs the real target on the
emulator (this machine has no ncu and no GPU)."""

import json
import sys
import textwrap
import time

import pytest

from benchmarks import gemm_counters
from benchmarks.gemm_counters import MARKER

KERNELS = "gemm_smem_tiled,gemm_split_k"

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
          '"gpu__time_duration.sum","sm__throughput.avg.pct_of_peak_sustained_elapsed",'
          '"sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",'
          '"sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active",'
          '"smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio",'
          '"smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio",'
          '"smsp__average_warps_issue_stalled_wait_per_issue_active.ratio",'
          '"smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio"')
UNITS = '"","","","","","","","","","nsecond","%","%","%","","","",""'


def row(number, name, grid, duration, tensor=("0", "0"), stalls=("0", "0", "0", "0")):
    fields = [str(number), "4242", "python3", "host", name, "1", "7", "(128, 1, 1)", grid, duration, "50.5",
              *tensor, *stalls]
    return ",".join(f'"{field}"' for field in fields)


def raw_page(rows):
    return "\n".join(["==PROF== Connected to process 4242", HEADER, UNITS, *rows, "==PROF== Disconnected"]) + "\n"


def test_the_raw_page_is_read_as_numbers_with_units_and_messages_left_out():
    rows, units = gemm_counters.parse_raw_csv(raw_page([row(0, "void gemm_naive<false, false>(const float *, int)",
                                                            "(12, 3, 1)", "1,234,567")]))
    assert len(rows) == 1 and units["gpu__time_duration.sum"] == "nsecond"
    assert rows[0]["gpu__time_duration.sum"] == 1234567 and rows[0]["sm__throughput.avg.pct_of_peak_sustained_elapsed"] == 50.5
    assert gemm_counters.short_name(rows[0]["Kernel Name"]) == "gemm_naive"
    assert gemm_counters.blocks(rows[0]) == 36
    assert gemm_counters.blocks({"launch__grid_size": 5}) == 5  # without the Grid Size column
    assert gemm_counters.parse_raw_csv("==ERROR== LibraryNotLoaded\n") == ([], {})


def test_the_markers_share_the_kernels_out_among_the_cases():
    page = raw_page([row(0, "void warm_up()", "(1, 1, 1)", "5"),  # before any marker: no case's
                     row(1, MARKER, "(1, 1, 1)", "1"), row(2, "void gemm_split_k<false, false>()", "(4, 4, 9)", "70"),
                     row(3, "void gemm_split_k_reduce<64, 8>()", "(2, 1, 1)", "30"),
                     row(4, MARKER, "(2, 1, 1)", "1"),
                     row(5, MARKER, "(3, 1, 1)", "1"), row(6, "sm90_xmma_gemm_f32f32_f32f32_f32_nn_n", "(9, 1, 1)", "50")])
    launches = gemm_counters.launches_by_case(gemm_counters.parse_raw_csv(page)[0], 3)
    assert [launch["kernel"] for launch in launches[1]] == ["gemm_split_k", "gemm_split_k_reduce"]
    assert launches[2] == []
    assert [launch["kernel"] for launch in launches[3]] == ["sm90_xmma_gemm_f32f32_f32f32_f32_nn_n"]
    assert launches[1][0]["grid"] == "(4, 4, 9)" and launches[1][0]["counters"]["gpu__time_duration.sum"] == 70
    assert "Process ID" not in launches[1][0]["counters"]  # counters only: ncu's metric names hold "__"


def test_a_cases_row_adds_its_kernels_times_and_shows_its_longest_kernels_counters():
    page = raw_page([row(0, MARKER, "(1, 1, 1)", "1"),
                     row(1, "void gemm_split_k<false, false>()", "(4, 4, 9)", "7000", stalls=("0.5", "3.25", "1", "2")),
                     row(2, "void gemm_split_k_reduce<64, 8>()", "(2, 1, 1)", "3000", tensor=("12", "0")),
                     row(3, MARKER, "(2, 1, 1)", "1"),
                     row(4, "void gemm_tf32_wgmma<false, false>()", "(2, 1, 1)", "3000", tensor=("1", "87.6"))])
    launches = gemm_counters.launches_by_case(gemm_counters.parse_raw_csv(page)[0], 3)
    cases = [{"case": "dense", "runner": "autotuned", "variant": "gemm_split_k", "launches": launches[1]},
             {"case": "square", "runner": "gemm_tf32_wgmma", "variant": "gemm_tf32_wgmma", "launches": launches[2]},
             {"case": "square", "runner": "gemm_naive", "variant": "gemm_naive", "launches": launches[3]}]
    split_k = gemm_counters.summary(cases[0])
    assert split_k["us"] == 10.0 and split_k["kernels"] == 2 and split_k["longest"] == "gemm_split_k"
    assert split_k["stalls"] == "long_scoreboard 3.2, mio_throttle 2.0, wait 1.0"
    assert gemm_counters.summary(cases[1])["tensor %"] == 87.6  # the busiest tensor pipe
    lines = gemm_counters.table({"cases": cases}).splitlines()
    assert lines[2].startswith("| dense | autotuned: gemm_split_k | 10.0 | 2 | gemm_split_k | 50 |  |")
    assert lines[4].startswith("| square | gemm_naive | no kernels profiled |")
    assert len({line.count("|") for line in lines}) == 1


def test_the_cases_are_the_goal_square_with_every_fast_rung_hoppers_first_and_each_dense_product_twice_first(
        monkeypatch):
    square = gemm_counters.cases("square", False, ["gemm_naive", "gemm_split_k", "gemm_tf32_wgmma"])
    assert [(case, runner) for case, _, _, runner in square] == [
        ("square4096", "cublas_fp32"), ("square4096", "cublas_tf32"), ("square4096", "gemm_tf32_wgmma"),
        ("square4096", "gemm_split_k")]
    assert {product[1:6] for _, product, _, _ in square} == {(4096, 4096, 4096, False, False)}
    dense = gemm_counters.cases("dense", False, [])
    assert len(dense) == 2 * 18 and {runner for *_, runner in dense} == {"cublas_fp32", "autotuned"}
    assert dense[0][0] == "dense5408x64_b32_forward"
    # Then each product with the other likely rungs the run has (here one of DENSE_ALSO's).
    also = gemm_counters.cases("dense", False, [gemm_counters.DENSE_ALSO[0], "gemm_naive"])
    assert also[:len(dense)] == dense
    assert [(case, runner) for case, *_, runner in also[len(dense):]] == [
        (case, gemm_counters.DENSE_ALSO[0]) for case, *_, runner in dense if runner == "cublas_fp32"]
    # A rung no GPU has run yet comes first among those, on every product.
    new, old = gemm_counters.DENSE_ALSO[-1], gemm_counters.DENSE_ALSO[0]
    monkeypatch.setattr(gemm_counters.unproven, "NEW", (new,))
    both = gemm_counters.cases("dense", False, [old, new])[len(dense):]
    assert [runner for *_, runner in both] == [new] * 18 + [old] * 18


FAKE_NCU = textwrap.dedent(f"""\
    # Stands in for ncu: runs the target on the emulator, then writes a raw page with a marker and
    # one kernel per case, as ncu would.
    import json, os, subprocess, sys
    args = sys.argv[1:]
    log = args[args.index("--log-file") + 1]
    target = args[args.index("-m") - 1:]
    subprocess.run(target + ["--dry-run"], check=True)
    cases = json.load(open(target[target.index("--cases-file") + 1]))
    header = '"ID","Kernel Name","Grid Size","gpu__time_duration.sum"'
    rows = []
    for number, case in enumerate(cases, start=1):
        rows.append(f'"{{2 * number}}","{MARKER}","({{number}}, 1, 1)","1"')
        rows.append(f'"{{2 * number + 1}}","void {{case["variant"]}}<false>()","(3, 1, 1)","{{1000 * number}}"')
    page = "\\n".join([header, '"","","","nsecond"', *rows]) + "\\n"
    if os.environ.get("FAKE_NCU_PAGE_TO_STDOUT"):  # as an ncu that prints its page, not logs it, would
        open(log, "w").write("==PROF== Disconnected\\n")
        print(page)
    else:
        open(log, "w").write(page)
""")


@pytest.fixture
def fake_ncu(tmp_path, monkeypatch):
    script = tmp_path / "fake_ncu.py"
    script.write_text(FAKE_NCU)
    launcher = tmp_path / "ncu"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    launcher.chmod(0o755)
    monkeypatch.setattr(gemm_counters, "find_ncu", lambda: str(launcher))
    monkeypatch.setattr(gemm_counters, "ncu_version", lambda ncu: "fake")
    monkeypatch.setattr(gemm_counters.harness, "environment", lambda backend: {"device": "none"})
    # The target runs in a process of its own, which must find the emulated kernels as this one does.
    monkeypatch.setenv("PYTHONPATH", str(gemm_counters.harness.run_info.RESULTS.parents[1]))
    return launcher


def test_a_run_profiles_every_case_of_both_groups_and_writes_the_json(fake_ncu, tmp_path, capsys):
    assert gemm_counters.main(["--out", str(tmp_path), "--kernels", KERNELS]) == 0
    document = json.loads((tmp_path / "gemm_counters.json").read_text())
    assert document["errors"] == {} and document["ncu"]["version"] == "fake"
    cases = document["cases"]
    assert len(cases) == len(gemm_counters.cases("square", True, KERNELS.split(","))) + \
        len(gemm_counters.cases("dense", True, []))
    assert all(len(case["launches"]) == 1 and case["launches"][0]["kernel"] == case["variant"] for case in cases)
    autotuned = [case for case in cases if case["runner"] == "autotuned"]
    assert autotuned and all(case["variant"] == "gemm_smem_tiled" for case in autotuned)  # the emulator's default
    out = capsys.readouterr().out
    assert "| square40 | gemm_split_k | 3.0 | 1 | gemm_split_k |" in out


def test_a_page_printed_instead_of_logged_is_read_too(fake_ncu, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NCU_PAGE_TO_STDOUT", "1")
    assert gemm_counters.main(["--out", str(tmp_path), "--kernels", KERNELS]) == 0
    cases = json.loads((tmp_path / "gemm_counters.json").read_text())["cases"]
    assert cases and all(len(case["launches"]) == 1 for case in cases)


def test_a_run_that_outlasts_its_limit_is_stopped_and_says_so(fake_ncu, tmp_path):
    fake_ncu.write_text("#!/bin/sh\nsleep 60\n")
    start = time.monotonic()
    assert gemm_counters.main(["--out", str(tmp_path), "--kernels", KERNELS, "--limit-s", "4"]) == 1
    assert time.monotonic() - start < 30
    errors = json.loads((tmp_path / "gemm_counters.json").read_text())["errors"]
    assert set(errors) == {"square", "dense"} and all(error.startswith("stopped after") for error in errors.values())


def test_without_ncu_nothing_is_profiled_and_the_step_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(gemm_counters, "find_ncu", lambda: None)
    assert gemm_counters.main(["--out", str(tmp_path), "--kernels", KERNELS]) == 1
    assert "no ncu" in capsys.readouterr().out and not (tmp_path / "gemm_counters.json").exists()


def test_the_dry_run_runs_every_case_on_the_emulator(capsys):
    assert gemm_counters.main(["--dry-run", "--kernels", KERNELS]) == 0
    out = capsys.readouterr().out
    assert "square: 3 cases ran on the emulator" in out and "dense: 6 cases ran" in out


def test_the_table_reads_only_numbers_and_no_selected_stall():
    counters = {"gpu__time_duration.sum": 4000, "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed": 61.0,
                "sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active": "n/a",
                "smsp__average_warps_issue_stalled_selected_per_issue_active.ratio": 1.0,
                "smsp__average_warps_issue_stalled_wait_per_issue_active.ratio": 0.5,
                "smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio": ""}
    case = {"launches": [{"kernel": "gemm_naive", "counters": counters},
                         {"kernel": "transpose_smem_tiled", "counters": {"gpu__time_duration.sum": "n/a"}}]}
    row = gemm_counters.summary(case)
    assert row["us"] == 4.0 and row["longest"] == "gemm_naive" and row["DRAM %"] == 61.0
    assert row["tensor %"] is None and row["stalls"] == "wait 0.5"


def test_a_target_out_of_time_lists_only_the_cases_it_profiled(tmp_path, capsys):
    cases_file = tmp_path / "cases.json"
    gemm_counters.run_target("dense", True, [], cases_file, stop_at=0.0)
    assert json.loads(cases_file.read_text()) == []
    assert "6 cases not profiled: out of time" in capsys.readouterr().out


def test_a_case_whose_warm_up_fails_is_left_out_and_the_rest_profiled(tmp_path, capsys, monkeypatch):
    from cnn_gpu.ops import gemm as gemm_ops
    real = gemm_ops.gemm

    def gemm(*args, variant=None, **kwargs):
        if variant == "gemm_split_k":
            raise RuntimeError("a planted fault")
        return real(*args, variant=variant, **kwargs)
    monkeypatch.setattr(gemm_ops, "gemm", gemm)
    cases_file = tmp_path / "cases.json"
    gemm_counters.run_target("square", True, KERNELS.split(","), cases_file)
    assert [case["runner"] for case in json.loads(cases_file.read_text())] == ["numpy_matmul", "gemm_smem_tiled"]
    assert "square40 gemm_split_k: left out: RuntimeError: a planted fault" in capsys.readouterr().out


def test_an_interrupted_group_or_one_that_read_nothing_ends_the_run(monkeypatch, tmp_path):
    monkeypatch.setattr(gemm_counters, "find_ncu", lambda: "ncu")
    monkeypatch.setattr(gemm_counters, "ncu_version", lambda ncu: "fake")
    monkeypatch.setattr(gemm_counters.harness, "environment", lambda backend: {"device": "none"})
    for run in (gemm_counters.GroupRun([], {}, "interrupted", interrupted=True),
                gemm_counters.GroupRun([], {}, "ncu exited with status 1; its output ends: 'LibraryNotLoaded'")):
        tried = []
        monkeypatch.setattr(gemm_counters, "profile_group", lambda ncu, group, *args, run=run: tried.append(group) or run)
        assert gemm_counters.main(["--out", str(tmp_path), "--kernels", KERNELS]) == 1
        assert tried == ["square"]


def test_the_limit_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        gemm_counters.main(["--limit-s", "-2"])
    assert "must be a positive number of seconds" in capsys.readouterr().err
