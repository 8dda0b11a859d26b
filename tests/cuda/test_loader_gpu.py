"""The cuda loader on a real GPU: compile errors, templates, big shared memory, faults that name the kernel."""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnn_gpu.cuda.loader import CompileError, CudaModule, KernelLaunchError

pytestmark = pytest.mark.gpu

SHARED_ECHO = r"""
template <typename T>
__global__ void shared_echo(const T* in, T* out, int n) {
    extern __shared__ unsigned char raw[];
    T* stage = reinterpret_cast<T*>(raw);
    for (int i = threadIdx.x; i < n; i += blockDim.x) stage[i] = in[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = stage[n - 1 - i];
}
"""


def test_a_compile_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.cu"
    bad.write_text('extern "C" __global__ void k(float* x) {\n    x[0] = undefined_name;\n}\n')
    with pytest.raises(CompileError, match=re.escape(f"{bad}(2): error: identifier \"undefined_name\" is undefined")):
        CudaModule(path=bad)


def test_a_template_instance_with_more_than_48_kb_of_dynamic_shared_memory():
    import cupy

    n = 20000  # 80 KB of float32: needs the raised per-kernel limit
    module = CudaModule(code=SHARED_ECHO, name_expressions=["shared_echo<float>"])
    x = cupy.arange(n, dtype=cupy.float32)
    out = cupy.full(n, cupy.nan, dtype=cupy.float32)
    module.get_function("shared_echo<float>")((1,), (256,), (x, out, np.int32(n)), shared_mem=4 * n)
    assert bool((out == x[::-1]).all())


def test_builds_are_cached_per_source_and_options():
    first = CudaModule(code=SHARED_ECHO, name_expressions=["shared_echo<float>"])
    again = CudaModule(code=SHARED_ECHO, name_expressions=["shared_echo<float>"])
    other = CudaModule(code=SHARED_ECHO, options=("-DUNUSED=1",), name_expressions=["shared_echo<float>"])
    assert first._raw is again._raw and other._raw is not first._raw


def test_a_bad_launch_names_the_kernel():
    import cupy

    module = CudaModule(code=SHARED_ECHO, name_expressions=["shared_echo<float>"])
    x = cupy.ones(4, dtype=cupy.float32)
    with pytest.raises(KernelLaunchError, match=r"shared_echo<float> \(grid=\(1, 1, 1\), block=\(2048, 1, 1\)"):
        module.get_function("shared_echo<float>")((1, 1, 1), (2048, 1, 1), (x, x, np.int32(4)))


def test_debug_sync_reports_an_illegal_address_with_the_kernel_name():
    # A fault poisons the CUDA context for the rest of the process: run it in a fresh one.
    program = textwrap.dedent('''
        import cupy, numpy as np
        from cnn_gpu.cuda.loader import CudaModule
        module = CudaModule(code='extern "C" __global__ void wild_store(float* x) { x[1ll << 40] = 1.0f; }')
        module.get_function("wild_store")((1,), (1,), (cupy.ones(1, dtype=cupy.float32),))
    ''')
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "CNN_GPU_DEBUG_SYNC": "1"})
    assert done.returncode != 0
    assert "KernelLaunchError: kernel wild_store" in done.stderr and "faulted while running" in done.stderr
