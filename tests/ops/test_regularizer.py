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


def test_l1_penalty_and_its_gradient(rng):
    from cnn_gpu.ops.regularizer import l1_penalty

    w = rng.uniform(0.1, 1, (4, 5)) * rng.choice([-1, 1], (4, 5))  # away from the kink at 0
    grad = np.zeros_like(w)
    value = l1_penalty(w, 0.3, grad)
    np.testing.assert_allclose(value, 0.3 * np.abs(w).sum(), rtol=1e-14)
    check_gradient(lambda v: float(l1_penalty(v, 0.3)), w, grad, "l1")


def test_the_keras_regularizers_sum_their_penalties_and_round_trip():
    from cnn_gpu import regularizers

    w = np.array([[0.5, -2.0], [1.5, 0.0]])
    grad = np.zeros_like(w)
    both = regularizers.L1L2(l1=0.1, l2=0.2)
    assert both(w) == pytest.approx(0.1 * 4.0 + 0.2 * 6.5)
    both.penalty(w, grad)
    np.testing.assert_allclose(grad, 0.1 * np.sign(w) + 0.4 * w, rtol=1e-15)
    assert regularizers.L1L2()(w) == 0 and regularizers.get("l1").l1 == 0.01 and regularizers.get("l1_l2").l2 == 0
    for regularizer in (regularizers.L1(0.3), both):
        again = regularizers.get({"class_name": type(regularizer).__name__, "config": regularizer.get_config()})
        assert type(again) is type(regularizer) and again.get_config() == regularizer.get_config()
    with pytest.raises(ValueError, match="L1L2: the factor l1 must be a number >= 0, got -1"):
        regularizers.L1L2(l1=-1)
