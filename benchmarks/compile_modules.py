"""NVRTC's time over our kernels, built two ways: each file with all its instances in one module, and
one module a template instance (the loader's way on the GPU: ``cnn_gpu.cuda.kernel.module_expressions``).

The question it answers: does NVRTC share work between the instances of one file? If it does, a
module a file costs less in all; if not, a module an instance costs no more, lets a process compile
only the instances it launches, and lets ``cnn-gpu compile`` spread the work over every core, where
a module a file waits for its slowest file. Needs NVRTC, not a GPU: the code is built for
``--arch`` (sm_90 by default), one build at a time, so that no two share a core.

    python -m benchmarks.compile_modules [--arch sm_90] [--tag devbox]

Writes benchmarks/results/compile_modules_[TAG_]sm_NN.json and prints a table a file.
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks import run_info
from cnn_gpu.cuda.loader import compile_cubin, nvrtc_version
from cnn_gpu.cuda.precompile import declared_builds
from cnn_gpu.cuda.sources import compute_capability


def nvrtc_seconds(build, names: tuple) -> float:
    """Seconds NVRTC takes to build ``build``'s source and options with the name expressions ``names``."""
    start = time.perf_counter()
    compile_cubin(build.path.read_text(), build.options, names, build.label)
    return time.perf_counter() - start


def measure(capability: str) -> list[dict]:
    """A row for each file and options the kernels are declared with that this architecture builds: the
    modules a GPU's launches ask for (precompile.declared_builds), one by one, then all in one."""
    by_file: dict[str, list] = {}
    for build in declared_builds(capability, benchmark_builds=True):
        by_file.setdefault(build.label, []).append(build)
    rows = []
    for label, builds in by_file.items():
        one_by_one = [nvrtc_seconds(build, build.name_expressions) for build in builds]
        instances = tuple(sorted(name for build in builds for name in build.name_expressions))
        together = nvrtc_seconds(builds[0], instances)
        file, *options = label.split()
        rows.append({"file": file, "options": options, "instances": len(instances),
                     "together_s": round(together, 3), "one_by_one_s": round(sum(one_by_one), 3),
                     "longest_one_s": round(max(one_by_one), 3), "modules": len(one_by_one)})
        print(f"{label:28} {len(instances):4} instances: together {together:6.1f} s, "
              f"one by one {sum(one_by_one):6.1f} s in {len(one_by_one)} modules, the longest {max(one_by_one):4.1f} s",
              flush=True)
    return sorted(rows, key=lambda row: -row["together_s"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="sm_90", help="the architecture to build for (default sm_90)")
    parser.add_argument("--tag", default="", help="a word for the machine, in the file's name")
    args = parser.parse_args(argv)
    capability = compute_capability(args.arch)
    rows = measure(capability)
    together = sum(row["together_s"] for row in rows)
    one_by_one = sum(row["one_by_one_s"] for row in rows)
    print(f"all files: together {together:.1f} s (the longest file {rows[0]['together_s']:.1f} s), "
          f"one by one {one_by_one:.1f} s (the longest module {max(r['longest_one_s'] for r in rows):.1f} s)")
    name = f"compile_modules_{args.tag + '_' if args.tag else ''}sm_{capability}"
    path = run_info.write_result(name, {
        "benchmark": "compile_modules", **run_info.describe_run("cupy-cuda13x"),
        "nvrtc": ".".join(map(str, nvrtc_version())), "arch": f"sm_{capability}",
        "together_s": round(together, 3), "one_by_one_s": round(one_by_one, 3), "files": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
