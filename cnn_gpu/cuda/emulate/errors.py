"""The errors an emulated module raises; every one names the kernel it comes from."""

# A bad argument is refused with the error the signature layer (cnn_gpu.cuda.kernel) raises too.
from ..errors import KernelArgumentError  # noqa: F401 -- one of this module's errors


class EmulationError(RuntimeError):
    """Base class of everything the CUDA emulator raises about a kernel, but for a bad argument
    (``KernelArgumentError``, shared with the signature layer)."""


class EmulatorCompileError(EmulationError):
    """The host compiler rejected the source (its message names the .cu file and line)."""


class LaunchConfigError(EmulationError, ValueError):
    """A grid, block or shared memory size outside what CUDA allows."""


class KernelFault(EmulationError):
    """The kernel did something a GPU leaves undefined or traps on: an invalid memory access,
    integer division by zero, __trap(), a warp operation whose mask names an exited lane."""


class OutOfBoundsError(KernelFault):
    """An access past either end of an array argument or of dynamic shared memory."""


class StackOverflowError(KernelFault):
    """An emulated thread overflowed its 64 KiB stack."""


class DeadlockError(EmulationError):
    """No thread of a block can go on: a barrier or warp operation some threads never reach."""


class ScheduleDependenceError(EmulationError):
    """Two schedule orders gave different results: a missing __syncthreads/__syncwarp or a race."""
