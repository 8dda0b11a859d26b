"""The losses with their gradients: kernels/loss.cu against PyTorch's and the reference's chains of
CuPy operations, in bandwidth. First the softmax cross-entropy, both rungs; then the cross-entropy
on probabilities (``probs_*``, against the reference only); then, on each shape's matrix seen as a
prediction of its own, the element-wise binary cross-entropy (on probabilities and on logits), mean
squared and absolute error and Huber's loss (``*_kernel``, ``*_cupy_reference``, ``*_torch``: PyTorch's
``binary_cross_entropy``, ``binary_cross_entropy_with_logits``, ``mse_loss``, ``l1_loss`` and
``huber_loss``, their gradients by autograd), and, at the last shape only, the hinges, log-cosh,
Poisson's, the KL divergence, the percentage and logarithmic errors and the binary focal cross-entropy
(against the reference only: PyTorch's losses of those names define them otherwise, or it has none),
each reading pred and target and writing the gradient, 12 bytes an element, all timed by graph.

Memory-bound: the floor is one read of the logits and the labels and one write of the gradient
(float32; one-hot labels are as large as the logits, class ids 4 bytes a row, PyTorch's int64 ids 8).
Shapes (batch, classes): a classifier's 10 classes at two batch sizes, and 1000 classes.

Our cases with one-hot labels (the seed model's) and both baselines are timed by CUDA-graph replay
(the GPU's time, without the Python host side), ours captured by CuPy and PyTorch's by PyTorch; each
of our cases includes loss_mean, the second launch. With class ids our wrapper checks
them on the device and reads the answer back, a sync that no graph can capture: those cases are
timed launch by launch, the host side and the check included, as a caller meets them.

Baselines: ``torch_cross_entropy``, PyTorch's ``cross_entropy`` (mean over the batch) on int64 class
ids, forward and the backward to the logits by ``torch.autograd.grad``: its log_softmax, NLL and their
backwards, on the same memory as our logits; and ``cupy_reference``, softmax_cross_entropy of
cnn_gpu/ops/loss.py on CuPy with one-hot labels (NumPy on a dry run). PyTorch runs where it imports.
Each check compares the loss and the gradient, scaled by the batch so that its entries count as much
as the loss, with the float64 reference.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops import loss as loss_ops
from cnn_gpu.ops.loss import (XENT_VARIANTS, categorical_cross_entropy, categorical_cross_entropy_kernel,
                              softmax_cross_entropy, softmax_cross_entropy_kernel)

SHAPES = [(4096, 10), (65536, 10), (4096, 1000)]
DRY_SHAPES = [(37, 10), (5, 70)]


def make_set(session, rng, batch, classes):
    """One input set: logits, one-hot labels and int32 class ids, on the session's device."""
    xp = session.xp
    ids = rng.integers(0, classes, size=batch)
    return (session.uniform(rng, (batch, classes), low=-4, high=4), xp.asarray(np.eye(classes, dtype=np.float32)[ids]),
            xp.asarray(ids.astype(np.int32)))


def combined(xp, loss, grad):
    """The loss and the gradient times the batch, as one float64 vector for one check."""
    scaled_grad = grad.astype(np.float64).ravel() * grad.shape[0]
    return xp.concatenate([xp.asarray(loss, dtype=np.float64).reshape(1), scaled_grad])


def expected(xp, inputs):
    logits, one_hot, _ = inputs
    return combined(xp, *softmax_cross_entropy(logits.astype(np.float64), one_hot.astype(np.float64)))


def main(argv=None) -> int:
    session = harness.Session("loss", harness.parse_args(__doc__, argv), case_budget_ms=1000.0)
    xp, backend = session.xp, session.backend
    torch = harness.pytorch_baselines(session)
    graph_timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    for batch, classes in session.pick(SHAPES, DRY_SHAPES):
        params = {"batch": batch, "classes": classes}
        logits_bytes = 4 * batch * classes
        sets = session.input_sets(lambda rng: make_set(session, rng, batch, classes), 2 * logits_bytes + 4 * batch)
        # Every output made here, so that a graph of the calls allocates nothing.
        grad, row_loss = xp.empty((batch, classes), dtype=np.float32), xp.empty(batch, dtype=np.float32)
        last = {"loss": xp.empty((), dtype=np.float32)}  # the 0-d loss, which graph replays write again
        check = lambda inputs: (combined(xp, last["loss"], grad), expected(xp, inputs))  # noqa: E731
        for variant in XENT_VARIANTS:
            for labels, sparse, label_bytes, timing in (("one_hot", False, logits_bytes, graph_timing),
                                                        ("sparse", True, 4 * batch, "launch")):
                def run(inputs, v=variant, sparse=sparse):
                    softmax_cross_entropy_kernel(inputs[0], inputs[2 if sparse else 1], sparse, v, grad=grad,
                                                 row_loss=row_loss, loss=last["loss"], backend=backend)

                session.measure(f"{variant}_{labels}", {"labels": labels, **params}, run, sets, check, poison=[grad],
                                bytes_moved=2 * logits_bytes + label_bytes, timing=timing)

        def reference(inputs):
            last["loss"], last["grad"] = softmax_cross_entropy(inputs[0], inputs[1])

        session.measure("cupy_reference", {"labels": "one_hot", **params}, reference, sets,
                        lambda inputs: (combined(xp, last["loss"], last["grad"]), expected(xp, inputs)),
                        bytes_moved=3 * logits_bytes, timing=graph_timing)
        if torch is not None:
            torch_baseline(session, torch, sets, params, 2 * logits_bytes + 8 * batch)
        probabilities_cases(session, batch, classes)
        elementwise_cases(session, torch, batch, classes, ELEMENTWISE)
    elementwise_cases(session, torch, *session.pick(SHAPES, DRY_SHAPES)[-1], OTHER_ELEMENTWISE)
    return harness.finish(session)


def probabilities_cases(session, batch, classes):
    """The cross-entropy on probabilities (a model not ending in a softmax the loss can fuse), one-hot
    labels: probs_xent_warp_per_row and the reference on CuPy, each reading probs and labels and
    writing the gradient. PyTorch has no such loss (Keras renormalises and clips), so no baseline."""
    xp, shape, params = session.xp, (batch, classes), {"labels": "one_hot", "batch": batch, "classes": classes}
    one_hot = np.eye(classes, dtype=np.float32)
    sets = session.input_sets(lambda rng: [session.uniform(rng, shape, low=0.01, high=1.0),
                                           xp.asarray(one_hot[rng.integers(0, classes, batch)])], 8 * batch * classes)
    # Every output made here, so that a graph of the calls allocates nothing.
    grad, row_loss = xp.empty(shape, dtype=np.float32), xp.empty(batch, dtype=np.float32)
    last = {"loss": xp.empty((), dtype=np.float32)}

    def expected_of(inputs):
        return combined(xp, *categorical_cross_entropy(*(a.astype(np.float64) for a in inputs)))

    session.measure("probs_warp_per_row", params,
                    lambda inputs: categorical_cross_entropy_kernel(*inputs, grad=grad, row_loss=row_loss,
                                                                    loss=last["loss"], backend=session.backend),
                    sets, lambda inputs: (combined(xp, last["loss"], grad), expected_of(inputs)), poison=[grad],
                    bytes_moved=12 * batch * classes, timing="launch" if session.dry_run else "graph")

    def run_reference(inputs):
        last["ref_loss"], last["ref_grad"] = categorical_cross_entropy(*inputs)

    session.measure("probs_cupy_reference", params, run_reference, sets,
                    lambda inputs: (combined(xp, last["ref_loss"], last["ref_grad"]), expected_of(inputs)),
                    bytes_moved=12 * batch * classes, timing="launch" if session.dry_run else "graph")


# The element-wise losses: (our kernel, the reference, PyTorch's loss by name, how to make the target).
ELEMENTWISE = {
    "binary_xent": (loss_ops.binary_cross_entropy_kernel, loss_ops.binary_cross_entropy, "binary_cross_entropy",
                    lambda session, rng, shape: (session.uniform(rng, shape) < 0).astype(np.float32)),
    "binary_xent_logits": (functools.partial(loss_ops.binary_cross_entropy_kernel, from_logits=True),
                           functools.partial(loss_ops.binary_cross_entropy, from_logits=True),
                           "binary_cross_entropy_with_logits",
                           lambda session, rng, shape: (session.uniform(rng, shape) < 0).astype(np.float32)),
    "squared_error": (loss_ops.mean_squared_error_kernel, loss_ops.mean_squared_error, "mse_loss",
                      lambda session, rng, shape: session.uniform(rng, shape)),
    "absolute_error": (loss_ops.mean_absolute_error_kernel, loss_ops.mean_absolute_error, "l1_loss",
                       lambda session, rng, shape: session.uniform(rng, shape)),
    "huber": (loss_ops.huber_kernel, loss_ops.huber, "huber_loss",  # delta 1, both sides' default
              lambda session, rng, shape: session.uniform(rng, shape, low=-2, high=2)),
}
# Keras's other element-wise losses, the same kernel's other kinds: timed at the last shape only (the
# same traffic as those above, so one size tells how their arithmetic weighs), against the reference
# only: PyTorch's kl_div takes log-probabilities, its hinge_embedding_loss is another hinge, and its
# poisson_nll_loss its own epsilon.
OTHER_ELEMENTWISE = {
    **{kind: (functools.partial(loss_ops.elementwise_loss_kernel, kind),
              functools.partial(loss_ops.elementwise_loss, kind), None,
              lambda session, rng, shape: session.uniform(rng, shape, low=0.0, high=1.0))
       for kind in loss_ops.ELEMENTWISE_KINDS},
    "focal": (loss_ops.binary_focal_cross_entropy_kernel, loss_ops.binary_focal_cross_entropy, None,
              lambda session, rng, shape: (session.uniform(rng, shape) < 0).astype(np.float32)),
}


def elementwise_cases(session, torch, batch, classes, kinds):
    """The element-wise ``kinds`` (ELEMENTWISE: binary cross-entropy on probabilities in (0, 1) or on logits,
    0/1 labels, the mean squared and absolute errors and Huber's loss; OTHER_ELEMENTWISE) on a (batch,
    classes) prediction: the kernel, the reference on CuPy and PyTorch's loss with its gradient
    (autograd) where it has one, each reading pred and target and writing the gradient: 12 bytes an
    element."""
    xp, shape, params = session.xp, (batch, classes), {"batch": batch, "classes": classes}
    graph_timing = "launch" if session.dry_run else "graph"
    for kind, (kernel, reference, torch_name, make_target) in kinds.items():
        sets = session.input_sets(lambda rng: [session.uniform(rng, shape, low=0.01, high=0.99),
                                               make_target(session, rng, shape)], 8 * batch * classes)
        grad, last = xp.empty(shape, dtype=np.float32), {"loss": xp.empty((), dtype=np.float32)}

        def expected_of(inputs):
            loss, ref_grad = reference(*(a.astype(np.float64) for a in inputs))
            return combined(xp, loss, ref_grad)

        session.measure(f"{kind}_kernel", params, lambda inputs: kernel(*inputs, grad=grad, loss=last["loss"],
                                                                        backend=session.backend),
                        sets, lambda inputs: (combined(xp, last["loss"], grad), expected_of(inputs)), poison=[grad],
                        bytes_moved=12 * batch * classes, timing=graph_timing)

        def run_reference(inputs):
            last["ref_loss"], last["ref_grad"] = reference(*inputs)

        session.measure(f"{kind}_cupy_reference", params, run_reference, sets,
                        lambda inputs: (combined(xp, last["ref_loss"], last["ref_grad"]), expected_of(inputs)),
                        bytes_moved=12 * batch * classes, timing=graph_timing)
        if torch is not None and torch_name is not None:
            def run_torch(inputs):
                pred, target = (torch.from_dlpack(a) for a in inputs)
                pred = pred.detach().requires_grad_()
                loss = getattr(torch.nn.functional, torch_name)(pred, target)
                (last["torch_grad"],) = torch.autograd.grad(loss, pred)
                last["torch_loss"] = loss.detach()

            harness.measure_baseline(
                session, f"{kind}_torch", params, run_torch, sets,
                lambda inputs: (combined(xp, xp.asarray(last["torch_loss"]), xp.asarray(last["torch_grad"])),
                                expected_of(inputs)),
                bytes_moved=12 * batch * classes, timing="graph",
                graph=harness.Graph(run_torch, via="torch", capture=harness.capture_torch))


def torch_baseline(session, torch, sets, params, bytes_moved):
    """PyTorch's cross_entropy forward and backward on each set's logits (a tensor on their memory,
    through DLPack) and its class ids as int64, both made at a set's first call (uncaptured: the
    graph's capture runs every set once first). Its loss and gradient are new tensors each call;
    the check reads the last ones. A failure leaves the baseline out with a note."""
    xp = session.xp
    tensors, last = {}, {}

    def run(inputs):
        if id(inputs[0]) not in tensors:
            tensors[id(inputs[0])] = (inputs, torch.from_dlpack(inputs[0]).requires_grad_(),
                                      torch.from_dlpack(inputs[2]).long())  # the set kept, so its id stays its own
        _, logits, targets = tensors[id(inputs[0])]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        (last["grad"],) = torch.autograd.grad(loss, logits)
        last["loss"] = loss.detach()

    check = lambda inputs: (combined(xp, xp.asarray(last["loss"]), xp.asarray(last["grad"])),  # noqa: E731
                            expected(xp, inputs))
    harness.measure_baseline(session, "torch_cross_entropy", {"labels": "int64_ids", **params}, run, sets, check,
                             bytes_moved=bytes_moved, timing="graph",
                             graph=harness.Graph(run, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
