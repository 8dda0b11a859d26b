"""The cuda loader's behaviour that needs no GPU: NVRTC compiles, the disk cache, error messages,
launch-error wrapping.

NVRTC runs on the CPU, so every kernel file is compiled here exactly as the GPU machine will
compile it (same options, same name expressions); only CuPy's device query is stood in for.
"""

import os

import pytest

from cnn_gpu.cuda import kernel as kernel_module
from cnn_gpu.cuda.device import gpu_status
from cnn_gpu.cuda.loader import (CompileError, CudaFunction, CudaModule, KernelLaunchError, build_key, build_options,
                                 compile_cubin, compile_options, target_architecture)
from cnn_gpu.cuda.sources import kernel_files, kernels_dir, target_arch
from cnn_gpu.utils.files import kept_result

cupy = pytest.importorskip("cupy")


@pytest.fixture
def nvrtc():
    try:
        cupy.cuda.nvrtc.getVersion()
    except Exception as error:
        pytest.skip(f"the NVRTC library is not installed: {error}")


@pytest.mark.parametrize("path", kernel_files(), ids=lambda p: p.name)
def test_every_kernel_file_compiles_under_nvrtc(nvrtc, path):
    # As CudaModule builds it on an sm_90 GPU: the file's own target where it has one. Its lowered names
    # are kept in the cache (kept_result) under the build's key without the include folders, whose
    # files the options' header hash covers: a checkout elsewhere with the same sources, declarations
    # and NVRTC reads them back, where NVRTC would take up to a minute to compile the file again.
    names = [k.name for k in kernel_module.declared_kernels() if k.file == path.name]
    target = target_arch(path.name)
    options = build_options((f"-arch={target}",) if target else (), path.parent, "90")
    assert target_architecture(options) == (target or "sm_90") and options[-1] == "-ftz=true"
    assert any(option.startswith("-DCNN_GPU_HEADERS=") for option in options)
    code = path.read_text()
    key = build_key(code, [option for option in options if not option.startswith("-I")], names)
    mapping = kept_result("nvrtc_check", key, lambda: compile_cubin(code, options, names, path.name)[1], 1 << 20)
    assert set(mapping) == set(names)


def test_a_compile_error_names_the_file_and_line(nvrtc, tmp_path):
    assert target_architecture(("-I.", "-arch=sm_90a")) == "sm_90a"
    assert target_architecture(("--gpu-architecture=sm_90a",)) == "sm_90a"
    assert target_architecture(("-std=c++17",)) is None
    bad = tmp_path / "broken.cu"
    bad.write_text('extern "C" __global__ void k(float* x) {\n    x[0] = 1.0f\n}\n')
    with pytest.raises(CompileError, match=rf"NVRTC could not compile {bad}:\n{bad}\(3\): error"):
        compile_cubin(bad.read_text(), build_options((), bad.parent, "90"), (), str(bad))


def test_includes_resolve_from_the_kernels_folder():
    assert f"-I{kernels_dir()}" in compile_options() and "-std=c++17" in compile_options()


def test_without_a_gpu_the_module_refuses_with_the_probe_reason():
    status = gpu_status()
    if status.available:
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="needs a usable GPU: " + status.reason[:20]):
        CudaModule(code='extern "C" __global__ void k() {}')


class FakeRawKernel:
    max_dynamic_shared_size_bytes = 0

    def __init__(self, error=None):
        self.error = error

    def __call__(self, grid, block, args, shared_mem=0):
        if self.error:
            raise self.error


def test_a_launch_error_names_the_kernel():
    function = CudaFunction(FakeRawKernel(cupy.cuda.runtime.CUDARuntimeError(1)), "my_kernel<float>")
    with pytest.raises(KernelLaunchError, match=r"my_kernel<float> \(grid=\(2, 1, 1\)"):
        function((2, 1, 1), (32, 1, 1), ())


def test_debug_sync_turns_an_asynchronous_fault_into_an_error_naming_the_kernel(monkeypatch):
    class FaultingStream:
        def synchronize(self):
            raise cupy.cuda.runtime.CUDARuntimeError(700)  # cudaErrorIllegalAddress

    monkeypatch.setattr(cupy.cuda, "get_current_stream", lambda: FaultingStream())
    function = CudaFunction(FakeRawKernel(), "faulty")
    monkeypatch.setenv("CNN_GPU_DEBUG_SYNC", "0")
    function((1, 1, 1), (1, 1, 1), ())  # not synchronised: the fault stays hidden
    monkeypatch.setenv("CNN_GPU_DEBUG_SYNC", "1")
    with pytest.raises(KernelLaunchError, match="faulty .* faulted while running"):
        function((1, 1, 1), (1, 1, 1), ())


def test_large_dynamic_shared_memory_raises_the_kernels_limit_first():
    raw = FakeRawKernel()
    CudaFunction(raw, "big")((1, 1, 1), (1, 1, 1), (), shared_mem=100 * 1024)
    assert raw.max_dynamic_shared_size_bytes == 100 * 1024
    small = FakeRawKernel()
    CudaFunction(small, "small")((1, 1, 1), (1, 1, 1), (), shared_mem=1024)
    assert small.max_dynamic_shared_size_bytes == 0


def test_code_or_path_exactly():
    with pytest.raises(ValueError, match="exactly one"):
        CudaModule()
    with pytest.raises(ValueError, match="exactly one"):
        CudaModule(code="", path="x.cu")


def test_a_build_is_compiled_once_and_then_loaded_from_the_disk_cache(tmp_path, monkeypatch):
    # A GEMM module takes NVRTC up to seconds, and gpu_check.sh runs a process per rung and per
    # benchmark: a later process must load the first one's cubin. A change to a file the source
    # includes is a new build (compile_options hashes the headers and kernel files).
    from cnn_gpu.cuda import loader

    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(loader, "nvrtc_version", lambda: (13, 0))
    builds = []
    monkeypatch.setattr(loader, "compile_cubin", lambda code, options, names, label: builds.append(code) or (
        b"cubin of " + code.encode(), {name: f"_Z{name}" for name in names}))
    headers = tmp_path / "include"
    headers.mkdir()
    (headers / "common.cuh").write_text("// version 1\n")
    build = lambda: loader.cached_cubin("k<1>", loader.compile_options(("-arch=sm_90a",), headers),  # noqa: E731
                                        ("k<1>",), "k.cu")
    first, second = build(), build()
    assert len(builds) == 1 and first == second
    assert first[0].read_bytes() == b"cubin of k<1>" and first[1] == {"k<1>": "_Zk<1>"}
    (headers / "common.cuh").write_text("// version 2\n")
    build()
    assert len(builds) == 2
    # A kernel file may include another (conv2d_wgmma.cu includes conv2d.cu): an edit of one is a new build too.
    (headers / "rung.cu").write_text("// version 1\n")
    build()
    assert len(builds) == 3


def test_a_cubin_found_is_marked_used_and_a_new_build_prunes_the_least_recently_used(tmp_path, monkeypatch):
    from cnn_gpu.cuda import loader
    from cnn_gpu.utils import files

    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "_pruned", set())
    monkeypatch.setattr(loader, "nvrtc_version", lambda: (13, 0))
    monkeypatch.setattr(loader, "compile_cubin", lambda code, options, names, label: (b"c" * 100, {}))
    cubin, _ = loader.cached_cubin("k", ("-arch=sm_90",), (), "k.cu")
    for path in cubin.parent.iterdir():
        os.utime(path, (1, 1))
    loader.cached_cubin("k", ("-arch=sm_90",), (), "k.cu")
    assert all(path.stat().st_mtime > 1 for path in cubin.parent.iterdir()), "a cache hit must count as a use"
    stale = cubin.parent / "stale.cubin"
    stale.write_bytes(b"c" * 1000)
    os.utime(stale, (1, 1))
    monkeypatch.setattr(loader, "CUBIN_CACHE_LIMIT_BYTES", 200)
    monkeypatch.setattr(files, "_pruned", set())  # the first build pruned this process's share
    loader.cached_cubin("k2", ("-arch=sm_90",), (), "k2.cu")
    assert not stale.exists() and cubin.exists() and len(list(cubin.parent.glob("*.cubin"))) == 2
