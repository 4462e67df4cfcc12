"""relu, leaky_relu and add (`elementwise.cl`)."""
from __future__ import annotations

import numpy as np
import pyopencl.array as cla

from .. import runtime
from ..tensors import Tensor, empty
from ._args import i32, scalar, tensors

_LOCAL = 64


def _unary(op: str, kernel_name: str, input, inplace: bool, *extra) -> Tensor:
    x = tensors(op, input=input)["input"]
    y = x if inplace else empty(x.shape, x.dtype, x.device)
    if x.size:
        kernel = runtime.get_kernel(x.device, "elementwise", kernel_name,
                                    **runtime.dtype_defines(x.dtype))
        runtime.launch(x.device, kernel, (x.size,), (_LOCAL,), x.array.data, y.array.data,
                       *extra, np.int32(x.size))
    if inplace and isinstance(input, np.ndarray):  # the caller's array changes, as a tensor would
        input[...] = y.numpy()
    return y


def relu(input, inplace=False) -> Tensor:
    """max(x, 0) elementwise; NaN stays NaN."""
    return _unary("relu", "relu_forward", input, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False) -> Tensor:
    """x where x >= 0, negative_slope * x elsewhere."""
    dtype = input.dtype if hasattr(input, "dtype") else np.float32
    return _unary("leaky_relu", "leaky_relu_forward", input, inplace,
                  scalar(dtype, negative_slope))


def _broadcast_layout(shape_a, shape_b, op: str) -> tuple[tuple[int, ...], list[int]]:
    try:
        out = np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ValueError(f"{op}: shapes {shape_a} and {shape_b} cannot be broadcast") from None

    def strides(shape):
        shape = (1,) * (len(out) - len(shape)) + tuple(shape)
        contiguous = np.cumprod((1,) + shape[:0:-1])[::-1]
        return [0 if size == 1 else int(s) for size, s in zip(shape, contiguous)]

    return out, list(out) + strides(shape_a) + strides(shape_b)


def add(input, other) -> Tensor:
    """input + other with NumPy/PyTorch broadcasting."""
    op = "add"
    t = tensors(op, input=input, other=other)
    a, b = t["input"], t["other"]
    device = a.device
    out_shape, layout = _broadcast_layout(a.shape, b.shape, op)
    y = empty(out_shape, a.dtype, device)
    if not y.size:
        return y
    defines = runtime.dtype_defines(a.dtype)
    if a.shape == b.shape:
        kernel = runtime.get_kernel(device, "elementwise", "add_same_shape", **defines)
        runtime.launch(device, kernel, (y.size,), (_LOCAL,), a.array.data, b.array.data,
                       y.array.data, np.int32(y.size))
    else:
        layout_buffer = cla.to_device(device.queue, np.array(layout, np.int32),
                                      allocator=device.allocator)
        kernel = runtime.get_kernel(device, "elementwise", "add_broadcast", **defines)
        runtime.launch(device, kernel, (y.size,), (_LOCAL,), a.array.data, b.array.data,
                       y.array.data, *i32(y.size, len(out_shape)), layout_buffer.data)
    return y
