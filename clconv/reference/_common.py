"""What every reference module uses: float64 arithmetic, the optional batch dimension, casting
results back to the input's dtype."""
from __future__ import annotations

import numpy as np


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def with_batch(x, nd):
    """(N, C, *spatial) view of x and whether x had the batch dimension."""
    return (x, True) if x.ndim == nd + 2 else (x[None], False)


def cast(dtype, *arrays):
    out = tuple(None if a is None else np.asarray(a).astype(dtype) for a in arrays)
    return out if len(out) > 1 else out[0]


def sum_to(g, shape):
    """g summed over what broadcasting added to reach it from `shape` (a gradient back to an
    operand's shape)."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True)
