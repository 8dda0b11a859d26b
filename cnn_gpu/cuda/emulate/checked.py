"""Checked mode (``CNN_GPU_EMULATE_CHECKED=1``): guarded copies of the array arguments, and the
launch run under several schedule orders whose results must agree.

Each array argument is copied into a buffer that ends flush against a PROT_NONE page, with a
guard page before it too (see ``cnn_emu_guarded_alloc``): an access past the end faults at once
and is reported with the argument's name, the element and read or write. The copy starts as far
past a 16-byte boundary as the array does, so a kernel's 16-byte paths take or refuse it as on a
GPU. The up to 15 bytes of slack after the end and a zone before the start hold 0xFF poison, so a
write there is found after the launch. Arrays that share memory (in-place ops) share
one buffer, so the kernel sees the same aliasing as on a GPU.
"""

from __future__ import annotations

import ctypes
import mmap
from dataclasses import dataclass, field

import numpy as np

from . import launch
from .errors import EmulationError, OutOfBoundsError, ScheduleDependenceError

ORDERS = ("forward", "reverse", "random")
FLOAT_ATOMIC_RTOL = 1e-5


@dataclass
class ArrayArg:
    """An array argument: where it lives, and the pointer slot the kernel reads it from."""

    name: str
    array: np.ndarray
    pointer: ctypes.c_void_p

    @property
    def start(self) -> int:
        return self.array.ctypes.data

    @property
    def describe(self) -> str:
        return f"'{self.name}' ({self.array.dtype}{list(self.array.shape)})"


@dataclass
class _Region:
    """One guarded buffer, holding one array or several that overlap."""

    start: int
    nbytes: int
    members: list[ArrayArg] = field(default_factory=list)
    mapping: int = 0
    mapping_bytes: int = 0
    data: int = 0

    def member_at(self, offset: int) -> ArrayArg:
        """The member an out-of-bounds byte ``offset`` (from the region's start) belongs to."""
        if offset < 0:
            return min(self.members, key=lambda m: m.start)
        return max(self.members, key=lambda m: m.start + m.array.nbytes)


def _view(address: int, nbytes: int) -> np.ndarray:
    if nbytes <= 0:
        return np.empty(0, np.uint8)
    return np.ctypeslib.as_array((ctypes.c_ubyte * nbytes).from_address(address))


class GuardedArguments:
    """The array arguments of one checked launch, moved into guarded buffers for its duration."""

    def __init__(self, rt: ctypes.CDLL, kernel: str, arrays: list[ArrayArg]):
        self.rt, self.kernel = rt, kernel
        self.regions: list[_Region] = []
        for arg in sorted(arrays, key=lambda a: a.start):
            last = self.regions[-1] if self.regions else None
            if last and arg.array.nbytes and arg.start < last.start + last.nbytes:
                last.nbytes = max(last.nbytes, arg.start + arg.array.nbytes - last.start)
            else:
                last = _Region(arg.start, arg.array.nbytes)
                self.regions.append(last)
            last.members.append(arg)
        for region in self.regions:
            size, data = ctypes.c_size_t(), ctypes.c_void_p()
            region.mapping = rt.cnn_emu_guarded_alloc(region.nbytes, region.start % 16, ctypes.byref(size),
                                                      ctypes.byref(data))
            if not region.mapping:
                raise MemoryError(f"kernel '{kernel}': no memory for a guarded copy of {region.nbytes} bytes")
            region.mapping_bytes, region.data = size.value, data.value
            ctypes.memmove(region.data, region.start, region.nbytes)
            for arg in region.members:
                arg.pointer.value = region.data + (arg.start - region.start)
        self.snapshot = self.contents()

    def close(self) -> None:
        for region in self.regions:
            self.rt.cnn_emu_guarded_free(region.mapping, region.mapping_bytes)
            for arg in region.members:
                arg.pointer.value = arg.start

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def contents(self) -> list[np.ndarray]:
        return [_view(r.data, r.nbytes).copy() for r in self.regions]

    def restore(self) -> None:
        """Each buffer as before the launch, its poison fresh."""
        for region, before in zip(self.regions, self.snapshot):
            _view(region.data, region.nbytes)[:] = before
            self._poison_zones(region)[0][:] = 0xFF
            self._poison_zones(region)[1][:] = 0xFF

    def _poison_zones(self, region: _Region) -> tuple[np.ndarray, np.ndarray]:
        before_start = region.mapping + mmap.PAGESIZE
        slack = -(region.start % 16 + region.nbytes) % 16
        return (_view(before_start, region.data - before_start),
                _view(region.data + region.nbytes, slack))

    def check_poison(self) -> None:
        """Raise OutOfBoundsError for a write that landed in a poison zone (no fault to catch it)."""
        for region in self.regions:
            before, after = self._poison_zones(region)
            for zone, zone_offset in ((before, -len(before)), (after, region.nbytes)):
                changed = np.flatnonzero(zone != 0xFF)
                if changed.size:
                    offset = zone_offset + int(changed[0])  # the lowest address written
                    raise OutOfBoundsError(
                        f"kernel '{self.kernel}': {self._describe(region, offset, 'write')}, found "
                        "after the launch in the poison next to the array (no thread is known)")

    def describe_address(self, address: int, is_write: int) -> str | None:
        """Which argument a faulting address lies just outside of, or None."""
        access = {1: "write", 0: "read"}.get(is_write, "access")
        for region in self.regions:
            if region.mapping <= address < region.mapping + region.mapping_bytes:
                return self._describe(region, address - region.data, access)
        return None

    def _describe(self, region: _Region, offset: int, access: str) -> str:
        arg = region.member_at(offset)
        byte = offset - (arg.start - region.start)
        element = byte // max(arg.array.itemsize, 1)
        where = "before the start" if byte < 0 else f"past the end ({arg.array.size} elements)"
        return (f"out-of-bounds {access} of argument {arg.describe} at element {element} "
                f"(byte offset {byte}, {where})")

    def compare(self, reference: list[np.ndarray], outcome: list[np.ndarray], order: str,
                tolerant: bool) -> None:
        scale = self._float_scale(reference) if tolerant else 0.0
        for region, ref, out in zip(self.regions, reference, outcome):
            if np.array_equal(ref, out):
                continue
            for arg in region.members:
                lo = arg.start - region.start
                a, b = (x[lo:lo + arg.array.nbytes].view(arg.array.dtype) for x in (ref, out))
                differs = _differs(a, b, tolerant and arg.array.dtype.kind in "fc", scale)
                if differs.any():
                    first = int(np.flatnonzero(differs)[0])
                    index = np.unravel_index(first, arg.array.shape) if arg.array.ndim > 1 else first
                    note = (f" (float atomicAdd was used, so values within relative {FLOAT_ATOMIC_RTOL:g} "
                            "count as equal)" if tolerant else "")
                    raise ScheduleDependenceError(
                        f"kernel '{self.kernel}': result depends on thread schedule: argument "
                        f"{arg.describe} differs between the forward and {order} orders, first at "
                        f"element {index} ({a[first]!r} vs {b[first]!r}){note}: a missing "
                        "__syncthreads/__syncwarp or a race")

    def _float_scale(self, contents: list[np.ndarray]) -> float:
        """The largest finite magnitude among the launch's floating-point arguments, as ``contents``
        holds them (inputs and outputs)."""
        largest = 0.0
        for region, data in zip(self.regions, contents):
            for arg in region.members:
                if arg.array.dtype.kind != "f":
                    continue
                lo = arg.start - region.start
                values = data[lo:lo + arg.array.nbytes].view(arg.array.dtype)
                finite = np.abs(values[np.isfinite(values)])
                if finite.size:
                    largest = max(largest, float(finite.max()))
        return largest

    def copy_back(self, contents: list[np.ndarray]) -> None:
        for region, data, before in zip(self.regions, contents, self.snapshot):
            if np.array_equal(data, before):
                continue
            frozen = [a.name for a in region.members if not a.array.flags.writeable]
            if frozen:
                raise EmulationError(f"kernel '{self.kernel}' wrote to read-only array argument '{frozen[0]}'")
            ctypes.memmove(region.start, data.ctypes.data, region.nbytes)


def _differs(a: np.ndarray, b: np.ndarray, tolerant: bool, launch_scale: float = 0.0) -> np.ndarray:
    """Elementwise: bits differ, and (when tolerant) the values are not within the tolerance: relative
    to the larger of the two, or to the argument's largest finite magnitude, or to ``launch_scale``
    (the launch's largest among all its float arguments), whichever is most. A sum of atomic adds that
    cancel (a gradient scattered from terms of both signs) rounds relative to its terms, not to what is
    left of them, and its terms come from the launch's arguments: a one-element gradient summed from
    terms near 1 to 0.0013 differed by 1.5e-8 between orders, 1.2e-5 of itself. A race loses or
    repeats whole terms, far more than that."""
    bits = a.view(np.uint8).reshape(a.size, a.itemsize) != b.view(np.uint8).reshape(b.size, b.itemsize)
    differs = bits.any(axis=1)
    if tolerant:
        with np.errstate(invalid="ignore", over="ignore"):
            magnitudes = np.abs(a[np.isfinite(a)])
            scale = max(magnitudes.max() if magnitudes.size else 0.0, launch_scale)
            close = np.abs(a - b) <= FLOAT_ATOMIC_RTOL * np.maximum(np.maximum(np.abs(a), np.abs(b)), scale)
        differs &= ~close  # NaN is never close
    return differs


def run_checked(rt: ctypes.CDLL, kernel: str, body: int, slots: ctypes.Array, arrays: list[ArrayArg],
                grid: tuple, block: tuple, shared_mem: int, seed: int, cluster: tuple = (1, 1, 1)) -> None:
    """Run under each order from the same starting state; results must agree with forward's."""
    with GuardedArguments(rt, kernel, arrays) as guarded:
        reference, tolerant = None, False
        for order in ORDERS:
            if reference is not None:
                guarded.restore()
            result = launch.run(rt, body, slots, grid, block, shared_mem, order, checked=True,
                                print_=order == "forward", seed=seed, cluster=cluster)
            if result.status:
                error = launch.error_for(result, kernel, guarded.describe_address)
                if order != "forward":
                    error.args = (f"{error.args[0]} (in the {order} schedule order)",)
                raise error
            guarded.check_poison()
            outcome = guarded.contents()
            tolerant = tolerant or result.float_atomics > 0
            if reference is None:
                reference = outcome
            else:
                guarded.compare(reference, outcome, order, tolerant)
        guarded.copy_back(reference)
