"""Optimizer steps: our one-pass kernels (kernels/optim.cu) against the reference's chain of CuPy array
operations (cnn_gpu/ops/optim.py on CuPy), in bandwidth.

Element-wise and memory-bound: the floor is one read of the parameter, the gradient and each state,
and one write of the parameter and each state. Bytes moved per float32 element: SGD with momentum
20 (w, g, v read; w, v written), Adam 28, RMSprop 20, Adagrad 20, Adamax 28, Nadam 28, Lion 20,
Adadelta 28. Sizes: the seed model's Dense kernel (5408 x 64, the largest parameter it trains) and a
16M-element parameter, whose states alone exceed the L2; SGD, Adam and RMSprop at both, the others at
the second only (the same traffic, so one size tells how their arithmetic weighs).

Each input set is a gradient and a state of its own, rotated past the L2; each call steps its set's
state, and the check takes one more step by both the case and the float64 reference from where
timing left the last set. Timed by CUDA-graph replay: the GPU's time, not the host's.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops import optim

SIZES = [5408 * 64, 1 << 24]
# The updates the seed model may train with, timed at every size; the others at the last (the largest) only.
EVERY_SIZE = ("sgd_momentum", "adam", "rmsprop")
DRY_SIZES = [1000]
LR = 0.01


def updates(backend):
    """By name: ``(bytes per element, states, kernel step, reference step)``, a step being
    ``step(w, g, *states)`` (Adam's, Adamax's and Nadam's at step 10: bias corrections of a run under way)."""
    return {
        "sgd_momentum": (20, 1, lambda w, g, v: optim.sgd_update_kernel(w, g, v, LR, 0.9, backend=backend),
                         lambda w, g, v: optim.sgd_update(w, g, v, LR, 0.9)),
        "adam": (28, 2, lambda w, g, m, v: optim.adam_update_kernel(w, g, m, v, LR, step=10, backend=backend),
                 lambda w, g, m, v: optim.adam_update(w, g, m, v, LR, step=10)),
        "rmsprop": (20, 1, lambda w, g, v: optim.rmsprop_update_kernel(w, g, v, LR, backend=backend),
                    lambda w, g, v: optim.rmsprop_update(w, g, v, LR)),
        "adagrad": (20, 1, lambda w, g, s: optim.adagrad_update_kernel(w, g, s, LR, backend=backend),
                    lambda w, g, s: optim.adagrad_update(w, g, s, LR)),
        "adamax": (28, 2, lambda w, g, m, u: optim.adamax_update_kernel(w, g, m, u, LR, step=10, backend=backend),
                   lambda w, g, m, u: optim.adamax_update(w, g, m, u, LR, step=10)),
        "nadam": (28, 2, lambda w, g, m, v: optim.nadam_update_kernel(w, g, m, v, LR, step=10, backend=backend),
                  lambda w, g, m, v: optim.nadam_update(w, g, m, v, LR, step=10)),
        "lion": (20, 1, lambda w, g, m: optim.lion_update_kernel(w, g, m, LR, backend=backend),
                 lambda w, g, m: optim.lion_update(w, g, m, LR)),
        "adadelta": (28, 2, lambda w, g, s, x: optim.adadelta_update_kernel(w, g, s, x, LR, backend=backend),
                     lambda w, g, s, x: optim.adadelta_update(w, g, s, x, LR)),
    }


def timed_and_checked(xp, step, reference):
    """``(run, check)`` of ``step`` on an input set (g, w, *states): ``run(set)`` takes a step of that
    set's own state; ``check(set)`` takes one more from where it is, by ``step`` and by the float64
    reference, and returns both results."""
    def run(inputs):
        g, *state = inputs
        step(state[0], g, *state[1:])

    def check(inputs):
        g, *state = inputs
        expected = [a.astype(np.float64) for a in state]
        run(inputs)
        reference(expected[0], g.astype(np.float64), *expected[1:])
        return xp.concatenate(state), xp.concatenate(expected)
    return run, check


def main(argv=None) -> int:
    session = harness.Session("optim", harness.parse_args(__doc__, argv), case_budget_ms=1000.0)
    sizes = session.pick(SIZES, DRY_SIZES)
    for size in sizes:
        for name, (bytes_per_element, states, kernel, reference) in updates(session.backend).items():
            if name not in EVERY_SIZE and size != sizes[-1]:
                continue
            for case, step in (("kernel", kernel), ("cupy_reference", reference)):
                # Each set a gradient and a state of its own (w and the update's states; positive, as
                # the second moments are means of squares), rotated past the L2 like any input.
                sets = session.input_sets(
                    lambda rng: [session.uniform(rng, (size,))]
                    + [session.uniform(rng, (size,), low=0.01, high=1.0) for _ in range(1 + states)],
                    4 * size * (2 + states))
                run, check = timed_and_checked(session.xp, step, reference)
                # By graph: the GPU's time, not the host's (a seed-sized step is a few microseconds).
                session.measure(f"{name}_{case}", {"elements": size}, run, sets, check,
                                bytes_moved=bytes_per_element * size, timing="launch" if session.dry_run else "graph")
    return harness.finish(session)


if __name__ == "__main__":
    sys.exit(main())
