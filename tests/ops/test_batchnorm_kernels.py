"""The batch normalization kernels of kernels/batchnorm.cu against the float64 reference of
cnn_gpu.ops.batchnorm: every rung of the column sums, training and inference, both dtypes."""

import numpy as np
import pytest

from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.ops.batchnorm import (SUMS_VARIANTS, NormStatistics, batch_norm_backward, batch_norm_backward_kernel,
                                   batch_norm_forward, batch_norm_forward_kernel)
from helpers import TOLERANCE, assert_close, on_backend, poisoned, random_array, to_host

# One row; one channel; a Dense layer's (batch, features), fewer and more channels than a 32-column
# slab; more rows than rung 2's 8 x 256 block rows reach at once (so its blocks stride); channels not
# a multiple of 32 (the last slab's idle lanes); an image batch of 64 channels; the most channels
# the flat rung takes (one column per lane).
SHAPES = [(1, 5), (9, 1), (7, 3), (33, 40), (5000, 3), (2, 9, 11, 37), (3, 4, 5, 64), (300, 256)]
DTYPES = [np.float32, np.float64]


def channel_arrays(rng, channels, dtype):
    """gamma, beta, moving mean and moving variance, random (never the 1s and 0s that hide mistakes)."""
    return (random_array(rng, channels, dtype, 0.5, 2), random_array(rng, channels, dtype),
            random_array(rng, channels, dtype), random_array(rng, channels, dtype, 0.5, 2))


def as64(*arrays):
    return [None if a is None else np.asarray(to_host(a), dtype=np.float64) for a in arrays]


def forward_scales(x, gamma, beta, moving_mean, moving_variance, statistics, momentum=0.9):
    """What y's and the moving statistics' rounding is relative to: the magnitudes of their terms, which
    may cancel (beta against a channel's normalised values; the old moving mean against the batch's)."""
    rows_x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    y_scale = np.abs(rows_x - statistics.mean) * np.abs(gamma * statistics.inv_std) + np.abs(beta)
    if not statistics.batch:  # the moving statistics do not move
        return y_scale.reshape(x.shape), moving_mean, moving_variance
    variance = 1 / statistics.inv_std ** 2  # var + epsilon: epsilon is far below the rounding judged
    return (y_scale.reshape(x.shape), np.abs(moving_mean) * momentum + np.abs(statistics.mean) * (1 - momentum),
            np.abs(moving_variance) * momentum + variance * (1 - momentum))


def backward_scales(x, dy, gamma, statistics):
    """What each backward output's rounding is relative to: the magnitudes of the terms it sums, which
    may cancel (a channel of few rows: its dx nearly 0, its dgamma and dbeta sums of either sign)."""
    rows_x, rows_dy = (np.asarray(a, np.float64).reshape(-1, a.shape[-1]) for a in (x, dy))
    normalized = np.abs((rows_x - statistics.mean) * statistics.inv_std)
    coefficient = np.abs(gamma * statistics.inv_std)
    dbeta_scale, dgamma_scale = np.abs(rows_dy).sum(axis=0), np.abs(rows_dy * normalized).sum(axis=0)
    count = rows_x.shape[0]
    dx_scale = coefficient * (np.abs(rows_dy) + dbeta_scale / count + normalized * dgamma_scale / count)
    return dx_scale.reshape(x.shape), dgamma_scale, dbeta_scale


def run_both(x, gamma, beta, moving_mean, moving_variance, training, variant, backend, momentum=0.9):
    """The kernels' forward (y poisoned first) and the reference's in float64, with each side's moving
    statistics after it: ``(y, moving, statistics, y_ref, moving_ref, statistics_ref)``."""
    moving = [on_backend(moving_mean.copy(), backend), on_backend(moving_variance.copy(), backend)]
    y = on_backend(poisoned(x.shape, x.dtype), backend)
    out, statistics = batch_norm_forward_kernel(
        on_backend(x, backend), *(None if a is None else on_backend(a, backend) for a in (gamma, beta)), *moving,
        momentum, 1e-3, training, variant=variant, y=y, backend=backend)
    assert out is y
    moving_ref = as64(moving_mean, moving_variance)
    y_ref, statistics_ref = batch_norm_forward(*as64(x, gamma, beta), *moving_ref, momentum, 1e-3, training)
    return y, moving, statistics, y_ref, moving_ref, statistics_ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", SUMS_VARIANTS)
@pytest.mark.parametrize("training", [True, False])
def test_forward_and_backward_match_the_reference(rng, kernel_backend, training, variant, shape, dtype):
    x = random_array(rng, shape, dtype, -2, 3)
    gamma, beta, moving_mean, moving_variance = channel_arrays(rng, shape[-1], dtype)
    y, moving, statistics, y_ref, moving_ref, statistics_ref = run_both(
        x, gamma, beta, moving_mean, moving_variance, training, variant, kernel_backend)
    tol = TOLERANCE[np.dtype(dtype)]
    for got, want, scale, name in zip((y, *moving), (y_ref, *moving_ref),
                                      forward_scales(*as64(x, gamma, beta, moving_mean, moving_variance),
                                                     statistics_ref),
                                      ("y", "moving mean", "moving variance")):
        assert_close(got, want, tol, what=name, scale=scale)
    assert_close(statistics.inv_std, statistics_ref.inv_std, tol, what="1 / std")
    dy = random_array(rng, shape, dtype)
    dx = on_backend(poisoned(shape, dtype), kernel_backend)
    out, dgamma, dbeta = batch_norm_backward_kernel(on_backend(x, kernel_backend), on_backend(dy, kernel_backend),
                                                    on_backend(gamma, kernel_backend), statistics, variant, dx=dx,
                                                    backend=kernel_backend)
    assert out is dx
    refs = batch_norm_backward(*as64(x, dy, gamma), statistics_ref)
    for got, want, scale, name in zip((dx, dgamma, dbeta), refs, backward_scales(x, dy, gamma, statistics_ref),
                                      ("dx", "dgamma", "dbeta")):
        assert_close(got, want, tol, what=name, scale=scale)


@pytest.mark.parametrize("variant", SUMS_VARIANTS)
def test_without_gamma_and_beta(rng, kernel_backend, variant):
    x = random_array(rng, (50, 6), np.float32)
    _, _, moving_mean, moving_variance = channel_arrays(rng, 6, np.float32)
    y, _, statistics, y_ref, _, statistics_ref = run_both(x, None, None, moving_mean, moving_variance, True,
                                                          variant, kernel_backend)
    assert_close(y, y_ref, what="y")
    dy = random_array(rng, x.shape, np.float32)
    dx, _, _ = batch_norm_backward_kernel(on_backend(x, kernel_backend), on_backend(dy, kernel_backend), None,
                                          statistics, variant, backend=kernel_backend)
    assert_close(dx, batch_norm_backward(*as64(x, dy), None, statistics_ref)[0], what="dx",
                 scale=backward_scales(x, dy, np.ones(6), statistics_ref)[0])


@pytest.mark.parametrize("variant", SUMS_VARIANTS)
def test_a_large_mean_against_a_small_spread_keeps_the_variance(rng, kernel_backend, variant):
    # E[x^2] - E[x]^2 in float32 would lose every digit of the variance here (mean 1000, spread 0.01:
    # the two agree to 10 digits); the sums shifted by each column's first row keep it.
    x = (1000 + rng.normal(0, 0.01, (3000, 5))).astype(np.float32)
    gamma, beta, moving_mean, moving_variance = channel_arrays(rng, 5, np.float32)
    y, moving, statistics, y_ref, moving_ref, statistics_ref = run_both(
        x, gamma, beta, moving_mean, moving_variance, True, variant, kernel_backend, momentum=0.0)
    assert_close(statistics.inv_std, statistics_ref.inv_std, 1e-4, what="1 / std")
    assert_close(moving[1], moving_ref[1], 1e-4, what="moving variance")
    # y is another matter: the float32 mean near 1000 is off by up to half an ulp (3e-5), 0.3% of the
    # spread, in every y; the reference's mean is float64.
    assert_close(y, y_ref, 1e-2, what="y")


def test_a_nan_spoils_its_channel_only(rng, kernel_backend):
    x = random_array(rng, (300, 4), np.float32)
    x[17, 2] = np.nan
    gamma, beta, moving_mean, moving_variance = channel_arrays(rng, 4, np.float32)
    y, moving, statistics, y_ref, _, _ = run_both(x, gamma, beta, moving_mean, moving_variance, True, "partial",
                                                  kernel_backend)
    y = to_host(y)
    assert np.isnan(y[:, 2]).all() and np.isfinite(np.delete(y, 2, axis=1)).all()
    assert all(np.isnan(to_host(m)[2]) and np.isfinite(np.delete(to_host(m), 2)).all() for m in moving)
    assert_close(np.delete(y, 2, axis=1), np.delete(y_ref, 2, axis=1), what="the other channels")


def test_the_element_wise_passes_keep_each_channel_past_one_grid_stride(rng, kernel_backend):
    """More elements than one stride of the grid (8192 blocks of 256 threads), with a channel count that
    does not divide the stride: each thread's second element is in another channel, found by the
    kernels' stepping rather than a division."""
    shape = (60000, 37)
    assert np.prod(shape) > 8192 * 256 and (8192 * 256) % 37
    x = random_array(rng, shape, np.float32)
    gamma, beta, moving_mean, moving_variance = channel_arrays(rng, 37, np.float32)
    y, _, statistics, y_ref, _, statistics_ref = run_both(x, gamma, beta, moving_mean, moving_variance, False,
                                                          "auto", kernel_backend)
    assert_close(y, y_ref, what="y")
    dy = random_array(rng, shape, np.float32)
    dx, _, _ = batch_norm_backward_kernel(on_backend(x, kernel_backend), on_backend(dy, kernel_backend),
                                          on_backend(gamma, kernel_backend), statistics, backend=kernel_backend)
    assert_close(dx, batch_norm_backward(*as64(x, dy, gamma), statistics_ref)[0], what="dx")


def test_the_last_block_rung_leaves_its_counter_at_zero(rng, kernel_backend):
    """Rung 4 counts its blocks in on one word the process keeps: a launch that completes leaves it at
    zero for the next (here ten blocks a launch, a forward and a backward)."""
    from cnn_gpu.ops.batchnorm import _last_block_counter

    x = random_array(rng, (1000, 37), np.float32)
    gamma, beta, moving_mean, moving_variance = channel_arrays(rng, 37, np.float32)
    *_, statistics, _, _, _ = run_both(x, gamma, beta, moving_mean, moving_variance, True, "flat_last_block",
                                       kernel_backend)
    batch_norm_backward_kernel(on_backend(x, kernel_backend), on_backend(x, kernel_backend),
                               on_backend(gamma, kernel_backend), statistics, "flat_last_block", backend=kernel_backend)
    assert to_host(_last_block_counter(kernel_backend)).tolist() == [0]


def test_inference_statistics_give_dx_of_scale_times_dy(rng, kernel_backend):
    x = random_array(rng, (40, 3), np.float64)
    x[5, 1] = np.inf  # dx does not read x here: an infinite input leaves its gradient finite
    gamma, beta, moving_mean, moving_variance = channel_arrays(rng, 3, np.float64)
    *_, statistics, _, _, _ = run_both(x, gamma, beta, moving_mean, moving_variance, False, "partial",
                                       kernel_backend)
    assert not statistics.batch
    dy = random_array(rng, x.shape, np.float64)
    dx, _, _ = batch_norm_backward_kernel(on_backend(x, kernel_backend), on_backend(dy, kernel_backend),
                                          on_backend(gamma, kernel_backend), statistics, backend=kernel_backend)
    assert_close(dx, dy * gamma / np.sqrt(moving_variance + 1e-3), what="dx")


def test_bad_arguments_are_refused_with_their_names(kernel_backend):
    x = on_backend(np.ones((4, 3), np.float32), kernel_backend)
    channels = on_backend(np.ones(3, np.float32), kernel_backend)
    with pytest.raises(ValueError, match="gamma must have x's channel count"):
        batch_norm_forward_kernel(x, channels[:2], None, channels, channels, backend=kernel_backend)
    with pytest.raises(TypeError, match="moving_mean is float64 but x is float32"):
        batch_norm_forward_kernel(x, None, None, channels.astype(np.float64), channels, backend=kernel_backend)
    with pytest.raises(ValueError, match="must not be empty"):
        batch_norm_forward_kernel(x[:0], None, None, channels, channels, training=True, backend=kernel_backend)
    with pytest.raises(ValueError, match="variant must be 'auto' or one of"):
        batch_norm_forward_kernel(x, None, None, channels, channels, training=True, variant="naive",
                                  backend=kernel_backend)
    wide = on_backend(np.ones((2, 257), np.float32), kernel_backend)
    for flat in ("flat", "flat_last_block"):
        with pytest.raises(ValueError, match="the flat ones take at most 256 channels"):
            batch_norm_forward_kernel(wide, None, None, wide[0], wide[0], training=True, variant=flat,
                                      backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="must be C-contiguous"):
        batch_norm_forward_kernel(on_backend(np.ones((3, 4), np.float32), kernel_backend).T, None, None, channels,
                                  channels, backend=kernel_backend)
    statistics = NormStatistics(channels, channels, True)
    with pytest.raises(ValueError, match="dy must have x's shape"):
        batch_norm_backward_kernel(x, x[:2], None, statistics, backend=kernel_backend)
    with pytest.raises(ValueError, match="statistics.inv_std must have x's channel count"):
        batch_norm_backward_kernel(x, x, None, NormStatistics(channels, channels[:2], True), backend=kernel_backend)
