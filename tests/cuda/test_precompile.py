"""``cnn-gpu compile``: every declared module built ahead, in parallel, into the cache a launch reads.

What must hold for it to save anything: the module a kernel launch asks for (kernel.module_for ->
CudaModule) is the very build precompile made, to the option. The first test holds every declared
(file, options) to that, with NVRTC stood in for and CuPy's device calls answered as an sm_90 GPU
would; the second runs NVRTC for real in the worker processes, on small files.
"""

from types import SimpleNamespace

import pytest

from cnn_gpu import cli
from cnn_gpu.cuda import device, kernel, loader, precompile
from cnn_gpu.cuda.sources import ARCH_SPECIFIC, kernels_dir
from cnn_gpu.utils import files

cupy = pytest.importorskip("cupy")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "cache"))  # the workers inherit it
    return files.cache_folder("cubin")


@pytest.fixture
def fake_sm90(monkeypatch):
    """CudaModule on a pretend sm_90 GPU whose NVRTC is a recorder: the list of what it compiled."""
    compiled = []
    monkeypatch.setattr(loader, "nvrtc_version", lambda: (13, 0))
    monkeypatch.setattr(loader, "compile_cubin", lambda code, options, names, label: compiled.append(label) or (
        b"cubin", {name: f"lowered {name}" for name in names}))
    monkeypatch.setattr(device, "gpu_status", lambda: SimpleNamespace(available=True, compute_capability="90"))
    monkeypatch.setattr(cupy.cuda, "Device", lambda: SimpleNamespace(compute_capability="90"))
    monkeypatch.setattr(cupy, "RawModule", lambda path: SimpleNamespace(path=path))
    monkeypatch.setattr(kernel, "_MODULES", {})
    monkeypatch.setattr(loader.CudaModule, "_builds", {})
    return compiled


def test_every_launch_loads_the_build_precompile_made(cache, fake_sm90):
    builds = precompile.declared_builds("90", benchmark_builds=True)
    kernels = kernel.declared_kernels()
    # A module a template instance, and one a file for its extern "C" kernels; sm_90 runs every file,
    # the sm_90a ones too.
    assert len(builds) == len({(k.file, k.options, k.name if k.templated else "") for k in kernels})
    assert all(len(b.name_expressions) <= 1 for b in builds)
    # Without benchmark_builds, only the library's: the tile sweep's -lineinfo builds are left out.
    library = precompile.declared_builds("90")
    assert {b.label for b in library} == {b.label for b in builds if "-lineinfo" not in b.label} != \
        {b.label for b in builds}
    assert precompile.missing(builds) == builds
    for build in builds:
        precompile.compile_build(build)
    assert len(fake_sm90) == len(builds) and precompile.missing(builds) == []
    for each in kernels:
        kernel.module_for(each, "cuda")
    assert len(fake_sm90) == len(builds), "a launch compiled what precompile had built"
    # On an sm_80 GPU the Hopper-only files are left out, and nothing else.
    files = {k.file for k in kernels}
    assert {b.path.name for b in precompile.declared_builds("80", True)} == files - set(ARCH_SPECIFIC) != files


def test_builds_compile_in_worker_processes_and_a_failure_comes_last(cache, tmp_path):
    try:
        cupy.cuda.nvrtc.getVersion()
    except Exception as error:
        pytest.skip(f"the NVRTC library is not installed: {error}")
    small = [next(b for b in precompile.declared_builds("80") if b.path.name == name)
             for name in ("transpose.cu", "reduce.cu")]
    broken = tmp_path / "broken.cu"
    broken.write_text('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }\n')
    builds = [precompile.Build(broken, loader.build_options((), kernels_dir(), "80"), (), "broken.cu"), *small]
    lines = []
    with pytest.raises(loader.CompileError, match="undefined_name"):
        precompile.precompile(builds, jobs=2, report=lines.append)
    assert sorted(line.split()[0].rstrip(":") for line in lines) == ["broken.cu", "reduce.cu", "transpose.cu"]
    assert "broken.cu: failed" in lines
    assert len(list(cache.glob("*.cubin"))) == 2  # the others were built and kept
    assert all(seconds < 1 for _, seconds in precompile.precompile(small, jobs=1, report=lines.append))


def test_the_command_needs_a_gpu_or_an_architecture(capsys, monkeypatch):
    monkeypatch.setattr(device, "gpu_status", lambda: SimpleNamespace(available=False, reason="no driver"))
    assert cli.main(["compile"]) == 1
    assert "no usable GPU (no driver): name an architecture" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compile", "--arch", "sm90"])
    assert "--arch: must be a GPU architecture such as sm_90, got sm90" in capsys.readouterr().err


def test_the_command_refuses_a_cache_it_cannot_write(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_process_root", None)
    monkeypatch.setattr(files.atexit, "register", lambda *args: None)
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "a_file" / "cache"))  # below a file: no folder
    with pytest.warns(UserWarning, match="cannot write its cache folder"):
        assert cli.main(["compile", "--arch", "sm_90"]) == 1
    assert "the kernel cache cannot be written, so there is nothing to fill" in capsys.readouterr().err
    files.shutil.rmtree(files._process_root)


def test_the_summary_has_a_line_a_file_the_most_compiling_first():
    def build(label, instance):
        return precompile.Build(kernels_dir() / "x.cu", (), (instance,), label)

    done = [(build("a.cu", "f<1>"), 0.5), (build("b.cu -lineinfo", "g<1>"), 2.0), (build("a.cu", "f<2>"), 1.7)]
    assert precompile.per_file(done) == ["a.cu: 2 modules, 2.2 s of compiling, the longest 1.7 s",
                                         "b.cu -lineinfo: 1 module, 2.0 s of compiling, the longest 2.0 s"]
