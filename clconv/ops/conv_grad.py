"""Gradients of convolution: input and weight gradients (`conv_backward.cl`), bias gradient
(a per-channel row sum). Deterministic: no atomics, each result written by one work-item."""
from __future__ import annotations

from .. import runtime
from ..tensors import Tensor, empty
from ._args import i32
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


def weight_grad(x: Tensor, grad: Tensor, geo, weight_shape) -> Tensor:
    """dL/dweight of y = conv(x, weight): input patches correlated with the output gradient."""
    dw = empty(weight_shape, grad.dtype, grad.device)
    if dw.size == 0:
        return dw
    if x.size == 0 or grad.size == 0:
        dw.array.fill(0)
        return dw
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    global_size = (taps, -(-in_per_group // _TILES["TILE_C"]),
                   geo.groups * -(-out_per_group // _TILES["TILE_K"]))
    runtime.launch(grad.device, _kernel(grad.device, "conv_backward_weight", grad.dtype),
                   global_size, (1, 1, 1), x.array.data, grad.array.data, dw.array.data,
                   *i32(geo.batch), *_geometry_args(geo))
    return dw


def bias_grad(grad: Tensor) -> Tensor:
    """dL/dbias: the output gradient summed over the batch and every position, per channel."""
    batch, channels = grad.shape[:2]
    spatial = grad.size // max(batch * channels, 1)
    return row_sum(grad, Rows.channels(batch, channels, spatial))
