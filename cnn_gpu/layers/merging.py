"""Keras's merge layers, for the functional API: Add (a residual connection) and Concatenate (channels
side by side). Each is called on a list of symbolic tensors, and its ``call`` takes a list of arrays.

Both are single array operations on whichever array module the backend uses (NumPy, or CuPy's own
element-wise and copy kernels on the cuda backend): one pass over memory, nothing for a kernel of
ours to fuse yet.
"""

from __future__ import annotations

from cnn_gpu.layers.base import LAYERS, Layer, format_shape
from cnn_gpu.ops.common import array_module


class Merge(Layer):
    """A layer of several inputs, in the order given."""

    TAKES_LIST = True

    def compute_output_shape(self, input_shape):
        shapes = [tuple(shape) for shape in input_shape]
        if len(shapes) < 2:
            raise ValueError(f"{self.describe()} merges at least 2 inputs, got {len(shapes)}")
        return self.merged_shape(shapes)

    def merged_shape(self, shapes):
        raise NotImplementedError

    def describe_shapes(self, shapes):
        return ", ".join(format_shape(shape) for shape in shapes)


@LAYERS.register("add")
class Add(Merge):
    """The element-wise sum of inputs of one shape (no broadcasting, as Keras 3 asks of its inputs here)."""

    def merged_shape(self, shapes):
        if any(shape[1:] != shapes[0][1:] for shape in shapes):
            raise ValueError(f"{self.describe()} adds inputs of one shape, got {self.describe_shapes(shapes)}")
        return shapes[0]

    def call(self, xs, training):
        self._count = len(xs)
        total = xs[0] + xs[1]
        for x in xs[2:]:
            total += x
        return total

    def call_backward(self, dz, need_dx):
        # The same array for every input: no layer writes into the gradient it is given.
        return [dz] * self._count if need_dx else None


@LAYERS.register("concatenate")
class Concatenate(Merge):
    """The inputs side by side along ``axis`` (the channels, -1, by default); every other axis must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
            raise ValueError(f"{self.describe()}: axis must be an int other than 0 (the batch), got {axis!r}")
        self.axis = axis

    def merged_shape(self, shapes):
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis in (None, 0) or any(len(shape) != rank for shape in shapes) or any(
                shape[:axis] + shape[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for shape in shapes):
            raise ValueError(f"{self.describe()}: inputs must match on every axis but axis {self.axis}, got "
                             f"{self.describe_shapes(shapes)}")
        self._sizes = [shape[axis] for shape in shapes]
        return (*shapes[0][:axis], sum(self._sizes), *shapes[0][axis + 1:])

    def call(self, xs, training):
        return array_module(xs[0]).concatenate(xs, axis=self.axis)

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        splits, start = [], 0
        for size in self._sizes[:-1]:
            start += size
            splits.append(start)
        return array_module(dz).split(dz, splits, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
