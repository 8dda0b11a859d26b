"""Embedding lookup (Keras's Embedding): each integer id's row of a table, and the table's gradient,
each id's rows of dy summed into that id's row (an id used twice in a batch gets both).

    y[..., :] = table[ids[...], :]                 dtable[i, :] = sum of dy[..., :] where ids[...] == i

A reference on either array module (the kernel backends run it on CuPy; no kernel of ours yet): the
backward is one bincount over (id, column) pairs, deterministic, where a kernel would scatter with
atomics.
"""

from __future__ import annotations

import numpy as np

from cnn_gpu.ops.common import array_module, check_ndim


def embedding_ids(x, input_dim):
    """``x`` (ids, any shape; a model's inputs arrive as floats) as int64 ids, once each is a whole number in
    [0, input_dim): a wrong id fails here, not as a silent wrong row (one device-to-host read)."""
    xp = array_module(x)
    ids = x.astype(np.int64)
    bad = xp.any(ids != x) if x.dtype.kind == "f" else False
    if x.size and (bool(bad) or int(ids.min()) < 0 or int(ids.max()) >= input_dim):
        raise ValueError(f"embedding ids must be whole numbers in [0, {input_dim}), got values in "
                         f"[{float(x.min()):g}, {float(x.max()):g}]" + (" with fractions" if bool(bad) else ""))
    return ids


def embedding_forward(ids, table):
    """``table[ids]``: shape ids.shape + (output_dim,)."""
    check_ndim(table, 2, "table", "(input_dim, output_dim)")
    return table[ids]


def embedding_backward(ids, dy, input_dim):
    """The table's gradient (input_dim, output_dim): each (id, column) pair's dy summed by one bincount of
    the pairs' flat indices id * output_dim + column (in float64, then the table's dtype)."""
    xp = array_module(dy)
    output_dim = dy.shape[-1]
    flat = (ids.reshape(-1, 1) * output_dim + xp.arange(output_dim)).reshape(-1)
    sums = xp.bincount(flat, weights=dy.reshape(-1), minlength=input_dim * output_dim)
    return sums.reshape(input_dim, output_dim).astype(dy.dtype)
