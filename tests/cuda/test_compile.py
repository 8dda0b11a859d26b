"""Every kernel file compiles with nvcc for sm_80 and sm_90: no warning, no unplanned spill.

Skipped, saying so, where nvcc is not installed. Each file's report, once it passed, is kept in the
cache for the next check of the same sources (and for ``cnn-gpu kernels``).
"""

from types import SimpleNamespace

import pytest

from cnn_gpu.cuda import compile_check
from cnn_gpu.cuda.compile_check import CompileCheckError, KernelResources
from cnn_gpu.cuda.kernel import declared_kernels
from cnn_gpu.cuda.sources import kernel_files

NVCC = compile_check.find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found: the compile check needs the CUDA toolkit")

PTXAS_SAMPLE = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z3fooIfEvPT_' for 'sm_90'
ptxas info    : Function properties for _Z3fooIfEvPT_
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 4096 bytes smem, 376 bytes cmem[0]
ptxas info    : Compiling entry function 'bar' for 'sm_80'
ptxas info    : Function properties for bar
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 14 registers, used 0 barriers, 376 bytes cmem[0]
"""


def test_the_ptxas_report_is_parsed_per_kernel():
    foo, bar = compile_check.parse_ptxas_report(PTXAS_SAMPLE)
    assert foo == {"mangled": "_Z3fooIfEvPT_", "arch": "sm_90", "registers": 255, "shared_bytes": 4096,
                   "stack_bytes": 16, "spill_store_bytes": 8, "spill_load_bytes": 4}
    assert (bar["registers"], bar["shared_bytes"], bar["spill_store_bytes"]) == (14, 0, 0)


def test_a_spill_fails_unless_the_kernel_may_spill():
    spilling = dict(file="f.cu", arch="sm_90", registers=255, shared_bytes=0, stack_bytes=8,
                    spill_store_bytes=8, spill_load_bytes=8)
    rows = [KernelResources(kernel="a<float>", may_spill=False, **spilling),
            KernelResources(kernel="b<float>", may_spill=True, **spilling)]
    assert [r.kernel for r in compile_check.spilling_kernels(rows)] == ["a<float>"]


def test_the_instantiation_source_takes_each_instance_address():
    source = compile_check.instantiation_source("reduce.cu", ["k<float, Reduce::sum>"])
    assert '#include "reduce.cu"' in source and "(void)&k<float, Reduce::sum>;" in source


def compile_planted(tmp_path, source, arch):
    """compile_file on a file of ``source`` (one kernel)."""
    planted = tmp_path / "planted.cu"
    planted.write_text(source)
    return compile_check.compile_file(NVCC, planted, arch, [])


@needs_nvcc
def test_a_warning_is_an_error(tmp_path):
    with pytest.raises(CompileCheckError, match="unused"):
        compile_planted(tmp_path, 'extern "C" __global__ void k(float* x) { int unused = 3; x[0] = 1.0f; }\n', "sm_90")


@needs_nvcc
def test_a_serialized_wgmma_is_an_error(tmp_path):
    # Reading the accumulators of a wgmma still in flight: ptxas makes every wgmma of the kernel wait
    # for the one before, and says so only as an info line ("Potential Performance Loss").
    with pytest.raises(CompileCheckError, match="performance loss.*\n.*wgmma.mma_async instructions are serialized"):
        compile_planted(tmp_path,
                        '#include "ptx.cuh"\n'
                        'extern "C" __global__ void k(float* out, unsigned long long desc) {\n'
                        '    float d[64] = {};\n'
                        '    for (int i = 0; i < 4; ++i) {\n'
                        '        wgmma_fence();\n'
                        '        wgmma_m64k8_tf32<128>(d, desc, desc);\n'
                        '        wgmma_commit_group();\n'
                        '        out[i] = d[i];  // too early: the wait below is what makes d readable\n'
                        '        wgmma_wait_group<1>();\n'
                        '    }\n'
                        '    wgmma_wait_group<0>();\n'
                        '    wgmma_fence_operands(d);\n'
                        '    out[threadIdx.x] = d[0];\n'
                        '}\n', "sm_90a")


@needs_nvcc
def test_a_register_operand_written_with_no_wgmma_fence_after_is_an_error(tmp_path):
    # A fragment of A loaded into registers between two wgmma with no fence before the second: ptxas
    # adds the fence itself (info C7519), so the source no longer says what runs.
    with pytest.raises(CompileCheckError, match="wgmma fences missing.*\n.*C7519"):
        compile_planted(tmp_path,
                        '#include "ptx.cuh"\n'
                        'extern "C" __global__ void k(const unsigned* a, float* out, unsigned long long desc) {\n'
                        '    float d[64] = {};\n'
                        '    unsigned frag[2][4];\n'
                        '    for (int i = 0; i < 4; ++i) frag[0][i] = a[i];\n'
                        '    wgmma_fence();\n'
                        '    wgmma_m64k8_tf32_a_in_registers<128>(d, frag[0], desc);\n'
                        '    wgmma_commit_group();\n'
                        '    for (int i = 0; i < 4; ++i) frag[1][i] = a[4 + i];  // no wgmma_fence after these\n'
                        '    wgmma_m64k8_tf32_a_in_registers<128>(d, frag[1], desc);\n'
                        '    wgmma_commit_group();\n'
                        '    wgmma_wait_group<0>();\n'
                        '    wgmma_fence_operands(d);\n'
                        '    out[threadIdx.x] = d[0];\n'
                        '}\n', "sm_90a")


def test_a_check_is_kept_until_a_source_or_declaration_it_depends_on_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "kernels"
    folder.mkdir()
    (folder / "f.cu").write_text("// f\n")
    (folder / "g.cuh").write_text("// g\n")
    compiles = []

    def compile_file(nvcc, path, arch, kernels):
        compiles.append(path.name)
        if "error" in path.read_text():
            raise CompileCheckError("nvcc failed")
        return [KernelResources(kernel="k", may_spill=False, file=path.name, arch=arch, registers=len(compiles),
                                shared_bytes=0, stack_bytes=0, spill_store_bytes=0, spill_load_bytes=0)]

    monkeypatch.setattr(compile_check, "compile_file", compile_file)
    declared = [SimpleNamespace(file="f.cu", name="k<1>", may_spill=False)]  # as Kernel, not registered
    check = lambda refresh=False: compile_check.checked_file(  # noqa: E731
        "nvcc", "nvcc 13.0", folder / "f.cu", "sm_90", declared, refresh)[0].registers
    assert (check(), check(), len(compiles)) == (1, 1, 1)
    (folder / "g.cuh").write_text("// g, changed\n")  # a header it may include
    assert (check(), check(), len(compiles)) == (2, 2, 2)
    declared.append(SimpleNamespace(file="f.cu", name="k<2>", may_spill=False))
    assert (check(), len(compiles)) == (3, 3)
    assert (check(refresh=True), check(), len(compiles)) == (4, 4, 4)
    assert compile_check.check_key("nvcc 13.1", folder / "f.cu", "sm_90", declared) != compile_check.check_key(
        "nvcc 13.0", folder / "f.cu", "sm_90", declared)
    for report in (tmp_path / "cache" / compile_check.CHECKS).iterdir():
        report.write_text('[{"kernel": "k"}]')  # not a whole row: compiled anew
    assert (check(), len(compiles)) == (5, 5)
    (folder / "f.cu").write_text("// an error\n")
    for _ in range(2):  # a check that failed is not kept: each one compiles, and fails, again
        with pytest.raises(CompileCheckError):
            check()
    assert len(compiles) == 7


@needs_nvcc
def test_every_kernel_compiles_for_every_arch_without_warnings_or_unplanned_spills():
    rows = compile_check.check_all(NVCC)
    print(compile_check.format_report(rows))
    assert not compile_check.spilling_kernels(rows), compile_check.format_report(compile_check.spilling_kernels(rows))
    for kernel in declared_kernels():
        for arch in compile_check.arches_for(kernel.file):
            found = [r for r in rows if r.file == kernel.file and r.arch == arch
                     and r.kernel.split("<")[0] == kernel.name.split("<")[0]]
            assert found, f"{kernel} produced no machine code for {arch}"
    assert {r.file for r in rows} <= {p.name for p in kernel_files()}
