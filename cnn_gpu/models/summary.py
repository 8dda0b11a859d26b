"""``model.summary()`` in Keras 3's table format (as Keras prints it when the output is not a terminal).

The column widths follow Keras: positions 0.45 / 0.80 / 1.0 of a line of
``min(88, terminal columns - 4)`` characters, then shrunk evenly to fit, as the rich table Keras uses
does.
"""

from __future__ import annotations

import math
import shutil
import textwrap

import numpy as np

from cnn_gpu.layers.base import format_shape


class Layout:
    """A table's columns: their headers, where each ends (a fraction of the line), how each aligns
    ("l" or "r"), and the line's default length."""

    def __init__(self, header, positions, alignment, line_length):
        self.header, self.positions, self.alignment, self.line_length = header, positions, alignment, line_length


# Keras's two tables: a stack of layers, and a graph, whose rows say which layers each one reads.
SEQUENTIAL = Layout(("Layer (type)", "Output Shape", "Param #"), (0.45, 0.80, 1.0), "llr", 88)
GRAPH = Layout(("Layer (type)", "Output Shape", "Param #", "Connected to"), (0.3, 0.56, 0.74, 1.0), "llrl", 108)
# Keras also counts the optimizer's step counter and learning rate (one 4-byte scalar each).
OPTIMIZER_SCALARS = 2


def column_widths(line_length, positions=SEQUENTIAL.positions):
    """Text width of each column, as rich lays out Keras's table (padding 1 each side, a border
    between and around the columns)."""
    requested, previous = [], 0
    for position in positions:
        requested.append(int(position * line_length) - previous)
        previous += requested[-1]
    cells = [w + 2 for w in requested]
    excess = sum(cells) - (line_length - len(cells) - 1)
    # rich's ratio_reduce with equal ratios: each column gives up its rounded share of what is left.
    for i in range(len(cells)):
        if excess <= 0:
            break
        share = round(excess / (len(cells) - i))
        cells[i] -= share
        excess -= share
    return [c - 2 for c in cells]


def rule(left, fill, middle, right, widths):
    return left + middle.join(fill * (w + 2) for w in widths) + right


def row_lines(cells, widths, bar, alignment=SEQUENTIAL.alignment):
    """One table row; a cell longer than its column wraps onto more lines, as rich wraps it."""
    wrapped = [textwrap.wrap(text, w, break_long_words=True) or [""] for text, w in zip(cells, widths)]
    lines = []
    for k in range(max(len(w) for w in wrapped)):
        parts = [w[k] if k < len(w) else "" for w in wrapped]
        parts = [p.ljust(w) if side == "l" else p.rjust(w) for p, w, side in zip(parts, widths, alignment)]
        lines.append(bar + bar.join(f" {p} " for p in parts) + bar)
    return lines


def readable_size(num_bytes):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes / 1024 < 1:
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.2f} PB"


def count_and_bytes(arrays):
    count = sum(math.prod(a.shape) for a in arrays)
    return count, sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize for a in arrays)


def layer_cells(layer):
    name = f"{layer.name} ({type(layer).__name__})"
    if not layer.built:
        return [name, "?", "0 (unbuilt)"]
    return [name, format_shape(layer.output_shape), f"{layer.count_params():,}"]


def table_rows(model):
    """``(layout, rows)``: a Sequential's layers, or a functional Model's (its InputLayer first, as
    Keras lists it), with the layers each reads where the graph branches or merges."""
    graph = getattr(model, "layer_inputs", None)
    if graph is None:
        return SEQUENTIAL, [layer_cells(layer) for layer in model.layers]
    inputs = graph()
    readers = [name for sources in inputs.values() for name in sources]
    if all(len(sources) <= 1 for sources in inputs.values()) and len(readers) == len(set(readers)):
        return SEQUENTIAL, [layer_cells(layer) for layer in inputs]
    return GRAPH, [layer_cells(layer) + [", ".join(f"{name}[0][0]" for name in sources) or "-"]
                   for layer, sources in inputs.items()]


def summary_text(model, line_length=None):
    layout, rows = table_rows(model)
    line_length = line_length or min(layout.line_length, shutil.get_terminal_size().columns - 4)
    widths = column_widths(line_length, layout.positions)
    lines = [f'Model: "{model.name}"', rule("┏", "━", "┳", "┓", widths),
             *row_lines(layout.header, widths, "┃", layout.alignment), rule("┡", "━", "╇", "┩", widths)]
    for index, cells in enumerate(rows):
        if index:
            lines.append(rule("├", "─", "┼", "┤", widths))
        lines += row_lines(cells, widths, "│", layout.alignment)
    lines.append(rule("└", "─", "┴", "┘", widths))
    trainable = count_and_bytes(model.trainable_weights)
    frozen = count_and_bytes(model.non_trainable_weights)
    totals = [("Trainable params", trainable), ("Non-trainable params", frozen)]
    if model.optimizer is not None and model.optimizer.built:
        slots = count_and_bytes(model.optimizer.variables)
        totals.append(("Optimizer params", (slots[0] + OPTIMIZER_SCALARS, slots[1] + 4 * OPTIMIZER_SCALARS)))
    total = tuple(sum(values) for values in zip(*(v for _, v in totals)))
    for label, (count, size) in [("Total params", total), *totals]:
        lines.append(f" {label}: {count:,} ({readable_size(size)})")
    return "\n".join(lines) + "\n"


def print_summary(model, line_length=None, print_fn=None):
    text = summary_text(model, line_length)
    if print_fn is None:
        print(text, end="")
    else:
        print_fn(text)
