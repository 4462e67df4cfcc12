"""A convolution's geometry (validated arguments, output size), the problem its algorithms
decide on, and the epilogue its kernels apply: shared by the forward (conv.py) and the
gradients (conv_grad.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..shapes import conv_output_size, conv_padding
from .arguments import as_3d, i32, non_negative, ntuple, pad3, positive


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
    if padding == "same" and any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided "
                         f"convolutions (stride={stride})")
    before, after = conv_padding(padding, kernel, dilation, op)
    non_negative(before, "padding", op)
    out_size = tuple(conv_output_size(*args) for args in
                     zip(spatial, kernel, stride, before, after, dilation))
    if min(out_size) <= 0:
        dilated = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        padded = tuple(s + b + a for s, b, a in zip(spatial, before, after))
        raise ValueError(f"{op}: the (dilated) kernel {dilated} is larger than the padded input "
                         f"{padded} (input {x_shape}, weight {w_shape})")
    return ConvGeometry(batch, in_channels, out_channels, groups, as_3d(spatial), as_3d(kernel),
                        as_3d(out_size), pad3(stride, 1), pad3(before, 0), pad3(dilation, 1))


@dataclass(frozen=True)
class Epilogue:
    """What the convolution kernels apply to each output after the bias (common.h: activate):
    an activation's number (common.h: ACTIVATION_*, a build option) and its parameters a, b
    (leaky_relu's slope; hardtanh's bounds, kernel arguments)."""
    activation: int = 0
    a: float = 0.0
    b: float = 0.0

    def defines(self) -> dict:
        """The build options (none without an activation: the plain convolution's build)."""
        return {"ACTIVATION": self.activation} if self.activation else {}

    def args(self, dtype) -> tuple:
        real = np.dtype(dtype).type
        return real(self.a), real(self.b)


NO_EPILOGUE = Epilogue()


@dataclass(frozen=True)
class ConvProblem:
    """What the conv_forward algorithms decide on: the geometry and the element type."""
    geo: ConvGeometry
    dtype: np.dtype


def is_2d(geo: ConvGeometry) -> bool:
    """Unit depth, kernel and depth padding: a 1D or 2D convolution."""
    return geo.in_size[0] == 1 and geo.kernel[0] == 1 and geo.padding[0] == 0


def double_halved(tile: int, dtype) -> int:
    """A register tile's extent for `dtype`: halved (to at least 2) for 8-byte elements."""
    return max(2, tile // 2) if np.dtype(dtype).itemsize == 8 else tile


def geometry_args(geo: ConvGeometry) -> list:
    """The 21 sizes the general kernels take (kernels/conv_geometry.h: CONV_GEOMETRY_ARGS)."""
    return i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
               *geo.stride, *geo.padding, *geo.dilation, geo.groups)
