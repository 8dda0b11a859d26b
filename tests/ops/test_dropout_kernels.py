"""The dropout kernels of kernels/dropout.cu against their NumPy twin (dropout_keep_mask, whose Philox
is checked against Random123's published answers), bit for bit, on every variant."""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import dropout
from cnn_gpu.ops.dropout import (VARIANTS, DrawnMask, dropout_backward_kernel, dropout_forward_kernel,
                                 dropout_keep_mask, philox4x32_10)
from helpers import on_backend, poisoned, random_array, to_host

# Random123's known answers for Philox4x32-10: (counter, key, output).
PHILOX_KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
# Empty; fewer elements than a Philox group; one group; a partial last group; a rank-3 array.
SHAPES = [(0,), (3,), (4,), (1001,), (7, 13, 5)]


def test_philox_gives_the_published_answers():
    counters = np.array([c for c, _, _ in PHILOX_KNOWN_ANSWERS], np.uint32)
    for row, (_, key, answer) in enumerate(PHILOX_KNOWN_ANSWERS):
        assert tuple(int(w) for w in philox4x32_10(counters[row:row + 1], key)[0]) == answer


def test_the_twin_keeps_about_one_minus_rate_and_each_key_draws_its_own_mask():
    n, rate = 200_000, 0.3
    mask = dropout_keep_mask(n, rate, (5, 6), np.float32)
    kept = np.count_nonzero(mask) / n
    assert abs(kept - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)  # five standard deviations
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / (1 - rate))}
    assert not np.array_equal(mask, dropout_keep_mask(n, rate, (5, 7), np.float32))
    assert not np.array_equal(mask, dropout_keep_mask(n, rate, (6, 6), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("variant", VARIANTS)
def test_both_passes_match_the_twin_bit_for_bit(rng, kernel_backend, variant, shape, dtype):
    x, dy = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
    key, rate = (int(rng.integers(2**32)), int(rng.integers(2**32))), float(rng.uniform(0.05, 0.95))
    expected = dropout_keep_mask(x.size, rate, key, dtype).reshape(shape)
    y, dx = (on_backend(poisoned(shape, dtype), kernel_backend) for _ in range(2))
    stored = on_backend(poisoned(shape, dtype), kernel_backend)
    _, mask = dropout_forward_kernel(on_backend(x, kernel_backend), rate, key, variant, y=y, mask=stored,
                                     backend=kernel_backend)
    dropout_backward_kernel(on_backend(dy, kernel_backend), mask, dx=dx, backend=kernel_backend)
    assert np.array_equal(to_host(y), x * expected) and np.array_equal(to_host(dx), dy * expected)
    if variant == "stored_mask":
        assert np.array_equal(to_host(mask), expected)
    else:
        assert isinstance(mask, DrawnMask) and np.isnan(to_host(stored)).all(), "the regenerated pass stores no mask"


def test_a_nan_is_dropped_or_kept_as_any_value(kernel_backend):
    x = np.full(64, np.nan, np.float32)
    y, _ = dropout_forward_kernel(on_backend(x, kernel_backend), 0.5, (1, 2), backend=kernel_backend)
    kept = dropout_keep_mask(64, 0.5, (1, 2), np.float32) != 0
    assert np.isnan(to_host(y)[kept]).all() and np.isnan(to_host(y)[~kept]).all()  # NaN * 0 is NaN, as in x * mask


def test_the_kernel_backend_draws_a_key_per_call_from_the_layers_generator(rng, kernel_backend):
    ours = KernelBackend(backend_xp(kernel_backend))
    x = random_array(rng, (33, 9), np.float32)
    first, mask = ours.dropout_forward(ours.asarray(x), 0.25, np.random.default_rng(7))
    key = dropout.draw_key(np.random.default_rng(7))
    assert np.array_equal(to_host(first), x * dropout_keep_mask(x.size, 0.25, key, np.float32).reshape(x.shape))
    dy = random_array(rng, x.shape, np.float32)
    assert np.array_equal(to_host(ours.dropout_backward(ours.asarray(dy), mask)),
                          dy * dropout_keep_mask(x.size, 0.25, key, np.float32).reshape(x.shape))
    generator = np.random.default_rng(7)
    second = ours.dropout_forward(ours.asarray(x), 0.25, generator)[0], ours.dropout_forward(ours.asarray(x), 0.25,
                                                                                             generator)[0]
    assert not np.array_equal(to_host(second[0]), to_host(second[1])), "each call draws a mask of its own"


def test_bad_arguments_are_refused(kernel_backend):
    x = on_backend(np.ones((4, 5), np.float32), kernel_backend)
    for rate in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="rate must be in"):
            dropout_forward_kernel(x, rate, (1, 2), backend=kernel_backend)
    with pytest.raises(ValueError, match="variant must be one of"):
        dropout_forward_kernel(x, 0.5, (1, 2), "bitmask", backend=kernel_backend)
    with pytest.raises(TypeError):
        dropout_forward_kernel(on_backend(np.ones(4, np.int32), kernel_backend), 0.5, (1, 2), backend=kernel_backend)
    _, drawn = dropout_forward_kernel(x, 0.5, (1, 2), backend=kernel_backend)
    with pytest.raises(ValueError, match="drew a mask for"):
        dropout_backward_kernel(on_backend(np.ones((5, 4), np.float32), kernel_backend), drawn,
                                backend=kernel_backend)
    with pytest.raises(ValueError, match="y must have shape"):
        dropout_forward_kernel(x, 0.5, (1, 2), y=on_backend(np.ones(20, np.float32), kernel_backend),
                               backend=kernel_backend)


# --- Gaussian noise: rung 4, the Box-Muller transform of the same Philox words -----------------------
def test_the_gaussian_draws_are_standard_normal_and_each_key_draws_its_own():
    z = dropout.gaussian_draws(400_003, (3, 5))  # not a multiple of 4: the last group partial
    assert z.shape == (400_003,) and abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert 0.68 < (abs(z) < 1).mean() < 0.687 and 0.953 < (abs(z) < 2).mean() < 0.956  # a normal's 68.3%, 95.4%
    assert abs(np.corrcoef(z[0:-1:2], z[1::2])[0, 1]) < 0.01  # the pair of a Box-Muller step: independent
    assert not np.array_equal(z[:8], dropout.gaussian_draws(8, (3, 6)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (5, 3), (2, 7, 9)], ids=str)
@pytest.mark.parametrize("multiply", [False, True])
def test_gaussian_noise_matches_the_draws_in_both_passes(rng, kernel_backend, shape, dtype, multiply):
    x, key, stddev = random_array(rng, shape, dtype), (17, 99), 0.3
    out = on_backend(poisoned(shape, dtype), kernel_backend)
    y, saved = dropout.gaussian_noise_kernel(on_backend(x, kernel_backend), stddev, key, multiply, out=out,
                                             backend=kernel_backend)
    noise = dtype(stddev) * dropout.gaussian_draws(x.size, key).astype(dtype).reshape(shape)
    expected = x * (1 + noise) if multiply else x + noise
    tolerance = 1e-6 if dtype == np.float32 else 1e-13  # the transcendentals' last bits, device's against NumPy's
    assert y is out
    np.testing.assert_allclose(to_host(y), expected, rtol=tolerance, atol=tolerance)
    dy = random_array(rng, shape, dtype)
    dx = dropout.gaussian_noise_backward_kernel(on_backend(dy, kernel_backend), saved, backend=kernel_backend)
    np.testing.assert_allclose(to_host(dx), dy * (1 + noise) if multiply else dy, rtol=tolerance, atol=tolerance)


def test_gaussian_noise_refuses_a_gradient_of_another_shape(kernel_backend):
    x = on_backend(np.ones((4, 3), np.float32), kernel_backend)
    _, saved = dropout.gaussian_noise_kernel(x, 0.5, (1, 2), multiply=True, backend=kernel_backend)
    with pytest.raises(ValueError, match=r"dy is float32 \(3, 4\), but its forward pass drew noise for float32"):
        dropout.gaussian_noise_backward_kernel(x.reshape(3, 4), saved, backend=kernel_backend)
