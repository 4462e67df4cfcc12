"""sum and mean over dimensions, softmax and log_softmax over one, and their gradients
(`reduce.cl`'s row sums, `softmax.cl`). Deterministic: fixed-order tree reductions."""
from __future__ import annotations

from math import prod

from .. import autograd, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32, tensors
from .elementwise import scale
from .reduce import Rows, row_sum
from .shape import broadcasted, dimension, dimensions, permuted


def _reduced_dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    return tuple(sorted(dimensions(dim, ndim, op)))


def _sum_rows(x: Tensor, reduced: tuple[int, ...], factor: float = 1.0) -> Tensor:
    """x summed over the `reduced` dimensions (times `factor`), as a flat tensor in the order of
    the kept ones."""
    kept = [d for d in range(x.ndim) if d not in reduced]
    # Merge into (outer reduced, kept, inner reduced) when the kept dimensions are adjacent:
    # row_sum reads that layout in place; any other layout is permuted first.
    if kept and kept != list(range(kept[0], kept[-1] + 1)):
        x = permuted(x, tuple(kept) + reduced)
        kept, reduced = list(range(len(kept))), tuple(range(len(kept), x.ndim))
    if not kept:
        return row_sum(x, Rows.contiguous(1, x.size), factor)
    outer = prod(x.shape[:kept[0]])
    count = prod(x.shape[kept[0]:kept[-1] + 1])
    inner = prod(x.shape[kept[-1] + 1:])
    return row_sum(x, Rows(count=count, row_stride=inner, segments=outer,
                           segment_stride=count * inner, segment_len=inner, row_div=inner,
                           row_mod=count), factor)


def _reduce(op: str, input, dim, keepdim) -> Tensor:
    x = tensors(op, input=input)["input"]
    if not isinstance(keepdim, bool):
        raise TypeError(f"{op}: keepdim must be True or False, got {keepdim!r}")
    reduced = _reduced_dims(dim, x.ndim, op)
    kept_shape = tuple(1 if d in reduced else s for d, s in enumerate(x.shape))
    out_shape = kept_shape if keepdim else tuple(s for d, s in enumerate(x.shape)
                                                 if d not in reduced)
    count = prod(x.shape[d] for d in reduced)
    factor = 1.0 if op == "sum" else (1.0 / count if count else float("nan"))
    if x.ndim:
        y = _sum_rows(x, reduced, factor)
    else:
        y = x.reshape((1,))
        y = scale(y, factor) if factor != 1.0 else y
    y = y.reshape(out_shape)
    in_shape = x.shape

    def backward(grad):
        spread = broadcasted(grad.reshape(kept_shape), in_shape)
        return (scale(spread, factor) if factor != 1.0 else spread,)

    return autograd.record(op, y, (x,), backward)


def sum(input, dim=None, keepdim=False) -> Tensor:  # noqa: A001 (PyTorch's name)
    """The sum over `dim` (an int, a tuple, or None for every dimension)."""
    return _reduce("sum", input, dim, keepdim)


def mean(input, dim=None, keepdim=False) -> Tensor:
    """The mean over `dim` (an int, a tuple, or None for every dimension); NaN over nothing."""
    return _reduce("mean", input, dim, keepdim)


def _softmax_launch(name: str, log: bool, x: Tensor, axis: int, *buffers) -> None:
    length = x.shape[axis]
    inner = prod(x.shape[axis + 1:])
    rows = x.size // length if length else 0
    if not rows:
        return
    kernel, group = runtime.fixed_group_kernel(x.device, "softmax", name,
                                               launch_sizes.group_size(x.device), LOG=int(log),
                                               **runtime.dtype_defines(x.dtype))
    runtime.launch(x.device, kernel, (rows * group,), (group,), *buffers, *i32(length, inner))


def _implicit_dim(ndim: int) -> int:
    """PyTorch's legacy choice when dim is not given."""
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(op: str, log: bool, input, dim) -> Tensor:
    x = tensors(op, input=input)["input"]
    axis = dimension(_implicit_dim(x.ndim) if dim is None else dim, x.ndim, op)
    view = x.reshape((1,)) if x.ndim == 0 else x
    y = empty(view.shape, x.dtype, x.device)
    _softmax_launch("softmax_forward", log, view, axis, view.array.data, y.array.data)
    y = y.reshape(x.shape)
    y_array, device = y.array, y.device

    def backward(grad):
        dx = empty(view.shape, x.dtype, device)
        _softmax_launch("softmax_backward", log, view, axis, y_array.reshape(view.shape).data,
                        grad.array.data, dx.array.data)
        return (dx.reshape(x.shape),)

    return autograd.record(op, y, (x,), backward)


def softmax(input, dim=None) -> Tensor:
    """exp(x) / sum(exp(x)) over `dim` (computed from x - max)."""
    return _softmax("softmax", False, input, dim)


def log_softmax(input, dim=None) -> Tensor:
    """x - log(sum(exp(x))) over `dim` (computed from x - max)."""
    return _softmax("log_softmax", True, input, dim)

