"""cnn_gpu: a Keras-like CNN engine whose hot path is hand-written CUDA C kernels."""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `import cnn_gpu` never imports CuPy or compiles anything.
    if name == "RawModule":
        from .cuda import RawModule

        return RawModule
    raise AttributeError(f"module 'cnn_gpu' has no attribute {name!r}")
