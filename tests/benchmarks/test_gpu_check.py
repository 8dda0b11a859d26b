"""benchmarks/gpu_check.sh --dry-run: every step of the GPU machine's script, here, on every commit."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The device tool brings back at most 8 files from $OUT.
MAX_FILES_BACK = 8


def results_status():
    """git's view of benchmarks/results (changes a benchmark run left there count as they stand)."""
    return subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "benchmarks/results"],
                          capture_output=True, text=True).stdout


def test_the_dry_run_passes_and_leaves_what_the_device_tool_can_bring_back(tmp_path):
    before = results_status()
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "failures: none" in done.stdout
    # The short table, then issue 5's goal tables last: the ladder, then the Dense products' count.
    tail = done.stdout[done.stdout.index("failures: none"):]
    assert tail.index("| kernel | GFLOP/s | % of cuBLAS | check |") > tail.index("numpy_matmul")
    # Both training comparisons' lines, the seed model's first.
    assert 0 <= tail.index("\ntraining (") < tail.index("\ntraining with batch normalization (")
    assert done.stdout.rstrip().splitlines()[-1].startswith("launch: no slower in ")
    files = {p.name for p in tmp_path.iterdir()}
    assert {"gpu_check.log", "summary.md", "summary.png", "gemm_sizes.png"} <= files and len(files) <= MAX_FILES_BACK
    assert any(name.endswith(".json") or name == "benchmark_json.tar.gz" for name in files)
    assert results_status() == before, "a dry run must not write into benchmarks/results"


def test_the_gemm_dry_run_runs_gemms_steps_only(tmp_path):
    # --gemm: issue 5's steps alone (GEMM's tests, benchmark, counters and goal tables), a run short
    # enough to follow a whole one within a device session.
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", "--gemm"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = [line for line in done.stdout.splitlines() if line.startswith("=== ") and " exit " in line]
    assert [step.split(":")[0] for step in steps if "unproven" not in step] == [
        "=== gpu tests", "=== benchmarks.gemm", "=== benchmarks.gemm_counters"]
    assert "failures: none" in done.stdout and "tests/ops/test_gemm.py" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("launch: no slower in ")


def test_an_unknown_option_is_refused_with_the_usage():
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--gemms"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "usage: bash benchmarks/gpu_check.sh [--dry-run] [--gemm]" in done.stderr
