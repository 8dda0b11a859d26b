"""Matrix products: the float64 GEMM reference with the kernels' options, Dense forward/backward,
and ``gemm``, the wrapper of the GEMM kernel ladder (kernels/gemm_simt.cu, kernels/gemm_tensorcore.cu,
kernels/gemm_wgmma.cu, kernels/gemm_small.cu, kernels/gemm_cluster.cu), with the autotuner's choice among
its rungs.

``gemm_reference`` is what every GEMM kernel is checked against; the Dense ops are the CPU path and
use the array module's own product in the inputs' dtype. The ladder's rungs are described in
cnn_gpu/ops/gemm_variants.py, and launched for a problem by the plans of cnn_gpu/ops/gemm_plans.py.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from cnn_gpu.cuda import autotune
from cnn_gpu.cuda.kernel import MAX_GRID, backend_xp, current_device, resolve_backend, runs_here
from cnn_gpu.ops import gemm_plans
from cnn_gpu.ops.common import array_module, check_float, check_ndim, check_same_dtype, check_shape
from cnn_gpu.ops.gemm_variants import (ALPHA, BETA, EPILOGUE_BIAS, EPILOGUE_RELU, GEMM_KERNELS, GEMM_OPERANDS,
                                       GEMM_VARIANTS, SWEEP_KERNELS, GemmVariant)


def gemm_reference(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, relu=False):
    """``relu?(alpha * op(a) @ op(b) + beta * c + bias)`` in float64, ``op`` transposing when asked.

    The epilogue runs in that order: scale, add ``beta * c`` (an (M, N) matrix), add ``bias`` (N,)
    to every row, then clamp at zero. Returns a float64 (M, N) array.
    """
    xp = array_module(a)
    for name, m in (("a", a), ("b", b)):
        check_float(m, name)
        check_ndim(m, 2, name, "(rows, cols)")
    a64 = (a.T if trans_a else a).astype(xp.float64)
    b64 = (b.T if trans_b else b).astype(xp.float64)
    if a64.shape[1] != b64.shape[0]:
        raise ValueError(f"op(a) is {a64.shape} and op(b) is {b64.shape}: inner dimensions differ")
    out = alpha * (a64 @ b64)
    if c is not None:
        out += beta * check_shape(c, out.shape, "c").astype(xp.float64)
    if bias is not None:
        out += check_shape(bias, (out.shape[1],), "bias").astype(xp.float64)
    return xp.maximum(out, 0) if relu else out


def check_dense(x, w, b=None):
    """Fail with a message naming the argument unless x (N, I), w (I, O) and b (O,) fit together."""
    check_float(x, "x")
    check_float(w, "w")
    check_same_dtype(x, "x", w, "w")
    check_ndim(x, 2, "x", "(batch, features)")
    check_ndim(w, 2, "w", "(in_features, units)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} features but w expects {w.shape[0]} (w is {tuple(w.shape)})")
    if b is not None:
        check_shape(b, (w.shape[1],), "b")


def dense_forward(x, w, b=None):
    """``x @ w + b`` for x (N, I), w (I, O), b (O,) or None."""
    check_dense(x, w, b)
    y = x @ w
    if b is not None:
        y += b
    return y


def dense_backward_data(dy, w):
    """Gradient to the input: ``dy @ w.T``."""
    if dy.ndim != 2 or dy.shape[1] != w.shape[1]:
        raise ValueError(f"dy must be (batch, {w.shape[1]}) for w of shape {tuple(w.shape)}, got {tuple(dy.shape)}")
    return dy @ w.T


def dense_backward_weights(x, dy):
    """Gradients ``(dw, db)``: ``x.T @ dy`` and the batch sum of ``dy``."""
    if dy.ndim != 2 or dy.shape[0] != x.shape[0]:
        raise ValueError(f"dy must be ({x.shape[0]}, units) for x of shape {tuple(x.shape)}, got {tuple(dy.shape)}")
    return x.T @ dy, dy.sum(axis=0)


# --- gemm(): one rung of the ladder, the one asked for or the autotuner's choice ----------------------
# The environment variable that forces one variant everywhere (like the ``variant=`` argument); the
# one that keeps variants out of the autotuner is autotune.EXCLUDE_ENV.
VARIANT_ENV = "CNN_GPU_GEMM_VARIANT"
# What the autotuner times on a GPU: FP32-accurate rungs that can win, every product, where the
# device runs them (gemm_3xtf32_wgmma and the cluster rungs: Hopper only). 3xTF32 counts as FP32:
# its error is FP32's (tests/ops/test_gemm.py), and on the H100 at 2c9911a gemm_3xtf32_wgmma ran the 4096^3 A.B at 1.18x
# cuBLAS FP32's rate and Dense 5408 -> 64's backward to data at batch 512 in cuBLAS FP32's 15.8 us.
# The last-slice rungs are timed at a few counts of slices each (autotune_choices).
AUTOTUNE_CANDIDATES = ("gemm_regblock_1d", "gemm_regblock_2d", "gemm_vectorized",
                       "gemm_warptiled_double_buffered", "gemm_warptiled_small_tiles", "gemm_warptiled_medium_tiles",
                       "gemm_warptiled_wide_tiles", "gemm_warptiled_small_tiles_bk8", "gemm_warptiled_wide_tiles_bk8",
                       "gemm_3xtf32_mma", "gemm_3xtf32_mma_small_tiles", "gemm_3xtf32_wgmma",
                       "gemm_3xtf32_wgmma_small_tiles", "gemm_split_k", "gemm_split_k_fine",
                       "gemm_split_k_warptiled", "gemm_split_k_last_slice_reduces",
                       "gemm_split_k_last_slice_reduces_bk8", "gemm_split_k_last_slice_reduces_8_warps",
                       "gemm_split_k_3xtf32", "gemm_split_k_3xtf32_8_warps", "gemm_split_k_cluster_reduces",
                       "gemm_split_k_cluster_reduces_8_warps")
# ... and for small products (up to SMALL_PRODUCT_MACS multiply-adds), the first rungs too: one
# thread (or warp, rung 11) per output starts fastest where there is little to do, and the naive
# ones take seconds at 4096^3. On the H100 at 2c9911a (gemm.json, kernel times by graph replay) rung
# 11 was the autotuner's choice in 7 of Dense 64 -> 10's 9 products, at 1.7-4.2 us against cuBLAS
# FP32's 2.7-10.9; rung 7's 32 x 32 tiles took the other two.
SMALL_PRODUCT_CANDIDATES = ("gemm_naive", "gemm_coalesced", "gemm_smem_tiled", "gemm_warp_per_output")
# Before timing, the autotuner runs each candidate once on the real operands and leaves out one with
# an element further than this from float64's, relative to that element's sum of |products|, the
# (|op(a)| |op(b)|)[i, j] that FP32's rounding errors grow with (NaN is never within it). Rounding
# stays orders of magnitude below it (about sqrt(K) float32 epsilons, 4e-6 at K = 5408, even where
# the terms cancel), while a wrong tile, an unwritten element or a lost slice is off by far more.
AUTOTUNE_MAX_ERROR = 1e-4
FLOAT32_MAX, FLOAT32_TINY = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
SMALL_PRODUCT_MACS = 1 << 24
# The emulator does not time anything; it runs this one unless told otherwise.
EMULATE_DEFAULT = "gemm_smem_tiled"


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, relu=False,
         variant=None, split_k=None, out=None, backend=None):
    """``relu?(alpha * op(a) @ op(b) + beta * c + bias)`` in float32 by one GEMM kernel.

    ``a`` and ``b`` are row-major float32 matrices (``op`` transposes when asked; not both at once),
    ``c`` an (M, N) matrix read only when ``beta != 0``, ``bias`` an (N,) vector added to every row.
    The result goes to ``out`` (M, N) if given, else a new array; ``out`` may be ``c`` itself.
    ``variant`` (or $CNN_GPU_GEMM_VARIANT) names the kernel; otherwise the autotuner picks one on a
    GPU, and the emulator runs ``EMULATE_DEFAULT``. A ``GEMM_SWEEP`` entry may be passed as
    ``variant`` too (A.B only). ``split_k``, with a split-K ``variant``, cuts K into that many slices
    in place of the variant's policy (fewer where K has fewer K-tiles: gemm_plans.cut_k); the
    autotuner chooses the count with the rung.
    """
    backend = resolve_backend(backend)
    if split_k is not None:
        check_split_k(split_k, variant)
    for name, x in (("a", a), ("b", b)):
        GEMM_OPERANDS[name].check(x, "gemm", backend)
    alpha, beta = ALPHA.check(alpha, "gemm"), BETA.check(beta, "gemm")
    if trans_a and trans_b:
        raise ValueError("trans_a and trans_b together are not supported (Dense never needs it): "
                         "transpose one operand first")
    # One read of each shape: CuPy builds the tuple at every read.
    (m, k), (k_b, n) = (a.shape[::-1] if trans_a else a.shape), (b.shape[::-1] if trans_b else b.shape)
    if k != k_b:
        raise ValueError(f"op(a) is {(m, k)} and op(b) is {(k_b, n)}: inner dimensions differ")
    if beta != 0.0 and c is None:
        raise ValueError("beta != 0 needs c, the matrix it scales")
    for name, x, shape in (("c", c, (m, n)), ("bias", bias, (n,)), ("out", out, (m, n))):
        if x is not None:
            check_shape(GEMM_OPERANDS[name].check(x, "gemm", backend), shape, name)
    device = current_device(backend)
    if backend == "cuda":
        for name, x in (("a", a), ("b", b), ("c", c), ("bias", bias), ("out", out)):
            if x is not None:
                GEMM_OPERANDS[name].check_device(x, "gemm", device)
    xp = backend_xp(backend)
    if out is None:
        out = xp.empty((m, n), dtype=xp.float32)  # a new array, which overlaps nothing
    else:
        for name, x in (("a", a), ("b", b), ("bias", bias)):
            if x is not None and xp.may_share_memory(out, x):
                raise ValueError(f"out must not overlap {name}: the kernel would read what it overwrites")
    if beta != 0.0 and c is not out:
        out[...] = c  # the kernels update C in place
    if m == 0 or n == 0:
        return out
    if isinstance(variant, GemmVariant):
        if variant not in SWEEP_KERNELS or trans_a or trans_b:
            raise ValueError(f"a GemmVariant given as variant must be a GEMM_SWEEP entry, run as A.B; got "
                             f"{variant.name} {variant.tiling.label if variant.tiling else ''} with "
                             f"trans_a={trans_a} trans_b={trans_b}")
        chosen, kernel = variant, SWEEP_KERNELS[variant]
    else:
        if split_k is None:
            variant, split_k = choose_variant(variant, backend, device, a, b, out, trans_a, trans_b, m, n, k)
        chosen = GEMM_VARIANTS[variant]
        kernel = GEMM_KERNELS[chosen.name, trans_a, trans_b]
    flags = (EPILOGUE_BIAS if bias is not None else 0) | (EPILOGUE_RELU if relu else 0)
    plan = gemm_plans.plan_for(kernel, chosen, trans_a, trans_b, m, n, k, flags, backend, device, split_k)
    # Without a bias the kernel never reads that pointer; any float32 vector fills the slot.
    plan(a, b, out, bias if bias is not None else gemm_plans.placeholder_vector(backend, device), alpha, beta, backend)
    return out


def _known_variant(name, source):
    if name in GEMM_VARIANTS:
        return name
    raise ValueError(f"{source} must name a GEMM variant ({', '.join(GEMM_VARIANTS)}), got {name!r}")


def check_split_k(split_k, variant):
    """Fail unless ``split_k`` is a count of slices (at least 1) for ``variant``, a split-K variant."""
    if isinstance(split_k, bool) or not isinstance(split_k, (int, np.integer)) or split_k < 1:
        raise ValueError(f"split_k must be a number of slices of K, at least 1, got {split_k!r}")
    if not (isinstance(variant, str) and variant in GEMM_VARIANTS and GEMM_VARIANTS[variant].split_k):
        raise ValueError(f"split_k cuts K for a split-K variant, which variant= must name "
                         f"({', '.join(gemm_plans.SPLIT_K_POLICIES)}); got variant={variant!r}")


def choose_variant(variant, backend, device, a, b, out, trans_a, trans_b, m, n, k):
    """``(variant, split_k)``: the variant to run, ``variant``, else $CNN_GPU_GEMM_VARIANT, else the
    autotuner's choice (for ``device``, the current one), with its slices of K where the autotuner
    chose a count other than the variant's policy (else None)."""
    if variant is not None:
        return _known_variant(variant, "variant"), None
    forced = os.environ.get(VARIANT_ENV)
    if forced:
        return _known_variant(forced, VARIANT_ENV), None
    if backend != "cuda":
        return EMULATE_DEFAULT, None
    known = (m, n, k, trans_a, trans_b, device)
    if known in _TUNED:
        return _TUNED[known]

    def trial(name, split_k):
        # Timing runs write a scratch output with beta = 0, so they never disturb out or read c.
        scratch = backend_xp(backend).empty_like(out)
        return lambda: gemm(a, b, trans_a=trans_a, trans_b=trans_b, variant=name, split_k=split_k, out=scratch,
                            backend=backend)

    key = {"m": m, "n": n, "k": k, "trans_a": trans_a, "trans_b": trans_b, "dtype": "float32"}
    choices = autotune_choices(m, n, k, backend, device)
    check = result_check(a, b, trans_a, trans_b, out, backend)
    label = autotune.choose("gemm", key, {label: trial(*choice) for label, choice in choices.items()},
                            check=lambda label: check(*choices[label]))
    _TUNED[known] = choices[label]
    return _TUNED[known]


def choice_label(name, split_k=None):
    """How a choice is named to the autotuner, in its cache and in the benchmarks: the variant's name,
    and the slices of K where they are not its policy's."""
    return name if split_k is None else f"{name} split_k={split_k}"


def autotune_choices(m, n, k, backend, device):
    """What the autotuner times for an M x N x K product, by choice_label: each of autotune_candidates
    as its policy cuts K, and each last-slice rung at its other slice counts too
    (gemm_plans.split_k_alternatives), ``(variant, split_k)`` each."""
    sm_count = gemm_plans.device_sm_count(backend, device)
    choices = {}
    for name in autotune_candidates(m, n, k, backend):
        choices[name] = (name, None)
        for splits in gemm_plans.split_k_alternatives(name, m, n, k, sm_count):
            choices[choice_label(name, splits)] = (name, splits)
    return choices


def result_check(a, b, trans_a, trans_b, out, backend):
    """The autotuner's check of a candidate: ``check(name, split_k=None)`` runs variant ``name`` (in
    ``split_k`` slices of K, if given) on ``a`` and ``b`` into a NaN-filled scratch like ``out`` and
    says why its product is wrong (an element further than AUTOTUNE_MAX_ERROR from float64's), or
    returns None. Operands holding NaN or inf, or a product beyond float32's range, blame no kernel.
    The float64 products are made at the first check, so a choice found in the cache costs nothing."""
    xp = backend_xp(backend)
    # A GPU flushes float32 subnormals to zero (-ftz=true), up to FLOAT32_TINY a term: an element whose
    # terms are that small is held to no more than the limit allows for K of them.
    k = a.shape[0] if trans_a else a.shape[1]
    smallest_magnitude = max(k, 1) * FLOAT32_TINY / AUTOTUNE_MAX_ERROR

    @functools.cache
    def reference():
        product = gemm_reference(a, b, trans_a, trans_b)
        magnitude = gemm_reference(xp.abs(a), xp.abs(b), trans_a, trans_b)  # what rounding errors scale with
        checkable = bool(xp.isfinite(magnitude).all()) and float(magnitude.max()) < FLOAT32_MAX
        return product, xp.maximum(magnitude, smallest_magnitude), checkable

    def check(name, split_k=None):
        product, magnitude, checkable = reference()
        if not checkable:
            return None
        scratch = xp.full_like(out, xp.nan)
        gemm(a, b, trans_a=trans_a, trans_b=trans_b, variant=name, split_k=split_k, out=scratch, backend=backend)
        # NaN stays NaN. (Never empty: gemm() returns before choosing for an empty C. No initial=: CuPy has none.)
        error = float((xp.abs(scratch - product) / magnitude).max())
        return None if error <= AUTOTUNE_MAX_ERROR else f"an element off by {error:.1e} of its sum of |products|"

    return check


def autotune_candidates(m, n, k, backend):
    """The rungs the autotuner times for an M x N x K product on ``backend``: AUTOTUNE_CANDIDATES, and
    the small products' ones up to SMALL_PRODUCT_MACS; each only if the device runs its file
    (runs_here), its grid fits CUDA's limits (the one-thread- or warp-per-output rungs put a
    dimension of C on grid y, at most 65535 blocks) and $CNN_GPU_AUTOTUNE_EXCLUDE does not name it."""
    names = AUTOTUNE_CANDIDATES + (SMALL_PRODUCT_CANDIDATES if m * n * k <= SMALL_PRODUCT_MACS else ())
    excluded = autotune.excluded(GEMM_VARIANTS)
    return [name for name in names if name not in excluded and runs_here(GEMM_VARIANTS[name].file, backend)
            and all(blocks <= limit for blocks, limit in zip(GEMM_VARIANTS[name].grid(m, n), MAX_GRID))]


# The autotuner's answers in this process, by (m, n, k, trans_a, trans_b, device index): asked at
# every call of gemm() without a variant, which Dense makes at every step.
_TUNED = autotune.memo("gemm")
