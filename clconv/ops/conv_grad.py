"""Gradients of convolution: input and weight gradients (`conv_backward.cl`), bias gradient
(a per-channel row sum). Deterministic: no atomics, each result written by one work-item."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyopencl as cl

from .. import runtime
from ..tensors import Tensor, empty
from ._args import as_3d, i32
from .elementwise import add
from .reduce import Rows, row_sum

_TILES = {"TILE_C": 8, "TILE_P": 8, "TILE_K": 8}


def _geometry_args(geo) -> list:
    return i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
               *geo.stride, *geo.padding, *geo.dilation, geo.groups)


def _kernel(device, name, dtype):
    return runtime.get_kernel(device, "conv_backward", name, **_TILES,
                              **runtime.dtype_defines(dtype))


def input_grad(grad: Tensor, weight: Tensor, geo, input_shape) -> Tensor:
    """dL/dx of y = conv(x, weight): a transposed convolution of the output gradient."""
    dx = empty(input_shape, grad.dtype, grad.device)
    if dx.size == 0:
        return dx
    if grad.size and weight.size and _transposed_fits(geo) and \
            _spread_bytes(geo, grad.dtype) <= runtime.workspace_limit(grad.device):
        return _input_grad_as_convolution(grad, weight, geo, dx)
    in_plane = geo.in_size[0] * geo.in_size[1] * geo.in_size[2]
    in_per_group = geo.in_channels // geo.groups
    channel_tiles = geo.groups * -(-in_per_group // _TILES["TILE_C"])
    global_size = (-(-in_plane // _TILES["TILE_P"]), channel_tiles, geo.batch)
    if grad.size == 0 or weight.size == 0:  # nothing flows back
        dx.array.fill(0)
        return dx
    runtime.launch(grad.device, _kernel(grad.device, "conv_backward_input", grad.dtype),
                   global_size, (1, 1, 1), grad.array.data, weight.array.data, dx.array.data,
                   *_geometry_args(geo))
    return dx


def _transposed_fits(geo) -> bool:
    """Padding within the kernel's reach: the input gradient is then an ordinary stride-1
    convolution (flipped, transposed weights) of the output gradient, spread out by the stride
    with zeros between, run by the forward's fastest path. (With stride s, (s^d - 1)/s^d of
    its multiply-adds meet zeros: still faster than the scalar gather on CPUs.)"""
    return all(d * (k - 1) >= p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding))


def _input_grad_as_convolution(grad: Tensor, weight: Tensor, geo, dx: Tensor) -> Tensor:
    from . import conv  # conv imports this module

    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    w_t = empty((geo.in_channels, out_per_group) + weight.shape[2:], weight.dtype, weight.device)
    runtime.launch(weight.device, _kernel(weight.device, "flip_transpose_weight", weight.dtype),
                   (w_t.size,), (64,), weight.array.data, w_t.array.data,
                   *i32(in_per_group, out_per_group, geo.groups, taps))
    if geo.stride != (1, 1, 1):
        grad = _zero_upsample(grad, geo)
    transposed = conv.ConvGeometry(
        batch=geo.batch, in_channels=geo.out_channels, out_channels=geo.in_channels,
        groups=geo.groups, in_size=as_3d(grad.shape[2:]), kernel=geo.kernel,
        out_size=geo.in_size, stride=(1, 1, 1), dilation=geo.dilation,
        padding=tuple(d * (k - 1) - p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding)))
    conv._launch_forward(grad, w_t, None, dx, transposed)
    return dx


def _spread_bytes(geo, dtype) -> int:
    """Bytes of the output gradient spread out by the stride (0 at stride 1: no copy)."""
    if geo.stride == (1, 1, 1):
        return 0
    spread = [(o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride)]
    return geo.batch * geo.out_channels * spread[0] * spread[1] * spread[2] * np.dtype(dtype).itemsize


def _zero_upsample(grad: Tensor, geo) -> Tensor:
    """(N, K, (O-1)*S + 1 per dimension): grad at multiples of the stride, zeros between."""
    spread = tuple((o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride))
    up = empty((geo.batch, geo.out_channels) + spread, grad.dtype, grad.device)
    runtime.launch(grad.device, _kernel(grad.device, "zero_upsample", grad.dtype), (up.size,),
                   (64,), grad.array.data, up.array.data,
                   *i32(geo.batch * geo.out_channels, *geo.out_size, *spread, *geo.stride))
    return up


def weight_grad(x: Tensor, grad: Tensor, geo, weight_shape) -> Tensor:
    """dL/dweight of y = conv(x, weight): input patches correlated with the output gradient."""
    dw = empty(weight_shape, grad.dtype, grad.device)
    if dw.size == 0:
        return dw
    if x.size == 0 or grad.size == 0:
        dw.array.fill(0)
        return dw
    if not grad.device.is_gpu and _flat_weight_grad_fits(geo):
        return _weight_grad_flat(x, grad, geo, dw)
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    global_size = (taps, -(-in_per_group // _TILES["TILE_C"]),
                   geo.groups * -(-out_per_group // _TILES["TILE_K"]))
    runtime.launch(grad.device, _kernel(grad.device, "conv_backward_weight", grad.dtype),
                   global_size, (1, 1, 1), x.array.data, grad.array.data, dw.array.data,
                   *i32(geo.batch), *_geometry_args(geo))
    return dw


_LANES = 16  # vector width of conv_backward_weight_flat


def _flat_weight_grad_fits(geo) -> bool:
    """The wide-vector weight gradient handles stride-1 1D and 2D convolutions."""
    return geo.kernel[0] == 1 and geo.padding[0] == 0 and geo.stride == (1, 1, 1)


def _pad_planes(t: Tensor, planes: int, rows: int, cols: int, rows_out: int, cols_out: int,
                row_shift: int, col_shift: int, plane_out: int, tail: int) -> Tensor:
    out = empty((planes * plane_out + tail,), t.dtype, t.device)
    runtime.launch(t.device, _kernel(t.device, "pad_planes", t.dtype), (rows_out + 1, planes),
                   (1, 1), t.array.data, out.array.data,
                   *i32(planes, rows, cols, rows_out, cols_out, row_shift, col_shift, plane_out, tail))
    return out


def _weight_grad_flat(x: Tensor, grad: Tensor, geo, dw: Tensor) -> Tensor:
    """The padded copies take about x + dy; past runtime.workspace_limit, runs of samples are
    summed (the copies of each run stay under it)."""
    workspace = (x.size + grad.size) * x.dtype.itemsize * 2  # rows widened by the padding
    limit = runtime.workspace_limit(x.device)
    if workspace <= limit or geo.batch == 1:
        return _weight_grad_flat_run(x, grad, geo, dw)
    per_run = max(1, geo.batch * limit // workspace)
    total = None
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        part = _weight_grad_flat_run(_rows(x, first, count), _rows(grad, first, count),
                                     replace(geo, batch=count),
                                     empty(dw.shape, dw.dtype, dw.device))
        total = part if total is None else add(total, part)
    return total


def _rows(t: Tensor, first: int, count: int) -> Tensor:
    """A copy of samples first .. first + count - 1 of t."""
    sample = t.size // t.shape[0] * t.dtype.itemsize
    out = empty((count,) + t.shape[1:], t.dtype, t.device)
    cl.enqueue_copy(t.device.queue, out.array.data, t.array.data, src_offset=first * sample,
                    byte_count=count * sample)
    return out


def _weight_grad_flat_run(x: Tensor, grad: Tensor, geo, dw: Tensor) -> Tensor:
    _, height, width = geo.in_size
    _, out_height, out_width = geo.out_size
    _, kernel_h, kernel_w = geo.kernel
    _, pad_h, pad_w = geo.padding
    _, dilation_h, dilation_w = geo.dilation
    # Rows as wide as the padded input (and as the output plus the kernel's reach), so that
    # every tap of every output column lands in the same row.
    row = max(width + 2 * pad_w, out_width + dilation_w * (kernel_w - 1))
    dy_plane = -(-out_height * row // _LANES) * _LANES
    reach = (dilation_h * (kernel_h - 1)) * row + dilation_w * (kernel_w - 1)
    x_rows = max(height + 2 * pad_h, -(-(dy_plane + reach) // row))
    x_plane = x_rows * row
    batch, c, k = geo.batch, geo.in_channels, geo.out_channels
    xp = _pad_planes(x, batch * c, height, width, x_rows, row, pad_h, pad_w, x_plane, _LANES)
    dyp = _pad_planes(grad, batch * k, out_height, out_width, out_height, row, 0, 0, dy_plane, 0)
    in_per_group, out_per_group = c // geo.groups, k // geo.groups
    # No more channels per work-item than a group has (tiles are build options: at most 16).
    tile_c, tile_k = min(4, in_per_group), min(4, out_per_group)
    kernel = runtime.get_kernel(x.device, "conv_backward", "conv_backward_weight_flat",
                                **_TILES, WG_C=tile_c, WG_K=tile_k, WVW=_LANES,
                                **runtime.dtype_defines(x.dtype))
    global_size = (kernel_h * kernel_w, -(-in_per_group // tile_c),
                   geo.groups * -(-out_per_group // tile_k))
    runtime.launch(x.device, kernel, global_size, (1, 1, 1), xp.array.data, dyp.array.data,
                   dw.array.data, *i32(batch, c, k, geo.groups, kernel_h, kernel_w, dilation_h,
                                       dilation_w, row, x_plane, dy_plane))
    return dw


def bias_grad(grad: Tensor) -> Tensor:
    """dL/dbias: the output gradient summed over the batch and every position, per channel."""
    batch, channels = grad.shape[:2]
    spatial = grad.size // max(batch * channels, 1)
    return row_sum(grad, Rows.channels(batch, channels, spatial))
