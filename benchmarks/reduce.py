"""Row-wise sum and max: the four-rung ladder and CuPy's reduction, in bandwidth.

The floor is one read of the matrix at copy bandwidth (the per-row output is negligible). Three
shapes: square, many short rows (a softmax over classes) and few long rows.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.reduce import VARIANTS, row_reduce, row_reduce_reference

SHAPES = [(8192, 8192), (1 << 20, 64), (256, 1 << 18)]
DRY_SHAPES = [(37, 45)]
OPS = ("sum", "max")


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
    return harness.finish(session)


if __name__ == "__main__":
    sys.exit(main())
