"""Every benchmark script dry-runs on the emulator, and the report is generated from its JSON.

This is the part of gpu_check.sh that can run without a GPU: the same scripts, the same harness,
tiny shapes, the emulator and a wall clock instead of CUDA events.
"""

import importlib
import json

import pytest

from benchmarks import harness, report

BENCHMARKS = harness.benchmark_modules()


def test_the_first_benchmarks_are_found():
    assert {"benchmarks.activation", "benchmarks.reduce", "benchmarks.transpose"} <= set(BENCHMARKS)


@pytest.fixture(scope="module")
def dry_run_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    statuses = {name: importlib.import_module(name).main(["--dry-run", "--out", str(out)]) for name in BENCHMARKS}
    return out, statuses


@pytest.mark.parametrize("module", BENCHMARKS)
def test_each_benchmark_dry_runs_and_its_outputs_check(dry_run_results, module):
    out, statuses = dry_run_results
    assert statuses[module] == 0
    document = json.loads((out / f"{module.split('.')[1]}.json").read_text())
    assert document["dry_run"] and document["results"]
    assert all(r["check"]["passed"] for r in document["results"])


def test_each_name_fits_the_name_column_of_the_printed_rows(dry_run_results):
    """harness.format_row pads names to NAME_WIDTH: each dry run's names, labelled as a GPU run labels
    graph replays, fit it, so that no row of a script shifts."""
    out, _ = dry_run_results
    for module in BENCHMARKS:
        for r in json.loads((out / f"{module.split('.')[1]}.json").read_text())["results"]:
            assert len(harness.labelled_name({**r, "timing": "graph"})) <= harness.NAME_WIDTH, r["name"]


def test_the_report_has_a_row_per_case_and_a_plot(dry_run_results, tmp_path):
    out, _ = dry_run_results
    (out / "not_harness.json").write_text(json.dumps({"framework": "keras", "runs": []}))
    documents = report.load(sorted(out.glob("*.json")))
    assert {d["benchmark"] for d in documents} == {m.split(".")[1] for m in BENCHMARKS}
    cases = sum(len(d["results"]) for d in documents)
    assert len(report.short_table(documents).splitlines()) == cases + 1
    assert report.markdown(documents).count("| ok (") == cases
    report.plot(documents, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gemm_sizes_plot_draws_the_square_products_and_refuses_files_without_them(dry_run_results, tmp_path):
    out, _ = dry_run_results
    assert report.main([str(out / "gemm.json"), "--sizes", str(tmp_path / "sizes.png")]) == 0
    assert (tmp_path / "sizes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no square A.B products"):
        report.size_plot(report.load([out / "reduce.json"]), tmp_path / "none.png")
