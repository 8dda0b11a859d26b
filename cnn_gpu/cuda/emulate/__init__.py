"""Run CUDA C kernels on the CPU: the same .cu source, compiled by the host C++ compiler.

See README.md beside this file for how it works, what checked mode catches and what differs from
a GPU.
"""

from .errors import (DeadlockError, EmulationError, EmulatorCompileError, KernelArgumentError,
                     KernelFault, LaunchConfigError, OutOfBoundsError, ScheduleDependenceError,
                     StackOverflowError)
from .module import EmulatedKernel, EmulatedModule

__all__ = ["EmulatedModule", "EmulatedKernel", "EmulationError", "EmulatorCompileError",
           "KernelArgumentError", "LaunchConfigError", "KernelFault", "OutOfBoundsError",
           "StackOverflowError", "DeadlockError", "ScheduleDependenceError"]
