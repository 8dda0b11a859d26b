"""The embedding lookup of cnn_gpu.ops.embedding: rows by id, the table's gradient summed by id, and
ids that are not ids refused."""

import numpy as np
import pytest

from cnn_gpu.ops.embedding import embedding_backward, embedding_forward, embedding_ids


def test_rows_by_id_and_the_gradient_summed_by_id(rng):
    """Forward: table[ids]. Backward against np.add.at, which adds each repeated id's rows one by one."""
    table = rng.normal(size=(7, 3)).astype(np.float32)
    ids = rng.integers(0, 7, (5, 4))
    np.testing.assert_array_equal(embedding_forward(ids, table), table[ids])
    dy = rng.normal(size=(5, 4, 3)).astype(np.float32)
    expected = np.zeros((7, 3))
    np.add.at(expected, ids.reshape(-1), dy.reshape(-1, 3).astype(np.float64))
    grad = embedding_backward(ids, dy, 7)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)
    assert not grad[np.setdiff1d(np.arange(7), ids)].any(), "an unused id's row gets nothing"


@pytest.mark.parametrize("x, message", [
    (np.array([[0.0, 7.0]]), r"whole numbers in \[0, 7\), got values in \[0, 7\]"),
    (np.array([[-1.0, 2.0]]), r"got values in \[-1, 2\]"),
    (np.array([[1.5, 2.0]]), "with fractions"),
])
def test_ids_that_are_not_ids_are_named(x, message):
    with pytest.raises(ValueError, match=message):
        embedding_ids(x, 7)
    assert embedding_ids(np.array([[0.0, 6.0]]), 7).tolist() == [[0, 6]]
