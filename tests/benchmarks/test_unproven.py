"""benchmarks/unproven.py: gpu_check.sh runs each unproven rung's GPU tests apart, by these -k
expressions, so they must split the unproven tests exactly: each test in one selection, each
selection naming one rung."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import unproven
from cnn_gpu.ops.gemm_variants import GEMM_VARIANTS

REPO = Path(__file__).resolve().parents[2]
COLLECT = Path(__file__).with_name("collect_selections.py")


def collected(*expressions, where=unproven.FILES):
    """For each -k expression, the set of GPU tests it selects in ``where``, as gpu_check.sh's pytest
    would collect them (all collected by one process: collect_selections.py)."""
    queries = json.dumps([[expression, list(where)] for expression in expressions])
    with tempfile.TemporaryDirectory() as folder:
        answers = Path(folder) / "selections.json"
        # The checkout on the path, as `python -m pytest` run in it puts it there: else `benchmarks`, which
        # is not installed, would be found as tests/benchmarks once pytest puts tests/ on the path.
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, str(COLLECT), str(answers)], input=queries, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return [set(ids) for ids in json.loads(answers.read_text())]


def test_the_files_gpu_check_collects_hold_every_unproven_test():
    everywhere, = collected(unproven.all_tests(), where=["tests"])
    assert everywhere == collected(unproven.all_tests())[0]


def test_the_rungs_are_the_wgmma_ones_and_the_new_ones():
    assert unproven.rungs() == [name for name in GEMM_VARIANTS if "wgmma" in name or name in unproven.NEW] + [
        "implicit_gemm_3xtf32_wgmma", "implicit_gemm_tf32_wgmma"]
    assert "gemm_tf32_wgmma_persistent" in unproven.rungs() and "gemm_tf32_mma" not in unproven.rungs()
    assert set(unproven.NEW) <= set(GEMM_VARIANTS)


def test_each_rungs_selection_names_that_rung_and_together_with_the_probes_they_are_all():
    everything, probes, *each_rungs = collected(unproven.all_tests(), unproven.PROBES,
                                                *map(unproven.rung_tests, unproven.rungs()))
    assert probes and all("test_wgmma" in test or "test_tma" in test for test in probes)
    seen = set(probes)
    for rung, mine in zip(unproven.rungs(), each_rungs, strict=True):
        assert mine, f"no GPU test selects {rung}"
        assert all(rung in test.rstrip("]").split("[")[1].split("-") for test in mine), rung
        assert not mine & seen, f"{rung}'s tests are selected twice"
        seen |= mine
    assert seen == everything


def test_the_benchmark_leaves_out_only_the_failed_rungs():
    kept = unproven.kernels_but(["gemm_tf32_wgmma_tma"]).split(",")
    assert kept == [name for name in GEMM_VARIANTS if name != "gemm_tf32_wgmma_tma"]


def test_the_proven_rungs_selection_together_is_each_ones_selection_added_up():
    assert unproven.PROVEN and set(unproven.PROVEN) <= set(unproven.rungs())
    together, *each = collected(unproven.rung_tests(*unproven.PROVEN), *map(unproven.rung_tests, unproven.PROVEN))
    assert together == set().union(*each)
