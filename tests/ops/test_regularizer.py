import numpy as np
import pytest

from cnn_gpu.gradcheck import check_gradient
from cnn_gpu.ops.regularizer import l2_penalty
from helpers import TOLERANCE, assert_close, random_array


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l2_penalty_is_factor_times_the_sum_of_squares(rng, dtype):
    w = random_array(rng, (5, 3, 2), dtype)
    expected = 0.03 * sum(float(v) ** 2 for v in w.reshape(-1))
    penalty = l2_penalty(w, 0.03)
    assert np.ndim(penalty) == 0
    assert_close(np.float64(penalty), np.float64(expected), tol=TOLERANCE[np.dtype(dtype)])


def test_l2_penalty_adds_its_gradient_into_grad_in_place(rng):
    w, grad = random_array(rng, (4, 6), np.float64), random_array(rng, (4, 6), np.float64)
    before = grad.copy()
    l2_penalty(w, 0.05, grad)
    check_gradient(lambda v: l2_penalty(v, 0.05), w, grad - before, "l2 penalty")
