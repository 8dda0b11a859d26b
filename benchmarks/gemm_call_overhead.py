"""The host side of gemm(): microseconds per call with the kernel launches stubbed out.

What a small product costs before the GPU does anything: the wrapper's argument checks, the variant
choice, the launch geometry and every kernel's signature checks. Launches reach a no-op instead of
a compiled module, so the numbers are the Python path's alone: on the emulate backend with NumPy
arrays (any machine), or on the cuda backend with CuPy arrays (a GPU machine; the autotuned case's
first call then times stubbed launches, into a cache in a temporary folder, forgotten afterwards).
Each case is the Dense 5408 -> 64 forward product at batch 32, with a bias and ReLU; the fastest
of several rounds is reported (contention only ever adds time).

With ``--profile``, each case then runs its calls once more under cProfile and prints the functions
that took the most time, by cumulative and by own time: where the host time goes. cProfile times
Python functions and calls to built-in ones; an attribute read is no call, so what CuPy's properties
cost (``flags``, ``shape``, ``data``) counts in the own time of the function that reads them.

    python -m benchmarks.gemm_call_overhead [--backend emulate|cuda] [--calls 20000] [--rounds 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from unittest import mock

import numpy as np

from cnn_gpu.cuda import autotune
from cnn_gpu.cuda import kernel as kernel_module
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import gemm as gemm_ops
from cnn_gpu.ops.gemm import gemm

# The variants timed; None is the autotuned path (on the emulator: its fixed default).
VARIANTS = ["gemm_smem_tiled", "gemm_tf32_mma", "gemm_split_k", None]
# Functions listed per ordering by --profile.
PROFILE_ROWS = 12


class StubModule:
    """A compiled module whose every kernel launches nothing."""

    def get_function(self, name):
        return lambda grid, block, args, shared_mem=0: None


def microseconds_per_call(call, calls: int, rounds: int) -> float:
    call()  # first use: the variant choice, the workspace, the per-shape caches
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def print_profile(call, calls: int, rows: int = PROFILE_ROWS, per: str = "gemm() call"):
    """``calls`` calls under cProfile, then the top ``rows`` functions by cumulative and by own time,
    in microseconds per call, ``per`` naming it (cProfile's own overhead included: compare rows, not
    with the timings)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    # (file, line, function) -> (primitive calls, calls, own seconds, cumulative seconds, callers)
    stats = pstats.Stats(profiler).stats
    for order, column in (("cumulative", 3), ("own", 2)):
        print(f"  {'cumulative':>10} {'own':>8} {'calls':>6}  function (us and calls per {per}, by {order} time)")
        for (file, line, name), (_, count, own, cumulative, _) in sorted(
                stats.items(), key=lambda item: item[1][column], reverse=True)[:rows]:
            where = name if file == "~" else f"{os.path.basename(file)}:{line}({name})"  # "~": a C function
            print(f"  {cumulative / calls * 1e6:10.2f} {own / calls * 1e6:8.2f} {count / calls:6.1f}  {where}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("emulate", "cuda"), default="emulate")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="then profile each case's calls (cProfile)")
    args = parser.parse_args(argv)
    xp, rng = backend_xp(args.backend), np.random.default_rng(0)
    a, b, bias = (xp.asarray(rng.uniform(-1, 1, shape).astype(np.float32)) for shape in [(32, 5408), (5408, 64), (64,)])
    out = xp.empty((32, 64), dtype=np.float32)
    # Stubbed launches compute nothing, so the autotuner's check of each candidate's result passes them
    # all here (it would find every one wrong).
    with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ, {"CNN_GPU_CACHE_DIR": cache}), \
            mock.patch.object(kernel_module, "module_for", lambda kernel, backend: StubModule()), \
            mock.patch.object(gemm_ops, "result_check", lambda *operands: lambda name: None):
        try:
            for variant in VARIANTS:
                def call():
                    gemm(a, b, bias=bias, relu=True, variant=variant, out=out, backend=args.backend)
                us = microseconds_per_call(call, args.calls, args.rounds)
                print(f"{args.backend:8s} {variant or 'autotuned':16s} {us:7.2f} us per call", flush=True)
                if args.profile:
                    print_profile(call, args.calls)
        finally:
            autotune.forget()  # a choice made over stubbed launches must not outlive this run
    return 0


if __name__ == "__main__":
    sys.exit(main())
