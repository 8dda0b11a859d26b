"""Keras's merge layers, for the functional API: Add (a residual connection), Subtract, Multiply (a
squeeze-and-excitation block's gate), Average, Maximum, Minimum, and Concatenate (channels side by
side). Each is called on a list of symbolic tensors, and its ``call`` takes a list of arrays.

The element-wise ones broadcast as Keras 3's do: inputs of one rank whose sizes agree on each axis or
are 1 there, (N, H, W, C) times (N, 1, 1, C) say; an input's gradient is summed over the axes it was
broadcast along. All are array operations on whichever array module the backend uses (NumPy, or
CuPy's own element-wise and copy kernels on the cuda backend): a pass or two over memory, nothing
for a kernel of ours to fuse yet.
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


def broadcast_shape(layer, shapes):
    """Keras 3's element-wise merge shape: one rank, and on each axis one size or 1 (None, the batch's
    or an unknown size, agrees with anything)."""
    if any(len(shape) != len(shapes[0]) for shape in shapes):
        raise ValueError(f"{layer.describe()} merges inputs of one rank, got {layer.describe_shapes(shapes)}")
    merged = []
    for sizes in zip(*shapes):
        known = {size for size in sizes if size not in (None, 1)}
        if len(known) > 1:
            raise ValueError(f"{layer.describe()} merges inputs that broadcast together (each axis one size, "
                             f"or 1), got {layer.describe_shapes(shapes)}")
        merged.append(known.pop() if known else (None if None in sizes else 1))
    return tuple(merged)


def reduce_to(gradient, shape):
    """``gradient`` summed over the axes an input of ``shape`` was broadcast along (its gradient)."""
    axes = tuple(axis for axis, (size, full) in enumerate(zip(shape, gradient.shape)) if size == 1 and full != 1)
    return gradient.sum(axis=axes, keepdims=True) if axes else gradient


class ElementwiseMerge(Merge):
    """A merge of inputs that broadcast together, element by element; ``ARITY`` fixes their number
    (Subtract's 2), else any from 2."""

    ARITY = None

    def merged_shape(self, shapes):
        if self.ARITY is not None and len(shapes) != self.ARITY:
            raise ValueError(f"{self.describe()} merges exactly {self.ARITY} inputs, got {len(shapes)}")
        return broadcast_shape(self, shapes)

    def call(self, xs, training):
        self._shapes = [x.shape for x in xs]
        return self.combine(xs)

    def call_backward(self, dz, need_dx):
        if not need_dx:
            return None
        return [reduce_to(gradient, shape) for gradient, shape in zip(self.gradients(dz), self._shapes)]

    def combine(self, xs):
        """The output of the inputs ``xs``, broadcast; keeps what ``gradients`` needs."""
        raise NotImplementedError

    def gradients(self, dz):
        """Each input's gradient at the output's shape (reduce_to brings it to the input's)."""
        raise NotImplementedError


def fold(operation, xs):
    """``operation`` applied pairwise from the first input on: ((x0 op x1) op x2) ..."""
    result = operation(xs[0], xs[1])
    for x in xs[2:]:
        result = operation(result, x)
    return result


@LAYERS.register("add")
class Add(ElementwiseMerge):
    """The element-wise sum of the inputs."""

    def combine(self, xs):
        self._count = len(xs)
        return fold(lambda a, b: a + b, xs)

    def gradients(self, dz):
        # The same array for every input: no layer writes into the gradient it is given.
        return [dz] * self._count


@LAYERS.register("subtract")
class Subtract(ElementwiseMerge):
    """The first input less the second."""

    ARITY = 2

    def combine(self, xs):
        return xs[0] - xs[1]

    def gradients(self, dz):
        return [dz, -dz]


@LAYERS.register("average")
class Average(ElementwiseMerge):
    """The element-wise mean of the inputs."""

    def combine(self, xs):
        self._count = len(xs)
        return fold(lambda a, b: a + b, xs) / len(xs)

    def gradients(self, dz):
        return [dz / self._count] * self._count


@LAYERS.register("multiply")
class Multiply(ElementwiseMerge):
    """The element-wise product of the inputs; each one's gradient is dz times the others' product."""

    def combine(self, xs):
        self._xs = xs
        return fold(lambda a, b: a * b, xs)

    def gradients(self, dz):
        gradients = []
        for i in range(len(self._xs)):
            others = dz
            for j, x in enumerate(self._xs):
                if j != i:
                    others = others * x
            gradients.append(others)
        return gradients


class Extremum(ElementwiseMerge):
    """Maximum or Minimum (``OPERATION``, the array module's, which a NaN wins), taken pairwise from the
    first input on as Keras 3 does; the gradient goes to the input that won each pair, half to each at
    a tie (as jax's maximum and minimum split it)."""

    OPERATION = None

    def combine(self, xs):
        xp = array_module(xs[0])
        operation = getattr(xp, self.OPERATION)
        self._wins = []  # for each pair, where the running result won: 1, 0, or 0.5 at a tie

        def pair(result, x):
            chosen = operation(result, x)
            won = (chosen == result) & (chosen != x)
            self._wins.append(xp.where(result == x, 0.5, won).astype(chosen.dtype))
            return chosen

        return fold(pair, xs)

    def gradients(self, dz):
        gradients, running = [], dz
        for wins in reversed(self._wins):  # the last pair first: its share of dz, then the running result's
            gradients.append(running * (1 - wins))
            running = running * wins
        return [running, *reversed(gradients)]


@LAYERS.register("maximum")
class Maximum(Extremum):
    """The element-wise maximum of the inputs."""

    OPERATION = "maximum"


@LAYERS.register("minimum")
class Minimum(Extremum):
    """The element-wise minimum of the inputs."""

    OPERATION = "minimum"


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
