"""Sliding-window geometry shared by convolution and pooling: NHWC, TensorFlow/Keras padding rules.

A window has (R, S) taps spaced ``dilation`` apart and moves ``strides`` at a time. ``valid`` keeps
only windows that fit inside the input; ``same`` gives ceil(H / stride) outputs and pads the
shortfall with half on the top/left and the extra element on the bottom/right, as TensorFlow does.

The vectorised ops all work on the same two pieces: ``window_view`` (every window of the padded
input as one strided view, no copy) and ``fold`` (its adjoint: add per-window values back into an
input-shaped array). Both loop over the R*S taps of a window at most, never over the batch or pixels.
"""

from __future__ import annotations

import functools
from numbers import Integral
from typing import NamedTuple

from cnn_gpu.ops.common import array_module, ceil_div
from cnn_gpu.utils.checks import only_ints

PADDINGS = ("valid", "same")


def as_pair(value, name):
    """``(h, w)`` from an int or a pair of positive ints; a ValueError naming ``name`` otherwise."""
    pair = (value, value) if isinstance(value, Integral) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return tuple(int(v) for v in pair)


def check_padding(padding):
    """``padding`` lower-cased if it is 'valid' or 'same'."""
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def output_length(size, window, stride, dilation, padding):
    """Outputs along one axis (may be < 1 when a valid window does not fit; callers reject that)."""
    if padding == "same":
        return ceil_div(size, stride)
    return (size - ((window - 1) * dilation + 1)) // stride + 1


def padding_amounts(size, window, stride, dilation, padding):
    """``(before, after)`` padding along one axis: the extra element of an odd total goes after."""
    if padding == "valid":
        return 0, 0
    extent = (window - 1) * dilation + 1
    total = max((output_length(size, window, stride, dilation, padding) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


class Geometry(NamedTuple):
    """Everything about a 2-D sliding window over an (H, W) input that the ops need."""

    in_hw: tuple
    out_hw: tuple
    window: tuple
    strides: tuple
    dilation: tuple
    pads: tuple  # ((top, bottom), (left, right))


def geometry(in_hw, window, strides, padding, dilation, window_name="kernel"):
    """Validated window geometry; a ValueError if the (dilated) window does not fit a valid input.

    A layer asks for the same geometry at every step: answers for plain ints and strings are kept
    (a dict lookup, where working one out again takes microseconds of a GPU step's host time).
    Anything else (a list, a NumPy int, a bool, which equals an int as a key but must be refused) is
    worked out, and checked, each time.
    """
    in_hw = tuple(in_hw)
    if _plain(in_hw) and _plain(window) and _plain(strides) and _plain(padding) and _plain(dilation):
        return _known_geometry(in_hw, window, strides, padding, dilation, window_name)
    return _geometry(in_hw, window, strides, padding, dilation, window_name)


def _plain(value):
    """An int, a string, or a tuple of ints: exactly those types, so that equal keys mean equal arguments."""
    kind = type(value)
    return kind is int or kind is str or (kind is tuple and only_ints(value))


@functools.lru_cache(maxsize=1024)
def _known_geometry(in_hw, window, strides, padding, dilation, window_name):
    return _geometry(in_hw, window, strides, padding, dilation, window_name)


def _geometry(in_hw, window, strides, padding, dilation, window_name):
    window = as_pair(window, window_name)
    strides = as_pair(strides, "strides")
    dilation = as_pair(dilation, "dilation")
    padding = check_padding(padding)
    out_hw = tuple(output_length(*args, padding) for args in zip(in_hw, window, strides, dilation))
    if min(out_hw) < 1:
        extent = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
        raise ValueError(
            f"input of height x width {tuple(in_hw)} is smaller than the {window_name} extent {extent} "
            f"with padding 'valid'"
        )
    pads = tuple(padding_amounts(*args, padding) for args in zip(in_hw, window, strides, dilation))
    return Geometry(tuple(in_hw), out_hw, window, strides, dilation, pads)


def pad(x, g, value=0):
    """``x`` (N, H, W, C) padded on H and W by ``g.pads`` with ``value`` (``x`` itself when no padding)."""
    if g.pads == ((0, 0), (0, 0)):
        return x
    xp = array_module(x)
    return xp.pad(x, ((0, 0), *g.pads, (0, 0)), constant_values=value)


def window_view(padded, g):
    """Every window of a padded (N, Hp, Wp, C) array as an (N, P, Q, R, S, C) strided view (no copy).

    Windows overlap in memory, so the view is for reading only (CuPy's ``as_strided`` has no
    ``writeable`` flag to say so).
    """
    xp = array_module(padded)
    n, _, _, c = padded.shape
    sn, sh, sw, sc = padded.strides
    shape = (n, *g.out_hw, *g.window, c)
    strides = (sn, sh * g.strides[0], sw * g.strides[1], sh * g.dilation[0], sw * g.dilation[1], sc)
    return xp.lib.stride_tricks.as_strided(padded, shape=shape, strides=strides)


def taps(g):
    """The window's taps ``(r, s)`` in row-major order, the order in which ties are broken."""
    return [(r, s) for r in range(g.window[0]) for s in range(g.window[1])]


def fold(tap_values, g, x_shape, dtype, xp):
    """The adjoint of ``pad`` then ``window_view``: sum per-window values back onto an (N, H, W, C) input.

    ``tap_values(r, s)`` gives the (N, P, Q, C) values of tap (r, s) of every window. One strided add
    per tap, each over the whole batch: overlapping windows accumulate, and what lands on padding is
    cropped away.
    """
    n, h, w, c = x_shape
    (top, bottom), (left, right) = g.pads
    out = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=dtype)
    (p, q), (sh, sw), (dh, dw) = g.out_hw, g.strides, g.dilation
    for r, s in taps(g):
        out[:, r * dh : r * dh + (p - 1) * sh + 1 : sh, s * dw : s * dw + (q - 1) * sw + 1 : sw] += tap_values(r, s)
    return out[:, top : top + h, left : left + w]
