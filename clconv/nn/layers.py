"""The layers: thin Modules over clconv.functional, with PyTorch's constructor arguments and
default initialization, and their clconv.reference twins."""
from __future__ import annotations

import math

import numpy as np

from .. import autograd
from .. import functional as F
from .. import reference as R
from ..tensors import Tensor, tensor
from .init import grads, host, uniform
from .module import Module
# The convolution, pooling and normalization layers live in conv_layers and norm_layers.
from .conv_layers import (  # noqa: F401  (re-exported: clconv.nn takes every layer from here)
    Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d,
    AvgPool3d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, Upsample)
from .norm_layers import (  # noqa: F401  (re-exported: clconv.nn takes every layer from here)
    BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
    LayerNorm, GroupNorm)


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
        self.weight = self.parameter(uniform((out_features, in_features), bound))
        self.bias = self.parameter(uniform((out_features,), bound)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def reference_forward(self, x):
        return R.linear(x, host(self.weight), host(self.bias))

    def reference_backward(self, grad, x):
        dx, dw, db = R.linear_backward(grad, x, host(self.weight), host(self.bias))
        return dx, grads(weight=dw, bias=db)

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
