import cnn_gpu


def test_version_is_a_string():
    assert isinstance(cnn_gpu.__version__, str) and cnn_gpu.__version__.count(".") == 2
