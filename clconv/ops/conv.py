"""conv1d / conv2d / conv3d: argument checks, output geometry and the launch of `conv.cl`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import runtime
from ..shapes import conv_output_size
from ..tensors import Tensor, empty
from ._args import as_3d, buffer, expect_shape, i32, non_negative, ntuple, pad3, positive, spatial_input, tensors


@dataclass(frozen=True)
class ConvGeometry:
    """Everything a launch needs to know about one convolution, in (D, H, W) order."""
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_size: tuple[int, int, int]
    kernel: tuple[int, int, int]
    out_size: tuple[int, int, int]
    stride: tuple[int, int, int]
    padding: tuple[int, int, int]  # before each dimension; 'same' may pad one more after
    dilation: tuple[int, int, int]

    @property
    def multiply_adds(self) -> int:
        d, h, w = self.out_size
        kd, kh, kw = self.kernel
        return (self.batch * self.out_channels * d * h * w
                * (self.in_channels // self.groups) * kd * kh * kw)


def conv_geometry(op: str, nd: int, x_shape, w_shape, stride, padding, dilation,
                  groups) -> ConvGeometry:
    """Validate a convolution's arguments (shapes already batched) and derive its output size."""
    if len(w_shape) != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}D (out_channels, in_channels/groups, "
                         f"*kernel), got weight of shape {w_shape}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    batch, in_channels, *spatial = x_shape
    out_channels, in_per_group, *kernel = w_shape
    if in_channels % groups:
        raise ValueError(f"{op}: in_channels ({in_channels}) must be divisible by groups ({groups})")
    if out_channels % groups:
        raise ValueError(f"{op}: out_channels ({out_channels}, weight {w_shape}) must be "
                         f"divisible by groups ({groups})")
    if in_per_group * groups != in_channels:
        raise ValueError(f"{op}: input of shape {x_shape} has {in_channels} channels but weight "
                         f"of shape {w_shape} expects {in_per_group * groups} (groups={groups})")
    if min(kernel) <= 0:
        raise ValueError(f"{op}: weight of shape {w_shape} has an empty kernel")
    stride = positive(ntuple(stride, nd, "stride", op), "stride", op)
    dilation = positive(ntuple(dilation, nd, "dilation", op), "dilation", op)
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            before = tuple(t // 2 for t in total)
            after = tuple(t - t // 2 for t in total)
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', "
                             f"got {padding!r}")
    else:
        before = after = non_negative(ntuple(padding, nd, "padding", op), "padding", op)
    out_size = tuple(conv_output_size(*args) for args in
                     zip(spatial, kernel, stride, before, after, dilation))
    if min(out_size) <= 0:
        dilated = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        padded = tuple(s + b + a for s, b, a in zip(spatial, before, after))
        raise ValueError(f"{op}: the (dilated) kernel {dilated} is larger than the padded input "
                         f"{padded} (input {x_shape}, weight {w_shape})")
    return ConvGeometry(batch, in_channels, out_channels, groups, as_3d(spatial), as_3d(kernel),
                        as_3d(out_size), pad3(stride, 1), pad3(before, 0), pad3(dilation, 1))


def _tiles(device: runtime.Device, out_per_group: int) -> dict:
    """Register-tile sizes: no more output channels per work-item than a group has."""
    tile_k = 1 if out_per_group == 1 else 4 if out_per_group <= 4 else 8
    return {"TILE_K": tile_k, "TILE_P": 8}


def _conv(op: str, nd: int, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    args = tensors(op, input=input, weight=weight, bias=bias)
    x, batched = spatial_input(args["input"], nd, op)
    w, b = args["weight"], args["bias"]
    geo = conv_geometry(op, nd, x.shape, w.shape, stride, padding, dilation, groups)
    expect_shape(b, (geo.out_channels,), "bias", op, " (one value per output channel)")
    out_spatial = geo.out_size[3 - nd:]
    y = empty((geo.batch, geo.out_channels) + out_spatial, x.dtype, x.device)
    if y.size:
        _launch_forward(x, w, b, y, geo)
    return y if batched else y.reshape(y.shape[1:])


def _launch_forward(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry) -> None:
    device = x.device
    tiles = _tiles(device, geo.out_channels // geo.groups)
    kernel = runtime.get_kernel(device, "conv", "conv_forward",
                                **runtime.dtype_defines(x.dtype), **tiles)
    out_plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    channel_tiles = geo.groups * -(-(geo.out_channels // geo.groups) // tiles["TILE_K"])
    global_size = (-(-out_plane // tiles["TILE_P"]), channel_tiles, geo.batch)
    local_size = (8, 4, 1) if device.is_gpu else (1, 1, 1)
    runtime.launch(
        device, kernel, global_size, local_size,
        buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
        y.array.data,
        *i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
             *geo.stride, *geo.padding, *geo.dilation, geo.groups))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1D convolution over (N, C, L); PyTorch's `conv1d` signature and semantics."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2D convolution over (N, C, H, W); PyTorch's `conv2d` signature and semantics."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3D convolution over (N, C, D, H, W); PyTorch's `conv3d` signature and semantics."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)
