"""The layers: thin Modules over clconv.functional, with PyTorch's constructor arguments and
default initialization, and their clconv.reference twins."""
from __future__ import annotations

import math

import numpy as np

from .. import autograd, fused
from .. import functional as F
from .. import reference as R
from ..shapes import ntuple
from ..tensors import Tensor, full, tensor, zeros
from .module import Module, init_rng


def _uniform(shape, bound: float) -> np.ndarray:
    return init_rng().uniform(-bound, bound, shape)


def _host(t: Tensor | None):
    return None if t is None else t.numpy()


def _grads(**named) -> dict:
    return {name: g for name, g in named.items() if g is not None}


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
        self.weight = self.parameter(_uniform((out_channels, in_channels // groups) + self.kernel_size, bound))
        self.bias = self.parameter(_uniform((out_channels,), bound)) if bias else None

    def _args(self):
        return self.stride, self.padding, self.dilation, self.groups

    def forward(self, x):
        return getattr(F, f"conv{self.nd}d")(x, self.weight, self.bias, *self._args())

    def forward_activated(self, x, activation: str, negative_slope: float = 0.01):
        """activation(self(x)) in one kernel (clconv.fused): what nn.Sequential runs for this
        module followed by ReLU or LeakyReLU."""
        return getattr(fused, f"conv{self.nd}d")(x, self.weight, self.bias, *self._args(),
                                                 activation=activation,
                                                 negative_slope=negative_slope)

    def reference_forward(self, x):
        return getattr(R, f"conv{self.nd}d")(x, _host(self.weight), _host(self.bias), *self._args())

    def reference_backward(self, grad, x):
        dx, dw, db = getattr(R, f"conv{self.nd}d_backward")(grad, x, _host(self.weight),
                                                            _host(self.bias), *self._args())
        return dx, _grads(weight=dw, bias=db)

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


# --- normalization ---------------------------------------------------------------------------------

class _BatchNorm(Module):
    input_ndims: tuple[int, ...] = (4,)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = self.parameter(np.ones(num_features)) if affine else None
        self.bias = self.parameter(np.zeros(num_features)) if affine else None
        self.register_buffer("running_mean", zeros(num_features) if track_running_stats else None)
        self.register_buffer("running_var", full(num_features, 1.0) if track_running_stats else None)
        self.num_batches_tracked = 0

    def _batch_statistics(self) -> bool:
        return self.training or self.running_mean is None

    def _momentum(self) -> float:
        # momentum=None: a cumulative average over the batches seen so far.
        return 1 / self.num_batches_tracked if self.momentum is None else self.momentum

    def _check(self, x):
        if x.ndim not in self.input_ndims:
            raise ValueError(f"{type(self).__name__}: expected a {' or '.join(f'{n}D' for n in self.input_ndims)} "
                             f"input, got shape {x.shape}")

    def forward(self, x):
        x = x if isinstance(x, Tensor) else tensor(x)
        self._check(x)
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self._batch_statistics(), self._momentum(), self.eps)

    def reference_forward(self, x):
        # Copies: the check must not move this module's running statistics a second time.
        rm, rv = _host(self.running_mean), _host(self.running_var)
        return R.batch_norm(x, rm, rv, _host(self.weight), _host(self.bias),
                            self._batch_statistics(), self.momentum or 0.0, self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.batch_norm_backward(grad, x, _host(self.running_mean), _host(self.running_var),
                                           _host(self.weight), _host(self.bias),
                                           self._batch_statistics(), self.momentum or 0.0, self.eps)
        return dx, _grads(weight=dw, bias=db)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    input_ndims = (4,)


class BatchNorm3d(_BatchNorm):
    input_ndims = (5,)


class _InstanceNorm(Module):
    nd = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = self.parameter(np.ones(num_features)) if affine else None
        self.bias = self.parameter(np.zeros(num_features)) if affine else None
        self.register_buffer("running_mean", zeros(num_features) if track_running_stats else None)
        self.register_buffer("running_var", full(num_features, 1.0) if track_running_stats else None)

    def _use_input_stats(self):
        return self.training or self.running_mean is None

    def forward(self, x):
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               self._use_input_stats(), self.momentum, self.eps)

    def reference_forward(self, x):
        return R.instance_norm(x, _host(self.running_mean), _host(self.running_var),
                               _host(self.weight), _host(self.bias), self._use_input_stats(),
                               self.momentum, self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.instance_norm_backward(grad, x, _host(self.running_mean),
                                              _host(self.running_var), _host(self.weight),
                                              _host(self.bias), self._use_input_stats(),
                                              self.momentum, self.eps)
        return dx, _grads(weight=dw, bias=db)


class InstanceNorm1d(_InstanceNorm):
    nd = 1


class InstanceNorm2d(_InstanceNorm):
    nd = 2


class InstanceNorm3d(_InstanceNorm):
    nd = 3


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = self.parameter(np.ones(shape)) if elementwise_affine else None
        self.bias = self.parameter(np.zeros(shape)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def reference_forward(self, x):
        return R.layer_norm(x, self.normalized_shape, _host(self.weight), _host(self.bias), self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.layer_norm_backward(grad, x, self.normalized_shape, _host(self.weight),
                                           _host(self.bias), self.eps)
        return dx, _grads(weight=dw, bias=db)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = self.parameter(np.ones(num_channels)) if affine else None
        self.bias = self.parameter(np.zeros(num_channels)) if affine else None

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def reference_forward(self, x):
        return R.group_norm(x, self.num_groups, _host(self.weight), _host(self.bias), self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.group_norm_backward(grad, x, self.num_groups, _host(self.weight),
                                           _host(self.bias), self.eps)
        return dx, _grads(weight=dw, bias=db)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"


# --- activations, dense, reshaping -------------------------------------------------------------------

class ReLU(Module):
    fused_activation = "relu"  # (nn.Sequential fuses it into a preceding convolution)
    negative_slope = 0.0

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        # In place only where no gradient needs the input (autograd refuses otherwise).
        return F.relu(x, inplace=self.inplace and not autograd.needs_grad(x))

    def reference_forward(self, x):
        return R.relu(x)

    def reference_backward(self, grad, x):
        return R.relu_backward(grad, x), {}


class LeakyReLU(Module):
    fused_activation = "leaky_relu"

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope,
                            inplace=self.inplace and not autograd.needs_grad(x))

    def reference_forward(self, x):
        return R.leaky_relu(x, self.negative_slope)

    def reference_backward(self, grad, x):
        return R.leaky_relu_backward(grad, x, self.negative_slope), {}

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        self.weight = self.parameter(_uniform((out_features, in_features), bound))
        self.bias = self.parameter(_uniform((out_features,), bound)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def reference_forward(self, x):
        return R.linear(x, _host(self.weight), _host(self.bias))

    def reference_backward(self, grad, x):
        dx, dw, db = R.linear_backward(grad, x, _host(self.weight), _host(self.bias))
        return dx, _grads(weight=dw, bias=db)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def _shape(self, shape):
        start, end = self.start_dim % len(shape), self.end_dim % len(shape)
        return shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]

    def forward(self, x):
        x = x if isinstance(x, Tensor) else tensor(x)
        return x.flatten(self.start_dim, self.end_dim)

    def reference_forward(self, x):
        return x.reshape(self._shape(x.shape))

    def reference_backward(self, grad, x):
        return grad.reshape(x.shape), {}


# --- losses -------------------------------------------------------------------------------------------

class CrossEntropyLoss(Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.class_weight = None if weight is None else tensor(weight)
        self.ignore_index, self.reduction, self.label_smoothing = ignore_index, reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.class_weight, self.ignore_index,
                               self.reduction, self.label_smoothing)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)
