"""`python -m clconv check`: every op on the chosen device against clconv.reference.

How a user validates a new GPU or driver in one command: it prints op, shape, the largest error
relative to the dtype's tolerance, and pass/fail, and exits non-zero on any failure.
"""
from __future__ import annotations

import numpy as np

from .optable import OPS, cases
from .runtime import Device
from .testing import mismatch


def _worst_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    finite = np.isfinite(want)
    return float(np.max(np.abs(got - want)[finite], initial=0.0))


def run_checks(device: Device, seed: int = 0, out=print) -> bool:
    """Print the check table for `device`; True when every op matches the reference."""
    ok = True
    out(f"{'op[case]':<44}{'dtype':<9}{'input shape':<20}{'max abs error':>14}  result")
    for dtype in device.dtypes():
        rng = np.random.default_rng(seed)
        for case in cases():
            arguments = case.make(rng, dtype)
            host = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in arguments.items()}
            entry = OPS[case.op]
            try:
                got = entry.function(**arguments)
                want = entry.reference(**host)
                pairs = list(zip(got, want)) if isinstance(got, tuple) else [(got, want)]
                problems = [mismatch(g.numpy(), w) for g, w in pairs]
                error = max(_worst_error(g.numpy(), w) for g, w in pairs)
                problem = next((p for p in problems if p), None)
            except Exception as err:  # a crash is a failure to report, not to hide
                error, problem = float("nan"), f"{type(err).__name__}: {err}"
            ok &= problem is None
            status = "pass" if problem is None else f"FAIL  {problem}"
            first = next(iter(arguments.values()))  # (input, or cat's list of tensors)
            shape = str(first[0].shape if isinstance(first, list) else first.shape)
            out(f"{str(case):<44}{np.dtype(dtype).name:<9}{shape:<20}{error:>14.3g}  {status}")
    return ok
