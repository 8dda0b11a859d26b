"""Keras's layers, by the same names and arguments: ``from cnn_gpu.layers import Conv2D, Dense, ...``."""

from cnn_gpu.layers.augmentation import (RandomBrightness, RandomContrast, RandomFlip, RandomRotation,
                                         RandomTranslation, RandomZoom, Rescaling)
from cnn_gpu.layers.base import LAYERS, Input, InputLayer, Layer
from cnn_gpu.layers.convolutional import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from cnn_gpu.layers.core import (ELU, Activation, Dense, Dropout, Flatten, Identity, LeakyReLU, Permute, PReLU, ReLU,
                                 RepeatVector, Reshape, Softmax, SpatialDropout1D, SpatialDropout2D)
from cnn_gpu.layers.embedding import Embedding
from cnn_gpu.layers.merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from cnn_gpu.layers.noise import GaussianDropout, GaussianNoise
from cnn_gpu.layers.normalization import BatchNormalization, GroupNormalization, LayerNormalization, Normalization
from cnn_gpu.layers.one_dimensional import (AveragePooling1D, Conv1D, Conv1DTranspose, Cropping1D, DepthwiseConv1D,
                                           GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D,
                                           SeparableConv1D, UpSampling1D, ZeroPadding1D)
from cnn_gpu.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from cnn_gpu.layers.reshaping import CenterCrop, Cropping2D, RandomCrop, Resizing, UpSampling2D, ZeroPadding2D


def deserialize(entry):
    """A layer from ``{'class_name': 'Dense', 'config': {...}}`` (as a saved model stores it)."""
    return LAYERS.from_config(entry)


__all__ = [
    "Activation", "Add", "Average", "AveragePooling1D", "AveragePooling2D", "BatchNormalization", "CenterCrop",
    "Concatenate", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Cropping1D", "Cropping2D", "Dense",
    "DepthwiseConv1D", "DepthwiseConv2D", "Dropout", "ELU", "Embedding", "Flatten", "GaussianDropout",
    "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GroupNormalization", "Identity", "Input", "InputLayer", "Layer", "LayerNormalization", "LeakyReLU",
    "MaxPooling1D", "MaxPooling2D", "Maximum", "Minimum", "Multiply", "Normalization", "PReLU", "Permute",
    "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation", "RandomTranslation",
    "RandomZoom", "ReLU", "RepeatVector", "Rescaling", "Reshape", "Resizing", "SeparableConv1D", "SeparableConv2D",
    "Softmax", "SpatialDropout1D", "SpatialDropout2D", "Subtract", "UpSampling1D", "UpSampling2D", "ZeroPadding1D",
    "ZeroPadding2D", "deserialize",
]
