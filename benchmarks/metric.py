"""Accuracy counts: the rungs of kernels/metric.cu against the reference's chain of CuPy operations and
PyTorch's equivalent, in bandwidth.

Memory-bound: the floor is one read of the predictions and the labels (float32; one-hot and binary
labels are as large as the predictions, class ids 4 bytes a row, PyTorch's int64 ids 8), and each
case's rate counts those bytes; the count written is 4. Shapes (batch, classes): a classifier's 10
classes at two batch sizes, and 1000 classes; the binary cases read the same matrix as multi-label
probabilities with 0/1 labels of its shape.

Cases that run no host sync are timed by CUDA-graph replay (the GPU's time, without the Python host
side), ours captured by CuPy and PyTorch's by PyTorch; each of ours includes the zeroing of the count
(a memset) before its kernel. With class ids our wrapper checks them on the device and reads the
answer back, a sync that no graph can capture: those cases are timed launch by launch, the host side
and the check included, as a caller meets them.

Baselines: ``cupy_reference``, count_correct of cnn_gpu/ops/metric.py on CuPy (argmax, compare, sum;
NumPy on a dry run) on class ids and on binary labels, and ``torch_argmax`` / ``torch_binary``,
PyTorch's ``(pred.argmax(1) == labels).sum()`` on int64 ids and ``((pred > 0.5) == labels).sum()``,
on the same memory as our inputs. PyTorch runs where it imports. A count is an integer: each check
asks for the reference's count exactly (tolerance 0).
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.metric import ARGMAX_VARIANTS, count_correct, count_correct_kernel

SHAPES = [(4096, 10), (65536, 10), (4096, 1000)]
DRY_SHAPES = [(37, 10), (5, 70)]


def make_set(session, rng, batch, classes):
    """One input set on the session's device: predictions, one-hot labels, int32 class ids (matching the
    predictions' argmax in about half the rows) and binary 0/1 labels of the predictions' shape."""
    xp = session.xp
    pred = rng.uniform(0, 1, size=(batch, classes)).astype(np.float32)
    ids = rng.integers(0, classes, size=batch)
    right = rng.random(batch) < 0.5
    ids[right] = pred.argmax(axis=1)[right]
    binary = (rng.random((batch, classes)) < 0.5).astype(np.float32)
    return (xp.asarray(pred), xp.asarray(np.eye(classes, dtype=np.float32)[ids]), xp.asarray(ids.astype(np.int32)),
            xp.asarray(binary))


def as_vector(xp, count):
    """A 0-d count (CuPy, NumPy or a PyTorch tensor) as a float64 vector of one, for the harness's check."""
    return xp.asarray(count).astype(np.float64).reshape(1)


def main(argv=None) -> int:
    session = harness.Session("metric", harness.parse_args(__doc__, argv), case_budget_ms=1000.0)
    xp, backend = session.xp, session.backend
    torch = harness.pytorch_baselines(session)
    graph_timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    for batch, classes in session.pick(SHAPES, DRY_SHAPES):
        params = {"batch": batch, "classes": classes}
        pred_bytes = 4 * batch * classes
        # The smallest case's bytes (predictions and int32 ids): every case's sets then exceed L2 together.
        sets = session.input_sets(lambda rng: make_set(session, rng, batch, classes), pred_bytes + 4 * batch)
        count = xp.zeros((), dtype=np.int32)  # made here, so that a graph of the calls allocates nothing
        last = {}

        def expected(inputs, kind):
            labels = inputs[3] if kind == "binary" else inputs[2]
            return as_vector(xp, count_correct(inputs[0], labels, "binary" if kind == "binary" else "sparse"))

        def ours(kind):
            return lambda inputs: (as_vector(xp, count), expected(inputs, kind))

        for variant in ARGMAX_VARIANTS:
            for labels, kind, label_bytes, timing in (("one_hot", "categorical", pred_bytes, graph_timing),
                                                      ("sparse", "sparse", 4 * batch, "launch")):
                def run(inputs, v=variant, kind=kind):
                    count_correct_kernel(inputs[0], inputs[1 if kind == "categorical" else 2], kind, variant=v,
                                         count=count, backend=backend)

                session.measure(f"{variant}_{labels}", {"labels": labels, **params}, run, sets, ours(kind),
                                bytes_moved=pred_bytes + label_bytes, tolerance=0.0, timing=timing)

        def binary(inputs):
            count_correct_kernel(inputs[0], inputs[3], "binary", count=count, backend=backend)

        session.measure("binary", {"labels": "binary", **params}, binary, sets, ours("binary"),
                        bytes_moved=2 * pred_bytes, tolerance=0.0, timing=graph_timing)

        for labels, label_index, label_bytes in (("sparse", 2, 4 * batch), ("binary", 3, pred_bytes)):
            def reference(inputs, labels=labels, index=label_index):
                last["count"] = count_correct(inputs[0], inputs[index], labels)

            session.measure(f"cupy_reference_{labels}", {"labels": labels, **params}, reference, sets,
                            lambda inputs, kind=labels: (as_vector(xp, last["count"]), expected(inputs, kind)),
                            bytes_moved=pred_bytes + label_bytes, tolerance=0.0, timing=graph_timing)
        if torch is not None:
            torch_baselines(session, torch, sets, params, pred_bytes, expected)
    return harness.finish(session)


def torch_baselines(session, torch, sets, params, pred_bytes, expected):
    """PyTorch's counts on each set's predictions and labels (tensors on their memory, through DLPack;
    the class ids as int64, made at a set's first call, uncaptured: the graph's capture runs every set
    once first). Each count is a new tensor each call; the check reads the last. A failure leaves the
    baseline out with a note."""
    xp = session.xp
    tensors, last = {}, {}

    def tensors_of(inputs):
        if id(inputs[0]) not in tensors:
            tensors[id(inputs[0])] = (inputs, torch.from_dlpack(inputs[0]), torch.from_dlpack(inputs[2]).long(),
                                      torch.from_dlpack(inputs[3]))  # the set kept, so its id stays its own
        return tensors[id(inputs[0])][1:]

    def argmax(inputs):
        pred, ids, _ = tensors_of(inputs)
        last["count"] = (pred.argmax(1) == ids).sum()

    def binary(inputs):
        pred, _, labels = tensors_of(inputs)
        last["count"] = ((pred > 0.5) == labels).sum()

    batch = params["batch"]
    for name, kind, run, bytes_moved in (("torch_argmax", "sparse", argmax, pred_bytes + 8 * batch),
                                         ("torch_binary", "binary", binary, 2 * pred_bytes)):
        check = lambda inputs, kind=kind: (as_vector(xp, last["count"]), expected(inputs, kind))  # noqa: E731
        harness.measure_baseline(session, name, {"labels": "int64_ids" if kind == "sparse" else kind, **params}, run,
                                 sets, check, bytes_moved=bytes_moved, tolerance=0.0, timing="graph",
                                 graph=harness.Graph(run, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
