"""Building and calling: compile errors, the cache, options, kernel lookup, argument checks."""

import os

import numpy as np
import pytest

from cnn_gpu.cuda.emulate import (EmulatedModule, EmulationError, EmulatorCompileError,
                                  KernelArgumentError, LaunchConfigError, build)

FILL = r"""
extern "C" __global__ void fill(float* out, float value, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value + EXTRA;
}
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "emulate"


def fill(module, n=10):
    out = np.full(n, np.nan, np.float32)
    module.get_function("fill")(1, 32, (out, np.float32(2), np.int32(n)))
    return out


def test_a_compile_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.cu"
    path.write_text('extern "C" __global__ void broken(float* x) {\n    x[0] = undeclared;\n}\n')
    with pytest.raises(EmulatorCompileError, match=r"broken\.cu:2:\d+: error: .undeclared. was not declared"):
        EmulatedModule(path=path).get_function("broken")


def test_defines_and_ignored_options():
    module = EmulatedModule(code=FILL, options=("-DEXTRA=0.5f", "--use_fast_math", "-arch=sm_90", "-std=c++17"))
    np.testing.assert_array_equal(fill(module), 2.5)


def test_the_emulated_build_defines_cnn_gpu_emulate():
    module = EmulatedModule(code="#ifdef CNN_GPU_EMULATE\n#define EXTRA 1\n#endif\n" + FILL)
    np.testing.assert_array_equal(fill(module), 3.0)


def test_includes_from_the_module_folder_and_include_dirs_and_their_changes_rebuild(tmp_path, cache):
    (tmp_path / "inc").mkdir()
    header = tmp_path / "inc" / "extra.cuh"
    header.write_text("#define EXTRA 1.0f\n")
    (tmp_path / "local.cuh").write_text('#include "extra.cuh"\n')
    path = tmp_path / "fill.cu"
    path.write_text('#include "local.cuh"\n' + FILL)
    np.testing.assert_array_equal(fill(EmulatedModule(path=path, options=(f"-I{tmp_path / 'inc'}",))), 3.0)
    header.write_text("#define EXTRA 4.0f\n")
    np.testing.assert_array_equal(fill(EmulatedModule(path=path, options=("-I", str(tmp_path / "inc")))), 6.0)


def test_the_cache_compiles_each_module_once(cache, monkeypatch):
    fill(EmulatedModule(code=FILL, options=("-DEXTRA=0",)))
    libraries = sorted(cache.glob("module-*.so"))
    assert len(libraries) == 1

    def no_compiler(*args):
        raise AssertionError("compiled again despite the cache")

    monkeypatch.setattr(build, "_compile_atomically", no_compiler)
    np.testing.assert_array_equal(fill(EmulatedModule(code=FILL, options=("-DEXTRA=0",))), 2.0)
    assert not list(cache.glob("*.tmp"))


def test_a_cache_hit_marks_its_library_used_and_a_build_prunes_the_least_recently_used(cache, monkeypatch):
    from cnn_gpu.utils import files

    monkeypatch.setattr(files, "_pruned", set())
    fill(EmulatedModule(code=FILL, options=("-DEXTRA=0",)))
    library, = cache.glob("module-*.so")
    os.utime(library, (1, 1))
    fill(EmulatedModule(code=FILL, options=("-DEXTRA=0",)))
    assert library.stat().st_mtime > 1, "a cache hit must count as a use"
    stale = cache / "module-stale.so"
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (1, 1))
    monkeypatch.setattr(build, "CACHE_LIMIT_BYTES", sum(p.stat().st_size for p in cache.iterdir()) - 1)
    monkeypatch.setattr(files, "_pruned", set())  # the first build pruned this process's share
    fill(EmulatedModule(code=FILL, options=("-DEXTRA=1",)))
    assert not stale.exists() and library.exists() and len(list(cache.glob("module-*.so"))) == 2


SEVERAL = r"""
__global__ void cpp_linkage(float* x) {}
template <class T> __global__ void templated(T* x) { x[threadIdx.x] = T(threadIdx.x); }
extern "C" {
__global__ void in_extern_block(const float* __restrict__ x, int n, unsigned flags, double scale, bool on) {}
}
"""


@pytest.fixture(scope="module")
def several():
    return EmulatedModule(code=SEVERAL, name_expressions=["templated<int>"])


@pytest.mark.parametrize("name, words", [
    ("missing", "no kernel 'missing'"),
    ("templated", "needs its instance"),
    ("cpp_linkage", "has C\\+\\+ linkage"),
])
def test_kernel_lookup_errors(several, name, words):
    with pytest.raises(EmulationError, match=words):
        several.get_function(name)


def test_kernels_inside_an_extern_c_block_and_name_expressions(several):
    x = np.zeros(4, np.int32)
    several.get_function("templated<int>")(1, 4, (x,))
    assert list(x) == [0, 1, 2, 3]
    assert several.get_function("in_extern_block").param_names == ("x", "n", "flags", "scale", "on")


GOOD = (np.zeros(3, np.float32), np.int32(3), np.uint32(1), np.float64(2), np.bool_(True))


@pytest.mark.parametrize("position, value, words", [
    (1, 3, r"argument 1 \('n'\) must be a NumPy scalar .* np.int32\(3\)"),
    (1, np.int64(3), r"argument 1 \('n'\) is int64, but the parameter is int32: cast it"),
    (2, np.int32(1), r"'flags'\) is int32, but the parameter is uint32"),
    (3, 2.0, r"'scale'\) must be a NumPy scalar .* np.float64\(2.0\)"),
    (0, np.zeros(3, np.float64), r"argument 0 \('x'\) points to float32, but the array is float64"),
    (0, np.zeros((4, 4), np.float32)[:, 1], r"'x'\) is not contiguous"),
    (0, [1.0, 2.0], r"'x'\) is a pointer parameter: pass a NumPy array, not list"),
    (1, np.zeros(1, np.int32), r"'n'\) must be a NumPy scalar"),
])
def test_argument_type_errors(several, position, value, words):
    args = list(GOOD)
    args[position] = value
    with pytest.raises(KernelArgumentError, match=words):
        several.get_function("in_extern_block")(1, 1, tuple(args))


def test_argument_count_error_lists_the_parameters(several):
    with pytest.raises(KernelArgumentError, match=r"takes 5 arguments \('x', 'n', 'flags', 'scale', 'on'\), got 2"):
        several.get_function("in_extern_block")(1, 1, GOOD[:2])


@pytest.mark.parametrize("grid, block, shared_mem, words", [
    (1, 1025, 0, r"block.x = 1025 is outside 1..1024"),
    (1, (32, 32, 2), 0, "more than 1024 threads"),
    (1, (1, 1, 65), 0, r"block.z = 65 is outside 1..64"),
    ((1, 65536), 1, 0, r"grid.y = 65536"),
    (0, 1, 0, r"grid.x = 0"),
    ((1, 1, 1, 1), 1, 0, "up to 3 ints"),
    (1.0, 1, 0, "an int or a tuple"),
    (1, 1, 228 * 1024, "shared_mem"),
])
def test_launch_configuration_errors(several, grid, block, shared_mem, words):
    with pytest.raises(LaunchConfigError, match=words):
        several.get_function("in_extern_block")(grid, block, GOOD, shared_mem=shared_mem)


def test_code_and_path_are_exclusive():
    with pytest.raises(TypeError, match="exactly one of code= and path="):
        EmulatedModule()
