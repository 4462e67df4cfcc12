"""Convolution and pooling layers (see clconv.nn.layers)."""
from __future__ import annotations

import math


from .. import fused
from .. import functional as F
from .. import reference as R
from ..shapes import ntuple
from .module import Module
from .init import grads, host, uniform


# --- convolution ---------------------------------------------------------------------------------

class _ConvNd(Module):
    nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, self.nd, "kernel_size", name)
        self.stride = ntuple(stride, self.nd, "stride", name)
        self.padding = padding if isinstance(padding, str) else ntuple(padding, self.nd, "padding", name)
        self.dilation = ntuple(dilation, self.nd, "dilation", name)
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # and the bias from the same bound.
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        self.weight = self.parameter(uniform((out_channels, in_channels // groups) + self.kernel_size, bound))
        self.bias = self.parameter(uniform((out_channels,), bound)) if bias else None

    def _args(self):
        return self.stride, self.padding, self.dilation, self.groups

    def forward(self, x):
        return getattr(F, f"conv{self.nd}d")(x, self.weight, self.bias, *self._args())

    def forward_activated(self, x, activation: str, negative_slope: float = 0.01):
        """activation(self(x)) in one kernel (clconv.fused): what nn.Sequential runs for this
        module followed by an activation module clconv.fused has."""
        return getattr(fused, f"conv{self.nd}d")(x, self.weight, self.bias, *self._args(),
                                                 activation=activation,
                                                 negative_slope=negative_slope)

    def reference_forward(self, x):
        return getattr(R, f"conv{self.nd}d")(x, host(self.weight), host(self.bias), *self._args())

    def reference_backward(self, grad, x):
        dx, dw, db = getattr(R, f"conv{self.nd}d_backward")(grad, x, host(self.weight),
                                                            host(self.bias), *self._args())
        return dx, grads(weight=dw, bias=db)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")


class Conv1d(_ConvNd):
    nd = 1


class Conv2d(_ConvNd):
    nd = 2


class Conv3d(_ConvNd):
    nd = 3


class _ConvTransposeNd(Module):
    """PyTorch's ConvTranspose layers: weight (in_channels, out_channels / groups, *kernel)."""
    nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros"):
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, self.nd, "kernel_size", name)
        self.stride = ntuple(stride, self.nd, "stride", name)
        self.padding = ntuple(padding, self.nd, "padding", name)
        self.output_padding = ntuple(output_padding, self.nd, "output_padding", name)
        self.dilation = ntuple(dilation, self.nd, "dilation", name)
        # PyTorch's default initialization: fan_in from the weight's second dimension.
        fan_in = out_channels // groups * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        self.weight = self.parameter(uniform((in_channels, out_channels // groups) +
                                             self.kernel_size, bound))
        self.bias = self.parameter(uniform((out_channels,), bound)) if bias else None

    def _args(self):
        return self.stride, self.padding, self.output_padding, self.groups, self.dilation

    def forward(self, x):
        return getattr(F, f"conv_transpose{self.nd}d")(x, self.weight, self.bias, *self._args())

    def reference_forward(self, x):
        return getattr(R, f"conv_transpose{self.nd}d")(x, host(self.weight), host(self.bias),
                                                       *self._args())

    def reference_backward(self, grad, x):
        dx, dw, db = getattr(R, f"conv_transpose{self.nd}d_backward")(
            grad, x, host(self.weight), host(self.bias), *self._args())
        return dx, grads(weight=dw, bias=db)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")


class ConvTranspose1d(_ConvTransposeNd):
    nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    nd = 3


# --- pooling ---------------------------------------------------------------------------------------

class _MaxPoolNd(Module):
    nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def _args(self):
        return self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode

    def forward(self, x):
        return getattr(F, f"max_pool{self.nd}d")(x, *self._args(), self.return_indices)

    def reference_forward(self, x):
        return getattr(R, f"max_pool{self.nd}d")(x, *self._args())

    def reference_backward(self, grad, x):
        return getattr(R, f"max_pool{self.nd}d_backward")(grad, x, *self._args()), {}

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    nd = 1


class MaxPool2d(_MaxPoolNd):
    nd = 2


class MaxPool3d(_MaxPoolNd):
    nd = 3


class _AvgPoolNd(Module):
    nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def _args(self):
        args = (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        return args if self.nd == 1 else args + (self.divisor_override,)

    def forward(self, x):
        return getattr(F, f"avg_pool{self.nd}d")(x, *self._args())

    def reference_forward(self, x):
        return getattr(R, f"avg_pool{self.nd}d")(x, *self._args())

    def reference_backward(self, grad, x):
        return getattr(R, f"avg_pool{self.nd}d_backward")(grad, x, *self._args()), {}

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    nd = 2


class AvgPool3d(_AvgPoolNd):
    nd = 3


class _AdaptiveAvgPoolNd(Module):
    nd = 2

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return getattr(F, f"adaptive_avg_pool{self.nd}d")(x, self.output_size)

    def reference_forward(self, x):
        return getattr(R, f"adaptive_avg_pool{self.nd}d")(x, self.output_size)

    def reference_backward(self, grad, x):
        return getattr(R, f"adaptive_avg_pool{self.nd}d_backward")(grad, x, self.output_size), {}

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    nd = 3


class Upsample(Module):
    """F.interpolate as a layer: size or scale_factor, mode 'nearest', 'linear', 'bilinear',
    'trilinear' or 'area', align_corners for the linear modes."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def _args(self):
        return (self.size, self.scale_factor, self.mode, self.align_corners,
                self.recompute_scale_factor)

    def forward(self, x):
        return F.interpolate(x, *self._args())

    def reference_forward(self, x):
        return R.interpolate(x, *self._args())

    def reference_backward(self, grad, x):
        return R.interpolate_backward(grad, x, *self._args()), {}

    def extra_repr(self):
        return (f"size={self.size}, scale_factor={self.scale_factor}, mode={self.mode!r}, "
                f"align_corners={self.align_corners}")
