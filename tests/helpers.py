"""The one set of helpers every op test uses: random inputs, poisoned outputs, relative errors.

Errors are measured as ||out - ref|| / ||ref|| against a float64 reference; the tolerance depends on
the precision the op computes in.
"""

from __future__ import annotations

import numpy as np

# ||out - ref|| / ||ref|| allowed, by the precision the computation ran in.
TOLERANCE = {
    np.dtype(np.float64): 1e-12,
    np.dtype(np.float32): 1e-5,
    "tf32": 2e-3,
}


def rel_error(out, ref, scale=None) -> float:
    """||out - ref|| / ||scale|| (``scale`` defaults to ``ref``) in float64; NaN or Inf anywhere in
    ``out`` gives ``inf``."""
    out = np.asarray(to_host(out), dtype=np.float64)
    ref = np.asarray(to_host(ref), dtype=np.float64)
    assert out.shape == ref.shape, f"shape {out.shape} != reference shape {ref.shape}"
    if not np.all(np.isfinite(out)):
        return float("inf")
    norm = np.linalg.norm(ref if scale is None else np.asarray(to_host(scale), dtype=np.float64))
    diff = np.linalg.norm(out - ref)
    return float(diff / norm) if norm > 0 else float(diff)


def assert_close(out, ref, tol=None, what="output", scale=None):
    """Fail unless ``out`` matches the float64 ``ref`` within ``tol`` (default: by out's dtype).

    The error is relative to ``ref``, or to ``scale`` when given: a sum of terms that may cancel
    (an epilogue's alpha * AB + beta * C + bias) is judged against the sum of the terms' magnitudes,
    which is what its rounding is relative to.
    """
    if tol is None:
        tol = TOLERANCE[np.dtype(to_host(out).dtype)]
    err = rel_error(out, ref, scale)
    assert err <= tol, f"{what}: ||out-ref||/||{'ref' if scale is None else 'scale'}|| = {err:.3g} > {tol:.1g}"


def random_array(rng, shape, dtype=np.float32, low=-1.0, high=1.0):
    """Uniform random values in [low, high) of ``dtype`` (never zeros: they hide indexing bugs)."""
    return rng.uniform(low, high, size=shape).astype(dtype)


def poisoned(shape, dtype=np.float32, xp=np):
    """An output buffer filled with NaN (or -1 for integers), so an element never written shows."""
    fill = np.nan if np.dtype(dtype).kind == "f" else -1
    return xp.full(shape, fill, dtype=dtype)


def to_host(a):
    """A NumPy view of ``a`` whether it is a NumPy or a CuPy array."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def on_backend(a, backend):
    """``a`` (a NumPy array) where kernels of ``backend`` take it: a CuPy copy for cuda, as is for emulate."""
    if backend == "cuda":
        import cupy

        return cupy.asarray(a)
    return a


def planted(path, correct, faulty):
    """The source at ``path`` with its one ``correct`` fragment replaced by ``faulty``: a planted bug.

    Fails if the fragment is not there exactly once, so a test never plants into a kernel that
    has since changed and silently tests nothing.
    """
    from pathlib import Path

    text = Path(path).read_text()
    assert text.count(correct) == 1, f"{correct!r} must occur once in {path}"
    return text.replace(correct, faulty)


class RecordingModule:
    """Stands in for a compiled module: records what a launch would have passed."""

    def __init__(self, launches):
        self.launches = launches

    def get_function(self, name):
        return lambda grid, block, args, shared_mem=0: self.launches.append((name, grid, block, args, shared_mem))


class FakeCupyArray(np.ndarray):
    """A NumPy array posing as a CuPy one on GPU ``gpu``: all that the cuda backend's argument checks
    read of an array, with ``data.device_id`` as CuPy's arrays have it."""

    gpu = 0

    def __array_finalize__(self, obj):
        self.gpu = getattr(obj, "gpu", 0)  # a view is on its base's GPU

    @property
    def data(self):
        import types

        return types.SimpleNamespace(device_id=self.gpu)


FakeCupyArray.__module__ = "cupy"  # as the checks' messages name it


class FakeCupy:
    """``cupy`` as far as kernel argument checks and gemm() go, over NumPy: no GPU needed. GPU
    ``current`` is the current device; ``asked`` counts the times a caller asked which it is."""

    __name__ = "cupy"
    ndarray = FakeCupyArray
    float32 = np.float32
    may_share_memory = staticmethod(np.may_share_memory)

    def __init__(self):
        import types

        self.current, self.asked = 0, 0
        self.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDevice=self._get_device))

    def _get_device(self):
        self.asked += 1
        return self.current

    def asarray(self, a, gpu=None):
        """A copy of ``a`` on GPU ``gpu`` (default: the current one)."""
        array = np.array(a).view(FakeCupyArray)
        array.gpu = self.current if gpu is None else gpu
        return array

    def empty(self, shape, dtype):
        return self.asarray(np.empty(shape, dtype))

    def zeros(self, shape, dtype):
        return self.asarray(np.zeros(shape, dtype))


class FixedDraws:
    """Mixed in before a random augmentation layer (a RandomImageLayer): the same draws on every call,
    so that central differences through it are meaningful."""

    def draw(self, n, height, width):
        self.generator = np.random.default_rng(self.seed)
        return super().draw(n, height, width)


def fixed(cls, **arguments):
    """``cls(**arguments)`` drawing the same values on every call (FixedDraws)."""
    return type(f"Fixed{cls.__name__}", (FixedDraws, cls), {})(**arguments)
