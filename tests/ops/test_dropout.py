import numpy as np
import pytest

from cnn_gpu.ops.dropout import dropout_backward, dropout_forward
from helpers import assert_close, random_array


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_is_zero_or_the_inverse_keep_rate_and_applied(rng, rate, dtype):
    x = random_array(rng, (7, 13, 3), dtype)
    y, mask = dropout_forward(x, rate, np.random.default_rng(int(rng.integers(2**32))))
    assert y.dtype == mask.dtype == dtype and y.shape == x.shape
    scale = dtype(1 / (1 - rate))
    assert np.all((mask == 0) | (mask == scale))
    assert np.array_equal(y, x * mask)
    dy = random_array(rng, x.shape, dtype)
    assert np.array_equal(dropout_backward(dy, mask), dy * mask)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_the_kept_fraction_is_one_minus_rate(rng, rate):
    n = 200_000
    _, mask = dropout_forward(np.ones(n, np.float32), rate, rng)
    kept = np.count_nonzero(mask) / n
    # Binomial: six standard deviations either side never fail by chance in practice.
    assert abs(kept - (1 - rate)) < 6 * np.sqrt(rate * (1 - rate) / n)
    # Inverted dropout keeps the expected activation unchanged.
    assert_close(np.float64(mask.mean()), np.float64(1.0), tol=6 * np.sqrt(rate / (1 - rate) / n))


def test_the_same_seed_gives_the_same_mask_and_another_seed_does_not(rng):
    x = random_array(rng, (64, 65), np.float32)
    seed = int(rng.integers(2**32))
    _, first = dropout_forward(x, 0.5, np.random.default_rng(seed))
    _, again = dropout_forward(x, 0.5, np.random.default_rng(seed))
    _, other = dropout_forward(x, 0.5, np.random.default_rng(seed + 1))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_rate_zero_is_the_identity(rng):
    x = random_array(rng, (5, 6), np.float64)
    y, mask = dropout_forward(x, 0.0, rng)
    assert np.array_equal(y, x) and np.all(mask == 1)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rate_outside_zero_one_is_rejected(rng, rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        dropout_forward(np.zeros(3), rate, rng)
