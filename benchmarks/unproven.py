"""The kernels most likely to fault, for benchmarks/gpu_check.sh: which rungs they are, and the
pytest ``-k`` expressions that select their GPU tests, so that the script can run each rung's tests
in a process of its own (a fault leaves a sticky error that ends every later CUDA call of its
process) and leave out of the benchmarks, and out of the autotuner (``CNN_GPU_AUTOTUNE_EXCLUDE``,
cnn_gpu/ops/gemm.py), only the rungs whose tests failed.

They are Hopper's: wgmma and the bulk tensor copy (kernels/gemm_wgmma.cu and convolution's
kernels/conv2d_wgmma.cu, whose rungs' names hold "wgmma", and kernels/ptx_probe_hopper.cu, whose
probes tests/ops/test_ptx.py runs): the ones that reach the hardware through mbarriers, tensor maps
and clusters, where a mistake hangs or faults rather than gives a wrong number. GEMM's all passed on
an H100 at 48bedcb and 2c9911a, and on an H200 at ac366b0, where 9e (gemm_tf32_wgmma_b_in_registers)
and its probe, wgmma with A from registers, ran for the first time; convolution's
(implicit_gemm_3xtf32_wgmma, implicit_gemm_tf32_wgmma) first ran, and passed, on an H200 at
27bd7f2. The probes' tests of the twin's arithmetic model (named *model*) ask the hardware a
question and gate nothing. Besides them, the rungs of NEW: others no GPU has run yet, which the
autotuner offers, so that every process that tunes a product would launch them.

The rungs of PROVEN, those that passed on a GPU, run their tests in one process, which saves
seconds of the script's budget a process; only if that fails does each run alone, to find which.

    python -m benchmarks.unproven rungs            the unproven rungs, one per line
    python -m benchmarks.unproven proven           those of them that passed on a GPU, one per line
    python -m benchmarks.unproven probes           -k: the probes' tests (wgmma's layout, the TMA box)
    python -m benchmarks.unproven tests RUNG...    -k: these rungs' tests, and no other rung's
    python -m benchmarks.unproven all              -k: every test above (to leave out afterwards)
    python -m benchmarks.unproven files            the test files that hold them (a short collection)
    python -m benchmarks.unproven kernels RUNG...  --kernels for benchmarks.gemm: every rung but these
"""

from __future__ import annotations

import sys

from cnn_gpu.ops.conv2d import VARIANTS as CONV2D_VARIANTS
from cnn_gpu.ops.gemm_variants import GEMM_VARIANTS

# What the unproven rungs' names hold, and what their probes' test names start with.
MARK = "wgmma"
# The other rungs that have not run on a GPU (out of here once a GPU run has passed their tests; the
# last ones before, the three BK = 8 tilings, passed on an H200 at 4f96517).
NEW: tuple[str, ...] = ("gemm_split_k_last_slice_reduces_8_warps", "gemm_split_k_3xtf32",
                        "gemm_split_k_3xtf32_8_warps", "gemm_split_k_cluster_reduces",
                        "gemm_split_k_cluster_reduces_8_warps")
# The rungs above whose GPU tests passed: on an H100 at 48bedcb and 2c9911a, and on an H200 at ac366b0,
# 9e's first run, at 27bd7f2, convolution's first, and at 6575a3b and 4f96517, 3xTF32's blocks of one
# warpgroup. A rung that joins gemm_wgmma.cu or conv2d_wgmma.cu stays out of here until a GPU run
# passes its tests.
PROVEN = ("gemm_tf32_wgmma", "gemm_3xtf32_wgmma", "gemm_tf32_wgmma_tma", "gemm_tf32_wgmma_warp_specialized",
          "gemm_tf32_wgmma_persistent", "gemm_tf32_wgmma_multicast", "gemm_tf32_wgmma_multicast_persistent",
          "gemm_tf32_wgmma_b_in_registers", "gemm_3xtf32_wgmma_small_tiles", "implicit_gemm_3xtf32_wgmma",
          "implicit_gemm_tf32_wgmma")
PROBES = "(test_wgmma or test_tma) and not model"
# The test files that hold every test all_tests() selects (tests/benchmarks/test_unproven.py checks).
FILES = ("tests/ops/test_gemm.py", "tests/ops/test_conv2d_kernels.py", "tests/ops/test_ptx.py")


def rungs() -> list[str]:
    """GEMM's unproven rungs, then convolution's (whose names hold GEMM's: implicit_gemm_tf32_wgmma)."""
    return [name for name in GEMM_VARIANTS if MARK in name or name in NEW] + [
        name for name in CONV2D_VARIANTS if MARK in name]


def rung_tests(*chosen: str) -> str:
    """Tests whose ids name one of the ``chosen`` rungs but no longer rung name, not chosen, that
    contains it (gemm_tf32_wgmma is part of gemm_tf32_wgmma_tma)."""
    longer = [other for other in rungs() if other not in chosen and any(rung in other for rung in chosen)]
    return " and ".join([f"({' or '.join(chosen)})"] + [f"not {other}" for other in longer])


def all_tests() -> str:
    return f"({' or '.join(rungs())}) or ({PROBES})"


def kernels_but(failed: list[str]) -> str:
    return ",".join(name for name in GEMM_VARIANTS if name not in failed)


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    answers = {"rungs": lambda: "\n".join(rungs()), "proven": lambda: "\n".join(PROVEN), "probes": lambda: PROBES,
               "all": all_tests, "files": lambda: " ".join(FILES),
               "tests": lambda: rung_tests(*args), "kernels": lambda: kernels_but(args)}
    if command not in answers or (command == "tests" and not args):
        print(__doc__, file=sys.stderr)
        return 2
    print(answers[command]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
