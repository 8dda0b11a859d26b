import numpy as np
import pytest

from cnn_gpu.ops.common import check_shape


def test_check_shape():
    a = np.empty((3, 4))
    assert check_shape(a, (3, None), "a") is a
    with pytest.raises(ValueError, match=r"a must have shape \(3, 5\), got \(3, 4\)"):
        check_shape(a, (3, 5), "a")
    with pytest.raises(ValueError, match=r"shape \(any,\)"):
        check_shape(a, (None,), "a")
