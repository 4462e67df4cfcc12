"""conv_transpose1d/2d/3d: the adjoint of a convolution, through the convolution machinery.

y = conv_transpose(x, w) is the input gradient of the convolution c = conv(y', w) that maps
y's shape to x's: for weight (C_in, C_out / groups, *kernel) that convolution has C_out input
channels and C_in output channels - exactly conv's weight layout. So the forward is
conv_grad.input_grad (its algorithms: phases, the transposed geometry), the input gradient is
conv's forward, and the weight gradient is conv's weight gradient with the roles of input and
output swapped.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..shapes import ntuple
from ..tensors import Tensor, empty
from . import conv_grad
from .arguments import expect_shape, spatial_input, tensors
from .conv import forward
from .conv_geometry import conv_geometry
from .elementwise import combine


def conv_transpose(nd: int, input, weight, bias=None, stride=1, padding=0, output_padding=0,
                   groups=1, dilation=1) -> Tensor:
    op = f"conv_transpose{nd}d"
    args = tensors(op, ("bias",), input=input, weight=weight, bias=bias)
    x, batched = spatial_input(args["input"], nd, op)
    w, b = args["weight"], args["bias"]
    if w.ndim != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}D (in_channels, out_channels/groups, "
                         f"*kernel), got weight of shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups <= 0:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    stride = ntuple(stride, nd, "stride", op)
    padding = ntuple(padding, nd, "padding", op)
    output_padding = ntuple(output_padding, nd, "output_padding", op)
    dilation = ntuple(dilation, nd, "dilation", op)
    if any(s <= 0 for s in stride) or any(d <= 0 for d in dilation):
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive")
    if any(p < 0 for p in padding) or any(p < 0 for p in output_padding):
        raise ValueError(f"{op}: padding {padding} and output_padding {output_padding} must be "
                         "non-negative")
    if any(o >= s for o, s in zip(output_padding, stride)):  # (PyTorch: or the dilation)
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than stride "
                         f"{stride}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[1]} channels but weight "
                         f"of shape {w.shape} expects {w.shape[0]}")
    if w.shape[0] % groups:
        raise ValueError(f"{op}: in_channels ({w.shape[0]}) must be divisible by groups "
                         f"({groups})")
    out_channels = w.shape[1] * groups
    kernel = w.shape[2:]
    out_spatial = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in
                        zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
    if any(s <= 0 for s in out_spatial):
        raise ValueError(f"{op}: the output size {out_spatial} is not positive (input "
                         f"{x.shape}, weight {w.shape}, stride {stride}, padding {padding})")
    expect_shape(b, (out_channels,), "bias", op, " (one value per output channel)")
    out_shape = (x.shape[0], out_channels) + out_spatial
    # The convolution this is the adjoint of: from out_shape to x's shape.
    geo = conv_geometry(op, nd, out_shape, w.shape, stride, padding, dilation, groups)
    y = conv_grad.input_grad(x, w, geo, out_shape)
    if b is not None and y.size:
        y = combine("add", y, b.reshape((out_channels,) + (1,) * nd))

    def backward(grad):
        dx = dw = db = None
        if x.requires_grad:
            dx = empty(x.shape, x.dtype, x.device)
            if dx.size:
                forward(grad, w, None, dx, geo)
        if w.requires_grad:
            dw = conv_grad.weight_grad(grad, x, geo, w.shape)
        if b is not None and b.requires_grad:
            db = conv_grad.bias_grad(grad)
        return dx, dw, db

    y = autograd.record(op, y, (x, w, b), backward, saved=(x, w))
    return y if batched else y.reshape(y.shape[1:])


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    return conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                          dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    return conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                          dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    return conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                          dilation)
