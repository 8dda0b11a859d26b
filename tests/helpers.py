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


def rel_error(out, ref) -> float:
    """||out - ref|| / ||ref|| in float64; NaN or Inf anywhere in ``out`` gives ``inf``."""
    out = np.asarray(to_host(out), dtype=np.float64)
    ref = np.asarray(to_host(ref), dtype=np.float64)
    assert out.shape == ref.shape, f"shape {out.shape} != reference shape {ref.shape}"
    if not np.all(np.isfinite(out)):
        return float("inf")
    norm = np.linalg.norm(ref)
    diff = np.linalg.norm(out - ref)
    return float(diff / norm) if norm > 0 else float(diff)


def assert_close(out, ref, tol=None, what="output"):
    """Fail unless ``out`` matches the float64 ``ref`` within ``tol`` (default: by out's dtype)."""
    if tol is None:
        tol = TOLERANCE[np.dtype(to_host(out).dtype)]
    err = rel_error(out, ref)
    assert err <= tol, f"{what}: ||out-ref||/||ref|| = {err:.3g} > {tol:.1g}"


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
