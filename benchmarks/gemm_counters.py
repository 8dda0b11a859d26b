"""GEMM under Nsight Compute: the hardware counters of each rung and of cuBLAS, to say what bounds them.

benchmarks/gemm.py says how fast each rung runs; this says why. Each case below runs once under
``ncu`` (Nsight Compute), which replays each of the case's kernels as often as its sections need and
reads the counters: the kernel's time, its throughput as a fraction of the SM's and of memory's
peak, achieved occupancy, registers, each pipe's use (the tensor pipe's among them) and where the
warps stall. A kernel's head comment calls its bottleneck "expected" until a file of these says
which it is.

Cases, in two groups, one ncu run each, half of ``--limit-s`` for the first:
  square  the 4096^3 A.B product: cuBLAS FP32 and TF32, and every rung but those benchmarks/gemm.py
          skips at large sizes (SLOW_VARIANTS), Hopper's first;
  dense   the seed model's 18 Dense products (benchmarks/gemm.py): cuBLAS FP32, and the rung that
          gemm()'s autotuner chooses; then each product again with the rungs of DENSE_ALSO.
The Dense products are autotuned before ncu starts (tune_dense_products), and each case runs once
before profiling starts (compiling, cuBLAS's handle), then once
between cudaProfilerStart and cudaProfilerStop (``--profile-from-start off``). Before each profiled
case the target launches an empty kernel, counters_case_marker, on as many blocks as the case's
number: ncu lists kernels in launch order, so the rows from one marker to the next are that case's,
however many kernels cuBLAS or a rung launches (split-K's two, a TMA rung's operand transposes).
The target stops profiling GRACE_S before its group's limit, so that ncu (which writes its page when
the target exits) keeps the cases profiled by then; a case whose warm-up fails is left out alone.
Clocks stay as the card has them (``--clock-control none``: measure the card as it is found); ncu
flushes the caches before each replay, so even the small products are read from memory.

    python -m benchmarks.gemm_counters --out $OUT [--kernels NAME,...]   # a GPU machine with ncu
    python -m benchmarks.gemm_counters --table benchmarks/results/gemm_counters.json
    python -m benchmarks.gemm_counters --dry-run    # the cases on the emulator, without ncu

The JSON keeps every counter ncu read, per kernel; ``--table`` prints, per case, the kernels' total
time and the counters of the longest one.
"""

from __future__ import annotations

import argparse
import csv
import functools
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from benchmarks import gemm as gemm_benchmark
from benchmarks import harness, unproven

SECTIONS = ("SpeedOfLight", "Occupancy", "LaunchStats", "WarpStateStats", "ComputeWorkloadAnalysis")
GROUPS = ("square", "dense")
MARKER = "counters_case_marker"
MARKER_SOURCE = f'extern "C" __global__ void {MARKER}() {{}}'
# Where ncu may be when it is not on the PATH.
NCU_PLACES = ("/opt/nvidia/nsight-compute/*/ncu", "/usr/local/cuda/bin/ncu")
AUTOTUNED = "autotuned"
# Seconds before its group's limit that the target stops profiling, for ncu to write its page.
GRACE_S = 20

# The counters the table shows, by ncu's raw metric names (the first one present, where versions
# of ncu name a counter differently).
DURATION = "gpu__time_duration.sum"
COLUMNS = {"SM %": ("sm__throughput.avg.pct_of_peak_sustained_elapsed",),
           "memory %": ("gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed",),
           "L2 %": ("lts__throughput.avg.pct_of_peak_sustained_elapsed",),
           "DRAM %": ("gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed",
                      "dram__throughput.avg.pct_of_peak_sustained_elapsed"),
           "occupancy %": ("sm__warps_active.avg.pct_of_peak_sustained_active",),
           "registers": ("launch__registers_per_thread",)}
# The tensor pipe's busy fraction (Hopper names more than one tensor pipe: the most used one), and
# the stall reasons: warps stalled per issued instruction, by reason ("selected" is the warp that
# issued, about 1 always: no stall).
TENSOR_PIPE = re.compile(r"^sm__pipe_tensor\w*\.avg\.pct_of_peak_sustained_active$")
STALL = re.compile(r"^smsp__average_warps?_issue_stalled_(?!selected_)(\w+?)_per_issue_active\.ratio$")
TOP_STALLS = 3
# The Dense products' other likely rungs, profiled after every product's cuBLAS and autotuned cases (a
# group cut short keeps those; a rung of unproven.NEW comes first, then the others, Dense 5408 -> 64's
# products first): rung 7 at the Dense tilings and
# split-K on rung 7's tile. Where the
# autotuned choice loses to cuBLAS (backward to data at batch 32 and 128 at 2c9911a, where cuBLAS ran
# the 32 x 32 tiles of 2 warps that gemm_warptiled_small_tiles runs too), these say where the same
# tile shapes spend their time.
DENSE_ALSO = ("gemm_warptiled_small_tiles", "gemm_warptiled_medium_tiles", "gemm_warptiled_wide_tiles",
              "gemm_warptiled_small_tiles_bk8", "gemm_warptiled_wide_tiles_bk8", "gemm_3xtf32_mma_small_tiles",
              "gemm_3xtf32_wgmma_small_tiles", "gemm_split_k_warptiled", "gemm_split_k_last_slice_reduces",
              "gemm_split_k_last_slice_reduces_bk8", "gemm_split_k_last_slice_reduces_8_warps",
              "gemm_split_k_3xtf32", "gemm_split_k_3xtf32_8_warps", "gemm_split_k_cluster_reduces",
              "gemm_split_k_cluster_reduces_8_warps")


# --- the cases --------------------------------------------------------------------------------------
def cases(group, dry_run, kernels):
    """``[(case, product, shapes, runner)]``: each product of ``group`` with each of its runners (a
    cuBLAS baseline's name, a rung's, or AUTOTUNED), shapes being the operands' {name: shape}."""
    square = f"square{40 if dry_run else gemm_benchmark.TRANSPOSED_SQUARE}"
    baselines = ["numpy_matmul"] if dry_run else ["cublas_fp32", "cublas_tf32"]
    listed, also = [], []
    for prefix, shapes, products in gemm_benchmark.problems(dry_run):
        if group == "square" and prefix == square:
            # Hopper's rungs first (benchmarks/unproven.py), as the sweep takes them: a group cut
            # short by its time limit keeps those the TF32 goal hangs on.
            hopper = set(unproven.rungs())
            rungs = sorted((name for name in kernels if name not in gemm_benchmark.SLOW_VARIANTS),
                           key=lambda name: name not in hopper)
            listed += [(prefix, products[0], shapes, runner) for runner in baselines + rungs]  # A.B
        elif group == "dense" and prefix.startswith("dense"):
            listed += [(prefix + product[0], product, shapes, runner)
                       for product in products for runner in (baselines[0], AUTOTUNED)]
            also += [(prefix + product[0], product, shapes, runner)
                     for product in products for runner in DENSE_ALSO if runner in kernels]
    # The rungs no GPU has run yet (unproven.NEW) first, on every product, before a time limit that
    # at the default budget reaches only the first products of the others (a stable sort).
    return listed + sorted(also, key=lambda case: case[3] not in unproven.NEW)


def run_target(group, dry_run, kernels, cases_file, stop_at=None):
    """What ncu profiles: the group's cases, each once to warm up, then each once between the profiler's
    start and stop, a marker before each, until the clock passes ``stop_at`` (seconds since the
    epoch), so that ncu has time to write what it read; ``cases_file`` receives the cases profiled,
    in order. A case whose warm-up fails is left out, saying why, and the others go on."""
    from cnn_gpu.cuda.kernel import backend_xp
    from cnn_gpu.ops.gemm import choice_label, gemm

    backend = "emulate" if dry_run else "cuda"
    xp = backend_xp(backend)
    baselines = gemm_benchmark.cublas_runs(SimpleNamespace(dry_run=dry_run, xp=xp))
    operands, runs, listed = problem_operands(xp), [], []
    for case, product, shapes, runner in cases(group, dry_run, kernels):
        _, m, n, k, trans_a, trans_b, (name_a, name_b) = product
        a, b, out = operands(shapes)[name_a], operands(shapes)[name_b], xp.empty((m, n), dtype=np.float32)
        try:
            if runner in baselines:
                variant, run = runner, functools.partial(baselines[runner][1], a, b, trans_a, trans_b, out)
            else:
                variant, split_k = ((runner, None) if runner != AUTOTUNED
                                    else gemm_benchmark.chosen_variant(backend, a, b, out, product))
                run = functools.partial(gemm, a, b, trans_a=trans_a, trans_b=trans_b, variant=variant,
                                        split_k=split_k, out=out, backend=backend)
                variant = choice_label(variant, split_k)
            run()  # warm-up: compiles, builds the plan, creates cuBLAS's handle
        except Exception as error:  # noqa: BLE001 (one rung's failure must not cost the others theirs)
            print(f"gemm_counters: {case} {runner}: left out: {type(error).__name__}: {error}", flush=True)
            continue
        runs.append(run)
        listed.append({"case": case, "runner": runner, "variant": variant, "m": m, "n": n, "k": k,
                       "trans_a": trans_a, "trans_b": trans_b})
    profiled = profile_runs(xp, runs, dry_run, stop_at)
    if profiled < len(runs):
        print(f"gemm_counters: {group}: {len(runs) - profiled} cases not profiled: out of time", flush=True)
    Path(cases_file).write_text(json.dumps(listed[:profiled], indent=1) + "\n")


def problem_operands(xp):
    """``operands(shapes)``: random operands of ``shapes`` ({name: shape}), made once per problem and
    shared by its products and runners."""
    rng, made = np.random.default_rng(0), {}

    def operands(shapes):
        key = tuple(sorted(shapes.items()))
        if key not in made:
            made[key] = {name: xp.asarray(rng.uniform(-1, 1, shape).astype(np.float32))
                         for name, shape in shapes.items()}
        return made[key]
    return operands


def tune_dense_products(kernels):
    """gemm()'s choice for each Dense product, made in this process before ncu starts, and kept in the
    autotuner's disk cache, where the target's warm-up finds it. Under ncu the autotuner's timings
    are not the kernels' own: at b323e23, with no earlier benchmark's choices in the cache, the
    target chose gemm_regblock_2d (17 us profiled) for the 5408 -> 64 backward to data at batch 32,
    where benchmarks/gemm.py's autotuner had chosen a 5 us rung (H200, gemm.json at ac366b0)."""
    from cnn_gpu.cuda.kernel import backend_xp

    xp = backend_xp("cuda")
    operands = problem_operands(xp)
    for case, product, shapes, runner in cases("dense", False, kernels):
        if runner != AUTOTUNED:
            continue
        _, m, n, _, _, _, (name_a, name_b) = product
        try:
            gemm_benchmark.chosen_variant("cuda", operands(shapes)[name_a], operands(shapes)[name_b],
                                          xp.empty((m, n), dtype=np.float32), product)
        except Exception as error:  # noqa: BLE001 (the target leaves the case out, saying why)
            print(f"gemm_counters: {case}: not tuned before profiling: {type(error).__name__}: {error}", flush=True)


def profile_runs(xp, runs, dry_run, stop_at):
    """Each of ``runs`` once, in order, until the clock passes ``stop_at``; returns how many ran. On a
    GPU, between the profiler's start and stop, a marker on n blocks before the n-th; on a dry run,
    just the runs."""
    if not dry_run:
        marker = xp.RawKernel(MARKER_SOURCE, MARKER)
        marker((1,), (1,), ())  # compiled outside the profiled span
        xp.cuda.Device().synchronize()
        xp.cuda.runtime.profilerStart()
    done = 0
    for number, run in enumerate(runs, start=1):
        if stop_at is not None and time.time() > stop_at:
            break
        if not dry_run:
            marker((number,), (1,), ())
        run()
        if not dry_run:
            xp.cuda.Device().synchronize()  # ncu replays each kernel at its launch: the time goes here
        done = number
    if not dry_run:
        xp.cuda.runtime.profilerStop()
    return done


# --- ncu's output -------------------------------------------------------------------------------
def parse_raw_csv(text):
    """ncu's raw page (``--csv --page raw``) as ``(rows, units)``: a {column: value} per kernel, in
    launch order, and each column's unit. The page is a header row, a row of units, then a row per
    kernel; ncu's own messages (lines starting with ``==``) are left out, and numbers lose their
    thousands separators."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("==")]
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        return [], {}
    reader = csv.reader(lines[start:])
    header = next(reader)
    rows, units = [], {}
    for fields in reader:
        record = dict(zip(header, fields))
        if not record.get("ID", "").strip().isdigit():  # the units row
            units = {column: unit for column, unit in record.items() if unit}
            continue
        rows.append({column: _number(value) for column, value in record.items()})
    return rows, units


def _number(text):
    plain = text.replace(",", "")
    for kind in (int, float):
        try:
            return kind(plain)
        except ValueError:
            pass
    return text


def short_name(kernel_name):
    """``gemm_tf32_mma`` of ``void gemm_tf32_mma<true, false, ...>(const float *, ...)``."""
    name = str(kernel_name).removeprefix("void ").strip()
    return re.split(r"[<(]", name, maxsplit=1)[0]


def blocks(row):
    """How many blocks a row's kernel ran on: ncu's "Grid Size" "(x, y, z)", else launch__grid_size."""
    sizes = [int(x) for x in re.findall(r"\d+", str(row.get("Grid Size", "")))]
    return int(np.prod(sizes)) if sizes else int(row.get("launch__grid_size", 0))


def launches_by_case(rows, count):
    """``rows`` (launch order) shared out among cases 1..``count``: a marker on n blocks opens case n,
    and the kernels up to the next marker are its. Rows before the first marker belong to none."""
    launches = {number: [] for number in range(1, count + 1)}
    current = None
    for row in rows:
        if short_name(row.get("Kernel Name", "")) == MARKER:
            current = blocks(row)
        elif current in launches:
            launches[current].append({"kernel": short_name(row.get("Kernel Name", "")),
                                      "name": row.get("Kernel Name"), "grid": row.get("Grid Size"),
                                      "block": row.get("Block Size"),
                                      "counters": {column: value for column, value in row.items()
                                                   if "__" in column}})
    return launches


# --- running ncu ----------------------------------------------------------------------------------
def find_ncu():
    found = shutil.which("ncu")
    if found:
        return found
    for pattern in NCU_PLACES:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return None


def ncu_command(ncu, csv_path, target):
    sections = [arg for section in SECTIONS for arg in ("--section", section)]
    return [ncu, "--profile-from-start", "off", "--clock-control", "none", "--csv", "--page", "raw",
            "--print-units", "base", "--log-file", str(csv_path), *sections, *target]


@dataclass
class GroupRun:
    """What one ncu run over a group left: its cases with their launches, each column's unit, why it
    fell short (None if it did not), and whether it was interrupted (the rest should not start)."""
    cases: list
    units: dict
    error: str | None = None
    interrupted: bool = False


def profile_group(ncu, group, kernels, timeout_s, folder) -> GroupRun:
    """One ncu run over ``group``'s cases. The target stops profiling GRACE_S before ``timeout_s``, so
    that ncu can write what it read (it writes the page when the target exits); at ``timeout_s`` ncu
    and the target are killed, and what ncu had written is all there is."""
    csv_path, cases_file = folder / f"{group}.csv", folder / f"{group}_cases.json"
    stop_at = time.time() + max(timeout_s - GRACE_S, timeout_s / 2)
    target = [sys.executable, "-m", "benchmarks.gemm_counters", "--target", group, "--cases-file", str(cases_file),
              "--stop-at", f"{stop_at:.1f}", "--kernels", ",".join(kernels)]
    command = ncu_command(ncu, csv_path, target)
    print(f"gemm_counters: {group}: {' '.join(command)}", flush=True)
    # A session of its own, so that on a timeout ncu and the target it started are stopped together.
    # What they print goes to a file: the page, should this ncu print it there and not to the log.
    printed = folder / f"{group}.out"
    run = GroupRun([], {})
    with printed.open("w") as out:
        process = subprocess.Popen(command, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        try:
            status = process.wait(timeout=timeout_s)
            if status != 0:
                run.error = f"ncu exited with status {status}"
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as stop:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            run.interrupted = isinstance(stop, KeyboardInterrupt)
            run.error = "interrupted" if run.interrupted else f"stopped after {timeout_s:.0f} s"
    text = csv_path.read_text(errors="replace") if csv_path.exists() else ""
    rows, run.units = parse_raw_csv(text)
    if not rows:
        text = printed.read_text(errors="replace")
        rows, run.units = parse_raw_csv(text)
    listed = json.loads(cases_file.read_text()) if cases_file.exists() else []
    launches = launches_by_case(rows, len(listed))
    run.cases = [{**case, "launches": launches[number]} for number, case in enumerate(listed, start=1)]
    if not rows:
        run.error = f"{run.error or 'ncu wrote no kernel rows'}; its output ends: {text[-2000:]!r}"
    return run


def ncu_version(ncu):
    try:
        return subprocess.run([ncu, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({error})"


# --- the table --------------------------------------------------------------------------------------
def summary(case):
    """A case's table row: its kernels' total time, and the counters of its longest kernel. Counters
    ncu did not give as numbers ("n/a", empty) are left out."""
    launches = case["launches"]
    if not launches:
        return None
    numbers = [{column: value for column, value in launch["counters"].items() if _is_number(value)}
               for launch in launches]
    longest = max(range(len(launches)), key=lambda i: numbers[i].get(DURATION, 0))
    counters = numbers[longest]
    tensor = [value for column, value in counters.items() if TENSOR_PIPE.match(column)]
    stalls = sorted(((value, STALL.match(column).group(1)) for column, value in counters.items()
                     if STALL.match(column)), reverse=True)
    return {"us": sum(n.get(DURATION, 0) for n in numbers) / 1e3,
            "kernels": len(launches), "longest": launches[longest]["kernel"],
            **{label: next((counters[c] for c in columns if c in counters), None)
               for label, columns in COLUMNS.items()},
            "tensor %": max(tensor) if tensor else None,
            "stalls": ", ".join(f"{reason} {value:.1f}" for value, reason in stalls[:TOP_STALLS])}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(document):
    header = ["case", "runner", "us", "kernels", "longest kernel", *COLUMNS, "tensor %", "top stalls (per issue)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in document["cases"]:
        row = summary(case)
        runner = case["runner"] if case["runner"] != AUTOTUNED else f"autotuned: {case['variant']}"
        if row is None:
            lines.append(f"| {case['case']} | {runner} | no kernels profiled |" + " |" * (len(header) - 3))
            continue
        numbers = [_cell(row[label]) for label in [*COLUMNS, "tensor %"]]
        lines.append("| " + " | ".join([case["case"], runner, f"{row['us']:.1f}", str(row["kernels"]), row["longest"],
                                        *numbers, row["stalls"]]) + " |")
    return "\n".join(lines)


def _cell(value):
    return "" if value is None else f"{value:.0f}" if isinstance(value, (int, float)) else str(value)


# --- main -----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--kernels", type=gemm_benchmark.rung_names, default=None,
                        help="the rungs to profile (comma-separated; the cuBLAS baselines always are)")
    parser.add_argument("--limit-s", type=positive_seconds, default=150.0, help="wall-clock limit for both ncu runs")
    parser.add_argument("--table", type=Path, help="print the table of a gemm_counters.json and exit")
    parser.add_argument("--target", choices=GROUPS, help=argparse.SUPPRESS)  # the process ncu profiles
    parser.add_argument("--cases-file", help=argparse.SUPPRESS)
    parser.add_argument("--stop-at", type=float, help=argparse.SUPPRESS)  # the target's profiling deadline
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    kernels = runnable(args.kernels, args.dry_run)
    if args.target:
        run_target(args.target, args.dry_run, kernels, args.cases_file, args.stop_at)
        return 0
    if args.dry_run:  # the targets alone, on the emulator: every case runs, nothing is profiled
        with tempfile.TemporaryDirectory() as folder:
            for group in GROUPS:
                run_target(group, True, kernels, Path(folder) / "cases.json")
                print(f"gemm_counters: {group}: {len(json.loads((Path(folder) / 'cases.json').read_text()))} "
                      "cases ran on the emulator; ncu not run (dry run)")
        return 0
    ncu = find_ncu()
    if ncu is None:
        print(f"gemm_counters: no ncu on the PATH nor at {', '.join(NCU_PLACES)}: nothing profiled")
        return 1
    document = {"benchmark": "gemm_counters", "environment": harness.environment("cuda"),
                "ncu": {"path": ncu, "version": ncu_version(ncu), "sections": list(SECTIONS),
                        "command": ncu_command(ncu, "<group>.csv", ["<target>"])},
                "cases": [], "units": {}, "errors": {}}
    deadline = time.monotonic() + args.limit_s
    tune_dense_products(kernels)
    with tempfile.TemporaryDirectory() as folder:
        for index, group in enumerate(GROUPS):
            # The first group gets half of what is left, the last all of it.
            timeout_s = (deadline - time.monotonic()) / (len(GROUPS) - index)
            run = profile_group(ncu, group, kernels, timeout_s, Path(folder))
            document["cases"] += run.cases
            document["units"].update(run.units)
            if run.error:
                document["errors"][group] = run.error
                print(f"gemm_counters: {group}: {run.error}", flush=True)
            if run.interrupted:
                break
            if not any(case["launches"] for case in run.cases) and not (run.error or "").startswith("stopped"):
                # Not a matter of time: the profiler could read nothing (on some machines ncu cannot
                # reach the counters), and the next group would fare no better.
                print(f"gemm_counters: {group}: no kernel profiled; not trying the next group", flush=True)
                break
    path = args.out / "gemm_counters.json"
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {path}")
    print(table(document))
    return 1 if document["errors"] else 0


def positive_seconds(text):
    seconds = float(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return seconds


def runnable(kernels, dry_run):
    """``kernels`` (default: the whole ladder) less those built for another GPU architecture."""
    from cnn_gpu.cuda.kernel import runs_here
    from cnn_gpu.ops.gemm_variants import GEMM_VARIANTS

    backend = "emulate" if dry_run else "cuda"
    return [name for name in (kernels or GEMM_VARIANTS) if runs_here(GEMM_VARIANTS[name].file, backend)]


if __name__ == "__main__":
    sys.exit(main())
