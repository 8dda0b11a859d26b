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
