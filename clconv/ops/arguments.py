"""Argument normalization and checks shared by the op families.

Every message names the op and the argument, so that `conv2d: stride must be positive, got (0, 1)`
tells the user what to fix without reading clconv's source.
"""
from __future__ import annotations

import numpy as np

from .. import runtime
from ..shapes import ntuple  # noqa: F401  (re-exported for the op modules)
from ..tensors import Tensor, as_tensor


def real(value, name: str, op: str) -> float:
    """`value` as a Python float; a TypeError naming the argument if it is not a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)


def positive(values: tuple[int, ...], name: str, op: str) -> tuple[int, ...]:
    if any(v <= 0 for v in values):
        raise ValueError(f"{op}: {name} must be positive, got {values}")
    return values


def non_negative(values: tuple[int, ...], name: str, op: str) -> tuple[int, ...]:
    if any(v < 0 for v in values):
        raise ValueError(f"{op}: {name} must be non-negative, got {values}")
    return values


def tensors(op: str, optional=(), device: runtime.Device | None = None,
            **named) -> dict[str, Tensor | None]:
    """Each named argument as a Tensor, all on one device and of one dtype; the arguments named
    in `optional` may be None (and stay None)."""
    out: dict[str, Tensor | None] = {}
    for name, value in named.items():
        if value is None and name in optional:
            out[name] = None
            continue
        # The first Tensor argument fixes the device NumPy arguments are copied to.
        if device is None and isinstance(value, Tensor):
            device = value.device
        out[name] = as_tensor(value, name, op, device)
        device = device or out[name].device
    present = {name: t for name, t in out.items() if t is not None}
    first_name, first = next(iter(present.items()))
    for name, t in present.items():
        if t.device is not first.device:
            raise ValueError(f"{op}: {name} is on {t.device.name!r} but {first_name} is on "
                             f"{first.device.name!r}; tensors of one op must share a device")
        if t.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {t.dtype} but {first_name} has "
                            f"{first.dtype}; convert them to one dtype")
    return out


def expect_shape(t: Tensor | None, shape: tuple[int, ...], name: str, op: str, why: str = "") -> None:
    if t is not None and t.shape != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}{why}, got {t.shape}")


def buffer(t, device: runtime.Device):
    """The device buffer of `t`, a Tensor, for a kernel argument; a placeholder for None or an
    empty tensor; anything else is a buffer already (a prepared layout of weights)."""
    if t is None:
        return device.placeholder
    if not isinstance(t, Tensor):
        return t
    return t.array.data if t.size else device.placeholder


def scalar(dtype: np.dtype, value: float):
    """A kernel argument of the tensors' element type."""
    return np.dtype(dtype).type(value)


def i32(*values) -> list[np.int32]:
    return [np.int32(v) for v in values]


def spatial_input(x: Tensor, nd: int, op: str) -> tuple[Tensor, bool]:
    """Accept (N, C, *spatial) or unbatched (C, *spatial); return the batched view and whether it was."""
    if x.ndim == nd + 2:
        return x, True
    if x.ndim == nd + 1:
        return x.reshape((1,) + x.shape), False
    raise ValueError(f"{op}: expected a {nd + 2}D (batched) or {nd + 1}D (unbatched) input, "
                     f"got input of shape {x.shape}")


def as_3d(spatial: tuple[int, ...]) -> tuple[int, int, int]:
    """Spatial sizes of a 1D/2D/3D op as (D, H, W): missing leading dimensions are 1."""
    return (1,) * (3 - len(spatial)) + tuple(spatial)


def pad3(values: tuple[int, ...], fill: int) -> tuple[int, int, int]:
    """Per-dimension parameters for the missing leading dimensions of `as_3d`."""
    return (fill,) * (3 - len(values)) + tuple(values)
