"""What every op test does: run the op on the device, run clconv.reference, compare."""
import numpy as np

import clconv
import clconv.functional as F
import clconv.reference as R
from clconv.testing import assert_close

DTYPES = [np.float32, np.float64]


def dtypes_of(device):
    return [d for d in DTYPES if np.dtype(d) in device.dtypes()]


def randn(rng, shape, dtype, scale=1.0):
    """Normal random values (never all zeros) of the given dtype."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def conv_weight(rng, shape, dtype):
    """Weights scaled like Kaiming initialization, so outputs are O(1) whatever the fan-in."""
    fan_in = int(np.prod(shape[1:])) or 1
    return randn(rng, shape, dtype, 1 / np.sqrt(fan_in))


def check_op(name, *args, case="", **kwargs):
    """F.<name> (clconv.fused.<rest> for fused_<rest>) against reference.<name> on the same
    arguments; returns the device result."""
    host_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    host_kwargs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    op = getattr(clconv.fused, name[len("fused_"):]) if name.startswith("fused_") else getattr(F, name)
    got = op(*args, **kwargs)
    want = getattr(R, name)(*host_args, **host_kwargs)
    got_list = list(got) if isinstance(got, tuple) else [got]
    want_list = list(want) if isinstance(want, tuple) else [want]
    assert len(got_list) == len(want_list)
    for i, (g, w) in enumerate(zip(got_list, want_list)):
        assert isinstance(g, clconv.Tensor), f"{name}: output {i} is {type(g).__name__}"
        assert g.shape == w.shape, f"{name} {case}: shape {g.shape} != reference {w.shape}"
        assert g.dtype == w.dtype, f"{name} {case}: dtype {g.dtype} != reference {w.dtype}"
        assert_close(g.numpy(), w, what=f"{name} {case} output {i}")
    return got
