"""cnn_gpu: a Keras-like CNN engine whose hot path is hand-written CUDA C kernels."""

__version__ = "0.1.0"
