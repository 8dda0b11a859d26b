"""Transpose: naive, shared-memory tile, padded tile, and CuPy's strided copy, in bandwidth.

The floor is one read and one write of the matrix (8 bytes per element) at copy bandwidth, so
the figure of merit is the fraction of the measured device-to-device copy bandwidth.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.transpose import VARIANTS, transpose

# 256 MiB square, and an odd shape whose edge tiles are partial in both directions.
SHAPES = [(8192, 8192), (12289, 4099)]
DRY_SHAPES = [(37, 45)]


def main(argv=None) -> int:
    session = harness.Session("transpose", harness.parse_args(__doc__, argv))
    xp = session.xp
    for rows, cols in session.pick(SHAPES, DRY_SHAPES):
        sets = session.input_sets(lambda rng: session.uniform(rng, (rows, cols)), 4 * rows * cols)
        out = xp.empty((cols, rows), dtype=np.float32)
        cases = {variant: (lambda src, v=variant: transpose(src, v, out=out, backend=session.backend))
                 for variant in VARIANTS}
        cases["cupy_strided_copy"] = lambda src: xp.copyto(out, src.T)
        for name, run in cases.items():
            session.measure(name, {"rows": rows, "cols": cols}, run, sets, lambda src: (out, src.T),
                            poison=[out], bytes_moved=8 * rows * cols)
    return harness.finish(session)


if __name__ == "__main__":
    sys.exit(main())
