import numpy as np

from cnn_gpu.ops.metric import count_correct


def test_categorical_and_sparse_compare_the_argmax_with_the_label():
    pred = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.4, 0.5, 0.1]], np.float32)
    ids = np.array([1, 2, 2, 0])  # right, wrong, right, wrong
    assert int(count_correct(pred, np.eye(3, dtype=np.float32)[ids], "categorical")) == 2
    assert int(count_correct(pred, ids, "sparse")) == 2
    assert int(count_correct(pred, ids[:, None], "sparse")) == 2


def test_binary_counts_every_element_against_the_threshold():
    pred = np.array([[0.9, 0.2], [0.5, 0.6]], np.float32)
    labels = np.array([[1, 0], [1, 0]], np.float32)  # right, right, wrong (0.5 is not > 0.5), wrong
    assert int(count_correct(pred, labels, "binary")) == 2
    assert int(count_correct(pred, labels, "binary", threshold=0.4)) == 3


def test_in_top_k_counts_as_keras_does(rng):
    """True class in when fewer than k classes score strictly higher: ties with the k-th count in, and
    a NaN at the true class counts as the lowest score."""
    from cnn_gpu.ops.metric import count_in_top_k

    pred = rng.integers(0, 4, (50, 6)).astype(np.float64)  # many ties
    labels = rng.integers(0, 6, 50)
    pred[0, labels[0]] = np.nan
    for k in (1, 2, 5, 6):
        expected = sum(int((row > (row[t] if not np.isnan(row[t]) else -np.inf)).sum() < k)
                       for row, t in zip(pred, labels))
        assert int(count_in_top_k(pred, labels, k, sparse=True)) == expected
        assert int(count_in_top_k(pred, np.eye(6)[labels], k, sparse=False)) == expected
    # the NaN row: its 5 other classes all score higher, so it is in at k = 6 only
    assert [int(count_in_top_k(pred[:1], labels[:1], k, sparse=True)) for k in (5, 6)] == [0, 1]
