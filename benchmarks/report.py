"""Markdown tables and a plot from the benchmark JSON files, so that no number is ever typed by hand.

    python -m benchmarks.report benchmarks/results/*.json --markdown results.md --plot results.png
    python -m benchmarks.report $OUT/*.json --short      # the summary gpu_check.sh prints last
    python -m benchmarks.report benchmarks/results/gemm.json --ladder square4096   # a README ladder table
    python -m benchmarks.report benchmarks/results/gemm_sweep.json --ladder square4096   # the tile sweep's
    python -m benchmarks.report benchmarks/results/gemm.json --by-case dense      # microseconds, case x kernel
    python -m benchmarks.report benchmarks/results/gemm.json --sizes gemm_sizes.png  # GFLOP/s against size
    python -m benchmarks.report benchmarks/results/gemm.json --dense-goal   # autotuned Dense against cuBLAS
    python -m benchmarks.report benchmarks/results/conv2d.json --convolution  # every pass against cuDNN

Files that are not harness output (no ``results`` list of timed cases) are skipped, by name.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from benchmarks.harness import labelled_name
from cnn_gpu.ops.conv2d import TF32_VARIANTS


def load(paths) -> list[dict]:
    """The harness documents among ``paths``, each with its ``path`` added; others skipped with a note."""
    documents = []
    for path in map(Path, paths):
        document = json.loads(path.read_text())
        results = document.get("results") if isinstance(document, dict) else None
        if not (isinstance(results, list) and all("median_ms" in r for r in results)):
            print(f"report: skipping {path} (not a harness result)", file=sys.stderr)
            continue
        documents.append({**document, "path": str(path)})
    return documents


def _percent(value) -> str:
    return f"{100 * value:.0f}%" if value is not None else ""


def _rate(result) -> str:
    if "gbps" in result:
        return f"{result['gbps']:.0f} GB/s"
    return f"{result['tflops']:.1f} TFLOP/s" if "tflops" in result else ""


def _of_ceiling(result) -> str:
    if result.get("fraction_of_copy") is not None:
        return f"{_percent(result['fraction_of_copy'])} of copy"
    if result.get("fraction_of_cublas_fp32") is not None:
        return f"{_percent(result['fraction_of_cublas_fp32'])} of cuBLAS FP32"
    return ""


def _check(result) -> str:
    check = result["check"]
    return f"ok ({check['rel_error']:.1e})" if check["passed"] else f"**WRONG** ({check['rel_error']:.1e})"


def _params(result) -> str:
    return " ".join(f"{k}={v}" for k, v in result["params"].items())


def _table(header, rows) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def describe(document) -> str:
    """One line: where and when a document was measured, and the ceilings it is measured against."""
    env, ceilings = document["environment"], document["ceilings"]
    where = f"{env.get('device')}, commit {str(env.get('git_commit'))[:12]}, {env.get('date')}"
    if "copy_gbps" in ceilings:
        where += (f"; copy {ceilings['copy_gbps']:.0f} GB/s, cuBLAS FP32 {ceilings['cublas_fp32_tflops']:.1f} "
                  f"TFLOP/s, TF32 {ceilings['cublas_tf32_tflops']:.1f} TFLOP/s")
    elif ceilings:
        where += f"; no ceilings ({ceilings.get('error') or ceilings.get('note')})"
    return where + (" (DRY RUN: emulator timings)" if document.get("dry_run") else "")


def markdown(documents) -> str:
    """A section per benchmark: where it ran, then every case with its spread and its check."""
    lines = []
    for document in documents:
        lines += [f"### {document['benchmark']}", "", describe(document), ""]
        rows = [[labelled_name(r), _params(r), f"{r['median_ms']:.4f}", f"{r['p10_ms']:.4f}–{r['p90_ms']:.4f}",
                 _rate(r), _of_ceiling(r), _check(r)] for r in document["results"]]
        lines += _table(["case", "shape", "median ms", "p10–p90 ms", "rate", "of ceiling", "check"], rows) + [""]
    return "\n".join(lines)


def short_table(documents) -> str:
    """Every case of every benchmark in one plain table: what a terminal shows last."""
    rows = [(d["benchmark"], labelled_name(r), _params(r), f"{r['median_ms']:.4f}", _rate(r), _of_ceiling(r),
             "ok" if r["check"]["passed"] else "WRONG") for d in documents for r in d["results"]]
    header = ("benchmark", "case", "shape", "median ms", "rate", "of ceiling", "check")
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in [header, *rows])


def ladder(documents, case: str) -> str:
    """The README's ladder table of one case: each kernel's GFLOP/s, its fraction of cuBLAS, its check.

    Every result whose ``case`` parameter is ``case``, in the order measured (the baselines first,
    then the rungs); the fraction is the result's ``vs_cublas`` (benchmarks/gemm.py records it). A
    result whose output failed its check gets no fraction (a wrong kernel's speed is no result) and
    **WRONG** in the check column. Results with a ``tiling`` parameter (the tile sweep,
    gemm_sweep.json) add a tiling column.
    """
    results = [r for document in documents for r in document["results"] if r["params"].get("case") == case]
    tiled = any("tiling" in r["params"] for r in results)
    rows = []
    for r in results:
        name = labelled_name(r) + (" (TF32)" if r["params"].get("tf32") else "")
        vs = r.get("vs_cublas")
        fraction = "—" if not r["check"]["passed"] else f"{100 * vs:.1f}%" if vs is not None else "baseline"
        tiling = [r["params"].get("tiling", "")] if tiled else []
        rows.append([name, *tiling, f"{1e3 * r['tflops']:.0f}", fraction, _check(r)])
    return "\n".join(_table(["kernel", *(["tiling"] if tiled else []), "GFLOP/s", "% of cuBLAS", "check"], rows))


def by_case(documents, pattern: str) -> str:
    """Median microseconds per call: a row per case whose name ``pattern`` matches (and per timing,
    when a case was timed more than one way), a column per kernel; WRONG marks a failed check."""
    cells, kernels = {}, []
    for document in documents:
        for r in document["results"]:
            case = r["params"].get("case", "")
            if re.search(pattern, case):
                note = " (graph failed)" if "timing_note" in r else ""
                row = (case, r.get("timing", "launch") + note)
                kernels += [] if r["name"] in kernels else [r["name"]]
                cells.setdefault(row, {})[r["name"]] = f"{1e3 * r['median_ms']:.1f}" + (
                    "" if r["check"]["passed"] else " WRONG")
    rows = [[case, timing] + [cells[case, timing].get(k, "") for k in kernels] for case, timing in cells]
    return "\n".join(_table(["case", "timing", *kernels], rows))


def dense_goal(documents) -> str:
    """Issue 5's Dense goal, product by product: gemm()'s autotuned call (the rung it chose) against
    cuBLAS FP32, each timing apart (graph replays: the kernels; launch by launch: the calls), with the
    ratio and whether the autotuned call was no slower, then a count per timing. A row pairs only
    results timed the same way (a cuBLAS graph that fell back to launches pairs with nothing). A dry
    run's file, which has no cuBLAS, pairs with its NumPy baseline instead."""
    results = [r for document in documents for r in document["results"]]
    baseline = "cublas_fp32" if any(r["name"] == "cublas_fp32" for r in results) else "numpy_matmul"
    timed = {}
    for r in results:
        case = r["params"].get("case", "")
        if case.startswith("dense") and r["name"] in ("autotuned", baseline) and "timing_note" not in r:
            timed[case, r.get("timing", "launch"), r["name"]] = r
    rows, met = [], {}
    for case, timing, name in timed:
        if name != "autotuned" or (case, timing, baseline) not in timed:
            continue
        ours, theirs = timed[case, timing, name], timed[case, timing, baseline]
        ratio = ours["median_ms"] / theirs["median_ms"]
        ok = ours["check"]["passed"] and ratio <= 1.0
        met.setdefault(timing, []).append(ok)
        rows.append([case, timing, ours["params"].get("chosen", ""), f"{1e3 * ours['median_ms']:.1f}",
                     f"{1e3 * theirs['median_ms']:.1f}", f"{ratio:.2f}", "yes" if ok else "**no**"])
    counts = [f"{timing}: no slower in {sum(oks)} of {len(oks)}" for timing, oks in met.items()]
    return "\n".join(_table(["product", "timing", "autotuned rung", "autotuned us", f"{baseline} us", "ratio",
                              "no slower"], rows) + [""] + counts)


def convolution(documents) -> str:
    """benchmarks/conv2d.py's results, a row per (shape, pass) and a column per kernel, in microseconds
    (WRONG marks a failed check), then our fastest correct FP32-accurate kernel's ``vs_cudnn`` (cuDNN's
    time in FP32 over its time, above 1 where ours is faster) and our plain TF32 rung's (against
    cuDNN allowed TF32)."""
    cells, kernels = {}, []
    for r in (r for document in documents for r in document["results"] if "pass" in r["params"]):
        step = r["params"]["pass"]
        kernel = r["name"].removesuffix(f"_{step}")
        kernels += [] if kernel in kernels else [kernel]
        cells.setdefault((r["params"]["shape"], step), {})[kernel] = r
    rows = []
    for (shape, step), results in cells.items():
        best = {}  # our fastest correct kernel against cuDNN, by precision: FP32-accurate, plain TF32
        for tf32 in (False, True):
            ours = [r for kernel, r in results.items() if "vs_cudnn" in r and r["check"]["passed"]
                    and (kernel in TF32_VARIANTS) == tf32]
            top = max(ours, key=lambda r: r["vs_cudnn"], default=None)
            best[tf32] = f"{top['vs_cudnn']:.2f} ({top['name'].removesuffix(f'_{step}')})" if top else ""
        rows.append([shape, step, *[(f"{1e3 * results[k]['median_ms']:.1f}" + ("" if results[k]["check"]["passed"]
                                                                                  else " WRONG")) if k in results else ""
                                    for k in kernels], best[False], best[True]])
    return "\n".join(_table(["shape", "pass", *[f"{k} us" for k in kernels], "best vs cuDNN (FP32)",
                              "TF32 vs cuDNN TF32"], rows))


def plot(documents, path: Path) -> None:
    """One panel per benchmark: each case's fraction of its ceiling (copy bandwidth or cuBLAS)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [d for d in documents if d["results"]]
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 0.35 * sum(len(d["results"]) for d in panels) + 1.2 * len(panels)),
                                squeeze=False)
    for axis, document in zip(axes[:, 0], panels):
        results = document["results"]
        fractions = [r.get("fraction_of_copy") or r.get("fraction_of_cublas_fp32") for r in results]
        if any(f is not None for f in fractions):
            values, label = [f or 0.0 for f in fractions], "fraction of the measured ceiling"
        else:  # no ceilings (a dry run, or their measurement failed): the raw rate
            values, label = [r.get("gbps", r.get("tflops", 0.0)) for r in results], "GB/s (or TFLOP/s)"
        colors = ["tab:blue" if r["check"]["passed"] else "tab:red" for r in results]
        axis.barh(range(len(results)), values, color=colors)
        axis.set_yticks(range(len(results)), [f"{labelled_name(r)}  {_params(r)}" for r in results], fontsize=7)
        axis.invert_yaxis()
        axis.set_xlabel(f"{label} (red: output wrong)")
        axis.set_title(textwrap.fill(f"{document['benchmark']}: {describe(document)}", 120), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def size_plot(documents, path: Path) -> None:
    """GFLOP/s against the size of the square products (A.B), a line per kernel, cuBLAS's heavier and
    black (FP32 solid, TF32 dashed): how each rung of the GEMM ladder scales. A result whose output
    failed its check is left out, and the legend says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines, wrong = {}, set()
    for document in documents:
        for r in document["results"]:
            p = r["params"]
            if not re.fullmatch(r"square\d+", str(p.get("case"))) or p.get("trans_a") or p.get("trans_b"):
                continue
            if r["check"]["passed"]:
                lines.setdefault(r["name"], []).append((p["m"], r["tflops"] * 1e3))
            else:
                wrong.add(r["name"])
    if not lines:
        raise ValueError("no square A.B products in these files: --sizes plots benchmarks.gemm's")
    figure, axis = plt.subplots(figsize=(9, 6))
    for name, points in lines.items():
        sizes, gflops = zip(*sorted(points))
        cublas = name.startswith("cublas")
        axis.plot(sizes, gflops, marker="o", markersize=3, label=name + (" (some sizes WRONG)" if name in wrong else ""),
                  color="black" if cublas else None, linewidth=2.5 if cublas else 1.2,
                  linestyle="--" if cublas and "tf32" in name else "-")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("M = N = K")
    axis.set_ylabel("GFLOP/s")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    axis.set_title(textwrap.fill(f"GEMM, square A.B: {describe(documents[0])}", 110), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path, help="write the full tables here")
    parser.add_argument("--plot", type=Path, help="write the plot here (PNG)")
    parser.add_argument("--short", action="store_true", help="print one plain table of every case")
    parser.add_argument("--ladder", metavar="CASE", help="print the ladder table of one case (e.g. square4096); "
                        "of gemm_sweep.json, with the tilings")
    parser.add_argument("--by-case", metavar="REGEX", help="print microseconds per call, case by kernel")
    parser.add_argument("--sizes", type=Path, metavar="PNG", help="plot GFLOP/s against the square sizes (gemm.json)")
    parser.add_argument("--dense-goal", action="store_true",
                        help="print the autotuned Dense products against cuBLAS FP32 (gemm.json)")
    parser.add_argument("--convolution", action="store_true",
                        help="print each convolution pass's kernels against cuDNN (conv2d.json)")
    args = parser.parse_args(argv)
    documents = load(args.json)
    if args.ladder:
        print(ladder(documents, args.ladder))
        return 0
    if args.by_case is not None:
        print(by_case(documents, args.by_case))
        return 0
    if args.sizes:
        size_plot(documents, args.sizes)
        return 0
    if args.dense_goal:
        print(dense_goal(documents))
        return 0
    if args.convolution:
        print(convolution(documents))
        return 0
    if args.markdown:
        args.markdown.write_text(markdown(documents) + "\n")
    if args.plot:
        plot(documents, args.plot)
    print(short_table(documents) if args.short else markdown(documents))
    return 0


if __name__ == "__main__":
    sys.exit(main())
