"""Tensor maps for the bulk tensor copy (TMA): the 128 bytes a kernel hands the copy engine to say
which 2-D tensor it copies from, and what box one copy moves (kernels/ptx.cuh, tma_load_2d).

On a GPU the driver builds them (``cuTensorMapEncodeTiled``, called through ctypes: CuPy does not
wrap it); in the emulator they are ``tma_twin::Map`` of kernels/ptx.cuh, which the twin reads. Both
describe a row-major float32 matrix, rows of ``width`` floats, with boxes of 32 floats (128 bytes,
one row of the 128-byte swizzle) by ``box_rows`` rows, swizzled on the way, zero outside the matrix.
A kernel takes its maps from global memory: ``maps()`` returns them as one uint64 array.

A map is a function of the matrix's address, shape and box alone, so ``maps()`` keeps every array it
made, for the life of the process, and hands the same one back for the same operands: a call then
neither encodes nor copies to the device. Both matter on a GPU: encoding and the copy cost tens of
microseconds a call, and a copy from the host is not allowed while a CUDA graph is being captured,
so only operands seen before capture can be captured (as the benchmarks' and the autotuner's warm-up
calls make sure). A new array at a freed one's address gets the same, still correct, map. None is
ever freed, since a captured graph holds its maps' addresses (like split-K's workspaces in
cnn_gpu/ops/gemm_plans.py); they are 256 bytes a product, and a model's operands come from a memory pool
that reuses a few addresses.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

MAP_WORDS = 16  # 128 bytes
BOX_WIDTH = 32  # floats
# The emulator's map: kernels/ptx.cuh, tma_twin::Map and kMagic.
EMULATOR_MAGIC = 0x544D41454D55
# The driver's enums (cuda.h): CU_TENSOR_MAP_DATA_TYPE_FLOAT32, _INTERLEAVE_NONE, _SWIZZLE_128B,
# _L2_PROMOTION_L2_128B, _FLOAT_OOB_FILL_NONE (zeros).
FLOAT32, INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_128B, OOB_FILL_ZEROS = 7, 0, 3, 2, 0


def fits(x) -> bool:
    """Whether a map can describe ``x`` (2-D, C-contiguous float32): its rows must be whole 16-byte
    units and it must start 16-byte aligned."""
    return x.shape[1] % 4 == 0 and _address(x) % 16 == 0


def _address(x) -> int:
    return x.data.ptr if hasattr(x.data, "ptr") else x.ctypes.data


def maps(backend: str, operands) -> object:
    """One uint64 array of the maps of ``operands``, ``(matrix, box_rows)`` pairs, in order: a CuPy
    array on the cuda backend (on the current device), a NumPy one for the emulator."""
    described = tuple((_address(x), *x.shape, box_rows) for x, box_rows in operands)
    return _cached_maps(backend, _device_id(backend), described)


def _device_id(backend):
    if backend != "cuda":
        return None
    import cupy

    return cupy.cuda.Device().id


@functools.lru_cache(maxsize=None)
def _cached_maps(backend, device_id, described):
    encode = _driver_map if backend == "cuda" else _emulator_map
    words = np.concatenate([encode(*matrix) for matrix in described])
    if backend == "cuda":
        import cupy

        return cupy.asarray(words)
    words.flags.writeable = False  # shared by every call with these operands
    return words


def _emulator_map(address, height, width, box_rows) -> np.ndarray:
    words = np.zeros(MAP_WORDS, np.uint64)
    words[:7] = [EMULATOR_MAGIC, address, width, height, width, BOX_WIDTH, box_rows]
    return words


@functools.lru_cache(maxsize=1)
def _encode_tiled():
    encode = ctypes.CDLL("libcuda.so.1").cuTensorMapEncodeTiled
    u32p, u64p = ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint64)
    encode.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p, u64p, u64p, u32p, u32p,
                       ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    encode.restype = ctypes.c_int
    return encode


def _driver_map(address, height, width, box_rows) -> np.ndarray:
    # The driver wants the map 64-byte aligned: a 64-byte-aligned window of a larger buffer.
    buffer = np.zeros(MAP_WORDS + 8, np.uint64)
    start = (-buffer.ctypes.data % 64) // 8
    words = buffer[start:start + MAP_WORDS]
    dims = (ctypes.c_uint64 * 2)(width, height)
    strides = (ctypes.c_uint64 * 1)(width * 4)  # bytes from one row to the next
    box = (ctypes.c_uint32 * 2)(BOX_WIDTH, box_rows)
    steps = (ctypes.c_uint32 * 2)(1, 1)
    status = _encode_tiled()(words.ctypes.data, FLOAT32, 2, address, dims, strides, box, steps,
                             INTERLEAVE_NONE, SWIZZLE_128B, L2_PROMOTION_128B, OOB_FILL_ZEROS)
    if status != 0:
        raise RuntimeError(f"cuTensorMapEncodeTiled refused a {height} x {width} float32 matrix with "
                           f"{BOX_WIDTH} x {box_rows} boxes: CUresult {status}")
    return words.copy()
