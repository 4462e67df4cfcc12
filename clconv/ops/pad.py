"""pad: constant (any number of dimensions, negative pads crop), reflect, replicate and circular
(the last one to three dimensions), forward and backward (`pad.cl`, `shape.cl`)."""
from __future__ import annotations

from math import prod

import numpy as np

from .. import autograd, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32, real, tensors
from .shape import _contiguous_strides, strided_copy

_MODES = {"reflect": 1, "replicate": 2, "circular": 3}  # (pad.cl: PAD_MODE)


def _pairs(pad, x: Tensor, op: str) -> list[tuple[int, int]]:
    """(before, after) for each dimension of x, from PyTorch's pad tuple (last dimension
    first)."""
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"{op}: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"{op}: pad {tuple(pad)} must hold a (before, after) pair for each of "
                         f"at most {x.ndim} dimensions of shape {x.shape}")
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return pairs


def _constant(x: Tensor, pairs, value: float, op: str) -> Tensor:
    shape = tuple(s + b + a for s, (b, a) in zip(x.shape, pairs))
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: pad {pairs} crops shape {x.shape} below zero")
    y = empty(shape, x.dtype, x.device)
    if y.size:
        runtime.fill(y.array, value)
    # The part of x that survives (negative pads crop), and where it lands in y.
    kept = tuple(max(0, s + min(b, 0) + min(a, 0)) for s, (b, a) in zip(x.shape, pairs))
    x_strides, y_strides = _contiguous_strides(x.shape), _contiguous_strides(shape)
    src = sum(max(0, -b) * st for (b, _), st in zip(pairs, x_strides))
    dst = sum(max(0, b) * st for (b, _), st in zip(pairs, y_strides))
    if prod(kept):
        strided_copy(x, y, kept, x_strides, y_strides, src_base=src, dst_base=dst)
    in_shape, dtype, device = x.shape, x.dtype, x.device

    def backward(grad):
        dx = empty(in_shape, dtype, device)
        if dx.size:
            runtime.fill(dx.array, 0)
        if prod(kept):
            strided_copy(grad, dx, kept, y_strides, x_strides, src_base=dst, dst_base=src)
        return (dx,)

    return autograd.record(op, y, (x,), backward)


def _sizes3(shape, pairs):
    """(outer, in D/H/W, out D/H/W, before D/H/W) of the (outer, D, H, W) view."""
    padded = [d for d, p in enumerate(pairs) if p != (0, 0)]
    first = min(padded) if padded else len(shape)
    if len(shape) - first > 3:
        return None
    lead = 3 - (len(shape) - first)
    ins = (1,) * lead + tuple(shape[first:])
    before = (0,) * lead + tuple(b for b, _ in pairs[first:])
    outs = tuple(n + b + a for n, (b, a) in zip(ins, ((0, 0),) * lead + tuple(pairs[first:])))
    return prod(shape[:first]), ins, outs, before


def _launch(name: str, mode: int, x_or_grad: Tensor, out: Tensor, total: int, sizes) -> None:
    _, ins, outs, before = sizes
    kernel = runtime.get_kernel(out.device, "pad", name, PAD_MODE=mode,
                                **runtime.dtype_defines(out.dtype))
    runtime.launch(out.device, kernel, (total,), (launch_sizes.items(out.device),),
                   x_or_grad.array.data, out.array.data, *i32(total, *ins, *outs, *before))


def pad(input, pad, mode="constant", value=None) -> Tensor:
    """input padded by `pad` = (before, after) pairs starting from the last dimension.

    constant fills with `value` (0 by default) and crops where a pad is negative; reflect
    mirrors without repeating the edge (pads below the size), replicate repeats the edge,
    circular wraps around (pads at most the size); those three pad at most the last three
    dimensions."""
    op = "pad"
    x = tensors(op, input=input)["input"]
    pairs = _pairs(pad, x, op)
    if mode == "constant":
        return _constant(x, pairs, 0.0 if value is None else real(value, "value", op), op)
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"{op}: value applies to mode 'constant' only, got {value!r} with "
                         f"mode {mode!r}")
    sizes = _sizes3(x.shape, pairs)
    if sizes is None:
        raise ValueError(f"{op}: mode {mode!r} pads at most the last 3 dimensions; pad "
                         f"{tuple(pad)} for shape {x.shape} pads more")
    for d, ((b, a), n) in enumerate(zip(pairs, x.shape)):
        if (b, a) == (0, 0):
            continue
        if b < 0 or a < 0:
            raise ValueError(f"{op}: mode {mode!r} takes no negative pads, got {(b, a)} for "
                             f"dimension {d}")
        limit_ok = (max(b, a) < n if mode == "reflect" else max(b, a) <= n if mode == "circular"
                    else n > 0)
        if not limit_ok:
            rule = {"reflect": "below", "circular": "at most", "replicate": "of a non-empty"}[mode]
            raise ValueError(f"{op}: mode {mode!r} needs pads {rule} the size of dimension {d}: "
                             f"pads {(b, a)} for size {n} (shape {x.shape})")
    out_shape = tuple(n + b + a for n, (b, a) in zip(x.shape, pairs))
    y = empty(out_shape, x.dtype, x.device)
    code = _MODES[mode]
    if y.size:
        _launch("pad_forward", code, x, y, y.size, sizes)
    in_shape, dtype, device = x.shape, x.dtype, x.device

    def backward(grad):
        dx = empty(in_shape, dtype, device)
        if dx.size:
            _launch("pad_backward", code, grad, dx, dx.size, sizes)
        return (dx,)

    return autograd.record(op, y, (x,), backward)
