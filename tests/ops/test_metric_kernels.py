"""The accuracy-count kernels of kernels/metric.cu against the reference count_correct of cnn_gpu.ops.metric.

Separate from test_metric.py (the reference's own tests). A count is an integer: every kernel's must
equal the reference's exactly. Ties and NaNs are checked against NumPy's argmax row by row, through
labels that make any other choice change the count.
"""

import numpy as np
import pytest

from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import metric
from cnn_gpu.ops.metric import ARGMAX_VARIANTS, count_correct, count_correct_kernel
from helpers import on_backend, random_array, to_host

# One element; one row; one class; fewer classes than lanes; rows fewer and more than a block's 8
# warps; 33 and 257 classes (a lane with one element more than the others, then nine); more rows
# than a block of rung 1 holds.
SHAPES = [(1, 1), (1, 10), (6, 1), (5, 3), (7, 10), (33, 10), (9, 33), (3, 257), (300, 10)]
DTYPES = [np.float32, np.float64]
# How the labels reach the kernel: one-hot in pred's dtype, or class ids of a dtype and shape.
LABELS = ["one_hot", "int32 (N,)", "int64 (N, 1)"]


def make_labels(ids, classes, form, dtype):
    """``(labels, kind)``: class ``ids`` as one-hot of ``dtype`` or as ids of the form named."""
    if form == "one_hot":
        return np.eye(classes, dtype=dtype)[ids], "categorical"
    id_dtype, shape = form.split(" ", 1)
    ids = ids.astype(id_dtype)
    return (ids[:, None] if shape == "(N, 1)" else ids), "sparse"


def run_kernel(pred, labels, kind, backend, **kwargs):
    """The kernel's count as a Python int, into a count poisoned with -1 before the call."""
    xp = backend_xp(backend)
    count = xp.full((), -1, dtype=np.int32)
    out = count_correct_kernel(on_backend(pred, backend), on_backend(labels, backend), kind, count=count,
                               backend=backend, **kwargs)
    assert out is count and isinstance(out, xp.ndarray) and out.shape == () and out.dtype == np.int32
    return int(to_host(out))


def some_right(rng, pred):
    """Class ids matching pred's argmax in about half the rows and random elsewhere."""
    ids = rng.integers(0, pred.shape[1], size=pred.shape[0])
    right = rng.random(pred.shape[0]) < 0.5
    ids[right] = pred.argmax(axis=1)[right]
    return ids


@pytest.mark.parametrize("form", LABELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", ARGMAX_VARIANTS)
def test_argmax_variant_counts_as_the_reference(rng, kernel_backend, variant, shape, dtype, form):
    pred = random_array(rng, shape, dtype, -4, 4)
    labels, kind = make_labels(some_right(rng, pred), shape[1], form, dtype)
    expected = int(count_correct(pred, labels, kind))
    assert run_kernel(pred, labels, kind, kernel_backend, variant=variant) == expected


def tied_rows(rng, dtype, classes):
    """Rows whose maximum occurs more than once: all equal, copies of the max at random columns (one
    of them in the last lane's second element), infinities, zeros of both signs."""
    rows = [np.full(classes, 0.25), np.full(classes, -np.inf), np.full(classes, np.inf)]
    for _ in range(6):
        row = rng.uniform(-4, 4, classes)
        copies = rng.choice(classes, size=3, replace=False)
        row[copies] = row.max()
        rows.append(row)
    row = rng.uniform(-4, 4, classes)
    row[[5, 31 + 32]] = 9.0  # lane 5's first and lane 31's second element: the butterfly must prefer column 5
    rows.append(row)
    row = np.full(classes, -1.0)
    row[[2, 7, 40]] = [-0.0, 0.0, -0.0]  # equal as numbers: the first wins
    rows.append(row)
    row = rng.uniform(-4, 4, classes)
    row[[3, 50]] = np.inf
    rows.append(row)
    return np.array(rows, dtype=dtype)


def nan_rows(rng, dtype, classes):
    """Rows holding NaNs, which NumPy's argmax takes as the maximum (the first NaN)."""
    rows = rng.uniform(-4, 4, (7, classes))
    rows[0, 0] = np.nan
    rows[1, 35] = np.nan  # lane 3's second element, none of lane 0's: the butterfly must carry it
    rows[2, [40, 9, 33]] = np.nan  # three NaNs in three lanes: the first wins
    rows[3, :] = np.nan
    rows[4, [1, 2]] = [np.inf, np.nan]  # a NaN beats an infinity before it
    rows[5, [60, 61]] = [np.nan, np.inf]
    rows[6, classes - 1] = np.nan
    return rows.astype(dtype)


def check_against_numpy_argmax(pred, variant, backend):
    """Labels at NumPy's argmax must all count, and labels at any other column (of a tied maximum,
    where there is one) none, on both argmax kinds."""
    rows, classes = pred.shape
    right = pred.argmax(axis=1)
    # Another tied column where the row has one (another NaN, or another copy of the max), else the next.
    other = np.array([next((c for c in np.flatnonzero((row == row[r]) | (np.isnan(row) & np.isnan(row[r])))
                            if c != r), (r + 1) % classes) for row, r in zip(pred, right)])
    for ids, expected in ((right, rows), (other, 0)):
        for form in ("one_hot", "int32 (N,)"):
            labels, kind = make_labels(ids, classes, form, pred.dtype)
            assert int(count_correct(pred, labels, kind)) == expected
            assert run_kernel(pred, labels, kind, backend, variant=variant) == expected, f"{form}, {expected}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ARGMAX_VARIANTS)
def test_ties_go_to_the_first_maximum_as_numpy_argmax(rng, kernel_backend, variant, dtype):
    check_against_numpy_argmax(tied_rows(rng, dtype, 70), variant, kernel_backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ARGMAX_VARIANTS)
def test_a_nan_is_the_maximum_as_numpy_argmax_takes_it(rng, kernel_backend, variant, dtype):
    check_against_numpy_argmax(nan_rows(rng, dtype, 70), variant, kernel_backend)


@pytest.mark.parametrize("variant", ARGMAX_VARIANTS)
def test_one_hot_labels_tie_and_convert_as_the_reference(rng, kernel_backend, variant):
    pred = random_array(rng, (9, 6), np.float32, -4, 4)
    labels = np.eye(6)[some_right(rng, pred)]  # float64, as a user may hold them
    labels[0] = 0  # no class: argmax 0
    labels[1, [2, 4]] = 1  # two classes: the first
    expected = int(count_correct(pred, labels, "categorical"))
    for form in (labels, labels.astype(np.int64), labels.astype(bool)):
        assert run_kernel(pred, form, "categorical", kernel_backend, variant=variant) == expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 1), (33, 10), (300, 3), (2, 3, 5)])
def test_binary_counts_as_the_reference(rng, kernel_backend, shape, dtype):
    pred = random_array(rng, shape, dtype, 0, 1)
    labels = (rng.random(shape) < 0.5).astype(dtype)
    for threshold in (0.5, 0.3):
        expected = int(count_correct(pred, labels, "binary", threshold))
        assert run_kernel(pred, labels, "binary", kernel_backend, threshold=threshold) == expected


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_at_the_threshold_and_past_its_edges(kernel_backend, dtype):
    # pred exactly at the threshold is not above it; NaN is never above it; labels neither 0 nor 1
    # match nothing; 0.1 is not exact in either dtype and is compared rounded to pred's.
    pred = np.array([0.5, 0.5, 0.75, 0.25, np.nan, np.nan, 0.75, 0.1, 0.1, 0.1000001], dtype)
    labels = np.array([0, 1, 1, 0, 0, 1, 0.5, 0, 1, 1], dtype)
    for threshold in (0.5, 0.75, 0.25, 0.1):
        expected = int(count_correct(pred, labels, "binary", threshold))
        assert run_kernel(pred, labels, "binary", kernel_backend, threshold=threshold) == expected, threshold
    # By hand, at 0.5: 0.5 with label 0, 0.75 with 1, 0.25 with 0, NaN with 0 and 0.1 with 0.
    assert run_kernel(pred, labels, "binary", kernel_backend) == 5
    # Integer and boolean labels, cast to pred's dtype: the same count.
    for form in (labels[:6].astype(np.int32), labels[:6].astype(bool)):
        assert run_kernel(pred[:6], form, "binary", kernel_backend) == int(count_correct(pred[:6], form, "binary"))


def test_grids_smaller_than_the_work_loop_over_it(rng, kernel_backend, monkeypatch):
    monkeypatch.setattr(metric, "_MAX_BLOCKS", 2)  # 300 rows: 2 blocks of rung 1, 38 of rung 2 otherwise
    pred = random_array(rng, (300, 10), np.float32, -4, 4)
    ids = some_right(rng, pred)
    for variant in ARGMAX_VARIANTS:
        for form in ("one_hot", "int32 (N,)"):
            labels, kind = make_labels(ids, 10, form, np.float32)
            assert run_kernel(pred, labels, kind, kernel_backend, variant=variant) == int(count_correct(pred, ids,
                                                                                                         "sparse"))
    binary = random_array(rng, (300, 3), np.float32, 0, 1)  # 900 elements: 4 blocks otherwise
    labels = (rng.random((300, 3)) < 0.5).astype(np.float32)
    assert run_kernel(binary, labels, "binary", kernel_backend) == int(count_correct(binary, labels, "binary"))


def test_a_count_is_zeroed_before_each_call_and_made_when_not_given(rng, kernel_backend):
    xp = backend_xp(kernel_backend)
    pred = on_backend(random_array(rng, (33, 10), np.float32), kernel_backend)
    ids = on_backend(rng.integers(0, 10, 33), kernel_backend)
    expected = int(count_correct(to_host(pred), to_host(ids), "sparse"))
    count = xp.full((), 1000, dtype=np.int32)
    for _ in range(2):
        assert int(to_host(count_correct_kernel(pred, ids, "sparse", count=count, backend=kernel_backend))) == expected
    made = count_correct_kernel(pred, ids, "sparse", backend=kernel_backend)
    assert isinstance(made, xp.ndarray) and made.dtype == np.int32 and int(to_host(made)) == expected


def test_an_empty_batch_counts_zero_without_a_launch(launches):
    for kind, pred, labels in (("categorical", np.zeros((0, 10), np.float32), np.zeros((0, 10), np.float32)),
                               ("sparse", np.zeros((0, 10), np.float64), np.zeros(0, np.int64)),
                               ("binary", np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32))):
        assert int(count_correct_kernel(pred, labels, kind, backend="emulate")) == 0
        assert int(count_correct(pred, labels, kind)) == 0
    assert launches == []


def test_bad_arguments_are_refused_naming_them(kernel_backend):
    xp = backend_xp(kernel_backend)
    pred = xp.zeros((4, 6), np.float32)
    one_hot = xp.zeros((4, 6), np.float32)
    ids = xp.zeros(4, np.int32)

    def call(pred=pred, labels=one_hot, kind="categorical", **kwargs):
        return count_correct_kernel(pred, labels, kind, backend=kernel_backend, **kwargs)

    with pytest.raises(ValueError, match=r"kind must be one of \('categorical', 'sparse', 'binary'\), got 'top_k'"):
        call(kind="top_k")
    with pytest.raises(ValueError, match=r"variant must be one of \('row_per_thread', 'warp_per_row'\) for "
                                         r"categorical counts, got 'binary'"):
        call(variant="binary")
    with pytest.raises(ValueError, match=r"variant must be one of \('binary',\) for binary counts"):
        call(kind="binary", variant="warp_per_row")
    with pytest.raises(TypeError, match="pred must be a float32 or float64 array, got int32"):
        call(pred=xp.zeros((4, 6), np.int32))
    with pytest.raises(ValueError, match=r"pred must be 2-D \(batch, classes\), got shape \(24,\)"):
        call(pred=pred.ravel(), labels=one_hot.ravel())
    with pytest.raises(ValueError, match="pred needs at least one class"):
        call(pred=pred[:, :0], labels=one_hot[:, :0])
    with pytest.raises(ValueError, match=r"labels must have pred's shape \(4, 6\), got \(4, 5\)"):
        call(labels=one_hot[:, :5])
    with pytest.raises(ValueError, match=r"labels must have pred's shape \(4, 6\), got \(4, 1\)"):
        call(kind="binary", labels=one_hot[:, :1])  # no broadcasting
    with pytest.raises(ValueError, match="labels must be numbers, got complex64"):
        call(labels=one_hot.astype(np.complex64))
    with pytest.raises(ValueError, match=r"sparse labels must be integer class ids .* got float32"):
        call(labels=ids.astype(np.float32), kind="sparse")
    with pytest.raises(ValueError, match=r"sparse labels must be integer class ids .* \(4, 2\)"):
        call(labels=xp.zeros((4, 2), np.int32), kind="sparse")
    with pytest.raises(ValueError, match=r"sparse labels must have pred's batch \(4,\), got \(3,\)"):
        call(labels=ids[:3], kind="sparse")
    # An int64 id of 2^32 would wrap to 0 if it were converted to int32 before the check.
    for bad in (xp.asarray([0, -1, 2, 3]), xp.asarray([[0], [2**32], [1], [1]], np.int64)):
        with pytest.raises(ValueError, match=r"sparse labels must lie in \[0, 6\), got \["):
            call(labels=bad, kind="sparse")
    with pytest.raises(ValueError, match=r"count must have shape \(\), got \(1,\)"):
        call(count=xp.zeros(1, np.int32))
    # What only the launch's checks see: the layout and dtype of each array, named.
    with pytest.raises(KernelArgumentError, match="argument 'count' must have dtype int32, got int64"):
        call(count=xp.zeros((), np.int64))
    with pytest.raises(KernelArgumentError, match="argument 'pred' must be C-contiguous"):
        call(pred=xp.zeros((6, 4), np.float32).T)
    with pytest.raises(KernelArgumentError, match="argument 'labels' must be C-contiguous"):
        call(labels=xp.zeros((6, 4), np.float32).T)


def test_sizes_past_a_c_int_are_refused_before_anything_is_read(kernel_backend):
    xp = backend_xp(kernel_backend)
    # Broadcast views: the sizes without the memory (the checks come before any copy or launch).
    many = 2**31
    with pytest.raises(ValueError, match=f"the metric kernels take the batch as a C int: {many} is more than"):
        count_correct_kernel(xp.broadcast_to(xp.zeros((1, 1), np.float32), (many, 1)),
                             xp.broadcast_to(xp.zeros(1, np.int32), (many,)), "sparse", backend=kernel_backend)
    with pytest.raises(ValueError, match="the metric kernels take the classes as a C int: 2147483616 is more"):
        count_correct_kernel(xp.broadcast_to(xp.zeros((1, 1), np.float32), (1, many - 32)),
                             xp.broadcast_to(xp.zeros((1, 1), np.float32), (1, many - 32)), "categorical",
                             backend=kernel_backend)
    with pytest.raises(ValueError, match=f"the metric kernels take the element count as a C int: {many} is more"):
        count_correct_kernel(xp.broadcast_to(xp.zeros((1, 1), np.float32), (many // 2, 2)),
                             xp.broadcast_to(xp.zeros((1, 1), np.float32), (many // 2, 2)), "binary",
                             backend=kernel_backend)


@pytest.mark.parametrize("kind", metric.KINDS)
def test_the_kernel_backend_counts_as_the_numpy_backend(rng, kernel_backend, kind):
    """What Accuracy.update_state calls: the kernel backend's count_correct, as the numpy backend's."""
    from cnn_gpu.backend.kernel_backend import KernelBackend
    from cnn_gpu.backend.numpy_backend import NumpyBackend

    pred = random_array(rng, (37, 10), np.float32, 0, 1)
    ids = some_right(rng, pred)
    labels = {"categorical": np.eye(10, dtype=np.float32)[ids], "sparse": ids,
              "binary": (rng.random(pred.shape) < 0.5).astype(np.float32)}[kind]
    ours = KernelBackend(backend_xp(kernel_backend))
    count = ours.count_correct(ours.asarray(pred), ours.asarray(labels, dtype=labels.dtype), kind)
    assert int(to_host(count)) == int(NumpyBackend().count_correct(pred, labels, kind))


def test_labels_are_compared_in_their_own_dtype_as_the_reference_compares_them(kernel_backend):
    """Rounded to pred's float32, these labels would count otherwise: a binary 1 + 1e-9 is no 1, and
    soft labels 1e-12 apart are no tie."""
    cases = [("binary", np.array([0.7, 0.2], np.float32), np.array([1 + 1e-9, 0.0])),
             ("categorical", np.array([[0.1, 0.9]], np.float32), np.array([[0.5, 0.5 + 1e-12]])),
             ("binary", np.array([0.7, 0.2], np.float32), np.array([1, 0], np.int64)),
             ("categorical", np.array([[0.1, 0.9], [0.8, 0.2]], np.float64), np.array([[0, 1], [0, 1]], np.uint8))]
    for kind, pred, labels in cases:
        assert run_kernel(pred, labels, kind, kernel_backend) == int(count_correct(pred, labels, kind)), (kind, labels)
