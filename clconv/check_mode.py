"""Check mode: every op also runs its `clconv.reference` twin and raises on a mismatch.

Turn it on with `CLCONV_CHECK=1` in the environment or `with clconv.checking():`. It is how a user
validates a new GPU or driver: results come back as usual, but a wrong one raises `CheckError`
naming the op, the device and the worst element. It is slow (every op round-trips to the host).
"""
from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

import numpy as np

from . import config, runtime
from .tensors import Tensor
from .testing import mismatch


class CheckError(AssertionError):
    """A device result disagrees with clconv.reference beyond the dtype's tolerance."""


_state = threading.local()


def is_checking() -> bool:
    forced = getattr(_state, "forced", None)
    return forced if forced is not None else config.current().check


@contextmanager
def checking(enabled: bool = True):
    """Within this block (this thread), ops are checked against the reference (or not)."""
    previous = getattr(_state, "forced", None)
    _state.forced = enabled
    try:
        yield
    finally:
        _state.forced = previous


def _host(value):
    if isinstance(value, Tensor):
        return value.numpy()
    if runtime.is_device_array(value):
        return value.get()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _outputs(result) -> list:
    return list(result) if isinstance(result, tuple) else [result]


def checked(op, reference_op):
    """`op`, which in check mode also compares its results (and the arrays it updates in place,
    like running statistics) with `reference_op` on host copies of the same arguments."""

    @functools.wraps(op)
    def run(*args, **kwargs):
        if not is_checking():
            return op(*args, **kwargs)
        host_args = [_host(a) for a in args]
        host_kwargs = {k: _host(v) for k, v in kwargs.items()}
        result = op(*args, **kwargs)
        expected = reference_op(*host_args, **host_kwargs)
        if expected is None:  # a random result (dropout's mask): nothing to compare
            return result
        device = next(r.device for r in _outputs(result) if isinstance(r, Tensor))
        pairs = [(f"output {i}", r, e) for i, (r, e) in
                 enumerate(zip(_outputs(result), _outputs(expected)))]
        pairs += [(f"argument {name} after the op", v, host)
                  for name, v, host in zip(list(range(len(args))) + list(kwargs),
                                           list(args) + list(kwargs.values()),
                                           host_args + list(host_kwargs.values()))
                  if isinstance(v, (Tensor, np.ndarray))]
        for what, got, want in pairs:
            problem = mismatch(np.asarray(got), want)
            if problem:
                raise CheckError(f"{op.__name__} on {device.name!r}: {what}: {problem}")
        return result

    return run
