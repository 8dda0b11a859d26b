"""Row-wise sum and max, and column sums: kernels/reduce.cu's ladder and CuPy's reductions, in bandwidth.

The floor is one read of the matrix at copy bandwidth (the per-row or per-column output is
negligible). Rows: three shapes, square, many short rows (a softmax over classes) and few long rows.
Columns, the bias gradient: the seed model's Conv2D (32 x 26 x 26 positions, 32 filters), 36
columns (where activation.cu's bias_act_backward, rung 6's twin, fell to 43% of copy) and 1024.
Rung 5 (one thread per column) runs only up to 65536 rows: it walks each column serially, and
millions of rows would take it a second a call. Last, the L2 penalty of kernels/regularizer.cu (a sum
of squares, with the gradient's update riding along or not) against the reference on CuPy (a
cuBLAS dot and an axpy), on the seed model's Dense kernel and a 16M-element weight. CuPy's graph
capture refuses cuBLAS, so the reference's rows fall back to launch-by-launch timing (their
``timing`` says so), where ours are timed by graph: compare them with that in mind.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops import regularizer
from cnn_gpu.ops.reduce import BLOCK, COLUMN_VARIANTS, VARIANTS, column_sum, column_sum_reference, row_reduce, \
    row_reduce_reference

SHAPES = [(8192, 8192), (1 << 20, 64), (256, 1 << 18)]
DRY_SHAPES = [(37, 45)]
OPS = ("sum", "max")
COLUMN_SHAPES = [(32 * 26 * 26, 32), (1 << 21, 36), (65536, 1024)]
DRY_COLUMN_SHAPES = [(101, 36)]
THREAD_PER_COLUMN_ROWS = 65536  # rung 5's largest case
PENALTY_SIZES = [5408 * 64, 1 << 24]
DRY_PENALTY_SIZES = [1001]
L2 = 0.01


def column_variants(rows, cols):
    """The column-sum variants worth timing on a rows x cols matrix (flat takes at most BLOCK columns)."""
    return [v for v in COLUMN_VARIANTS
            if not (v == "flat" and cols > BLOCK) and not (v == "thread_per_column" and rows > THREAD_PER_COLUMN_ROWS)]


def main(argv=None) -> int:
    session = harness.Session("reduce", harness.parse_args(__doc__, argv))
    xp = session.xp
    for rows, cols in session.pick(SHAPES, DRY_SHAPES):
        sets = session.input_sets(lambda rng: session.uniform(rng, (rows, cols)), 4 * rows * cols)
        out = xp.empty(rows, dtype=np.float32)
        for op in OPS:
            cases = {variant: (lambda x, v=variant: row_reduce(x, op, v, out=out, backend=session.backend))
                     for variant in VARIANTS}
            cases["cupy"] = lambda x: getattr(xp, op)(x, axis=1, out=out)
            for name, run in cases.items():
                session.measure(name, {"op": op, "rows": rows, "cols": cols}, run, sets,
                                lambda x: (out, row_reduce_reference(x.astype(np.float64), op)),
                                poison=[out], bytes_moved=4 * rows * cols + 4 * rows,
                                tolerance=harness.sum_tolerance(cols))
    for rows, cols in session.pick(COLUMN_SHAPES, DRY_COLUMN_SHAPES):
        sets = session.input_sets(lambda rng: session.uniform(rng, (rows, cols)), 4 * rows * cols)
        out = xp.empty(cols, dtype=np.float32)
        cases = {f"column_sum_{variant}": (lambda x, v=variant: column_sum(x, v, out=out, backend=session.backend))
                 for variant in column_variants(rows, cols)}
        cases["cupy_column_sum"] = lambda x: xp.sum(x, axis=0, out=out)
        for name, run in cases.items():
            session.measure(name, {"op": "column_sum", "rows": rows, "cols": cols}, run, sets,
                            lambda x: (out, column_sum_reference(x.astype(np.float64))),
                            poison=[out], bytes_moved=4 * rows * cols + 4 * cols,
                            tolerance=harness.sum_tolerance(rows))
    for size in session.pick(PENALTY_SIZES, DRY_PENALTY_SIZES):
        penalty_cases(session, size)
    return harness.finish(session)


def penalty_cases(session, size):
    """The L2 penalty alone (4 bytes an element) and with the gradient's update (12), ours and the
    reference's; each set is a weight and a gradient of its own, the check one more call by both from
    where timing left the gradient."""
    xp, last = session.xp, {}
    sets = session.input_sets(lambda rng: [session.uniform(rng, (size,)), session.uniform(rng, (size,))], 8 * size)
    ours = lambda w, g: regularizer.l2_penalty_kernel(w, L2, g, backend=session.backend)  # noqa: E731
    for with_grad in (False, True):
        for name, penalty in (("l2_penalty", ours), ("cupy_l2_penalty", lambda w, g: regularizer.l2_penalty(w, L2, g))):
            def run(inputs, penalty=penalty, with_grad=with_grad):
                last["penalty"] = penalty(inputs[0], inputs[1] if with_grad else None)

            def check(inputs, penalty=penalty, with_grad=with_grad):
                w, g = inputs
                expected_grad = g.astype(np.float64)
                expected = regularizer.l2_penalty(w.astype(np.float64), L2, expected_grad if with_grad else None)
                value = penalty(w, g if with_grad else None)
                return (xp.concatenate([xp.asarray(value, dtype=np.float64).reshape(1), g.astype(np.float64)]),
                        xp.concatenate([xp.asarray(expected).reshape(1), expected_grad]))

            session.measure(name + ("_with_grad" if with_grad else ""), {"op": "l2_penalty", "elements": size}, run,
                            sets, check, bytes_moved=(12 if with_grad else 4) * size,
                            tolerance=harness.sum_tolerance(size), timing="launch" if session.dry_run else "graph")


if __name__ == "__main__":
    sys.exit(main())
