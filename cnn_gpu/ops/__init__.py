"""One module per op family: the NumPy reference (forward and backward) and, beside it, the kernel wrappers.

The references are array-module generic: they take ``xp`` from their inputs (see ``array_module``), so
the ``cuda`` backend runs them unchanged on CuPy arrays for any op whose kernel has not landed yet.
"""
