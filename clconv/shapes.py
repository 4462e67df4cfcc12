"""Output-size rules and argument normalization, in plain Python.

Shared by the device ops and by `clconv.reference`, so both derive shapes from one definition.
"""
from __future__ import annotations

import numbers

INT32_LIMIT = 2**31 - 1  # kernels take sizes as 32-bit ints


def ntuple(value, n: int, name: str, op: str) -> tuple[int, ...]:
    """`value` (an int or a sequence of n ints) as a tuple of n Python ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        if len(value) not in (1, n):
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, "
                             f"got {tuple(value)}")
        values = tuple(int(v) for v in value) * (n if len(value) == 1 else 1)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(abs(v) > INT32_LIMIT for v in values):
        raise ValueError(f"{op}: {name} {values} is out of range (at most {INT32_LIMIT:,})")
    return values


def conv_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
                     dilation: int) -> int:
    """floor((size + padding - dilation*(kernel-1) - 1) / stride) + 1."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def conv_padding(padding, kernel: tuple[int, ...], dilation: tuple[int, ...],
                 op: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(before, after) per dimension for a convolution's `padding`: an int or tuple, 'valid' (0)
    or 'same' (dilation*(kernel-1) in all, the odd one at the end, as PyTorch pads)."""
    if padding == "valid":
        return (0,) * len(kernel), (0,) * len(kernel)
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    if not isinstance(padding, str):
        before = ntuple(padding, len(kernel), "padding", op)
        return before, before
    raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")


def pool_output_size(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    """PyTorch's rule: floor (or ceil) of (size + 2*pad - dilation*(kernel-1) - 1)/stride + 1,
    where with ceil_mode the last window must start inside the input or its left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out
