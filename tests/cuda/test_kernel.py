"""The signature layer: every bad argument is refused, by name, before anything compiles or launches."""

import numpy as np
import pytest

from cnn_gpu.cuda import kernel as kernel_module
from cnn_gpu.cuda.kernel import Array, Kernel, KernelArgumentError, Scalar, runs_here
from helpers import RecordingModule


@pytest.fixture
def saxpy():
    declared = Kernel("test_only.cu", "saxpy", [Array("x", "float32", ndim=1), Array("y", "float32"),
                                                 Scalar("n", "int32"), Scalar("a", "float32")])
    yield declared
    kernel_module._REGISTRY.pop(("test_only.cu", "saxpy", ()))


def good_args():
    return [np.ones(5, np.float32), np.ones(5, np.float32), 5, 2.0]


def test_a_good_launch_passes_exact_c_types(saxpy, launches):
    saxpy((1,), (32,), good_args(), backend="emulate")
    (name, grid, block, args, shared), = launches
    assert (name, grid, block, shared) == ("saxpy", (1, 1, 1), (32, 1, 1), 0)
    assert type(args[2]) is np.int32 and type(args[3]) is np.float32


@pytest.mark.parametrize("index, value, message", [
    (0, np.ones(5, np.float64), "dtype float32, got float64"),
    (1, np.ones((4, 4), np.float32)[:, 1], "C-contiguous"),
    (0, np.ones((5, 1), np.float32), "1-D"),
    (0, [1.0] * 5, "numpy.ndarray on the 'emulate' backend, got builtins.list"),
    (2, 5.0, "must be an integer, got float"),
    (2, 2**31, "outside"),
    (2, True, "must be a number"),
    (3, "2", "must be a number"),
    (3, 1e39, "overflows float32"),
])
def test_a_bad_argument_is_named_and_nothing_launches(saxpy, launches, index, value, message):
    args = good_args()
    args[index] = value
    with pytest.raises(KernelArgumentError, match=message) as error:
        saxpy((1,), (32,), args, backend="emulate")
    assert repr(saxpy.params[index].name) in str(error.value)
    assert launches == []


def test_several_bad_arguments_name_the_first_whatever_its_kind(launches):
    # check_args tries the arrays before the scalars: a bad scalar before a bad array must still be the error.
    declared = Kernel("test_only.cu", "scalar_first", [Scalar("n", "int32"), Array("x", "float32")])
    try:
        with pytest.raises(KernelArgumentError, match="'n'"):
            declared((1,), (32,), [True, np.ones(5, np.float64)], backend="emulate")
        with pytest.raises(KernelArgumentError, match="'x'"):
            declared((1,), (32,), [5, np.ones(5, np.float64)], backend="emulate")
    finally:
        kernel_module._REGISTRY.pop(("test_only.cu", "scalar_first", ()))
    assert launches == []


class _Subclass(np.ndarray):
    pass


@pytest.mark.parametrize("index, value", [
    (0, np.ones(5, np.float32).view(_Subclass)), (1, np.ones(5, np.dtype("float32").newbyteorder("="))),
    (2, np.int64(5)), (2, np.uint8(5)), (3, np.float64(2.0)), (3, 2), (3, float("nan")), (3, float("-inf")),
])
def test_arguments_other_than_the_usual_ones_pass_as_before(saxpy, launches, index, value):
    # Not what wrappers usually pass (check_args's fast path), but right: the full checks accept and cast them.
    args = good_args()
    args[index] = value
    saxpy((1,), (32,), args, backend="emulate")
    (*_, launched, _), = launches
    assert [type(a) for a in launched] == [type(args[0]), type(args[1]), np.int32, np.float32]
    assert launched[index] is value or launched[index] == value or np.isnan(launched[index])


@pytest.mark.parametrize("ctype, value, expected", [
    ("int32", 2**31 - 1, 2**31 - 1), ("int32", -2**31, -2**31), ("int32", np.int64(7), 7),
    ("uint32", 2**32 - 1, 2**32 - 1), ("int64", -2**63, -2**63), ("float32", 2.5, 2.5),
    ("float32", float(np.finfo(np.float32).max), np.finfo(np.float32).max), ("float32", 3, 3.0),
    ("float32", float("inf"), np.inf), ("float32", np.float64(-0.0), -0.0), ("float64", 1e300, 1e300),
])
def test_a_scalar_becomes_its_exact_c_type_with_its_value(ctype, value, expected):
    checked = Scalar("s", ctype).check(value, "k", "emulate")
    assert type(checked) is np.dtype(ctype).type and checked == expected
    assert np.signbit(checked) == np.signbit(expected)


@pytest.mark.parametrize("ctype, value, message", [
    ("int32", 2**31, "outside"), ("int32", -2**31 - 1, "outside"), ("uint32", -1, "outside"),
    ("float32", 3.5e38, "overflows"), ("float32", -3.5e38, "overflows"), ("int64", 1.0, "must be an integer"),
    ("float32", np.bool_(True), "must be a number"), ("int32", None, "must be a number"),
])
def test_a_scalar_out_of_its_c_type_is_refused(ctype, value, message):
    with pytest.raises(KernelArgumentError, match=message):
        Scalar("s", ctype).check(value, "k", "emulate")


def test_the_cuda_backend_refuses_numpy_arrays_before_asking_for_the_device(saxpy, launches, fake_cupy):
    # Asking needs a working driver: where there is none, the wrong argument must still be the error.
    with pytest.raises(KernelArgumentError, match="'x' must be a cupy.ndarray on the 'cuda' backend, got numpy"):
        saxpy((1,), (32,), good_args(), backend="cuda")
    assert fake_cupy.asked == 0 and launches == []


def test_the_cuda_backend_asks_for_the_device_once_per_launch_and_names_an_array_elsewhere(saxpy, launches,
                                                                                          fake_cupy):
    x, y = (fake_cupy.asarray(v) for v in good_args()[:2])
    saxpy((1,), (32,), [x, y, 5, 2.0], backend="cuda")
    assert fake_cupy.asked == 1 and len(launches) == 1
    with pytest.raises(KernelArgumentError, match="saxpy: argument 'y' is on GPU 1, but the current device is GPU 0"):
        saxpy((1,), (32,), [x, fake_cupy.asarray(y, gpu=1), 5, 2.0], backend="cuda")
    assert len(launches) == 1


def test_cast_gives_scalars_their_exact_c_types_or_names_the_one_that_does_not_fit(saxpy):
    n, a = saxpy.cast(n=5, a=2)
    assert (type(n), n, type(a), a) == (np.int32, 5, np.float32, 2.0)
    with pytest.raises(KernelArgumentError, match=r"saxpy: argument 'n' \(int32\) = 2147483648 is outside"):
        saxpy.cast(n=2**31)


def test_wrong_argument_count(saxpy, launches):
    with pytest.raises(KernelArgumentError, match=r"takes 4 arguments \(x, y, n, a\), got 3"):
        saxpy((1,), (32,), good_args()[:3], backend="emulate")


@pytest.mark.parametrize("grid, block, shared, message", [
    ((0,), (32,), 0, "grid"),
    ((1,), (2048,), 0, "block"),
    ((1,), (32, 32, 2), 0, "more than 1024 threads"),
    ((1.0,), (32,), 0, "grid"),
    ((1,), (32,), -1, "shared_mem"),
])
def test_bad_launch_geometry(saxpy, launches, grid, block, shared, message):
    with pytest.raises(KernelArgumentError, match=message):
        saxpy(grid, block, good_args(), shared_mem=shared, backend="emulate")
    assert launches == []


def test_a_checked_geometry_is_kept_but_an_equal_one_of_another_type_is_checked_again(saxpy, launches):
    saxpy((1,), (32,), good_args(), backend="emulate")
    assert kernel_module._CHECKED_LAUNCHES[((1,), (32,), 0)] == ((1, 1, 1), (32, 1, 1), 0)
    with pytest.raises(KernelArgumentError, match="grid"):  # (1.0,) == (1,) as a key, but no int
        saxpy((1.0,), (32,), good_args(), backend="emulate")
    assert len(launches) == 1


def test_unknown_backend_is_refused(saxpy, launches):
    with pytest.raises(ValueError, match="kernel backend must be one of"):
        saxpy((1,), (32,), good_args(), backend="numpy")


def test_redeclaring_a_kernel_with_other_parameters_fails(saxpy):
    with pytest.raises(ValueError, match="declared twice"):
        Kernel("test_only.cu", "saxpy", [Array("x", "float32")])


def test_one_compile_per_file_and_backend_serves_every_kernel(launches, monkeypatch):
    from cnn_gpu.ops import reduce

    opened = []
    monkeypatch.setattr(kernel_module, "open_module",
                        lambda backend, **kw: opened.append((backend, kw)) or RecordingModule(launches))
    x, out = np.ones((3, 4), np.float32), np.empty(3, np.float32)
    for variant in ("naive", "shuffle"):
        reduce.row_reduce(x, "sum", variant, out=out, backend="emulate")
    reduce.row_reduce(x.astype(np.float64), "max", out=out.astype(np.float64), backend="emulate")
    assert [backend for backend, _ in opened] == ["emulate"]
    (_, options), = opened
    assert options["path"] == "/kernels/reduce.cu"
    # Every kernel the file declares, the column sums' too, from that one compile.
    assert len(options["name_expressions"]) == len(reduce.KERNELS) + sum(map(len, reduce.COLUMN_KERNELS.values()))
    assert [name for name, *_ in launches] == ["row_reduce_naive<float, Reduce::sum>",
                                              "row_reduce_shuffle<float, Reduce::sum>",
                                              "row_reduce_shuffle<double, Reduce::max>"]


def test_name_expressions_collect_every_template_of_a_file():
    first = Kernel("test_only.cu", "tmpl<float>", [Array("x", "float32")])
    second = Kernel("test_only.cu", "tmpl<double>", [Array("x", "float64")])
    try:
        assert kernel_module.name_expressions_for("test_only.cu", ()) == ("tmpl<double>", "tmpl<float>")
    finally:
        for declared in (first, second):
            kernel_module._REGISTRY.pop((declared.file, declared.name, ()))


def test_every_op_kernel_is_registered():
    names = {k.name for k in kernel_module.declared_kernels()}
    assert {"transpose_smem_tiled", "row_reduce_shuffle<float, Reduce::sum>"} <= names


def test_an_arch_specific_file_runs_in_the_emulator_and_on_its_own_gpu_only(monkeypatch):
    import sys
    import types

    assert runs_here("gemm_wgmma.cu", "emulate") and runs_here("gemm_simt.cu", "cuda")
    for capability, expected in (("90", True), ("80", False), ("100", False)):
        device = types.SimpleNamespace(compute_capability=capability)
        monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=types.SimpleNamespace(Device=lambda: device)))
        assert runs_here("gemm_wgmma.cu", "cuda") is expected, capability
