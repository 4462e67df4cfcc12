"""Activation layers over clconv.functional's pointwise activations, with PyTorch's
constructor arguments, and their clconv.reference twins (see clconv.nn.layers)."""
from __future__ import annotations

from .. import autograd
from .. import functional as F
from .. import reference as R
from .module import Module


class _Pointwise(Module):
    """A layer applying F.<op> with the options in `_options()`; in place only where no
    gradient needs the input (autograd refuses otherwise)."""
    op = ""
    in_place_option = True

    def _options(self) -> dict:
        return {}

    def forward(self, x):
        options = self._options()
        if self.in_place_option:
            options["inplace"] = self.inplace and not autograd.needs_grad(x)
        return getattr(F, self.op)(x, **options)

    def reference_forward(self, x):
        return getattr(R, self.op)(x, **self._options())

    def reference_backward(self, grad, x):
        return getattr(R, f"{self.op}_backward")(grad, x, **self._options()), {}

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self._options().items())


class Sigmoid(_Pointwise):
    op, in_place_option = "sigmoid", False
    fused_activation = "sigmoid"  # (nn.Sequential fuses it into a preceding convolution)


class Tanh(_Pointwise):
    op, in_place_option = "tanh", False


class SiLU(_Pointwise):
    op = fused_activation = "silu"

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


class Hardsigmoid(SiLU):
    op = fused_activation = "hardsigmoid"


class Hardswish(SiLU):
    op = fused_activation = "hardswish"


class ReLU6(SiLU):
    op = fused_activation = "relu6"


class Hardtanh(_Pointwise):
    op = "hardtanh"

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def _options(self) -> dict:
        return {"min_val": self.min_val, "max_val": self.max_val}


class ELU(_Pointwise):
    op = "elu"

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def _options(self) -> dict:
        return {"alpha": self.alpha}


class GELU(_Pointwise):
    op, in_place_option = "gelu", False

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def _options(self) -> dict:
        return {"approximate": self.approximate}


class Softmax(_Pointwise):
    """softmax over `dim`."""
    op, in_place_option = "softmax", False

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def _options(self) -> dict:
        return {"dim": self.dim}


class LogSoftmax(Softmax):
    """log_softmax over `dim`."""
    op = "log_softmax"


class Dropout(Module):
    """Zeroes each element with probability p in training mode (scaling the rest by
    1 / (1 - p)); the identity in eval mode."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace and not autograd.needs_grad(x))

    def reference_forward(self, x):
        if self.training and 0 < self.p < 1:
            raise ValueError("Dropout: the training-mode mask is random; compare in eval mode")
        return R.dropout(x, self.p, self.training)

    def reference_backward(self, grad, x):
        return R.dropout_backward(grad, x, self.p, self.training), {}

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
