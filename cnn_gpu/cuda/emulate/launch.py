"""One call into the runtime: the ctypes mirror of its launch interface, the status it answers,
and turning the code addresses in its messages into source lines."""

from __future__ import annotations

import ctypes
import functools
import re
import subprocess
import threading

from .errors import DeadlockError, KernelFault, OutOfBoundsError, StackOverflowError

ORDERS = {"forward": 0, "reverse": 1, "random": 2}
(OK, KERNEL_ERROR, DEADLOCK, MEMORY_FAULT, STACK_OVERFLOW, SHARED_OUT_OF_BOUNDS, ARITHMETIC) = range(7)

# The runtime's state is global (one block runs at a time), so launches from Python threads queue.
_launch_lock = threading.Lock()


class LaunchSpec(ctypes.Structure):
    _fields_ = [("body", ctypes.c_void_p), ("args", ctypes.c_void_p), ("grid", ctypes.c_uint * 3),
                ("block", ctypes.c_uint * 3), ("cluster", ctypes.c_uint * 3), ("shared_bytes", ctypes.c_uint),
                ("order", ctypes.c_int), ("checked", ctypes.c_int), ("print", ctypes.c_int),
                ("seed", ctypes.c_ulonglong)]


class LaunchResult(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("is_write", ctypes.c_int), ("block", ctypes.c_uint * 3),
                ("thread", ctypes.c_uint * 3), ("fault_address", ctypes.c_ulonglong),
                ("pc", ctypes.c_ulonglong), ("float_atomics", ctypes.c_ulonglong),
                ("message", ctypes.c_char * 4096)]

    @property
    def text(self) -> str:
        return self.message.decode(errors="replace")


class ParamInfo(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("size", ctypes.c_int), ("pointee_kind", ctypes.c_int),
                ("pointee_size", ctypes.c_int)]


@functools.cache
def runtime(path: str) -> ctypes.CDLL:
    """The runtime library at ``path``: a kernel library launches through the one it links to."""
    lib = ctypes.CDLL(path)
    lib.cnn_emu_launch.argtypes = [ctypes.POINTER(LaunchSpec), ctypes.POINTER(LaunchResult)]
    lib.cnn_emu_launch.restype = ctypes.c_int
    lib.cnn_emu_guarded_alloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                                          ctypes.POINTER(ctypes.c_void_p)]
    lib.cnn_emu_guarded_alloc.restype = ctypes.c_void_p
    lib.cnn_emu_guarded_free.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.cnn_emu_guarded_free.restype = None
    return lib


def run(rt: ctypes.CDLL, body: int, args: ctypes.Array, grid: tuple, block: tuple, shared_mem: int,
        order: str, checked: bool, print_: bool, seed: int, cluster: tuple = (1, 1, 1)) -> LaunchResult:
    """Run the whole grid once in ``order``; the GIL is released meanwhile (ctypes does that).
    ``cluster``: the kernel's thread-block cluster (``__cluster_dims__``), its blocks run together."""
    spec = LaunchSpec(body, ctypes.cast(args, ctypes.c_void_p), (ctypes.c_uint * 3)(*grid),
                      (ctypes.c_uint * 3)(*block), (ctypes.c_uint * 3)(*cluster), shared_mem, ORDERS[order],
                      int(checked), int(print_), seed)
    result = LaunchResult()
    with _launch_lock:
        rt.cnn_emu_launch(ctypes.byref(spec), ctypes.byref(result))
    return result


def error_for(result: LaunchResult, kernel: str, describe_address=None) -> Exception:
    """The exception for a failed launch. ``describe_address`` names the array argument an invalid
    address belongs to (checked mode), or returns None."""
    message = source_lines(result.text)
    if result.status == MEMORY_FAULT and describe_address is not None:
        where = describe_address(result.fault_address, result.is_write)
        if where is not None:
            thread, block = tuple(result.thread), tuple(result.block)
            return OutOfBoundsError(
                f"kernel '{kernel}': {where} in thread {thread} of block {block}"
                + _located(message))
    kind = {DEADLOCK: DeadlockError, STACK_OVERFLOW: StackOverflowError,
            SHARED_OUT_OF_BOUNDS: OutOfBoundsError}.get(result.status, KernelFault)
    return kind(f"kernel '{kernel}': {message}")


def _located(message: str) -> str:
    at = re.search(r" at \S+:\d+", message)
    return at.group(0) if at else ""


class _DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p),
                ("saddr", ctypes.c_void_p)]


def source_lines(message: str) -> str:
    """Replace each ``{pc:0x..}`` (a return address) in ``message`` with `` at file:line``."""
    return re.sub(r" ?\{pc:(0x[0-9a-f]+|\(nil\))\}", lambda m: _where(m.group(1)), message)


def _where(address: str) -> str:
    if address == "(nil)":
        return ""
    info = _DlInfo()
    libc = ctypes.CDLL(None)
    if not libc.dladdr(ctypes.c_void_p(int(address, 16)), ctypes.byref(info)) or not info.fname:
        return ""
    offset = int(address, 16) - (info.fbase or 0) - 1  # -1: the call instruction, not the next one
    try:
        out = subprocess.run(["addr2line", "-i", "-e", info.fname.decode(), hex(offset)],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # Innermost first: skip the inlined wrappers of our headers and of ptx.cuh's twins, for the
    # kernel's own line.
    for line in out.splitlines():
        if not line.startswith("??") and "/native/" not in line and "/ptx.cuh:" not in line and ":" in line:
            return f" at {line.split(' (discriminator')[0]}"
    return ""
