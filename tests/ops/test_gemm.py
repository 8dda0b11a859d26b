import itertools
import json

import numpy as np
import pytest

import loops
from cnn_gpu.cuda import autotune
from cnn_gpu.cuda.kernel import KernelArgumentError, current_device, runs_here
from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops import gemm as gemm_ops
from cnn_gpu.ops import gemm_plans, gemm_variants
from cnn_gpu.ops.gemm import dense_backward_data, dense_backward_weights, dense_forward, gemm, gemm_reference
from cnn_gpu.ops.gemm_variants import GEMM_SWEEP, GEMM_VARIANTS, TRANSPOSES, GemmVariant
from helpers import TOLERANCE, assert_close, on_backend, poisoned, random_array, to_host

MNK = [(1, 1, 1), (5, 7, 3), (17, 9, 33), (64, 31, 1)]


@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", MNK)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_reference_matches_loops_with_every_option(rng, m, n, k, trans_a, trans_b, dtype):
    a = random_array(rng, (k, m) if trans_a else (m, k), dtype)
    b = random_array(rng, (n, k) if trans_b else (k, n), dtype)
    c = random_array(rng, (m, n), dtype)
    bias = random_array(rng, (n,), dtype)
    alpha, beta = rng.uniform(-2, 2, size=2)
    for relu in (False, True):
        out = gemm_reference(a, b, trans_a, trans_b, alpha, beta, c, bias, relu)
        op_a = a.T if trans_a else a
        op_b = b.T if trans_b else b
        ref = loops.gemm(op_a.astype(np.float64), op_b.astype(np.float64), alpha, beta, c.astype(np.float64),
                         bias.astype(np.float64), relu)
        assert out.dtype == np.float64
        assert_close(out, ref, tol=1e-13, what=f"gemm relu={relu}")


def test_gemm_reference_defaults_are_a_plain_product(rng):
    a, b = random_array(rng, (6, 5), np.float32), random_array(rng, (5, 4), np.float32)
    zeros = np.zeros((6, 4))
    ref = loops.gemm(a.astype(np.float64), b.astype(np.float64), 1.0, 0.0, zeros, np.zeros(4), False)
    assert_close(gemm_reference(a, b), ref, tol=1e-13)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(a=np.zeros((3, 4)), b=np.zeros((5, 2))), "inner dimensions differ"),
        (dict(a=np.zeros((3, 4)), b=np.zeros((4, 2)), c=np.zeros((2, 3))), r"c must have shape \(3, 2\)"),
        (dict(a=np.zeros((3, 4)), b=np.zeros((4, 2)), bias=np.zeros(3)), r"bias must have shape \(2,\)"),
        (dict(a=np.zeros((3, 4), np.int32), b=np.zeros((4, 2))), "a must be a float32 or float64 array"),
        (dict(a=np.zeros((3, 4)), b=np.zeros(4)), "b must be 2-D"),
    ],
)
def test_gemm_reference_rejects_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        gemm_reference(**kwargs)


@pytest.mark.parametrize("batch,fan_in,units", [(1, 1, 1), (7, 13, 5), (32, 100, 10)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_forward_and_backward_match_the_gemm_reference(rng, batch, fan_in, units, dtype):
    x, w = random_array(rng, (batch, fan_in), dtype), random_array(rng, (fan_in, units), dtype)
    b, dy = random_array(rng, (units,), dtype), random_array(rng, (batch, units), dtype)
    y = dense_forward(x, w, b)
    dx = dense_backward_data(dy, w)
    dw, db = dense_backward_weights(x, dy)
    assert {a.dtype for a in (y, dx, dw, db)} == {np.dtype(dtype)}
    assert_close(y, gemm_reference(x, w, bias=b), what="y")
    assert_close(dense_forward(x, w), gemm_reference(x, w), what="y without bias")
    assert_close(dx, gemm_reference(dy, w, trans_b=True), what="dx")
    assert_close(dw, gemm_reference(x, dy, trans_a=True), what="dw")
    assert_close(db, dy.astype(np.float64).sum(axis=0), what="db")


def test_dense_gradients_match_central_differences(rng):
    x, w, b = (random_array(rng, s, np.float64) for s in [(4, 7), (7, 3), (3,)])
    dy = random_array(rng, (4, 3), np.float64)
    dw, db = dense_backward_weights(x, dy)
    check_gradient(op_scalar(lambda v: dense_forward(v, w, b), dy), x, dense_backward_data(dy, w))
    check_gradient(op_scalar(lambda v: dense_forward(x, v, b), dy), w, dw)
    check_gradient(op_scalar(lambda v: dense_forward(x, w, v), dy), b, db)


@pytest.mark.parametrize(
    "x,w,b,message",
    [
        (np.zeros((2, 3)), np.zeros((4, 5)), None, "x has 3 features but w expects 4"),
        (np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4), r"b must have shape \(5,\)"),
        (np.zeros((2, 3)), np.zeros((3, 5), np.float32), None, "x is float64 but w is float32"),
        (np.zeros(3), np.zeros((3, 5)), None, "x must be 2-D"),
        (np.zeros((2, 3), np.int64), np.zeros((3, 5)), None, "x must be a float32 or float64 array"),
    ],
)
def test_dense_rejects_bad_arguments(x, w, b, message):
    with pytest.raises((ValueError, TypeError), match=message):
        dense_forward(x, w, b)


def test_dense_backward_names_a_mismatched_dy():
    with pytest.raises(ValueError, match=r"dy must be \(batch, 5\) for w of shape \(3, 5\), got \(2, 4\)"):
        dense_backward_data(np.zeros((2, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"dy must be \(2, units\) for x of shape \(2, 3\), got \(3, 5\)"):
        dense_backward_weights(np.zeros((2, 3)), np.zeros((3, 5)))


# --- the kernels: every variant against the float64 reference ----------------------------------------
# Sizes keep the emulated suite short: partial tiles in every dimension (127 x 257 x 33), the smallest
# problem, tall-skinny and short-wide ones, sizes that take the 16-byte load path (all multiples of 4)
# and a few K-tiles deep. The gpu-marked test adds large ones.
VARIANTS = list(GEMM_VARIANTS)
EDGE_SHAPES = [(1, 1, 1), (300, 3, 20), (3, 260, 12), (132, 68, 36)]


def tolerance(variant, k=1):
    """TF32's; float32's grown like sqrt(K) past K = 1024 (the rounding of a K-term dot product); or,
    for 3xTF32, float32's at every K tested: it adds one FP32 sum per eight products (each mma
    chain's result), so its rounding grows far slower than a K-term chain of FMAs."""
    variant = variant if isinstance(variant, GemmVariant) else GEMM_VARIANTS[variant]
    if variant.tf32:
        return TOLERANCE["tf32"]
    if variant.name.startswith("gemm_3xtf32"):
        return TOLERANCE[np.dtype(np.float32)]
    return TOLERANCE[np.dtype(np.float32)] * max(1.0, (k / 1024) ** 0.5)


def describe(variant):
    """A ladder name as it is; a GEMM_SWEEP entry as its name and tiling."""
    return f"{variant.name} {variant.tiling.label}" if isinstance(variant, GemmVariant) else variant


def check_variant(rng, backend, variant, m, n, k, trans_a, trans_b, epilogue, a=None, b=None, split_k=None):
    """One launch of ``variant`` (a ladder name or a GEMM_SWEEP entry; a split-K one in ``split_k``
    slices if given) into a NaN-poisoned output, compared with ``gemm_reference``.

    With ``epilogue`` every option is on (random alpha and beta, c, bias, ReLU), and the error is
    judged against the magnitudes of the three terms, which may cancel (at 1 x 1 x 1 they once left
    1e-3 of values near 1, where TF32's rounding is 3%); without, beta = 0 and c is the poisoned
    output itself, which the kernel must then never read.
    """
    file = (variant if isinstance(variant, GemmVariant) else GEMM_VARIANTS[variant]).file
    if not runs_here(file, backend):
        pytest.skip(f"{file} needs another GPU architecture (sources.ARCH_SPECIFIC)")
    if a is None:
        a = random_array(rng, (k, m) if trans_a else (m, k))
        b = random_array(rng, (n, k) if trans_b else (k, n))
    out = on_backend(poisoned((m, n)), backend)
    scale = None
    if epilogue:
        alpha, beta = (float(v) for v in rng.uniform(0.5, 1.5, 2) * rng.choice([-1, 1], 2))
        c, bias = random_array(rng, (m, n)), random_array(rng, (n,))
        options = dict(alpha=alpha, beta=beta, relu=True)
        ref = gemm_reference(a, b, trans_a, trans_b, c=c, bias=bias, **options)
        scale = (np.abs(gemm_reference(a, b, trans_a, trans_b, alpha=alpha)) + np.abs(beta * c.astype(np.float64))
                 + np.abs(bias.astype(np.float64)))
        got = gemm(on_backend(a, backend), on_backend(b, backend), trans_a=trans_a, trans_b=trans_b,
                   c=on_backend(c, backend), bias=on_backend(bias, backend), variant=variant, split_k=split_k,
                   out=out, backend=backend, **options)
    else:
        alpha = float(rng.uniform(0.5, 1.5))
        ref = gemm_reference(a, b, trans_a, trans_b, alpha=alpha)
        got = gemm(on_backend(a, backend), on_backend(b, backend), trans_a=trans_a, trans_b=trans_b, alpha=alpha,
                   beta=0.0, c=out, variant=variant, split_k=split_k, out=out, backend=backend)
    assert got is out
    assert_close(got, ref, tol=tolerance(variant, k), scale=scale,
                 what=f"{describe(variant)} {m}x{n}x{k} trans_a={trans_a} trans_b={trans_b} epilogue={epilogue}")


@pytest.mark.parametrize("epilogue", [True, False], ids=["epilogue", "beta0"])
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES, ids=["AB", "ABt", "AtB"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_variant_on_an_odd_shape(rng, kernel_backend, variant, trans_a, trans_b, epilogue):
    check_variant(rng, kernel_backend, variant, 127, 257, 33, trans_a, trans_b, epilogue)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_relu_epilogue_keeps_a_nan(kernel_backend, variant):
    """ReLU clamps the negative outputs and keeps a NaN (fmaxf(NaN, 0) would make it 0 and hide it)."""
    if not runs_here(GEMM_VARIANTS[variant].file, kernel_backend):
        pytest.skip(f"{GEMM_VARIANTS[variant].file} needs another GPU architecture (sources.ARCH_SPECIFIC)")
    a, b = np.ones((37, 19), np.float32), -np.ones((19, 21), np.float32)
    a[5, 7] = np.nan
    out = to_host(gemm(on_backend(a, kernel_backend), on_backend(b, kernel_backend), relu=True, variant=variant,
                       backend=kernel_backend))
    assert np.isnan(out[5]).all() and np.array_equal(np.delete(out, 5, axis=0), np.zeros((36, 21), np.float32))


@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_variant_on_edge_shapes(rng, kernel_backend, variant):
    for (m, n, k), (trans_a, trans_b) in zip(EDGE_SHAPES, TRANSPOSES * 2):
        check_variant(rng, kernel_backend, variant, m, n, k, trans_a, trans_b, epilogue=True)


@pytest.mark.parametrize("variant", ["gemm_vectorized", "gemm_warptiled_double_buffered", "gemm_warptiled_wide_tiles",
                                     "gemm_tf32_mma", "gemm_3xtf32_mma", "gemm_3xtf32_mma_small_tiles",
                                     "gemm_tf32_wgmma", "gemm_3xtf32_wgmma", "gemm_3xtf32_wgmma_small_tiles",
                                     "gemm_split_k_cluster_reduces"])
def test_gemm_variant_over_several_k_tiles_and_both_load_widths(rng, kernel_backend, variant):
    # 136 x 264 x 100: 16-byte loads, 2 x 3 blocks, 4 to 13 K-tiles (every pipeline stage reused). With
    # beta = 0, rungs 7 to 9's blocks wholly inside C store through the plain epilogue's copy without
    # bounds tests (gemm_common.cuh, with_epilogue), the others through its tested copy.
    for (trans_a, trans_b), epilogue in itertools.product(TRANSPOSES, [True, False]):
        check_variant(rng, kernel_backend, variant, 136, 264, 100, trans_a, trans_b, epilogue=epilogue)
    # The same extents from buffers 4 bytes off 16-byte alignment: the kernel must take 4-byte loads
    # (on a GPU a misaligned 16-byte load faults).
    m, n, k = 36, 132, 68
    a = np.empty(m * k + 1, np.float32)[1:].reshape(m, k)
    b = np.empty(k * n + 1, np.float32)[1:].reshape(k, n)
    a[...], b[...] = random_array(rng, (m, k)), random_array(rng, (k, n))
    if kernel_backend == "cuda":
        import cupy

        a = cupy.asarray(np.empty(m * k + 1, np.float32))[1:].reshape(m, k)
        b = cupy.asarray(np.empty(k * n + 1, np.float32))[1:].reshape(k, n)
        a[...], b[...] = cupy.asarray(random_array(rng, (m, k))), cupy.asarray(random_array(rng, (k, n)))
    out = on_backend(poisoned((m, n)), kernel_backend)
    gemm(a, b, variant=variant, out=out, backend=kernel_backend)
    assert_close(out, gemm_reference(to_host(a), to_host(b)), tol=tolerance(variant), what="misaligned")


@pytest.mark.parametrize("variant", ["gemm_3xtf32_mma", "gemm_3xtf32_mma_small_tiles", "gemm_3xtf32_wgmma",
                                     "gemm_3xtf32_wgmma_small_tiles", "gemm_split_k_3xtf32"])
def test_3xtf32_keeps_fp32_accuracy_over_a_long_k(rng, kernel_backend, variant):
    # The tensor core rounds each mma's FP32 result toward zero (kernels/ptx.cuh, "Rounding"; the twin
    # models it), so a K/8-long chain of mma into one accumulator drifts toward zero: on an H200,
    # 2.9e-5 at 4096^3 (benchmarks/results/gemm.json), and in emulation 4e-5 here. Short chains from
    # zero (three mma; twelve wgmma, a K-tile's), added to the accumulators in FP32, keep it near
    # FP32's error (4e-7 and 2.5e-7 in emulation).
    m, n, k = 16, 16, 4096
    a, b = random_array(rng, (m, k)), random_array(rng, (k, n))
    out = on_backend(poisoned((m, n)), kernel_backend)
    gemm(on_backend(a, kernel_backend), on_backend(b, kernel_backend), variant=variant, out=out,
         backend=kernel_backend)
    assert_close(out, gemm_reference(a, b), tol=3e-6, what=f"{variant} {m}x{n}x{k}")


@pytest.mark.parametrize("variant", ["gemm_3xtf32_mma", "gemm_3xtf32_mma_small_tiles", "gemm_3xtf32_wgmma",
                                     "gemm_split_k_3xtf32"])
def test_3xtf32_carries_a_nan_of_any_bit_pattern_into_its_row(rng, kernel_backend, variant):
    # big = tf32(x) clears the low 13 bits, so a NaN whose payload lies there alone (0x7f800001) comes
    # out infinite; small = x - big (to_tf32, kernels/gemm_common.cuh) is NaN whatever the NaN's bits,
    # and carries it into the product.
    m, n, k = 40, 24, 300
    for pattern in (0x7FFFFFFF, 0xFFFFFFFF, 0x7F800001, 0x7FC00000):
        a, b = random_array(rng, (m, k)), random_array(rng, (k, n))
        a.view(np.uint32)[3, 17] = pattern
        out = to_host(gemm(on_backend(a, kernel_backend), on_backend(b, kernel_backend), variant=variant,
                           out=on_backend(poisoned((m, n)), kernel_backend), backend=kernel_backend))
        assert np.isnan(out[3]).all(), f"{variant}: a NaN of bits {pattern:#x} was lost from row 3"
        assert_close(np.delete(out, 3, axis=0), gemm_reference(np.delete(a, 3, axis=0), b), tol=tolerance(variant),
                     what=f"{variant}: the rows without the NaN")


@pytest.mark.parametrize("variant", GEMM_SWEEP, ids=lambda v: f"{v.name}-{v.tiling.label}")
def test_every_tile_sweep_entry_on_odd_shapes(rng, kernel_backend, variant):
    # Two column blocks (the second partial), a partial row block, and enough K-tiles that the
    # pipeline reuses every buffer and ends on a partial tile: first with sizes that take the 4-byte
    # copies, then multiples of 4 that take the 16-byte ones. The sweep entries are built for A.B.
    tiling = variant.tiling
    for pad in (3, 4):
        m, n, k = 33 + pad, tiling.block_n + 2 * pad, tiling.block_k * (tiling.stages + 1) + pad
        check_variant(rng, kernel_backend, variant, m, n, k, False, False, epilogue=pad == 3)


def test_every_tiling_fits_a_hopper_block():
    # A block may have 1024 threads and 227 KB of dynamic shared memory (sm_90); the warp tiles must
    # cover the block tile. Spills are the compile check's (tests/cuda/test_compile.py).
    tiled = [(v, TRANSPOSES) for v in GEMM_VARIANTS.values() if v.tiling] + [(v, [(False, False)]) for v in GEMM_SWEEP]
    for variant, transposes in tiled:
        t = variant.tiling
        assert t.block_m % t.warp_m == 0 and t.block_n % t.warp_n == 0, describe(variant)
        assert variant.threads()[0] <= 1024, describe(variant)
        for trans_a, trans_b in transposes:
            assert variant.shared_mem(trans_a, trans_b) <= 227 * 1024, describe(variant)


def test_the_sweep_holds_each_tiling_once_the_defaults_first():
    # gemm_sweep.json has one row per entry: a default that won a sweep stays listed, once.
    assert len(set(GEMM_SWEEP)) == len(GEMM_SWEEP)
    for name in {v.name for v in GEMM_SWEEP}:
        assert next(v for v in GEMM_SWEEP if v.name == name) == GEMM_VARIANTS[name]


def test_a_sweep_entry_runs_only_as_the_a_b_it_was_built_for():
    a, b = np.ones((4, 3), np.float32), np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="must be a GEMM_SWEEP entry, run as A.B"):
        gemm(a, b, trans_a=True, variant=GEMM_SWEEP[0], backend="emulate")
    with pytest.raises(ValueError, match="must be a GEMM_SWEEP entry"):
        gemm(a.T.copy(), b, variant=GEMM_VARIANTS["gemm_naive"], backend="emulate")


@pytest.mark.gpu
@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_variant_on_large_shapes_on_the_gpu(rng, variant):
    for (m, n, k), (trans_a, trans_b) in zip([(1024, 1024, 1024), (2053, 1031, 517), (4096, 64, 5408)],
                                             TRANSPOSES):
        check_variant(rng, "cuda", variant, m, n, k, trans_a, trans_b, epilogue=True)


def test_gemm_without_a_variant_runs_the_emulator_default_or_the_forced_one(rng, monkeypatch):
    args = (0, np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32), np.zeros((2, 4), np.float32), False,
            False, 2, 4, 3)
    monkeypatch.delenv(gemm_ops.VARIANT_ENV, raising=False)
    assert gemm_ops.choose_variant(None, "emulate", *args) == (gemm_ops.EMULATE_DEFAULT, None)
    assert gemm_ops.choose_variant("gemm_naive", "emulate", *args) == ("gemm_naive", None)
    monkeypatch.setenv(gemm_ops.VARIANT_ENV, "gemm_coalesced")
    assert gemm_ops.choose_variant(None, "emulate", *args) == ("gemm_coalesced", None)
    assert gemm_ops.choose_variant("gemm_naive", "emulate", *args) == ("gemm_naive", None)
    monkeypatch.setenv(gemm_ops.VARIANT_ENV, "gemm_fastest")
    with pytest.raises(ValueError, match="CNN_GPU_GEMM_VARIANT must name a GEMM variant"):
        gemm_ops.choose_variant(None, "emulate", *args)
    # And end to end: the default variant computes the product.
    monkeypatch.delenv(gemm_ops.VARIANT_ENV)
    a, b = random_array(rng, (5, 7)), random_array(rng, (7, 3))
    assert_close(gemm(a, b, backend="emulate"), gemm_reference(a, b))


def stub_the_gpu(monkeypatch):
    """The cuda path's logic without a GPU: arrays from NumPy, every rung runnable, 132 SMs."""
    monkeypatch.setattr(gemm_ops, "backend_xp", lambda backend: np)
    monkeypatch.setattr(gemm_ops, "runs_here", lambda file, backend: True)
    monkeypatch.setattr(gemm_plans, "device_sm_count", lambda backend, device: 132)


def test_gemm_asks_the_autotuner_once_per_shape_and_device_in_a_process(monkeypatch):
    # The cuda path's logic, without a GPU: the device, the scratch outputs and the timing stubbed.
    asked = []
    monkeypatch.setattr(gemm_ops.autotune, "choose",
                        lambda op, key, candidates, check: asked.append(key) or "gemm_split_k")
    stub_the_gpu(monkeypatch)
    monkeypatch.delenv(gemm_ops.VARIANT_ENV, raising=False)
    gemm_ops.autotune.forget()
    a, b, out = np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32), np.zeros((2, 4), np.float32)
    choose = lambda m, trans_a=False, device=0: gemm_ops.choose_variant(  # noqa: E731
        None, "cuda", device, a, b, out, trans_a, False, m, 4, 3)
    assert [choose(2), choose(2), choose(2, trans_a=True), choose(5)] == [("gemm_split_k", None)] * 4
    choose(2, device=1)
    assert len(asked) == 4, "the same shape on the same device was tuned twice"
    gemm_ops.autotune.forget()
    choose(2)
    assert len(asked) == 5, "forget() must make the next call ask again"
    gemm_ops.autotune.forget()


@pytest.mark.gpu
def test_gemm_autotunes_on_the_gpu_and_caches_the_choice(rng, tmp_path, monkeypatch):
    from cnn_gpu.cuda import autotune

    # Its own choices file, not its own cache folder: the compiled kernels stay where every process
    # finds them (cnn-gpu compile, in gpu_check.sh, put them there).
    monkeypatch.setattr(autotune, "cache_path", lambda: tmp_path / autotune.CACHE_FILE)
    monkeypatch.delenv(gemm_ops.VARIANT_ENV, raising=False)
    autotune.forget()
    a, b = random_array(rng, (300, 200)), random_array(rng, (200, 100))
    out = gemm(on_backend(a, "cuda"), on_backend(b, "cuda"), backend="cuda")
    assert_close(out, gemm_reference(a, b))
    cached = json.loads((tmp_path / autotune.CACHE_FILE).read_text())
    assert list(cached.values())[0] in gemm_ops.autotune_choices(300, 100, 200, "cuda", current_device("cuda"))
    autotune.forget()


def test_the_autotuners_check_finds_a_wrong_or_unwritten_product(rng, monkeypatch):
    # The check runs the real gemm() (on the emulator here); the two broken variants are stand-ins,
    # one off by a little more than the limit allows, one that writes nothing (its NaN stays).
    a, b = random_array(rng, (20, 30)), random_array(rng, (20, 10))
    out = np.empty((30, 10), np.float32)
    real_gemm = gemm_ops.gemm

    def gemm_with_broken_variants(*args, variant, out, **kwargs):
        if variant != "unwritten":
            real_gemm(*args, variant="gemm_smem_tiled", out=out, **kwargs)
        if variant == "off":
            out *= 1 + 3 * gemm_ops.AUTOTUNE_MAX_ERROR
        return out

    monkeypatch.setattr(gemm_ops, "gemm", gemm_with_broken_variants)
    check = gemm_ops.result_check(a, b, True, False, out, "emulate")
    assert check("gemm_smem_tiled") is None
    assert check("off").startswith("an element off by ")
    assert check("unwritten") == "an element off by nan of its sum of |products|"
    # Terms that cancel: b[19, 1] makes out[0, 1] = sum over k of a[k, 0] b[k, 1] about 1e-8, where
    # float32's rounding of the terms leaves an error of about 1e-7, many times the result. The limit
    # is relative to the terms' magnitudes, not to the result, so a correct kernel still passes.
    b[19, 1] = -(a[:19, 0].astype(np.float64) @ b[:19, 1]) / a[19, 0]
    assert abs(gemm_reference(a, b, True, False)[0, 1]) < 1e-6
    assert gemm_ops.result_check(a, b, True, False, out, "emulate")("gemm_smem_tiled") is None
    # Terms below float32's smallest normal, which a GPU flushes to zero: a result of 0 passes.
    tiny_a, tiny_b = np.full((20, 30), 1e-20, np.float32), np.full((20, 10), 1e-20, np.float32)
    monkeypatch.setattr(gemm_ops, "gemm", lambda *args, out, **kwargs: out.fill(0) or out)
    assert gemm_ops.result_check(tiny_a, tiny_b, True, False, out, "emulate")("flushed") is None
    a[3, 4] = np.nan  # a NaN in the operands is no kernel's fault
    assert gemm_ops.result_check(a, b, True, False, out, "emulate")("off") is None


def test_the_first_rungs_are_candidates_for_small_products_only(monkeypatch):
    timed = {}
    # The rungs timed (a label names one, then its count of slices if not its policy's: choice_label).
    monkeypatch.setattr(gemm_ops.autotune, "choose", lambda op, key, candidates, check: timed.setdefault(
        key["m"], {label.partition(" ")[0] for label in candidates}) and "gemm_split_k")
    stub_the_gpu(monkeypatch)
    monkeypatch.delenv(gemm_ops.VARIANT_ENV, raising=False)
    gemm_ops.autotune.forget()
    z = np.zeros((1, 1), np.float32)
    for m, n, k in [(32, 10, 64), (128, 5408, 64), (4096, 4096, 4096)]:
        gemm_ops.choose_variant(None, "cuda", 0, z, z, z, False, False, m, n, k)
    assert timed[32] == set(gemm_ops.AUTOTUNE_CANDIDATES + gemm_ops.SMALL_PRODUCT_CANDIDATES)
    assert timed[128] == timed[4096] == set(gemm_ops.AUTOTUNE_CANDIDATES)
    gemm_ops.autotune.forget()


def test_the_autotuner_times_only_the_rungs_the_device_runs(monkeypatch):
    # gemm_wgmma.cu is built for sm_90a alone: on another GPU its rungs are no candidates.
    monkeypatch.setattr(gemm_ops, "runs_here", lambda file, backend: file != "gemm_wgmma.cu")
    elsewhere = gemm_ops.autotune_candidates(128, 5408, 64, "cuda")
    assert "gemm_3xtf32_wgmma" in gemm_ops.AUTOTUNE_CANDIDATES and "gemm_3xtf32_wgmma" not in elsewhere
    assert set(elsewhere) == {name for name in gemm_ops.AUTOTUNE_CANDIDATES if "wgmma" not in name}
    # Every candidate is FP32-accurate: TF32 rungs are chosen only when asked for by name.
    candidates = gemm_ops.AUTOTUNE_CANDIDATES + gemm_ops.SMALL_PRODUCT_CANDIDATES
    assert not any(GEMM_VARIANTS[name].tf32 for name in candidates)


def test_the_rungs_whose_gpu_tests_failed_are_kept_out_of_the_autotuner(monkeypatch):
    # gpu_check.sh names them in $CNN_GPU_AUTOTUNE_EXCLUDE (benchmarks/unproven.py).
    # Convolution's rungs are listed there too: GEMM's autotuner leaves them to convolution's.
    everything = gemm_ops.autotune_candidates(128, 5408, 64, "emulate")
    monkeypatch.setenv(autotune.EXCLUDE_ENV, "gemm_split_k_last_slice_reduces,implicit_gemm_3xtf32_wgmma")
    kept = gemm_ops.autotune_candidates(128, 5408, 64, "emulate")
    assert "gemm_split_k_last_slice_reduces" in everything and kept == [
        name for name in everything if name != "gemm_split_k_last_slice_reduces"]


def test_a_candidate_whose_grid_would_pass_cudas_limits_is_not_timed():
    # A Dense dx of 600,000 features, 10 units, batch 2: small, but 75,000 blocks of 8 outputs along y
    # for rung 11 (the others put at most a 32nd of it there). Timing it would fail the launch.
    wide = gemm_ops.autotune_candidates(2, 600_000, 10, "emulate")
    assert "gemm_warp_per_output" not in wide
    assert {"gemm_naive", "gemm_coalesced", "gemm_split_k"} <= set(wide)
    for name in wide:
        assert all(b <= limit for b, limit in zip(GEMM_VARIANTS[name].grid(2, 600_000), gemm_ops.MAX_GRID))
    assert set(gemm_ops.autotune_candidates(32, 10, 64, "emulate")) == set(gemm_ops.AUTOTUNE_CANDIDATES +
                                                                gemm_ops.SMALL_PRODUCT_CANDIDATES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernel_backends_dense_runs_forward_and_both_backward_products(rng, kernel_backend, dtype):
    from cnn_gpu.backend.kernel_backend import KernelBackend
    from cnn_gpu.cuda.kernel import backend_xp

    backend = KernelBackend(backend_xp(kernel_backend))
    on = lambda x: on_backend(x, kernel_backend)  # noqa: E731
    x, w = random_array(rng, (13, 37), dtype), random_array(rng, (37, 10), dtype)
    b, dy = random_array(rng, (10,), dtype), random_array(rng, (13, 10), dtype)
    y = backend.dense_forward(on(x), on(w), on(b))
    dx, dw, db = backend.dense_backward(on(x), on(w), on(dy))
    assert {to_host(v).dtype for v in (y, dx, dw, db)} == {np.dtype(dtype)}
    assert_close(y, gemm_reference(x, w, bias=b), what="y")
    assert_close(dx, gemm_reference(dy, w, trans_b=True), what="dx")
    assert_close(dw, gemm_reference(x, dy, trans_a=True), what="dw")
    assert_close(db, dy.astype(np.float64).sum(axis=0), what="db")
    assert backend.dense_backward(on(x), on(w), on(dy), need_dx=False)[0] is None
    assert backend.dense_backward(on(x), on(w), on(dy), need_db=False)[2] is None


def wrong_device_array(backend):
    """A matrix the kernels of ``backend`` cannot take: host memory for cuda, a list for the emulator."""
    return np.zeros((3, 4), np.float32) if backend == "cuda" else [[0.0] * 4] * 3


# Each array is checked once, by the kernels' own Array checks under gemm's name; alpha and beta by
# their Scalar checks.
@pytest.mark.parametrize(
    "case,message",
    [
        ("float64 a", r"gemm: argument 'a' must have dtype float32, got float64"),
        ("float64 b", r"gemm: argument 'b' must have dtype float32"),
        ("float64 c", r"gemm: argument 'c' must have dtype float32"),
        ("float64 bias", r"gemm: argument 'bias' must have dtype float32"),
        ("float64 out", r"gemm: argument 'out' must have dtype float32"),
        ("a not contiguous", r"gemm: argument 'a' must be C-contiguous"),
        ("out not contiguous", r"gemm: argument 'out' must be C-contiguous"),
        ("a 1-D", r"gemm: argument 'a' must be 2-D, got shape \(4,\)"),
        ("bias 2-D", r"gemm: argument 'bias' must be 1-D"),
        ("wrong device", r"gemm: argument 'a' must be a (numpy|cupy)\.ndarray on the '(emulate|cuda)' backend"),
        ("not chained", "inner dimensions differ"),
        ("bias shape", r"bias must have shape \(5,\)"),
        ("c shape", r"c must have shape \(3, 5\)"),
        ("out shape", r"out must have shape \(3, 5\)"),
        ("beta without c", "beta != 0 needs c"),
        ("alpha not a number", r"gemm: argument 'alpha' \(float32\) must be a number, got str"),
        ("beta overflows", r"gemm: argument 'beta' \(float32\) = 1e\+39 overflows float32"),
        ("both transposed", "trans_a and trans_b together"),
        ("out overlaps a", "out must not overlap a"),
        ("out overlaps b", "out must not overlap b"),
        ("out overlaps bias", "out must not overlap bias"),
        ("unknown variant", "variant must name a GEMM variant"),
        ("split_k for a rung that does not split", "split_k cuts K for a split-K variant, which variant= must name"),
        ("split_k without a variant", r"split_k cuts K for a split-K variant.*got variant=None"),
        ("split_k of no slices", "split_k must be a number of slices of K, at least 1, got 0"),
        ("split_k not a count", "split_k must be a number of slices of K, at least 1, got 2.0"),
    ],
)
def test_gemm_rejects_bad_arguments(kernel_backend, case, message):
    on = lambda x: on_backend(x, kernel_backend)  # noqa: E731
    a, b = on(np.ones((3, 4), np.float32)), on(np.ones((4, 5), np.float32))
    shared, square = on(np.ones(20, np.float32)), on(np.ones((3, 5), np.float32))  # for out to overlap
    kwargs = {
        "float64 a": dict(a=on(np.ones((3, 4)))),
        "float64 b": dict(b=on(np.ones((4, 5)))),
        "float64 c": dict(c=on(np.ones((3, 5))), beta=1.0),
        "float64 bias": dict(bias=on(np.ones(5))),
        "float64 out": dict(out=on(np.ones((3, 5)))),
        "a not contiguous": dict(a=on(np.ones((4, 3), np.float32)).T),
        "out not contiguous": dict(out=on(np.ones((5, 3), np.float32)).T),
        "a 1-D": dict(a=on(np.ones(4, np.float32))),
        "bias 2-D": dict(bias=on(np.ones((1, 5), np.float32))),
        "wrong device": dict(a=wrong_device_array(kernel_backend)),
        "not chained": dict(b=on(np.ones((5, 5), np.float32))),
        "bias shape": dict(bias=on(np.ones(4, np.float32))),
        "c shape": dict(c=on(np.ones((5, 3), np.float32)), beta=1.0),
        "out shape": dict(out=on(np.ones((5, 3), np.float32))),
        "beta without c": dict(beta=0.5),
        "alpha not a number": dict(alpha="2"),
        "beta overflows": dict(beta=1e39, c=on(np.ones((3, 5), np.float32))),
        "both transposed": dict(a=on(np.ones((4, 3), np.float32)), b=on(np.ones((5, 4), np.float32)),
                                trans_a=True, trans_b=True),
        "out overlaps a": dict(a=square, b=on(np.ones((5, 5), np.float32)), out=square),
        "out overlaps b": dict(out=b[:3]),
        "out overlaps bias": dict(out=shared[:15].reshape(3, 5), bias=shared[10:15]),
        "unknown variant": dict(variant="gemm_fastest"),
        "split_k for a rung that does not split": dict(variant="gemm_smem_tiled", split_k=2),
        "split_k without a variant": dict(split_k=2),
        "split_k of no slices": dict(variant="gemm_split_k", split_k=0),
        "split_k not a count": dict(variant="gemm_split_k", split_k=2.0),
    }[case]
    operands = {"a": kwargs.pop("a", a), "b": kwargs.pop("b", b)}
    with pytest.raises((TypeError, ValueError), match=message):
        gemm(operands["a"], operands["b"], backend=kernel_backend, **kwargs)


# --- the host path: each argument checked once per call, the rest once per problem -----------------
def test_gemm_launches_its_checked_arguments_by_one_plan_per_problem(launches, monkeypatch):
    monkeypatch.setattr(gemm_plans, "_PLANS", {})
    a, b, bias = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32), np.ones(5, np.float32)
    out = gemm(a, b, bias=bias, relu=True, alpha=2, variant="gemm_smem_tiled", backend="emulate")
    (name, grid, block, args, shared_mem), = launches
    variant = GEMM_VARIANTS["gemm_smem_tiled"]
    assert (name, grid, block, shared_mem) == (variant.expression(False, False), (*variant.grid(3, 5), 1),
                                               (*variant.threads(), 1), 0)
    assert all(x is y for x, y in zip(args, (a, b, out, bias)))
    assert [type(v) for v in args[4:]] == [np.int32] * 3 + [np.float32] * 2 + [np.int32]
    assert args[4:] == (3, 5, 4, 2.0, 0.0, gemm_variants.EPILOGUE_BIAS | gemm_variants.EPILOGUE_RELU)
    plans = dict(gemm_plans._PLANS)
    gemm(a, b, bias=bias, relu=True, variant="gemm_smem_tiled", backend="emulate")
    assert gemm_plans._PLANS == plans and launches[1][:3] == launches[0][:3]
    gemm(a, b, variant="gemm_smem_tiled", backend="emulate")
    assert len(gemm_plans._PLANS) == 2 and launches[2][3][9] == 0, "another epilogue needs a plan of its own"


@pytest.mark.parametrize("variant", ["gemm_smem_tiled", "gemm_split_k"])
def test_a_plan_names_a_size_beyond_int32(variant):
    with pytest.raises(KernelArgumentError, match=r"argument 'K' \(int32\) = 2147483648 is outside"):
        gemm_plans.plan_for(gemm_variants.GEMM_KERNELS[variant, False, False], GEMM_VARIANTS[variant], False, False,
                       1, 1, 2**31, 0, "emulate", 0)


CUDA_OPERANDS = {"a": (3, 4), "b": (4, 5), "c": (3, 5), "bias": (5,), "out": (3, 5)}


@pytest.mark.parametrize("operand", list(CUDA_OPERANDS))
def test_gemm_on_the_cuda_backend_asks_for_the_device_once_and_names_an_array_elsewhere(fake_cupy, launches,
                                                                                      operand):
    arrays = {name: fake_cupy.asarray(np.ones(shape, np.float32)) for name, shape in CUDA_OPERANDS.items()}
    gemm(**arrays, beta=1.0, variant="gemm_smem_tiled", backend="cuda")
    assert fake_cupy.asked == 1 and len(launches) == 1
    arrays[operand] = fake_cupy.asarray(arrays[operand], gpu=1)
    with pytest.raises(KernelArgumentError, match=f"gemm: argument '{operand}' is on GPU 1, but the current device "
                                                  "is GPU 0"):
        gemm(**arrays, beta=1.0, variant="gemm_smem_tiled", backend="cuda")
    assert len(launches) == 1


def test_gemm_on_the_cuda_backend_fills_out_and_the_bias_slot_itself(fake_cupy, launches):
    a, b = fake_cupy.asarray(np.ones((3, 4), np.float32)), fake_cupy.asarray(np.ones((4, 5), np.float32))
    out = gemm(a, b, variant="gemm_smem_tiled", backend="cuda")
    (_, _, _, args, _), = launches
    assert args[2] is out and isinstance(out, fake_cupy.ndarray) and out.shape == (3, 5)
    assert isinstance(args[3], fake_cupy.ndarray) and args[3].shape == (1,) and args[3].dtype == np.float32
    with pytest.raises(KernelArgumentError, match="'a' must be a cupy.ndarray on the 'cuda' backend, got numpy"):
        gemm(np.ones((3, 4), np.float32), b, variant="gemm_smem_tiled", backend="cuda")
    assert fake_cupy.asked == 1, "the device was asked before a numpy array was refused"


# --- split-K: the plan, and the kernels on shapes that split -----------------------------------------
def sm_count(backend):
    return gemm_plans.device_sm_count(backend, current_device(backend))


@pytest.mark.parametrize("name", gemm_plans.SPLIT_K_POLICIES)
@pytest.mark.parametrize("sms", [1, gemm_plans.EMULATED_SM_COUNT, 132])
def test_split_k_plan_cuts_k_into_whole_k_tiles_and_fills_the_gpu(rng, sms, name):
    policy, (bm, bn, bk) = gemm_plans.SPLIT_K_POLICIES[name], gemm_plans.split_k_block(name)
    shapes = [(32, 64, 5408), (512, 64, 5408), (5408, 64, 32), (1, 1, 1), (4096, 4096, 4096), (64, 64, 0)]
    shapes += [tuple(int(v) for v in rng.integers(1, 3000, size=3)) for _ in range(200)]
    for m, n, k in shapes:
        splits, k_per_split = gemm_plans.split_k_plan(m, n, k, sms, name)
        tiles = -(-m // bm) * -(-n // bn)
        assert splits >= 1 and k_per_split % bk == 0, (m, n, k)
        assert (splits - 1) * k_per_split < max(k, 1) <= splits * k_per_split, f"{(m, n, k)}: an empty slice"
        if splits > 1:
            assert k_per_split >= policy.min_k_tiles * bk, (m, n, k)
            assert tiles * splits <= policy.blocks_per_sm * sms, f"{(m, n, k)}: more blocks than asked for"
            assert splits <= (policy.max_splits or splits), f"{(m, n, k)}: more slices than the policy's most"
        if tiles * 2 <= policy.blocks_per_sm * sms and k >= 2 * policy.min_k_tiles * bk:
            assert splits > 1, f"{(m, n, k)}: room for more blocks and K to cut, but one slice"
    assert gemm_plans.split_k_plan(4096, 4096, 4096, sms, name) == (1, 4096)


def test_the_fine_split_k_policy_cuts_the_seed_models_dense_forward_into_shorter_slices():
    coarse, fine = (gemm_plans.split_k_plan(32, 64, 5408, 132, name) for name in ("gemm_split_k", "gemm_split_k_fine"))
    assert coarse == (68, 80) and fine == (338, 16)


# Shapes that split on the emulator's and on any GPU's SM count, each with K ending inside its last
# slice and inside a K-tile: N = 9 takes the reduce's scalar epilogue (and padded workspace rows),
# N = 64 its float4 one.
SPLITTING_SHAPES = [((37, 70, 300), (False, False)), ((5, 9, 1004), (False, True)), ((20, 64, 700), (True, False))]


@pytest.mark.parametrize("variant", gemm_plans.SPLIT_K_POLICIES)
@pytest.mark.parametrize("epilogue", [True, False], ids=["epilogue", "beta0"])
@pytest.mark.parametrize("shape,transposes", SPLITTING_SHAPES, ids=["AB", "ABt", "AtB"])
def test_split_k_on_shapes_that_split(rng, kernel_backend, shape, transposes, epilogue, variant):
    m, n, k = shape
    splits, k_per_split = gemm_plans.split_k_plan(m, n, k, sm_count(kernel_backend), variant)
    assert splits > 1 and k % k_per_split != 0 and k % gemm_plans.split_k_block(variant)[2] != 0
    check_variant(rng, kernel_backend, variant, m, n, k, *transposes, epilogue)


def test_split_k_reduce_takes_the_scalar_epilogue_into_a_misaligned_output(rng, kernel_backend):
    # N = 64 would take 16-byte stores, but out starts 4 bytes past a 16-byte boundary (on a GPU a
    # misaligned float4 store faults): the reduce must store element by element, and read C so.
    m, n, k = 20, 64, 700
    on = lambda x: on_backend(x, kernel_backend)  # noqa: E731
    a, b, c = random_array(rng, (m, k)), random_array(rng, (k, n)), random_array(rng, (m, n))
    out = on(np.full(m * n + 1, np.nan, np.float32))[1:].reshape(m, n)
    gemm(on(a), on(b), beta=0.5, c=on(c), variant="gemm_split_k", out=out, backend=kernel_backend)
    assert gemm_plans.split_k_plan(m, n, k, sm_count(kernel_backend))[0] > 1
    assert_close(out, gemm_reference(a, b, beta=0.5, c=c), tol=tolerance("gemm_split_k", k), what="misaligned out")


@pytest.mark.parametrize("variant", ["gemm_warptiled_double_buffered", "gemm_warptiled_small_tiles",
                                     "gemm_warptiled_medium_tiles", "gemm_warptiled_wide_tiles",
                                     "gemm_warptiled_small_tiles_bk8", "gemm_warptiled_wide_tiles_bk8",
                                     "gemm_split_k_warptiled"])
@pytest.mark.parametrize("n", [64, 70])
def test_rung_7s_tile_stores_a_float_at_a_time_where_16_bytes_do_not_fit(rng, kernel_backend, variant, n):
    # out starts 4 bytes past a 16-byte boundary (on a GPU a misaligned float4 store faults), or N is
    # no multiple of 4: every run of 4 outputs must go out element by element, and read C so. K = 20
    # stays one slice for split-K, which then stores through the same epilogue.
    m, k = 37, 20
    on = lambda x: on_backend(x, kernel_backend)  # noqa: E731
    a, b, c = random_array(rng, (m, k)), random_array(rng, (n, k)), random_array(rng, (m, n))
    out = on(np.full(m * n + 1, np.nan, np.float32))[1:].reshape(m, n)
    gemm(on(a), on(b), trans_b=True, beta=0.5, c=on(c), variant=variant, out=out, backend=kernel_backend)
    assert_close(out, gemm_reference(a, b, False, True, beta=0.5, c=c), tol=tolerance(variant, k),
                 what=f"{variant} into a misaligned out")


def test_every_split_k_variant_has_a_policy_and_its_kernels():
    assert set(gemm_plans.SPLIT_K_POLICIES) == {name for name, v in GEMM_VARIANTS.items() if v.split_k}
    assert all(GEMM_VARIANTS[name].split_k for name, v in GEMM_VARIANTS.items() if v.last_slice_reduces)
    for name in gemm_plans.SPLIT_K_POLICIES:
        assert all((name, *transposes) in gemm_variants.GEMM_KERNELS for transposes in TRANSPOSES)
        assert all(gemm_variants.GEMM_KERNELS[(name, *transposes)].name == GEMM_VARIANTS[name].expression(*transposes)
                   for transposes in TRANSPOSES)


def test_split_k_is_deterministic_and_keeps_one_workspace_per_size(rng, kernel_backend):
    m, n, k = 37, 70, 300
    on = lambda x: on_backend(x, kernel_backend)  # noqa: E731
    a, b = on(random_array(rng, (m, k))), on(random_array(rng, (k, n)))
    outs = [on(poisoned((m, n))) for _ in range(3)]
    gemm(a, b, variant="gemm_split_k", out=outs[0], backend=kernel_backend)
    workspaces = dict(gemm_plans._WORKSPACES)
    for out in outs[1:]:
        gemm(a, b, variant="gemm_split_k", out=out, backend=kernel_backend)
    assert gemm_plans._WORKSPACES == workspaces, "a workspace was allocated again for the same size"
    assert all(np.array_equal(to_host(out), to_host(outs[0])) for out in outs[1:]), "the sum depends on the run"
    assert_close(outs[0], gemm_reference(to_host(a), to_host(b)), tol=tolerance("gemm_split_k", k))


@pytest.mark.parametrize("shape,transposes", SPLITTING_SHAPES, ids=["AB", "ABt", "AtB"])
@pytest.mark.parametrize("variant", ["gemm_split_k_last_slice_reduces",  # in the id: benchmarks/unproven.py
                                     "gemm_split_k_last_slice_reduces_bk8",
                                     "gemm_split_k_last_slice_reduces_8_warps", "gemm_split_k_3xtf32",
                                     "gemm_split_k_3xtf32_8_warps"])
def test_the_last_slice_to_finish_sums_this_launchs_partials_and_leaves_its_counter_at_zero(
        rng, kernel_backend, shape, transposes, variant):
    # Rung 10c sums a tile's partials in the launch that wrote them, by whichever block counts last
    # (checked emulation runs the blocks in order, reversed and permuted: a different one each time).
    # Before the second call the workspace holds NaN, so a sum that read a slice before it was
    # written comes out NaN; both calls must leave every tile's counter at zero for the next launch.
    m, n, k = shape
    check_variant(rng, kernel_backend, variant, m, n, k, *transposes, epilogue=True)
    plan = next(p for key, p in gemm_plans._PLANS.items()
                if key[1] == variant and key[2:5] == (m, n, k) and key[6] == kernel_backend)
    assert plan.reduce is None and plan.workspace is not None and not to_host(plan.counters[0]).any()
    plan.workspace[...] = np.nan
    check_variant(rng, kernel_backend, variant, m, n, k, *transposes, epilogue=True)
    assert not to_host(plan.counters[0]).any(), "a tile's counter was left counting"


def test_cut_k_cuts_whole_k_tiles_none_empty_and_no_more_slices_than_asked(rng):
    cases = [(512, 16, 3), (512, 16, 6), (7 * 16, 16, 5), (0, 16, 4), (1, 8, 1), (300, 16, 1000)]
    cases += [(int(rng.integers(0, 6000)), int(rng.choice([8, 16, 32])), int(rng.integers(1, 20))) for _ in range(300)]
    for k, bk, splits in cases:
        slices, k_per_split = gemm_plans.cut_k(k, bk, splits)
        assert 1 <= slices <= splits and k_per_split % bk == 0, (k, bk, splits)
        assert (slices - 1) * k_per_split < max(k, 1) <= slices * k_per_split, f"{(k, bk, splits)}: an empty slice"
    assert gemm_plans.cut_k(7 * 16, 16, 5) == (4, 32) and gemm_plans.cut_k(512, 16, 6) == (6, 96)


def test_the_autotuner_times_each_last_slice_rung_at_more_counts_of_slices(monkeypatch):
    stub_the_gpu(monkeypatch)
    # Dense 5408 -> 64's weight gradient at batch 512 on 132 SMs: 85 tiles of 64 x 64, their policy's 3
    # slices at two blocks an SM, then 4 and 6 at three and four.
    choices = gemm_ops.autotune_choices(5408, 64, 512, "cuda", 0)
    for name in gemm_ops.autotune_candidates(5408, 64, 512, "cuda"):
        mine = {label: choice for label, choice in choices.items() if choice[0] == name}
        if GEMM_VARIANTS[name].last_slice_reduces:
            assert gemm_plans.split_k_plan(5408, 64, 512, 132, name)[0] == 3
            assert mine == {name: (name, None), f"{name} split_k=4": (name, 4), f"{name} split_k=6": (name, 6)}
        else:
            assert mine == {name: (name, None)}
    # Where the tiles alone fill the GPU (or K is short), the policy's count alone.
    for m, n, k in [(4096, 4096, 4096), (512, 5408, 64)]:
        assert gemm_ops.autotune_choices(m, n, k, "cuda", 0) == {
            name: (name, None) for name in gemm_ops.autotune_candidates(m, n, k, "cuda")}


def test_the_autotuners_choice_of_slices_is_checked_and_returned_with_its_rung(monkeypatch):
    stub_the_gpu(monkeypatch)
    monkeypatch.delenv(gemm_ops.VARIANT_ENV, raising=False)
    checked = []
    monkeypatch.setattr(gemm_ops, "result_check", lambda *args: lambda name, split_k=None: checked.append(
        (name, split_k)))
    chosen = "gemm_split_k_3xtf32 split_k=4"
    monkeypatch.setattr(gemm_ops.autotune, "choose", lambda op, key, candidates, check: (
        chosen in candidates and check(chosen)) or chosen)
    gemm_ops.autotune.forget()
    z = np.zeros((1, 1), np.float32)
    assert gemm_ops.choose_variant(None, "cuda", 0, z, z, z, True, False, 5408, 64, 512) == ("gemm_split_k_3xtf32", 4)
    assert checked == [("gemm_split_k_3xtf32", 4)]
    gemm_ops.autotune.forget()


@pytest.mark.parametrize("variant", ["gemm_split_k", "gemm_split_k_last_slice_reduces", "gemm_split_k_3xtf32"])
def test_a_split_k_rung_runs_in_the_slices_asked_for(rng, kernel_backend, variant):
    # 37 x 70 x 300: 19 K-tiles of 16, cut into 2, 5 (4 + 4 + 4 + 4 + 3), and 19 of one K-tile each; 1
    # stores through the epilogue alone, and more slices than K-tiles make one a K-tile.
    m, n, k = 37, 70, 300
    for split_k, slices in [(1, 1), (2, 2), (5, 5), (100, 19)]:
        check_variant(rng, kernel_backend, variant, m, n, k, False, False, epilogue=True, split_k=split_k)
        plan = next(p for key, p in gemm_plans._PLANS.items()
                    if key[1] == variant and key[2:5] == (m, n, k) and key[6] == kernel_backend and key[8] == split_k)
        assert plan.slices_geometry[0][2] == slices and (plan.workspace is None) == (slices == 1)


@pytest.mark.gpu
@pytest.mark.parametrize("variant", [name for name, v in GEMM_VARIANTS.items() if v.last_slice_reduces])
def test_the_last_slice_rungs_at_the_autotuners_other_counts_of_slices_on_the_gpu(rng, variant):
    # Dense 5408 -> 64's weight gradient at batch 512, x^T.dy: 4 and 6 slices on an H100's or H200's 132 SMs.
    m, n, k = 5408, 64, 512
    counts = gemm_plans.split_k_alternatives(variant, m, n, k, sm_count("cuda"))
    if not counts:
        pytest.skip(f"the autotuner times {variant} at its policy's count alone on {sm_count('cuda')} SMs")
    for split_k in counts:
        check_variant(rng, "cuda", variant, m, n, k, True, False, epilogue=True, split_k=split_k)


@pytest.mark.gpu
@pytest.mark.parametrize("variant", [*gemm_plans.SPLIT_K_POLICIES, "gemm_split_k_cluster_reduces",
                                     "gemm_split_k_cluster_reduces_8_warps"])
def test_split_k_on_the_seed_models_dense_products_on_the_gpu(rng, variant):
    # Dense 5408 -> 64 at batch 32 and 512: forward x.W, backward to data dy.W^T, to weights x^T.dy.
    for (m, n, k), (trans_a, trans_b) in [((32, 64, 5408), (False, False)), ((512, 64, 5408), (False, False)),
                                          ((512, 5408, 64), (False, True)), ((5408, 64, 512), (True, False))]:
        check_variant(rng, "cuda", variant, m, n, k, trans_a, trans_b, epilogue=True)


@pytest.mark.parametrize("variant", ["gemm_split_k_cluster_reduces", "gemm_split_k_cluster_reduces_8_warps"])
def test_rung_10d_launches_one_cluster_per_tile_of_as_many_slices_as_its_kernel_sums(rng, variant):
    # The kernel fixes its cluster (__cluster_dims__) and sums that many slices; the variant's grid puts
    # cluster_slices blocks along z: the two must agree, or slices would be summed twice or never.
    from cnn_gpu.cuda.kernel import module_for

    v = GEMM_VARIANTS[variant]
    m, n, k = 70, 65, 4 * v.tiling.block_k + 5  # 2 x 2 tiles; 5 K-tiles, the last slice 5 long
    check_variant(rng, "emulate", variant, m, n, k, True, False, epilogue=True)
    kernel = gemm_variants.GEMM_KERNELS[variant, True, False]
    assert module_for(kernel, "emulate").get_function(kernel.name).cluster == (1, 1, v.cluster_slices)
    assert v.grid(m, n) == (2, 2, v.cluster_slices)


def test_the_multicast_rung_runs_its_clusters_in_the_emulator(rng):
    # 2 x 3 tiles of 128 x 256: the grid rounds 3 columns of blocks up to 4, two clusters a row, the
    # last block past N (it copies its half of A for the other and stores nothing); K-tiles enough
    # that every stage is refilled, each refill waiting for both blocks' consumers.
    variant = GEMM_VARIANTS["gemm_tf32_wgmma_multicast"]
    m, n, k = variant.tiling.block_m + 60, 2 * variant.tiling.block_n + 88, 32 * (variant.tiling.stages + 2) + 4
    for trans_a, trans_b in TRANSPOSES:
        check_variant(rng, "emulate", variant.name, m, n, k, trans_a, trans_b, epilogue=True)
    plan = next(p for key, p in gemm_plans._PLANS.items() if key[1] == variant.name and key[2:4] == (m, n))
    assert plan.geometry[0] == (4, 2, 1)


@pytest.mark.parametrize("name", ["gemm_tf32_wgmma_b_in_registers"])  # in the id: benchmarks/unproven.py
def test_rung_9e_refills_its_stages_in_every_layout_of_b(rng, kernel_backend, name):
    # 2 x 3 blocks, the last row and column partial; 8 K-tiles through 4 stages, each
    # refilled once, the last K-tile partial. B as it is for A.B and A^T.B (boxes of 32 columns, the
    # last block's third and fourth wholly past N), transposed for A.B^T (k-contiguous rows).
    # Then one and two K-tiles: the pipeline's first and last K-tile at once, or back to back.
    variant = GEMM_VARIANTS[name]
    m, n = variant.tiling.block_m + 60, 2 * variant.tiling.block_n + 40
    for k in (32 * 7 + 4, 32, 64):
        for trans_a, trans_b in TRANSPOSES:
            check_variant(rng, kernel_backend, variant.name, m, n, k, trans_a, trans_b, epilogue=True)


@pytest.mark.parametrize("variant", ["gemm_tf32_wgmma_persistent", "gemm_tf32_wgmma_multicast_persistent"])
def test_the_persistent_rungs_take_several_output_tiles_per_block(rng, kernel_backend, monkeypatch, variant):
    # 3 x 3 tiles of 128 x 256 on 4 SMs (the emulator's count; a GPU's is patched down to it, since
    # no other test's shape has more tiles than a Hopper GPU has SMs, so only here does a block
    # there loop over tiles). 9c: blocks take 3, 2, 2 and 2 tiles; 9d: 2 clusters take 3 pairs of
    # tiles each (3 x 2 pairs, the last pair's second block past N). Each producer runs on into its
    # next tile's K-tiles (4 each, through 4 stages) while its consumers store the one before.
    monkeypatch.setattr(gemm_plans, "device_sm_count", lambda backend, device: gemm_plans.EMULATED_SM_COUNT)
    monkeypatch.setattr(gemm_plans, "_PLANS", {})
    variant = GEMM_VARIANTS[variant]
    m, n = 2 * variant.tiling.block_m + 44, 2 * variant.tiling.block_n + 88
    for trans_a, trans_b in TRANSPOSES:
        check_variant(rng, kernel_backend, variant.name, m, n, 100, trans_a, trans_b, epilogue=True)
    plan = next(p for key, p in gemm_plans._PLANS.items() if key[1] == variant.name and key[2:4] == (m, n))
    assert plan.geometry[0] == (gemm_plans.EMULATED_SM_COUNT, 1, 1)


TMA_RUNGS = [name for name, variant in GEMM_VARIANTS.items() if variant.tma]


@pytest.mark.parametrize("variant", TMA_RUNGS)
def test_the_tma_rungs_copy_by_tensor_maps_where_they_fit_and_hand_the_rest_to_rung_9(rng, monkeypatch, variant):
    from cnn_gpu.cuda import tensor_map

    described, maps = [], tensor_map.maps
    monkeypatch.setattr(tensor_map, "maps", lambda backend, operands: described.append(
        [tuple(x.shape) for x, _ in operands]) or maps(backend, operands))
    # A.B: B (100 x 264) is transposed into a k-contiguous 264 x 100 first (9e takes it as it is),
    # and the 4 K-tiles pass through every stage; K = 33 has rows a map cannot describe, and K = 0 an
    # empty dimension the driver refuses, so those products run on rung 9's copies.
    check_variant(rng, "emulate", variant, 136, 264, 100, False, False, epilogue=True)
    check_variant(rng, "emulate", variant, 36, 40, 33, True, False, epilogue=True)
    check_variant(rng, "emulate", variant, 36, 40, 0, False, True, epilogue=True)
    b_tiles = (100, 264) if GEMM_VARIANTS[variant].b_in_registers else (264, 100)
    assert described == [[(136, 100), b_tiles]]


@pytest.mark.gpu
@pytest.mark.parametrize("variant", TMA_RUNGS)
def test_the_tma_rungs_replay_in_a_cuda_graph_once_their_operands_were_seen(rng, variant):
    # The capture may not copy from the host: the maps made at the first call must be reused (A.B^T,
    # so that no transpose makes a new operand in between).
    import cupy

    m, n, k = 300, 200, 132
    a, b = random_array(rng, (m, k)), random_array(rng, (n, k))
    out = on_backend(poisoned((m, n)), "cuda")
    operands = on_backend(a, "cuda"), on_backend(b, "cuda")
    run = lambda: gemm(*operands, trans_b=True, variant=variant, out=out, backend="cuda")  # noqa: E731
    run()
    out.fill(np.nan)
    cupy.cuda.Device().synchronize()
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        try:
            run()
        finally:
            graph = stream.end_capture()
        graph.launch()
        stream.synchronize()
    assert_close(to_host(out), gemm_reference(a, b, False, True), 3e-3)
