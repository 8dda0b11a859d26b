"""Small pieces every op module shares: the array module of an input, ceil_div, and argument checks."""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def array_module(x):
    """``cupy`` for a CuPy array, ``numpy`` for anything else.

    CuPy is imported only when a CuPy array is already in hand, so NumPy-only installs never need it.
    """
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


# The C type of each dtype the templated kernels are instantiated for (``"bias_act_forward<float, ...>"``).
C_TYPES = {"float32": "float", "float64": "double"}
# Names by dtype object: a dict lookup, where str(dtype) or dtype.name takes microseconds (per launch).
_DTYPE_NAMES = {np.dtype(name): name for name in ("float32", "float64", "int32", "int64")}


def dtype_name(a):
    """The name of array ``a``'s dtype (``"float32"``): the key of C_TYPES and of the kernel tables."""
    # str, not .name: a byte-swapped '>f4' is named "float32" but is no float32 to a kernel.
    return _DTYPE_NAMES.get(a.dtype) or str(a.dtype)


def cpp_bool(value) -> str:
    """A bool as a C++ template argument: ``"true"`` or ``"false"``."""
    return "true" if value else "false"


def data_address(a):
    """The address of the first element of NumPy or CuPy array ``a`` (a 16-byte path asks it of each array)."""
    return a.data.ptr if hasattr(a.data, "ptr") else a.ctypes.data


def quads_fit(row_length, *arrays):
    """Whether rows of ``row_length`` float32 elements of ``arrays`` come in aligned quads, as a kernel's
    16-byte path (float4 loads and stores, a 16-byte cp.async) takes them: ``row_length`` a multiple
    of 4, and every array 16-byte aligned (a sliced view may not be)."""
    return row_length % 4 == 0 and all(data_address(a) % 16 == 0 for a in arrays)


WARP = 32  # threads of a warp, as the kernels' launch geometry counts them


def output_array(out, shape, dtype, name, xp):
    """``out`` once its shape is ``shape`` (a ValueError naming ``name`` otherwise), or a new array of
    ``xp``: a wrapper's output, whose dtype and layout its kernel's launch then checks."""
    if out is None:
        return xp.empty(shape, dtype=dtype)
    return check_shape(out, tuple(shape), name)


def ceil_div(a, b):
    """``ceil(a / b)`` for positive ints, exactly: how many blocks of ``b`` cover ``a`` (a grid, a tiling)."""
    return -(-a // b)


# The element-wise kernels' grid-stride loops: 256-thread blocks (the block size their
# __launch_bounds__ name: DROPOUT_BLOCK, NORM_BLOCK, ...), and only enough blocks to fill the GPU a
# few times over.
GRID_STRIDE_THREADS = 256
GRID_STRIDE_MAX_BLOCKS = 8192


def grid_stride_launch(items, threads=GRID_STRIDE_THREADS, max_blocks=GRID_STRIDE_MAX_BLOCKS):
    """``(grid, block)`` of a grid-stride loop over ``items`` of ``threads``-thread blocks, at least one
    block (an empty input launches one that does nothing)."""
    return (max(1, min(ceil_div(items, threads), max_blocks)),), (threads,)


def check_float(x, name):
    """Fail unless ``x`` is a float32 or float64 array; ``name`` is the argument as the caller knows it."""
    dtype = getattr(x, "dtype", None)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array, got {dtype or type(x).__name__}")


def check_same_dtype(a, a_name, b, b_name):
    if a.dtype != b.dtype:
        raise TypeError(f"{a_name} is {a.dtype} but {b_name} is {b.dtype}: they must match")


def check_ndim(x, ndim, name, layout):
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {tuple(x.shape)}")


def check_shape(a, expected, name, what="shape"):
    """``a``, if its shape is ``expected`` (a ``None`` entry matches any size), else a ValueError naming
    ``name``; ``what`` says where the expected shape comes from ("the forward output's shape")."""
    shape = tuple(a.shape)
    if shape == expected or (len(shape) == len(expected)
                             and all(e is None or e == s for s, e in zip(shape, expected))):
        return a
    sizes = ["any" if e is None else str(e) for e in expected]
    raise ValueError(f"{name} must have {what} ({', '.join(sizes)}{',' if len(sizes) == 1 else ''}), got {shape}")
