import itertools

import numpy as np
import pytest

import loops
from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops.gemm import dense_backward_data, dense_backward_weights, dense_forward, gemm_reference
from helpers import assert_close, random_array

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
