"""How clconv decides that a result matches `clconv.reference`: one tolerance table per dtype.

`allowed = atol * max(1, max|expected|) + rtol * |expected|`: the absolute part scales with the
output's largest magnitude, because rounding in a long reduction is relative to the terms summed,
not to the (possibly cancelled) result. NaN matches NaN; integer outputs (pooling indices) must
match exactly.
"""
from __future__ import annotations

import numpy as np

TOLERANCES = {
    # float16 storage: float32 arithmetic rounded once to float16 (2^-11 relative) against the
    # reference rounded once too: one unit in the last place either way.
    np.dtype(np.float16): {"rtol": 2e-3, "atol": 1e-3},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 2e-5},
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-11},
}


def tolerance(dtype) -> dict:
    dtype = np.dtype(dtype)
    return TOLERANCES.get(dtype, {"rtol": 0.0, "atol": 0.0})


def mismatch(actual, expected, dtype=None) -> str | None:
    """None when `actual` matches `expected`; otherwise what differs, with the worst element."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return f"shape {actual.shape} differs from the reference's {expected.shape}"
    if actual.size == 0:
        return None
    tol = tolerance(dtype if dtype is not None else actual.dtype)
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(e), 0, e))))) if np.isfinite(e).any() else 1.0
    with np.errstate(invalid="ignore"):  # inf - inf
        error = np.abs(a - e)
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    bad = ~same & ~(error <= tol["atol"] * scale + tol["rtol"] * np.abs(e))
    if not bad.any():
        return None
    with np.errstate(invalid="ignore"):
        rel = error / np.maximum(np.abs(e), np.finfo(np.float64).tiny)
    worst = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(error, nan=np.inf), -1)), a.shape)
    return (f"{int(bad.sum())} of {a.size} elements differ (rtol={tol['rtol']}, "
            f"atol={tol['atol']}*{scale:.3g}); worst at index {tuple(int(i) for i in worst)}: "
            f"got {a[worst]!r}, expected {e[worst]!r} (abs error {error[worst]:.3g}, "
            f"rel error {rel[worst]:.3g})")


def assert_close(actual, expected, dtype=None, what: str = "") -> None:
    """Raise AssertionError naming `what` and the worst element when the arrays differ."""
    problem = mismatch(actual, expected, dtype)
    if problem:
        raise AssertionError(f"{what}: {problem}" if what else problem)
