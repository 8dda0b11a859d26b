"""The README's GEMM figures that benchmarks/report.py makes from the committed results are what it makes
of them as they are now: a result file committed without its README tables made again fails here, and
says which command makes them."""

import re

import pytest

from benchmarks import report
from benchmarks.run_info import RESULTS

README = (RESULTS.parent.parent / "README.md").read_text()


@pytest.mark.parametrize("file", ["gemm.json", "gemm_sweep.json"])
def test_the_ladder_tables_are_the_reports_of_the_committed_results(file):
    table = report.ladder(report.load([RESULTS / file]), "square4096")
    assert table in README, f"make it again: python -m benchmarks.report benchmarks/results/{file} --ladder square4096"


def test_the_dense_goals_count_is_the_reports_of_the_committed_results():
    goal = report.dense_goal(report.load([RESULTS / "gemm.json"]))
    met, total = map(int, re.search(r"^graph: no slower in (\d+) of (\d+)$", goal, re.MULTILINE).groups())
    source = "python -m benchmarks.report benchmarks/results/gemm.json --dense-goal"
    assert f"the seed model's {total} Dense products, autotuned | kernel time no slower in {met} |" in README, source
    assert f"no slower in {met} of the seed model's {total} Dense products" in README, source
