"""`python -m clconv check`: every op on the chosen device against clconv.reference.

How a user validates a new GPU or driver in one command: it prints op, shape, the largest error
relative to the dtype's tolerance, and pass/fail, and exits non-zero on any failure.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import reference as R
from .runtime import Device
from .testing import mismatch


def _cases(rng, dtype):
    def randn(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    x2 = randn(4, 8, 15, 13)
    yield "conv1d", (randn(3, 8, 33), randn(16, 8, 5, scale=0.15), randn(16)), {"padding": 2}
    yield "conv2d", (x2, randn(16, 8, 3, 3, scale=0.1), randn(16)), {"padding": 1}
    yield "conv2d", (x2, randn(12, 4, 3, 3, scale=0.15)), {"stride": 2, "groups": 2, "dilation": 2}
    yield "conv2d", (x2, randn(8, 1, 3, 3, scale=0.3)), {"padding": "same", "groups": 8}
    yield "conv2d", (x2, randn(32, 8, 1, 1, scale=0.3)), {}
    yield "conv3d", (randn(2, 4, 6, 7, 8), randn(6, 4, 3, 3, 3, scale=0.1)), {"padding": 1}
    yield "max_pool1d", (randn(2, 3, 17), 3), {"stride": 2, "padding": 1, "return_indices": True}
    yield "max_pool2d", (x2, 3), {"stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True}
    yield "max_pool3d", (randn(2, 3, 6, 7, 8), 2), {}
    yield "avg_pool1d", (randn(2, 3, 17), 4), {"stride": 3, "padding": 2, "ceil_mode": True}
    yield "avg_pool2d", (x2, 3), {"stride": 1, "padding": 1, "count_include_pad": False}
    yield "avg_pool3d", (randn(2, 3, 6, 7, 8), 3), {"stride": 2, "padding": 1, "divisor_override": 7}
    yield "adaptive_avg_pool2d", (x2, (4, 3)), {}
    yield "batch_norm", (x2, randn(8), np.abs(randn(8)) + 0.5, randn(8), randn(8)), {"training": True}
    yield "batch_norm", (x2, randn(8), np.abs(randn(8)) + 0.5), {"training": False}
    yield "layer_norm", (x2, (15, 13), randn(15, 13), randn(15, 13)), {}
    yield "instance_norm", (x2,), {}
    yield "group_norm", (x2, 4, randn(8), randn(8)), {}
    yield "relu", (x2,), {}
    yield "leaky_relu", (x2, 0.1), {}
    yield "add", (x2, randn(8, 1, 13)), {}
    yield "linear", (randn(5, 7, 33), randn(10, 33, scale=0.2), randn(10)), {}


def _worst_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    finite = np.isfinite(want)
    return float(np.max(np.abs(got - want)[finite], initial=0.0))


def run_checks(device: Device, seed: int = 0, out=print) -> bool:
    """Print the check table for `device`; True when every op matches the reference."""
    ok = True
    out(f"{'op':<22}{'dtype':<9}{'input shape':<22}{'max abs error':>14}  result")
    for dtype in device.dtypes():
        rng = np.random.default_rng(seed)
        for name, args, kwargs in _cases(rng, dtype):
            host_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            try:
                got = getattr(F, name)(*args, **kwargs)
                want = getattr(R, name)(*host_args, **kwargs)
                pairs = list(zip(got, want)) if isinstance(got, tuple) else [(got, want)]
                problems = [mismatch(g.numpy(), w) for g, w in pairs]
                error = max(_worst_error(g.numpy(), w) for g, w in pairs)
                problem = next((p for p in problems if p), None)
            except Exception as err:  # a crash is a failure to report, not to hide
                error, problem = float("nan"), f"{type(err).__name__}: {err}"
            ok &= problem is None
            status = "pass" if problem is None else f"FAIL  {problem}"
            out(f"{name:<22}{np.dtype(dtype).name:<9}{str(args[0].shape):<22}{error:>14.3g}  {status}")
    return ok
