"""The shape ops: reshape, flatten, squeeze and unsqueeze (views of the same buffer),
transpose/permute, cat and narrow (copies through `shape.cl`'s strided copy), and their gradients.

A dimension argument is an int in [-ndim, ndim) (PyTorch's rule; unsqueeze takes one more), and
an out-of-range one raises a ValueError that names the op, the argument and the shape.
"""
from __future__ import annotations

from math import prod

import numpy as np

from .. import autograd, runtime
from ..tensors import Tensor, as_tensor, empty
from . import launch_sizes
from .arguments import i32, tensors
from .elementwise import sum_to_shape


def dimension(dim, ndim: int, op: str, name: str = "dim") -> int:
    """`dim` as a non-negative index of one of `ndim` dimensions (a 0-d tensor has one)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {dim!r}")
    span = max(ndim, 1)
    if not -span <= dim < span:
        raise ValueError(f"{op}: {name} {dim} is out of range for a tensor of {ndim} "
                         f"dimension{'s' if ndim != 1 else ''} (expected -{span} to {span - 1})")
    return int(dim) % span


def dimensions(dims, ndim: int, op: str, name: str = "dim") -> tuple[int, ...]:
    """An int or a sequence of ints as distinct non-negative dimension indices."""
    dims = (dims,) if isinstance(dims, (int, np.integer)) else dims
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {dims!r}")
    out = tuple(dimension(d, ndim, op, name) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: {name} {tuple(dims)} names a dimension twice")
    return out


def _contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def strided_copy(src: Tensor, dst: Tensor, sizes, src_strides, dst_strides, src_base: int = 0,
                 dst_base: int = 0) -> None:
    """dst[dst_base + c . dst_strides] = src[src_base + c . src_strides] for every coordinate c
    of `sizes` (shape.cl); not recorded."""
    total = prod(sizes)
    if not total:
        return
    kernel = runtime.get_kernel(src.device, "shape", "strided_copy",
                                **runtime.dtype_defines(src.dtype))
    runtime.launch(src.device, kernel, (total,), (launch_sizes.items(src.device),),
                   src.array.data, *i32(src_base), dst.array.data, *i32(dst_base, total,
                                                                        len(sizes)),
                   runtime.int_table(src.device, list(sizes) + list(src_strides) +
                                     list(dst_strides)).data)


def permuted(x: Tensor, order: tuple[int, ...]) -> Tensor:
    """x with its dimensions in `order` (a copy); not recorded."""
    shape = tuple(x.shape[d] for d in order)
    out = empty(shape, x.dtype, x.device)
    strides = _contiguous_strides(x.shape)
    strided_copy(x, out, shape, [strides[d] for d in order], _contiguous_strides(shape))
    return out


def broadcasted(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """x repeated along its size-1 (and missing leading) dimensions to `shape` (a copy)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    padded = (1,) * (len(shape) - x.ndim) + x.shape
    strides = [0 if size == 1 else s for size, s in zip(padded, _contiguous_strides(padded))]
    out = empty(shape, x.dtype, x.device)
    strided_copy(x, out, shape, strides, _contiguous_strides(shape))
    return out


def broadcast_to(input, size) -> Tensor:
    """input repeated along its size-1 (and missing leading) dimensions to `size` (a copy; -1
    keeps a dimension's size); the gradient is summed back over them."""
    op = "broadcast_to"
    x = _input(op, input)
    if isinstance(size, (int, np.integer)):
        size = (size,)
    if not isinstance(size, (tuple, list)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
        raise TypeError(f"{op}: size must be a tuple of ints, got {size!r}")
    lead = len(size) - x.ndim
    if lead < 0:
        raise ValueError(f"{op}: size {tuple(size)} has fewer dimensions than shape {x.shape}")
    target = tuple(int(x.shape[d - lead]) if s == -1 and d >= lead else int(s)
                   for d, s in enumerate(size))
    if any(s < 0 for s in target) or any(
            have not in (1, want) for have, want in zip(x.shape, target[lead:])):
        raise ValueError(f"{op}: shape {x.shape} cannot be broadcast to {tuple(size)}")
    y = broadcasted(x, target)
    if y is x:
        y = x.reshape(target)
    in_shape = x.shape

    def backward(grad):
        return (sum_to_shape(grad, in_shape),)

    return autograd.record(op, y, (x,), backward)


def narrowed(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Elements start .. start + length - 1 of dimension `dim` (a copy); not recorded."""
    shape = x.shape[:dim] + (length,) + x.shape[dim + 1:]
    out = empty(shape, x.dtype, x.device)
    strides = _contiguous_strides(x.shape)
    strided_copy(x, out, shape, strides, _contiguous_strides(shape),
                 src_base=start * strides[dim])
    return out


def narrow(input, dim, start, length) -> Tensor:
    """Elements start .. start + length - 1 of dimension dim (a copy); the gradient goes back
    into those positions of a zero tensor."""
    op = "narrow"
    x = _input(op, input)
    axis = dimension(dim, x.ndim, op)
    for name, value in (("start", start), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    size = x.shape[axis] if x.ndim else 1
    first = start + size if -size <= start < 0 else start
    if not 0 <= first <= size or length < 0 or first + length > size:
        raise ValueError(f"{op}: start {start} and length {length} do not fit dimension {axis} "
                         f"of shape {x.shape}")
    if x.ndim == 0:
        raise ValueError(f"{op}: a zero-dimensional tensor cannot be narrowed")
    y = narrowed(x, axis, int(first), int(length))
    in_shape, dtype, device = x.shape, x.dtype, x.device

    def backward(grad):
        dx = empty(in_shape, dtype, device)
        runtime.fill(dx.array, 0)
        strides = _contiguous_strides(in_shape)
        strided_copy(grad, dx, grad.shape, _contiguous_strides(grad.shape), strides,
                     dst_base=int(first) * strides[axis])
        return (dx,)

    return autograd.record(op, y, (x,), backward)


def _input(op: str, input) -> Tensor:
    return tensors(op, input=input)["input"]


def reshape(input, shape) -> Tensor:
    """A view of input with another shape (one entry may be -1)."""
    x = _input("reshape", input)
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"reshape: shape must be a tuple of ints, got {shape!r}")
    return x.reshape(tuple(int(s) for s in shape))


def flatten(input, start_dim=0, end_dim=-1) -> Tensor:
    """Dimensions start_dim .. end_dim merged into one (a view)."""
    x = _input("flatten", input)
    start = dimension(start_dim, x.ndim, "flatten", "start_dim")
    end = dimension(end_dim, x.ndim, "flatten", "end_dim")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for "
                         f"shape {x.shape}")
    if x.ndim == 0:
        return x.reshape((1,))
    return x.reshape(x.shape[:start] + (prod(x.shape[start:end + 1]),) + x.shape[end + 1:])


def squeeze(input, dim=None) -> Tensor:
    """input without its size-1 dimensions (all of them, or those among `dim`; a named
    dimension whose size is not 1 stays), a view."""
    x = _input("squeeze", input)
    chosen = set(range(x.ndim)) if dim is None else set(dimensions(dim, x.ndim, "squeeze"))
    return x.reshape(tuple(s for d, s in enumerate(x.shape) if not (d in chosen and s == 1)))


def unsqueeze(input, dim) -> Tensor:
    """input with a size-1 dimension inserted at `dim` (in [-ndim - 1, ndim]), a view."""
    x = _input("unsqueeze", input)
    where = dimension(dim, x.ndim + 1, "unsqueeze")
    return x.reshape(x.shape[:where] + (1,) + x.shape[where:])


def permute(input, dims) -> Tensor:
    """input with its dimensions reordered: output dimension i is input dimension dims[i]."""
    x = _input("permute", input)
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"permute: dims must be a tuple of ints, got {dims!r}")
    order = dimensions(tuple(dims), x.ndim, "permute", "dims")
    if len(order) != x.ndim:
        raise ValueError(f"permute: dims {tuple(dims)} must name each of the {x.ndim} dimensions "
                         f"of shape {x.shape} once")
    if x.ndim == 0:
        return x
    y = permuted(x, order)
    inverse = tuple(int(i) for i in np.argsort(order))
    return autograd.record("permute", y, (x,), lambda grad: (permuted(grad, inverse),))


def transpose(input, dim0, dim1) -> Tensor:
    """input with dimensions dim0 and dim1 swapped."""
    x = _input("transpose", input)
    a = dimension(dim0, x.ndim, "transpose", "dim0")
    b = dimension(dim1, x.ndim, "transpose", "dim1")
    if x.ndim == 0:
        return x
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return permute(x, tuple(order))


def cat(tensors, dim=0) -> Tensor:
    """The tensors joined along `dim`; every other dimension must agree (1-D empty tensors are
    skipped, as in PyTorch)."""
    op = "cat"
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, (tuple, list)):
        raise TypeError(f"{op}: tensors must be a sequence of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: tensors must hold at least one tensor")
    device = next((t.device for t in tensors if isinstance(t, Tensor)), None)
    parts = [as_tensor(t, f"tensors[{i}]", op, device) for i, t in enumerate(tensors)]
    device = parts[0].device
    for i, t in enumerate(parts):
        if t.device is not device:
            raise ValueError(f"{op}: tensors[{i}] is on {t.device.name!r} but tensors[0] is on "
                             f"{device.name!r}")
        if t.dtype != parts[0].dtype:
            raise TypeError(f"{op}: tensors[{i}] has dtype {t.dtype} but tensors[0] has "
                            f"{parts[0].dtype}")
    # (index into parts, tensor) of the tensors joined: 1-D empty ones are skipped.
    joined = [(i, t) for i, t in enumerate(parts) if t.shape != (0,)] or [(0, parts[0])]
    first = joined[0][1]
    if first.ndim == 0:
        raise ValueError(f"{op}: zero-dimensional tensors cannot be concatenated")
    axis = dimension(dim, first.ndim, op)
    for _, t in joined:
        if t.ndim != first.ndim or any(a != b for d, (a, b) in enumerate(zip(t.shape, first.shape))
                                       if d != axis):
            raise ValueError(f"{op}: shapes {[p.shape for p in parts]} differ outside dimension "
                             f"{axis}")
    shape = first.shape[:axis] + (sum(t.shape[axis] for _, t in joined),) + first.shape[axis + 1:]
    out = empty(shape, first.dtype, device)
    out_strides = _contiguous_strides(shape)
    starts, at = {}, 0
    for i, t in joined:
        strided_copy(t, out, t.shape, _contiguous_strides(t.shape), out_strides,
                     dst_base=at * out_strides[axis])
        starts[i] = at
        at += t.shape[axis]

    def backward(grad):
        return tuple(narrowed(grad, axis, starts[i], t.shape[axis])
                     if i in starts and t.requires_grad else None for i, t in enumerate(parts))

    return autograd.record(op, out, tuple(parts), backward)
