"""max / average / adaptive-average pooling in 1, 2 and 3 dimensions (`pool.cl`)."""
from __future__ import annotations

from .. import autograd, runtime
from ..shapes import pool_output_size
from ..tensors import Tensor, empty
from ._args import (
    as_3d,
    i32,
    non_negative,
    ntuple,
    pad3,
    positive,
    spatial_input,
    tensors,
)

_LOCAL = 64  # work-items per group; one output element each
_ROWS_LOCAL = 16  # work-items per group of the specialized kernels (several outputs each)


def _window(op, nd, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated (kernel, stride, padding, dilation, out_size) of a pooling window."""
    kernel = positive(ntuple(kernel_size, nd, "kernel_size", op), "kernel_size", op)
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        stride = kernel
    stride = positive(ntuple(stride, nd, "stride", op), "stride", op)
    padding = non_negative(ntuple(padding, nd, "padding", op), "padding", op)
    dilation = positive(ntuple(dilation, nd, "dilation", op), "dilation", op)
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: padding {padding} must be at most half of the (dilated) "
                             f"kernel size {kernel} (dilation {dilation})")
    spatial = x.shape[2:]
    out = tuple(pool_output_size(*args, ceil_mode)
                for args in zip(spatial, kernel, stride, padding, dilation))
    if min(out) <= 0 or min(spatial) <= 0:
        raise ValueError(f"{op}: input of shape {x.shape} is too small for kernel_size {kernel}, "
                         f"stride {stride}, padding {padding}, dilation {dilation}: the output "
                         f"would be {out}")
    return kernel, stride, padding, dilation, out


def _kernel(device, name: str, dtype):
    return runtime.get_kernel(device, "pool", name, **runtime.dtype_defines(dtype))


# Specialized forward kernels, each taken where its predicate holds; the general kernels
# (one work-item per output, any window) run everything else.

def _is_2x2_stride_2(nd, kernel, stride, padding, dilation) -> bool:
    """max_pool2d_k2s2: 2x2 windows at stride 2, no padding or dilation, any size/ceil_mode."""
    return nd == 2 and kernel == (2, 2) and stride == (2, 2) and padding == (0, 0) \
        and dilation == (1, 1)


def _is_3x3_stride_1_pad_1(nd, spatial, kernel, stride, padding) -> bool:
    """avg_pool2d_k3s1p1: 3x3 windows at stride 1 with padding 1 on rows of at least 16."""
    return nd == 2 and kernel == (3, 3) and stride == (1, 1) and padding == (1, 1) \
        and spatial[1] >= 16


def _plane_args(x: Tensor, out) -> list:
    planes = x.shape[0] * x.shape[1]
    return i32(planes, *as_3d(x.shape[2:]), *as_3d(out))


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    kernel, stride, padding, dilation, out = _window(
        op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    window = [*i32(*pad3(kernel, 1)), *i32(*pad3(stride, 1)), *i32(*pad3(padding, 0))]
    device = x.device
    y = empty(x.shape[:2] + out, x.dtype, device)
    # The backward routes each gradient to its window's argmax: keep indices when it will run.
    keep_indices = return_indices or autograd.needs_grad(x)
    indices = empty(y.shape, "int64", device) if keep_indices else None
    indices_data = indices.array.data if keep_indices else device.placeholder
    if y.size and _is_2x2_stride_2(nd, kernel, stride, padding, dilation):
        planes, rows = x.shape[0] * x.shape[1], x.shape[0] * x.shape[1] * out[0]
        runtime.launch(device, _kernel(device, "max_pool2d_k2s2", x.dtype), (rows,), (_ROWS_LOCAL,),
                x.array.data, y.array.data, indices_data,
                *i32(keep_indices, planes, *x.shape[2:], *out))
    elif y.size:
        runtime.launch(device, _kernel(device, "max_pool_forward", x.dtype), (y.size,), (_LOCAL,),
                x.array.data, y.array.data, indices_data, *i32(keep_indices),
                *_plane_args(x, out), *window, *i32(*pad3(dilation, 1)))

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size and _is_2x2_stride_2(nd, kernel, stride, padding, dilation):
            planes, (height, width) = x.shape[0] * x.shape[1], x.shape[2:]
            row_pairs = planes * ((height + 1) // 2)
            runtime.launch(device, _kernel(device, "max_pool2d_k2s2_backward", x.dtype),
                           (row_pairs,), (_ROWS_LOCAL,), grad.array.data, indices.array.data,
                           dx.array.data, *i32(planes, height, width, *out))
        elif dx.size:
            runtime.launch(device, _kernel(device, "max_pool_backward", x.dtype), (dx.size,),
                    (_LOCAL,), grad.array.data, indices.array.data, dx.array.data,
                    *_plane_args(x, out), *window, *i32(*pad3(dilation, 1)))
        return (dx,)

    y = autograd.record(op, y, (x,), backward)
    if not batched:  # (backward keeps the batched indices: do not rebind that name)
        y = y.reshape(y.shape[1:])
    if return_indices:
        return y, indices if batched else indices.reshape(indices.shape[1:])
    return y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_pool2d_k3s1p1(source: Tensor, out: Tensor, count_include_pad, divisor_override,
                       backward: bool) -> None:
    """The 3x3 / stride 1 / padding 1 average pool of `source` (backward: its input gradient from
    the output gradient `source`: the same neighbourhood, see pool.cl) into `out`."""
    planes, blocks = source.shape[0] * source.shape[1], source.shape[3] // 16
    runtime.launch(source.device, _kernel(source.device, "avg_pool2d_k3s1p1", source.dtype),
                   (planes * blocks,), (_ROWS_LOCAL,), source.array.data, out.array.data,
                   *i32(planes, *source.shape[2:], bool(count_include_pad),
                        divisor_override or 0, backward))


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    kernel, stride, padding, _, out = _window(op, nd, x, kernel_size, stride, padding, 1,
                                              ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int or None, "
                         f"got {divisor_override!r}")
    device = x.device
    y = empty(x.shape[:2] + out, x.dtype, device)
    window = [*i32(*pad3(kernel, 1)), *i32(*pad3(stride, 1)), *i32(*pad3(padding, 0)),
              *i32(bool(count_include_pad), divisor_override or 0)]
    k3s1p1 = _is_3x3_stride_1_pad_1(nd, x.shape[2:], kernel, stride, padding)
    if y.size and k3s1p1:
        _avg_pool2d_k3s1p1(x, y, count_include_pad, divisor_override, backward=False)
    elif y.size:
        runtime.launch(device, _kernel(device, "avg_pool_forward", x.dtype), (y.size,), (_LOCAL,),
                x.array.data, y.array.data, *_plane_args(x, out), *window)

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size and k3s1p1:
            _avg_pool2d_k3s1p1(grad, dx, count_include_pad, divisor_override, backward=True)
        elif dx.size:
            runtime.launch(device, _kernel(device, "avg_pool_backward", x.dtype), (dx.size,),
                    (_LOCAL,), grad.array.data, dx.array.data, *_plane_args(x, out),
                    *window)
        return (dx,)

    y = autograd.record(op, y, (x,), backward)
    return y if batched else y.reshape(y.shape[1:])


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _adaptive_avg_pool(op, nd, input, output_size):
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    if isinstance(output_size, (tuple, list)) and len(output_size) == nd:
        sizes = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    else:
        sizes = output_size
    out = positive(ntuple(sizes, nd, "output_size", op), "output_size", op)
    if min(x.shape[2:]) <= 0:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dimension")
    device = x.device
    y = empty(x.shape[:2] + out, x.dtype, device)
    if y.size:
        runtime.launch(device, _kernel(device, "adaptive_avg_pool_forward", x.dtype), (y.size,),
                (_LOCAL,), x.array.data, y.array.data, *_plane_args(x, out))

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size:
            runtime.launch(device, _kernel(device, "adaptive_avg_pool_backward", x.dtype),
                    (dx.size,), (_LOCAL,), grad.array.data, dx.array.data,
                    *_plane_args(x, out))
        return (dx,)

    y = autograd.record(op, y, (x,), backward)
    return y if batched else y.reshape(y.shape[1:])


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)
