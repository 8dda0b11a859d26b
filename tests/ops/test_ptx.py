"""Each helper of kernels/ptx.cuh against a NumPy model of what the PTX ISA documents.

The probes of kernels/ptx_probe.cu run one helper each. Under the emulator that checks the helper's
emulated twin; on a GPU (``gpu`` marker) the same test checks the PTX instruction, so twin and
hardware are held to one model.
"""

import numpy as np
import pytest

from cnn_gpu.cuda import tensor_map
from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, runs_here
from helpers import on_backend, random_array, to_host

F32_TO_TF32 = Kernel("ptx_probe.cu", "probe_f32_to_tf32",
                     [Array("x", "float32"), Array("bits", "uint32"), Scalar("n", "int32")])
MMA = Kernel("ptx_probe.cu", "probe_mma_tf32_m16n8k8",
             [Array("a_frags", "uint32"), Array("b_frags", "uint32"), Array("acc_frags", "float32"),
              Array("d_frags", "float32")])
WGMMA = Kernel("ptx_probe_hopper.cu", "probe_wgmma_tf32_m64n128k8",
               [Array("a", "float32"), Array("b_t", "float32"), Array("acc_frags", "float32"),
                Array("d_frags", "float32"), Scalar("step", "int32")])
# By N: the register-sourced probe's instances, one per instruction shape.
WGMMA_A_IN_REGISTERS = {n: Kernel("ptx_probe_hopper.cu", f"probe_wgmma_tf32_a_in_registers<{n}>",
                                  [Array("a_frags", "uint32"), Array("b_t", "float32"), Array("acc_frags", "float32"),
                                   Array("d_frags", "float32"), Scalar("step", "int32")])
                        for n in (128, 192, 256)}
TMA_LOAD = Kernel("ptx_probe_hopper.cu", "probe_tma_load_2d",
                  [Array("map", "uint64", ndim=1), Array("out", "float32"), Scalar("x", "int32"), Scalar("y", "int32"),
                   Scalar("box_rows", "int32")])
MAX_KEEPING_NAN = Kernel("ptx_probe.cu", "probe_max_keeping_nan",
                         [Array("a", "float32"), Array("b", "float32"), Array("out", "float32"), Scalar("n", "int32")])
CP_ASYNC = Kernel("ptx_probe.cu", "probe_cp_async",
                  [Array("first", "float32"), Array("second", "float32"), Array("src_bytes", "int32"),
                   Array("out", "float32"), Scalar("width", "int32")])


# --- max.ftz.NaN.f32 --------------------------------------------------------------------------------
def test_max_keeping_nan_is_the_larger_or_nan(rng, kernel_backend):
    """The ISA's max.NaN: NaN if either operand is NaN, else the larger (fmaxf would return the number).
    Normal numbers, zeros and infinities only: .ftz flushes subnormals on a GPU, which the twin does not
    model (the ReLU epilogue it serves compares with 0, where a flushed subnormal is 0 either way). The
    sign of max(+0, -0) is left open (zeros compare equal here): the ReLU does not depend on it."""
    specials = np.array([np.nan, 1.0, np.nan, -np.inf, 0.0, -2.5, np.inf, np.nan], np.float32)
    others = np.array([0.0, np.nan, np.nan, 0.0, -0.0, 0.0, -1.0, -np.inf], np.float32)
    a = np.concatenate([specials, random_array(rng, (300,), np.float32, -4, 4)])
    b = np.concatenate([others, random_array(rng, (300,), np.float32, -4, 4)])
    out = on_backend(np.full(a.size, 7.0, np.float32), kernel_backend)
    MAX_KEEPING_NAN((-(-a.size // 128),), (128,), (on_backend(a, kernel_backend), on_backend(b, kernel_backend), out,
                                                   a.size), backend=kernel_backend)
    got = to_host(out)
    nan = np.isnan(a) | np.isnan(b)
    assert np.isnan(got[nan]).all() and nan[:3].all()
    assert np.array_equal(got[~nan], np.maximum(a[~nan], b[~nan]))


# --- cvt.rna.tf32.f32 --------------------------------------------------------------------------------
def tf32_round_model(x):
    """x rounded to 11 significant bits, ties away from zero, in float64 arithmetic (normal numbers).

    Independent of the bit trick the twin uses: frexp splits x = m * 2^e with 0.5 <= |m| < 1, and
    m * 2^11 is rounded half away from zero. Past float32's largest value the result is infinite.
    """
    x = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(x)
    scaled = np.abs(m) * 2.0**11
    rounded = np.sign(m) * np.floor(scaled + 0.5) / 2.0**11
    out = np.ldexp(rounded, e)
    out[np.abs(out) > np.finfo(np.float32).max] = np.inf * np.sign(out[np.abs(out) > np.finfo(np.float32).max])
    return out.astype(np.float32)


def run_f32_to_tf32(x, backend):
    bits = on_backend(np.zeros(x.size, np.uint32), backend)
    F32_TO_TF32((-(-x.size // 128),), (128,), (on_backend(x, backend), bits, x.size), backend=backend)
    return to_host(bits)


def test_f32_to_tf32_rounds_to_nearest_with_ties_away_from_zero(rng, kernel_backend):
    one_ulp = 2.0**-10  # TF32's ulp at 1.0
    specials = np.array([1.0, 1 + one_ulp / 2, -(1 + one_ulp / 2), 1 + 3 * one_ulp / 2, 1 + one_ulp / 2 - 2**-23,
                         -(1 + one_ulp / 2 - 2**-23), 2 - one_ulp / 2, 0.0, -0.0, 2.0**-126,
                         float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max)], dtype=np.float32)
    randoms = (rng.standard_normal(1000) * 10.0 ** rng.integers(-30, 30, 1000)).astype(np.float32)
    x = np.concatenate([specials, randoms])
    out = run_f32_to_tf32(x, kernel_backend)
    assert np.all(out & 0x1FFF == 0), "the low 13 bits of a TF32 value must be zero"
    expected = tf32_round_model(x)
    got = out.view(np.float32)
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, f"first mismatches: x={x[mismatch[:5]]} got={got[mismatch[:5]]} want={expected[mismatch[:5]]}"
    # The ties went away from zero, both signs, and the largest float rounded up to infinity.
    assert got[1] == 1 + one_ulp and got[2] == -(1 + one_ulp) and got[3] == 1 + 2 * one_ulp
    assert got[10] == np.inf and got[11] == -np.inf


def test_f32_to_tf32_keeps_infinities(kernel_backend):
    out = run_f32_to_tf32(np.array([np.inf, -np.inf], np.float32), kernel_backend)
    assert list(out.view(np.float32)) == [np.inf, -np.inf]


# --- mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 ------------------------------------------------
def fragments(a, b, c):
    """Per-lane registers of A (16x8), B (8x8), C (16x8) by "Matrix Fragments for mma.m16n8k8" (.tf32).

    groupID g = lane >> 2, threadID_in_group t = lane % 4;
    A: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); B: b0 (t, g), b1 (t+4, g);
    C, D: c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
    """
    lane = np.arange(32)
    g, t = lane >> 2, lane % 4
    a_frags = np.stack([a[g, t], a[g + 8, t], a[g, t + 4], a[g + 8, t + 4]], axis=1)
    b_frags = np.stack([b[t, g], b[t + 4, g]], axis=1)
    c_frags = np.stack([c[g, 2 * t], c[g, 2 * t + 1], c[g + 8, 2 * t], c[g + 8, 2 * t + 1]], axis=1)
    return a_frags, b_frags, c_frags


def from_accumulator_fragments(d_frags):
    """The 16 x 8 matrix D from the lanes' accumulator registers (the inverse of the C layout)."""
    lane = np.arange(32)
    g, t = lane >> 2, lane % 4
    d = np.full((16, 8), np.nan, dtype=np.float32)
    d[g, 2 * t], d[g, 2 * t + 1], d[g + 8, 2 * t], d[g + 8, 2 * t + 1] = d_frags.T
    return d


def run_mma(a, b, c, backend):
    """D = A B + C by one probe launch, A and B given as float32 matrices of any bit pattern."""
    a_frags, b_frags, c_frags = fragments(a.view(np.uint32), b.view(np.uint32), c)
    d_frags = on_backend(np.full((32, 4), np.nan, np.float32), backend)
    MMA((1,), (32,), tuple(on_backend(np.ascontiguousarray(f), backend) for f in (a_frags, b_frags, c_frags))
        + (d_frags,), backend=backend)
    return from_accumulator_fragments(to_host(d_frags))


def test_mma_fragment_layout_matches_the_ptx_isa(rng, kernel_backend):
    # Small integers: every product and sum is exact, so D must equal A B + C bit for bit, and any
    # misplaced element shows.
    a = rng.integers(-8, 9, (16, 8)).astype(np.float32)
    b = rng.integers(-8, 9, (8, 8)).astype(np.float32)
    c = rng.integers(-64, 65, (16, 8)).astype(np.float32)
    np.testing.assert_array_equal(run_mma(a, b, c, kernel_backend), a @ b + c)


def truncate_to_tf32(x):
    return (np.asarray(x, np.float32).view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


def test_mma_reads_only_the_tf32_bits_of_its_operands(rng, kernel_backend):
    # Operands with all 23 mantissa bits set: the result must be that of the operands cut to TF32
    # (low 13 bits ignored), not rounded to TF32; the two models differ by far more than the tolerance.
    a = rng.uniform(-1, 1, (16, 8)).astype(np.float32)
    b = rng.uniform(-1, 1, (8, 8)).astype(np.float32)
    c = rng.uniform(-1, 1, (16, 8)).astype(np.float32)
    truncated = truncate_to_tf32(a).astype(np.float64) @ truncate_to_tf32(b).astype(np.float64) + c
    rounded = tf32_round_model(a).astype(np.float64) @ tf32_round_model(b).astype(np.float64) + c
    d = run_mma(a, b, c, kernel_backend).astype(np.float64)
    tolerance = 1e-6 * np.abs(truncated).max()
    assert np.abs(rounded - truncated).max() > 20 * tolerance
    np.testing.assert_allclose(d, truncated, rtol=0, atol=tolerance)


def round_toward_zero_to_float32(x):
    """float64 values rounded to float32 toward zero (numpy's cast rounds to nearest)."""
    x = np.asarray(x, np.float64)
    nearest = x.astype(np.float32)
    away = np.abs(nearest.astype(np.float64)) > np.abs(x)
    return np.where(away, np.nextafter(nearest, np.float32(0)), nearest)


def test_mma_rounds_its_fp32_result_toward_zero(rng, kernel_backend):
    # The model the twin implements (kernels/ptx.cuh, "Rounding"), fitted to 3xTF32's drift on an
    # H200; on a GPU this test confirms or refutes it. D = C + A B with one nonzero product per
    # element: A's column 0 is ones, B's row 0 holds quarter-ulp multiples d of C's ulp (2^-23 on
    # [1.25, 1.75)), so C + d is exact in float64 and lies strictly between two floats: rounding to
    # nearest and toward zero differ in about half the elements, either sign.
    a = np.zeros((16, 8), np.float32)
    a[:, 0] = 1.0
    b = np.zeros((8, 8), np.float32)
    b[0] = rng.choice([-3, -2, -1, 1, 2, 3], 8) * 2.0**-25
    c = (rng.uniform(1.25, 1.75, (16, 8)) * rng.choice([-1, 1], (16, 8))).astype(np.float32)
    exact = c.astype(np.float64) + b[0].astype(np.float64)
    toward_zero, nearest = round_toward_zero_to_float32(exact), exact.astype(np.float32)
    assert np.mean(toward_zero != nearest) > 0.25
    np.testing.assert_array_equal(run_mma(a, b, c, kernel_backend), toward_zero)


# --- cp.async ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [4, 1])
def test_cp_async_copies_src_bytes_and_zero_fills_the_rest(rng, kernel_backend, width):
    first = rng.uniform(1, 2, 256).astype(np.float32)
    second = rng.uniform(3, 4, 256).astype(np.float32)
    src_bytes = rng.choice([0, 4, 8, 12, 16], 64).astype(np.int32)
    out = on_backend(np.full(512, np.nan, np.float32), kernel_backend)
    CP_ASYNC((1,), (64,), (on_backend(first, kernel_backend), on_backend(second, kernel_backend),
                           on_backend(src_bytes, kernel_backend), out, width), backend=kernel_backend)
    kept = np.arange(4)[None, :] * 4 < src_bytes[:, None]  # (thread, float): copied, else zero
    for half, source in enumerate((first, second)):
        expected = np.where(kept, source.reshape(64, 4), 0.0).reshape(-1)
        np.testing.assert_array_equal(to_host(out)[256 * half: 256 * (half + 1)], expected)


# --- wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 (sm_90a) -------------------------------------
@pytest.fixture
def hopper_backend(kernel_backend):
    """The kernel backend, where wgmma can run: the emulator (its twin) or a Hopper GPU."""
    if not runs_here("ptx_probe_hopper.cu", kernel_backend):
        pytest.skip("wgmma needs a Hopper GPU (sm_90a)")
    return kernel_backend


def wgmma_fragment_rows_cols(n=128):
    """Row and column of D each of thread t's n / 2 accumulators holds, by the PTX ISA's layout of D for
    wgmma .m64nNk8: warp w = t / 32, lane l; d[4j + i] is D[16w + l / 4 + 8 (i / 2)][8j + 2 (l % 4) + i % 2]."""
    t = np.arange(128)[:, None]
    j, i = np.arange(n // 2)[None, :] // 4, np.arange(n // 2)[None, :] % 4
    warp, lane = t // 32, t % 32
    return 16 * warp + lane // 4 + 8 * (i // 2), 8 * j + 2 * (lane % 4) + i % 2


def run_wgmma(a, b_t, c, step, backend):
    """D = A B + C (B given as B^T, 128 x 8) by one probe launch."""
    rows, cols = wgmma_fragment_rows_cols()
    d_frags = on_backend(np.full((128, 64), np.nan, np.float32), backend)
    args = tuple(on_backend(np.ascontiguousarray(x), backend) for x in (a, b_t, c[rows, cols]))
    WGMMA((1,), (128,), args + (d_frags, step), shared_mem=(64 + 128) * 128 + 1024, backend=backend)
    d = np.full((64, 128), np.nan, np.float32)
    d[rows, cols] = to_host(d_frags)
    return d


def wgmma_a_fragment_rows_cols():
    """Row and column of A (64 x 8) each of thread t's 4 registers holds when A comes from registers,
    by the PTX ISA's layout for wgmma .m64nNk8 .tf32: warp w = t / 32, lane l; a[i] is
    A[16w + l / 4 + 8 (i % 2)][l % 4 + 4 (i / 2)] (mma.m16n8k8's A fragment, one per warp)."""
    t, i = np.arange(128)[:, None], np.arange(4)[None, :]
    warp, lane = t // 32, t % 32
    return 16 * warp + lane // 4 + 8 * (i % 2), lane % 4 + 4 * (i // 2)


def run_wgmma_a_in_registers(a, b_t, c, step, backend):
    """D = A B + C (B given as B^T, N x 8) by one launch of the register-sourced probe for N, A placed
    in its fragments."""
    n = b_t.shape[0]
    rows, cols = wgmma_fragment_rows_cols(n)
    a_rows, a_cols = wgmma_a_fragment_rows_cols()
    a_frags = np.ascontiguousarray(a[a_rows, a_cols]).view(np.uint32)
    d_frags = on_backend(np.full((128, n // 2), np.nan, np.float32), backend)
    args = tuple(on_backend(np.ascontiguousarray(x), backend) for x in (a_frags, b_t, c[rows, cols]))
    WGMMA_A_IN_REGISTERS[n]((1,), (128,), args + (d_frags, step), shared_mem=n * 128 + 1024, backend=backend)
    d = np.full((64, n), np.nan, np.float32)
    d[rows, cols] = to_host(d_frags)
    return d


def test_the_wgmma_fragment_layout_covers_d_once():
    rows, cols = wgmma_fragment_rows_cols()
    assert len(set(zip(rows.ravel(), cols.ravel()))) == 64 * 128


@pytest.mark.parametrize("step", range(4))
def test_wgmma_reads_its_swizzled_tiles_at_each_k_step(rng, hopper_backend, step):
    # Small integers, so every product and sum is exact: D must equal A B + C bit for bit, and a
    # misread element (a wrong swizzle, descriptor or k-step) shows, as NaN if it left the step's k.
    a = rng.integers(-8, 9, (64, 8)).astype(np.float32)
    b_t = rng.integers(-8, 9, (128, 8)).astype(np.float32)
    c = rng.integers(-64, 65, (64, 128)).astype(np.float32)
    np.testing.assert_array_equal(run_wgmma(a, b_t, c, step, hopper_backend), a @ b_t.T + c)


def test_the_register_fragment_layout_of_a_covers_a_once():
    rows, cols = wgmma_a_fragment_rows_cols()
    assert len(set(zip(rows.ravel(), cols.ravel()))) == 64 * 8


@pytest.mark.parametrize("n,step", [(128, 0), (192, 3), (256, 1)])
def test_wgmma_takes_a_from_registers_in_the_documented_layout(rng, hopper_backend, n, step):
    # As above, exact: a register placed at the wrong row or k, B read at the wrong k-step, or an
    # accumulator in the wrong operand of the shape's list, shows.
    a = rng.integers(-8, 9, (64, 8)).astype(np.float32)
    b_t = rng.integers(-8, 9, (n, 8)).astype(np.float32)
    c = rng.integers(-64, 65, (64, n)).astype(np.float32)
    np.testing.assert_array_equal(run_wgmma_a_in_registers(a, b_t, c, step, hopper_backend), a @ b_t.T + c)


# The twin's model of wgmma's arithmetic (kernels/ptx.cuh) is mma.sync's, measured on an H200:
# operands cut to their top 19 bits, the sum rounded toward zero. The two tests below ask whether
# wgmma does the same; on a GPU they answer a question rather than gate the kernels, so
# benchmarks/gpu_check.sh leaves the tests named *model* out of the gate for the wgmma rungs (a
# tensor core that aligns and cuts its addends in a narrower window would differ in the last bit).
def test_wgmma_operand_model_reads_only_the_tf32_bits(rng, hopper_backend):
    # As test_mma_reads_only_the_tf32_bits_of_its_operands: full-mantissa operands, the result that
    # of the operands cut to TF32, not rounded to it (the two differ by far more than the tolerance).
    a = rng.uniform(-1, 1, (64, 8)).astype(np.float32)
    b_t = rng.uniform(-1, 1, (128, 8)).astype(np.float32)
    c = rng.uniform(-1, 1, (64, 128)).astype(np.float32)
    truncated = truncate_to_tf32(a).astype(np.float64) @ truncate_to_tf32(b_t).astype(np.float64).T + c
    rounded = tf32_round_model(a).astype(np.float64) @ tf32_round_model(b_t).astype(np.float64).T + c
    d = run_wgmma(a, b_t, c, 1, hopper_backend).astype(np.float64)
    tolerance = 1e-6 * np.abs(truncated).max()
    assert np.abs(rounded - truncated).max() > 20 * tolerance
    np.testing.assert_allclose(d, truncated, rtol=0, atol=tolerance)


def test_wgmma_rounding_model_rounds_its_fp32_result_toward_zero(rng, hopper_backend):
    # As test_mma_rounds_its_fp32_result_toward_zero: one nonzero product per element, a quarter-ulp
    # multiple of C's ulp, so C + d is exact in float64 and lies strictly between two floats.
    a = np.zeros((64, 8), np.float32)
    a[:, 0] = 1.0
    b_t = np.zeros((128, 8), np.float32)
    b_t[:, 0] = rng.choice([-3, -2, -1, 1, 2, 3], 128) * 2.0**-25
    c = (rng.uniform(1.25, 1.75, (64, 128)) * rng.choice([-1, 1], (64, 128))).astype(np.float32)
    exact = c.astype(np.float64) + b_t[:, 0].astype(np.float64)
    toward_zero, nearest = round_toward_zero_to_float32(exact), exact.astype(np.float32)
    assert np.mean(toward_zero != nearest) > 0.25
    np.testing.assert_array_equal(run_wgmma(a, b_t, c, 1, hopper_backend), toward_zero)


# --- cp.async.bulk.tensor (TMA) with an mbarrier (sm_90) ---------------------------------------------
@pytest.mark.parametrize("x,y", [(0, 0), (32, 8), (-8, -3), (40, 50)], ids=["inside", "inside2", "before", "past"])
def test_tma_copies_a_box_and_zero_fills_what_lies_outside(rng, hopper_backend, x, y):
    # A 60 x 72 matrix (rows of 72 floats, a multiple of 4 as a tensor map needs), boxes of 32 x 16.
    matrix = random_array(rng, (60, 72))
    box_rows = 16
    device_matrix = on_backend(matrix, hopper_backend)
    maps = tensor_map.maps(hopper_backend, [(device_matrix, box_rows)])
    out = on_backend(np.full(box_rows * 32, np.nan, np.float32), hopper_backend)
    TMA_LOAD((1,), (128,), (maps, out, x, y, box_rows), shared_mem=box_rows * 128 + 8 + 1024, backend=hopper_backend)
    padded = np.zeros((60 + 2 * box_rows, 72 + 64), np.float32)
    padded[box_rows:box_rows + 60, 32:32 + 72] = matrix
    expected = padded[y + box_rows:y + 2 * box_rows, x + 32:x + 64]
    np.testing.assert_array_equal(to_host(out).reshape(box_rows, 32), expected)


def test_a_tensor_map_describes_only_whole_16_byte_rows_from_an_aligned_start():
    matrix = np.zeros((8, 12), np.float32)
    assert tensor_map.fits(matrix) == (matrix.ctypes.data % 16 == 0)
    assert not tensor_map.fits(np.zeros((8, 13), np.float32))
    words = tensor_map.maps("emulate", [(matrix, 16)])
    assert words.dtype == np.uint64 and words.shape == (tensor_map.MAP_WORDS,)
    assert list(words[:7]) == [tensor_map.EMULATOR_MAGIC, matrix.ctypes.data, 12, 8, 12, 32, 16]


def test_tensor_maps_are_made_once_for_the_same_operands_and_boxes():
    # A map depends on the address, the shape and the box alone: the same operands get the same
    # array back (nothing encoded or copied), anything else a new one.
    a, b = np.zeros((8, 12), np.float32), np.zeros((8, 16), np.float32)
    first = tensor_map.maps("emulate", [(a, 16), (b, 32)])
    assert tensor_map.maps("emulate", [(a, 16), (b, 32)]) is first
    assert not first.flags.writeable
    for other in ([(a, 8), (b, 32)], [(b, 16), (a, 32)], [(a[:4], 16), (b, 32)]):
        assert tensor_map.maps("emulate", other) is not first
