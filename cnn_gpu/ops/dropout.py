"""Inverted dropout: kept units are scaled by 1 / (1 - rate) in training, so inference is the identity.
And Gaussian noise, added (Keras's GaussianNoise) or multiplied (GaussianDropout), drawn the same ways."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import (C_TYPES, array_module, ceil_div, check_float, check_shape, dtype_name,
                                grid_stride_launch, output_array)


def dropout_forward(x, rate, rng, noise_shape=None):
    """``(y, mask)`` with ``y = x * mask``; ``mask`` is 0 for a dropped unit and 1 / (1 - rate) for a kept one.

    ``rng`` is a ``numpy.random.Generator`` (or CuPy's): a unit is kept where its uniform draw is
    >= ``rate``, as TensorFlow decides, so the same seed gives the same mask on every backend that
    draws on the host. With ``noise_shape`` (x's shape with some axes 1), the mask has that shape and
    is broadcast over x: the units along an axis of 1 are kept or dropped together.
    """
    check_float(x, "x")
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    shape = x.shape if noise_shape is None else tuple(noise_shape)
    if len(shape) != x.ndim or any(d not in (1, size) for d, size in zip(shape, x.shape)):
        raise ValueError(f"noise_shape {shape} does not broadcast over x of shape {x.shape}")
    xp = array_module(x)
    draws = xp.asarray(rng.random(shape, dtype=x.dtype))
    mask = (draws >= rate).astype(x.dtype) * x.dtype.type(1 / (1 - rate))
    return x * mask, mask


def dropout_backward(dy, mask):
    return dy * mask


def gaussian_noise(x, stddev, rng, multiply=False):
    """Keras's GaussianNoise, ``x + stddev z``, or with ``multiply`` GaussianDropout's ``x (1 + stddev z)``,
    z standard normal draws of ``rng`` (NumPy's generator, or CuPy's): ``(y, multiplier)``, the
    multiplier None for the added noise (whose gradient is dy itself)."""
    check_float(x, "x")
    xp = array_module(x)
    noise = x.dtype.type(stddev) * xp.asarray(rng.standard_normal(x.shape, dtype=x.dtype))
    if not multiply:
        return x + noise, None
    multiplier = 1 + noise
    return x * multiplier, multiplier


# --- kernels/dropout.cu: the mask drawn on the device by Philox4x32-10 -----------------------------
# The kernel backends draw a 64-bit key per call from the layer's generator; element i is kept where
# the top 24 bits of word i % 4 of Philox4x32-10(counter i // 4, key) are >= ceil(rate * 2^24).
# philox4x32_10 and dropout_keep_mask below are those draws in NumPy, the kernels' reference: the
# masks are equal bit for bit (they differ from the numpy backend's, which draws with NumPy's
# generator, as TensorFlow's and PyTorch's masks differ from each other).

PHILOX_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
PHILOX_KEY_STEPS = (0x9E3779B9, 0xBB67AE85)  # the Weyl sequence that bumps the key each round
PHILOX_ROUNDS = 10
UNIFORM_BITS = 24  # the bits of each word that make its uniform draw
VARIANTS = ("stored_mask", "regenerated")
_WORD = np.uint64(0xFFFFFFFF)


def philox4x32_10(counters, key):
    """Philox4x32-10 of each row of ``counters`` ((n, 4) uint32) under ``key`` (two uint32): (n, 4) uint32.

    Each round multiplies words 0 and 2 by the two multipliers (32 x 32 -> 64 bits, exact in uint64),
    and the new words are (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)).
    """
    c0, c1, c2, c3 = (np.asarray(counters, dtype=np.uint64)[:, j] for j in range(4))
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    m0, m1 = (np.uint64(m) for m in PHILOX_MULTIPLIERS)
    w0, w1 = (np.uint64(w) for w in PHILOX_KEY_STEPS)
    for _ in range(PHILOX_ROUNDS):
        p0, p1 = m0 * c0, m1 * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _WORD, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _WORD
        k0, k1 = (k0 + w0) & _WORD, (k1 + w1) & _WORD
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def keep_threshold(rate):
    """The integer a unit's 24-bit draw must reach to be kept: ceil(rate * 2^24), exact (2^24 is a power of 2)."""
    return math.ceil(rate * 2**UNIFORM_BITS)


def draw_key(rng):
    """A fresh Philox key, (low word, high word), from ``rng`` (a numpy.random.Generator)."""
    key = int(rng.integers(0, 2**64, dtype=np.uint64))
    return key & 0xFFFFFFFF, key >> 32


def group_words(n, key):
    """The Philox words of the groups of four that cover ``n`` elements under ``key``: (groups, 4) uint32,
    group g's counter (g's low word, g's high word, 0, 0)."""
    groups = np.arange(-(-n // 4), dtype=np.uint64)
    counters = np.zeros((groups.size, 4), np.uint64)
    counters[:, 0], counters[:, 1] = groups & _WORD, groups >> np.uint64(32)
    return philox4x32_10(counters, key)


def dropout_keep_mask(n, rate, key, dtype):
    """The mask kernels/dropout.cu draws for ``n`` elements under ``key``: 0 or 1 / (1 - rate), NumPy."""
    words = group_words(n, key).reshape(-1)[:n]
    scale = np.dtype(dtype).type(1 / (1 - rate))
    return np.where((words >> (32 - UNIFORM_BITS)) >= keep_threshold(rate), scale, np.dtype(dtype).type(0))


def gaussian_draws(n, key):
    """The standard normal draws kernels/dropout.cu's gaussian_noise makes for ``n`` elements under
    ``key``, float64: the Box-Muller transform of each pair of a group's words, u1 = (word + 1) / 2^32,
    u2 = word / 2^32, giving r cos(2 pi u2) and r sin(2 pi u2), r = sqrt(-2 log u1)."""
    words = group_words(n, key).astype(np.float64).reshape(-1, 2, 2)  # (group, pair, word of the pair)
    u1, u2 = (words[:, :, 0] + 1.0) * 2.0**-32, words[:, :, 1] * 2.0**-32
    r, angle = np.sqrt(-2.0 * np.log(u1)), 2 * math.pi * u2
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=-1).reshape(-1)[:n]


@dataclass(frozen=True)
class DrawnMask:
    """What the regenerated variant keeps of a forward pass instead of its mask: the key and the rule."""

    key: tuple
    rate: float
    shape: tuple
    dtype: np.dtype


def _draw_arguments(key, rate, dtype):
    return (np.uint32(key[0]), np.uint32(key[1]), np.uint32(keep_threshold(rate)),
            np.dtype(dtype).type(1 / (1 - rate)))


_ELEMENTWISE = [Scalar("n", "int64")]
_DRAW = [Scalar("key_lo", "uint32"), Scalar("key_hi", "uint32"), Scalar("threshold", "uint32")]
KERNELS = {
    (name, dtype): Kernel("dropout.cu", f"dropout_{name}<{ctype}>", params(dtype))
    for name, params in {
        "forward_stored_mask": lambda d: [Array("x", d), Array("y", d), Array("mask", d), *_ELEMENTWISE, *_DRAW,
                                          Scalar("scale", d)],
        "backward_stored_mask": lambda d: [Array("dy", d), Array("mask", d), Array("dx", d), *_ELEMENTWISE],
        "regenerated": lambda d: [Array("in", d), Array("out", d), *_ELEMENTWISE, *_DRAW, Scalar("scale", d)],
    }.items()
    for dtype, ctype in C_TYPES.items()
}


def dropout_forward_kernel(x, rate, key, variant="regenerated", y=None, mask=None, backend=None):
    """``(y, mask)`` by kernels/dropout.cu for float32/float64 ``x`` (C-contiguous), units dropped by
    Philox draws under ``key`` (draw_key), into ``y`` (and, for ``stored_mask``, ``mask``) if given.
    ``mask`` is the stored mask (variant ``stored_mask``) or a DrawnMask (``regenerated``); either goes
    to dropout_backward_kernel."""
    check_float(x, "x")
    if not 0 < rate < 1:
        raise ValueError(f"rate must be in (0, 1) for the dropout kernels (0 drops nothing), got {rate}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    backend = resolve_backend(backend)
    y = output_array(y, x.shape, x.dtype, "y", backend_xp(backend))
    n, draw = x.size, _draw_arguments(key, rate, x.dtype)
    grid, block = grid_stride_launch(ceil_div(n, 4))
    if variant == "regenerated":
        if n:
            KERNELS["regenerated", dtype_name(x)](grid, block, (x, y, n, *draw), backend=backend)
        return y, DrawnMask(tuple(key), float(rate), tuple(x.shape), x.dtype)
    mask = output_array(mask, x.shape, x.dtype, "mask", backend_xp(backend))
    if n:
        KERNELS["forward_stored_mask", dtype_name(x)](grid, block, (x, y, mask, n, *draw), backend=backend)
    return y, mask


def dropout_backward_kernel(dy, mask, dx=None, backend=None):
    """``dy * mask`` by kernels/dropout.cu, into ``dx`` if given, for either kind of mask
    dropout_forward_kernel returns."""
    check_float(dy, "dy")
    backend = resolve_backend(backend)
    dx, n = output_array(dx, dy.shape, dy.dtype, "dx", backend_xp(backend)), dy.size
    if isinstance(mask, DrawnMask):
        if tuple(dy.shape) != mask.shape or dy.dtype != mask.dtype:
            raise ValueError(f"dy is {dy.dtype} {tuple(dy.shape)}, but its forward pass drew a mask for "
                             f"{mask.dtype} {mask.shape}")
        if n:
            draw = _draw_arguments(mask.key, mask.rate, dy.dtype)
            KERNELS["regenerated", dtype_name(dy)](*grid_stride_launch(ceil_div(n, 4)), (dy, dx, n, *draw), backend=backend)
        return dx
    check_shape(mask, tuple(dy.shape), "mask")
    if n:
        KERNELS["backward_stored_mask", dtype_name(dy)](*grid_stride_launch(n), (dy, mask, dx, n), backend=backend)
    return dx


@dataclass(frozen=True)
class DrawnNoise:
    """What gaussian_noise_kernel keeps of a forward pass that multiplied its noise: the key, for the
    backward to draw it again."""

    key: tuple
    stddev: float
    shape: tuple
    dtype: np.dtype


GAUSSIAN_KERNELS = {
    (multiply, dtype): Kernel("dropout.cu", f"gaussian_noise<{ctype}, {'true' if multiply else 'false'}>",
                              [Array("in", dtype), Array("out", dtype), *_ELEMENTWISE, Scalar("key_lo", "uint32"),
                               Scalar("key_hi", "uint32"), Scalar("stddev", dtype)])
    for multiply in (False, True) for dtype, ctype in C_TYPES.items()
}


def gaussian_noise_kernel(x, stddev, key, multiply=False, out=None, backend=None):
    """``(y, saved)``: ``x + stddev z`` or, with ``multiply``, ``x (1 + stddev z)``, z gaussian_draws under
    ``key`` (draw_key), by kernels/dropout.cu; ``saved`` (a DrawnNoise, or None for added noise) is
    what gaussian_noise_backward_kernel takes."""
    check_float(x, "x")
    backend = resolve_backend(backend)
    out = output_array(out, x.shape, x.dtype, "out", backend_xp(backend))
    if x.size:
        GAUSSIAN_KERNELS[bool(multiply), dtype_name(x)](
            *grid_stride_launch(ceil_div(x.size, 4)),
            (x, out, x.size, np.uint32(key[0]), np.uint32(key[1]), x.dtype.type(stddev)), backend=backend)
    return out, DrawnNoise(tuple(key), float(stddev), tuple(x.shape), x.dtype) if multiply else None


def gaussian_noise_backward_kernel(dy, saved, dx=None, backend=None):
    """The gradient of gaussian_noise_kernel: dy itself for added noise (``saved`` None), else
    ``dy (1 + stddev z)`` with the forward's draws made again."""
    if saved is None:
        return dy
    check_float(dy, "dy")
    if tuple(dy.shape) != saved.shape or dy.dtype != saved.dtype:
        raise ValueError(f"dy is {dy.dtype} {tuple(dy.shape)}, but its forward pass drew noise for "
                         f"{saved.dtype} {saved.shape}")
    return gaussian_noise_kernel(dy, saved.stddev, saved.key, True, dx, backend)[0]

