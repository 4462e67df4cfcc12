"""relu, leaky_relu, add, sub, mul and div, forward and backward (`elementwise.cl`, `reduce.cl`)."""
from __future__ import annotations

import numpy as np

from .. import autograd, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32, real, scalar, tensors
from .reduce import Rows, row_sum


def _launch_elementwise(device, name: str, dtype, total: int, *args) -> None:
    kernel = runtime.get_kernel(device, "elementwise", name, **runtime.dtype_defines(dtype))
    runtime.launch(device, kernel, (total,), (launch_sizes.items(device),), *args)


def _activation(op: str, input, inplace: bool, negative_slope: float) -> Tensor:
    x = tensors(op, input=input)["input"]
    if inplace and autograd.needs_grad(x):
        raise RuntimeError(f"{op}: inplace=True on a tensor that requires grad would overwrite "
                           "what backward needs; use inplace=False")
    y = x if inplace else empty(x.shape, x.dtype, x.device)
    if x.size:
        # leaky_relu with slope 0 is not relu: -inf * 0 is NaN, as in PyTorch.
        name, extra = (("relu_forward", ()) if op == "relu" else
                       ("leaky_relu_forward", (scalar(x.dtype, negative_slope),)))
        _launch_elementwise(x.device, name, x.dtype, x.size, x.array.data, y.array.data, *extra,
                            np.int32(x.size))
    if inplace:
        x._version += 1
        if isinstance(input, np.ndarray):  # the caller's array changes, as a tensor would
            input[...] = y.numpy()
        return y

    # The closure holds the output's buffer, not the output (whose node holds the closure).
    y_array, device = y.array, y.device

    def backward(grad):
        return (activation_backward(Tensor(y_array, device), grad, negative_slope),)

    return autograd.record(op, y, (x,), backward, saved=(y,))


def activation_backward(y: Tensor, grad: Tensor, negative_slope: float) -> Tensor:
    """Gradient of relu / leaky_relu from its output: grad where y > 0, else slope * grad."""
    dx = empty(y.shape, y.dtype, y.device)
    if y.size:
        _launch_elementwise(y.device, "leaky_relu_backward", y.dtype, y.size, y.array.data,
                            grad.array.data, dx.array.data, scalar(y.dtype, negative_slope),
                            np.int32(y.size))
    return dx


def relu(input, inplace=False) -> Tensor:
    """max(x, 0) elementwise; NaN stays NaN."""
    return _activation("relu", input, inplace, 0.0)


def leaky_relu(input, negative_slope=0.01, inplace=False) -> Tensor:
    """x where x >= 0, negative_slope * x elsewhere."""
    negative_slope = real(negative_slope, "negative_slope", "leaky_relu")
    if not negative_slope >= 0:  # the backward reads the sign of x from the output
        raise ValueError(f"leaky_relu: negative_slope must be non-negative, got {negative_slope}")
    return _activation("leaky_relu", input, inplace, negative_slope)


def _broadcast_layout(shape_a, shape_b, op: str) -> tuple[tuple[int, ...], list[int]]:
    try:
        out = np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ValueError(f"{op}: shapes {shape_a} and {shape_b} cannot be broadcast") from None

    def strides(shape):
        shape = (1,) * (len(out) - len(shape)) + tuple(shape)
        contiguous = np.cumprod((1,) + shape[:0:-1])[::-1]
        return [0 if size == 1 else int(s) for size, s in zip(shape, contiguous)]

    sizes, a, b = list(out), strides(shape_a), strides(shape_b)
    # Adjacent dimensions that both operands step through alike merge into one (fewer
    # divisions per element): (N, C, H, W) * (N, C, 1, 1) becomes (N*C, H*W) * (N*C, 1).
    d = len(sizes) - 1
    while d > 0:
        if all(s[d - 1] == s[d] * sizes[d] for s in (a, b)):
            sizes[d - 1:d + 1] = [sizes[d - 1] * sizes[d]]
            a[d - 1:d + 1], b[d - 1:d + 1] = [a[d]], [b[d]]
        d -= 1
    return tuple(out), sizes + a + b


def _int_buffer(device, values):
    return runtime.int_table(device, values)


_BINARY = {"add": 1, "sub": 2, "mul": 3, "div": 4, "maximum": 5,
           "minimum": 6}  # (elementwise.cl: BINARY)


def _operands(op: str, input, other) -> tuple[Tensor, Tensor]:
    """input and other as tensors of one dtype; a Python number becomes a 0-d tensor of the
    other operand's dtype (as PyTorch's `x * 2.0` keeps x's dtype)."""
    number = (int, float, np.integer, np.floating)
    if isinstance(other, number) and not isinstance(other, bool):
        dtype = input.dtype if hasattr(input, "dtype") else np.float32
        other = np.asarray(other, dtype=dtype if np.dtype(dtype).kind == "f" else np.float32)
    elif isinstance(input, number) and not isinstance(input, bool):
        dtype = other.dtype if hasattr(other, "dtype") else np.float32
        input = np.asarray(input, dtype=dtype if np.dtype(dtype).kind == "f" else np.float32)
    t = tensors(op, input=input, other=other)
    return t["input"], t["other"]


def combine(op: str, a: Tensor, b: Tensor) -> Tensor:
    """a (op) b with broadcasting on the device, op one of add, sub, mul, div; not recorded."""
    device = a.device
    out_shape, layout = _broadcast_layout(a.shape, b.shape, op)
    y = empty(out_shape, a.dtype, device)
    if not y.size:
        return y
    ndim = len(layout) // 3
    if a.shape == b.shape:
        kernel = runtime.get_kernel(device, "elementwise", "binary_same_shape",
                                    BINARY=_BINARY[op], **runtime.dtype_defines(a.dtype))
        runtime.launch(device, kernel, (y.size,), (launch_sizes.items(device),), a.array.data,
                       b.array.data, y.array.data, *i32(y.size))
    elif ndim <= 3:
        # (outer..inner) sizes and strides, padded to three dimensions: binary_grid.
        sizes, a_strides, b_strides = ([1] * (3 - ndim) + layout[k * ndim:(k + 1) * ndim]
                                       for k in range(3))
        kernel = runtime.get_kernel(device, "elementwise", "binary_grid", BINARY=_BINARY[op],
                                    A_INNER=a_strides[2], B_INNER=b_strides[2],
                                    **runtime.dtype_defines(a.dtype))
        items = launch_sizes.items(device)
        # a group of `items` over the innermost dimensions (short rows take more of them)
        inner = min(items, sizes[2])
        middle = max(1, min(items // inner, sizes[1]))
        local = (inner, middle, max(1, min(items // (inner * middle), sizes[0])))
        runtime.launch(device, kernel, sizes[::-1], local, a.array.data, b.array.data,
                       y.array.data, *i32(*sizes[::-1], a_strides[1], a_strides[0],
                                          b_strides[1], b_strides[0]))
    else:
        kernel = runtime.get_kernel(device, "elementwise", "binary_broadcast",
                                    BINARY=_BINARY[op], **runtime.dtype_defines(a.dtype))
        runtime.launch(device, kernel, (y.size,), (launch_sizes.items(device),), a.array.data,
                       b.array.data, y.array.data, *i32(y.size, ndim),
                       _int_buffer(device, layout).data)
    return y


def scale(x: Tensor, factor: float) -> Tensor:
    """x * factor on the device; not recorded."""
    y = empty(x.shape, x.dtype, x.device)
    if y.size:
        _launch_elementwise(x.device, "scale", x.dtype, y.size, x.array.data, y.array.data,
                            scalar(x.dtype, factor), np.int32(y.size))
    return y


def _binary(op: str, input, other) -> Tensor:
    a, b = _operands(op, input, other)
    y = combine(op, a, b)
    y_array, device = y.array, y.device

    def backward(grad):
        da = db = None
        if op in ("add", "sub"):
            da = grad if a.requires_grad else None
            if b.requires_grad:
                db = grad if op == "add" else scale(grad, -1.0)
        elif op == "mul":
            da = combine("mul", grad, b) if a.requires_grad else None
            db = combine("mul", grad, a) if b.requires_grad else None
        elif op in ("maximum", "minimum"):
            da, db = _extremum_backward(op, a, b, grad)
        else:  # d(a/b)/da = 1/b; d(a/b)/db = -y/b
            quotient = combine("div", grad, b)
            da = quotient if a.requires_grad else None
            if b.requires_grad:
                db = scale(combine("mul", quotient, Tensor(y_array, device)), -1.0)
        return (None if da is None else sum_to_shape(da, a.shape),
                None if db is None else sum_to_shape(db, b.shape))

    return autograd.record(op, y, (a, b), backward,
                           saved=(a, b) if op not in ("add", "sub") else ())


def _extremum_backward(op: str, a: Tensor, b: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """maximum's / minimum's gradient over the output's shape, for each operand."""
    device = a.device
    out_shape, layout = _broadcast_layout(a.shape, b.shape, op)
    da, db = empty(out_shape, a.dtype, device), empty(out_shape, a.dtype, device)
    if da.size:
        kernel = runtime.get_kernel(device, "elementwise", "extremum_backward",
                                    BINARY=_BINARY[op], **runtime.dtype_defines(a.dtype))
        runtime.launch(device, kernel, (da.size,), (launch_sizes.items(device),), a.array.data,
                       b.array.data, grad.array.data, da.array.data, db.array.data,
                       *i32(da.size, len(layout) // 3), _int_buffer(device, layout).data)
    return da, db


def add(input, other) -> Tensor:
    """input + other with NumPy/PyTorch broadcasting."""
    return _binary("add", input, other)


def sub(input, other) -> Tensor:
    """input - other with broadcasting."""
    return _binary("sub", input, other)


def mul(input, other) -> Tensor:
    """input * other with broadcasting."""
    return _binary("mul", input, other)


def div(input, other) -> Tensor:
    """input / other with broadcasting (true division; x / 0 is inf or NaN, as in IEEE)."""
    return _binary("div", input, other)


def maximum(input, other) -> Tensor:
    """The larger of the two with broadcasting; NaN where either is NaN."""
    return _binary("maximum", input, other)


def minimum(input, other) -> Tensor:
    """The smaller of the two with broadcasting; NaN where either is NaN."""
    return _binary("minimum", input, other)


def _summed_rows(shape, summed) -> Rows | None:
    """The reduction as reduce.Rows where the summed dimensions, merged, lie before and after
    one kept block (a bias's (N, C, H, W) -> (C,), a gate's -> (N, C, 1, 1), leading or
    trailing dimensions), else None."""
    blocks = []  # (size, summed) with neighbours of one kind merged, unit dimensions dropped
    for size, flag in zip(shape, summed):
        if size == 1:
            continue
        if blocks and blocks[-1][1] == flag:
            blocks[-1] = (blocks[-1][0] * size, flag)
        else:
            blocks.append((size, flag))
    before = blocks.pop(0)[0] if blocks and blocks[0][1] else 1
    after = blocks.pop()[0] if blocks and blocks[-1][1] else 1
    if len(blocks) > 1:
        return None
    return Rows.channels(before, blocks[0][0] if blocks else 1, after)


def sum_to_shape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """x summed over its broadcast dimensions so that it has `shape` (the backward of add):
    where the summed dimensions lie before and after one kept block and each result sums a
    work-group's worth or more, a work-group per result (reduce.row_sum: coalesced loads, a
    fixed-order tree); else a work-item per result."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    padded = (1,) * (x.ndim - len(shape)) + shape
    summed = [int(size != 1 and want == 1) for size, want in zip(x.shape, padded)]
    rows = _summed_rows(x.shape, summed)
    if rows is not None and rows.length >= launch_sizes.group_size(x.device):
        return row_sum(x, rows).reshape(shape)
    out = empty(shape, x.dtype, x.device)
    if out.size:
        summed_total = int(np.prod([s for s, f in zip(x.shape, summed) if f], dtype=np.int64))
        layout_buffer = _int_buffer(x.device, list(x.shape) + summed)
        kernel = runtime.get_kernel(x.device, "reduce", "sum_to_shape",
                                    **runtime.dtype_defines(x.dtype))
        runtime.launch(x.device, kernel, (out.size,), (launch_sizes.items(x.device),), x.array.data,
                       out.array.data, *i32(out.size, summed_total, x.ndim), layout_buffer.data)
    return out
