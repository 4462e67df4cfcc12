"""Normalization layers (see clconv.nn.layers)."""
from __future__ import annotations


import numpy as np

from .. import functional as F
from .. import reference as R
from ..tensors import Tensor, full, tensor, zeros
from .module import Module
from .init import grads, host


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
        rm, rv = host(self.running_mean), host(self.running_var)
        return R.batch_norm(x, rm, rv, host(self.weight), host(self.bias),
                            self._batch_statistics(), self.momentum or 0.0, self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.batch_norm_backward(grad, x, host(self.running_mean), host(self.running_var),
                                           host(self.weight), host(self.bias),
                                           self._batch_statistics(), self.momentum or 0.0, self.eps)
        return dx, grads(weight=dw, bias=db)

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
        return R.instance_norm(x, host(self.running_mean), host(self.running_var),
                               host(self.weight), host(self.bias), self._use_input_stats(),
                               self.momentum, self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.instance_norm_backward(grad, x, host(self.running_mean),
                                              host(self.running_var), host(self.weight),
                                              host(self.bias), self._use_input_stats(),
                                              self.momentum, self.eps)
        return dx, grads(weight=dw, bias=db)


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
        return R.layer_norm(x, self.normalized_shape, host(self.weight), host(self.bias), self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.layer_norm_backward(grad, x, self.normalized_shape, host(self.weight),
                                           host(self.bias), self.eps)
        return dx, grads(weight=dw, bias=db)

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
        return R.group_norm(x, self.num_groups, host(self.weight), host(self.bias), self.eps)

    def reference_backward(self, grad, x):
        dx, dw, db = R.group_norm_backward(grad, x, self.num_groups, host(self.weight),
                                           host(self.bias), self.eps)
        return dx, grads(weight=dw, bias=db)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"
