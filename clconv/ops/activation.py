"""sigmoid, tanh, silu, hardsigmoid, hardswish, relu6, hardtanh, elu, clamp, gelu and the
pointwise math functions (erf, exp, log, sqrt, abs, floor, ceil), forward and backward
(`activation.cl`: one kernel pair, the activation a build option). The backward reads the
input, which the autograd node keeps."""
from __future__ import annotations

import numpy as np

from .. import autograd, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32, real, scalar, tensors

_CODES = {"sigmoid": 1, "tanh": 2, "silu": 3, "hardsigmoid": 4, "hardswish": 5, "hardtanh": 6,
          "elu": 7, "clamp": 8, "gelu": 9, "gelu_tanh": 10, "erf": 11, "exp": 12, "log": 13,
          "sqrt": 14, "abs": 15, "floor": 16, "ceil": 17}  # (activation.cl: ACT_*)


def _launch(device, name: str, code: int, dtype, total: int, *args) -> None:
    kernel = runtime.get_kernel(device, "activation", name, ACT=code,
                                **runtime.dtype_defines(dtype))
    runtime.launch(device, kernel, (total,), (launch_sizes.items(device),), *args)


def _pointwise(op: str, kind: str, input, inplace: bool = False, a: float = 0.0,
               b: float = 0.0) -> Tensor:
    """y = activation(x), elementwise, into x itself with `inplace`; differentiable."""
    x = tensors(op, input=input)["input"]
    if not isinstance(inplace, bool):
        raise TypeError(f"{op}: inplace must be True or False, got {inplace!r}")
    if inplace and autograd.needs_grad(x):
        raise RuntimeError(f"{op}: inplace=True on a tensor that requires grad would overwrite "
                           "what backward needs; use inplace=False")
    code, dtype = _CODES[kind], x.dtype
    y = x if inplace else empty(x.shape, dtype, x.device)
    if x.size:
        _launch(x.device, "activation_forward", code, dtype, x.size, x.array.data, y.array.data,
                scalar(dtype, a), scalar(dtype, b), *i32(x.size))
    if inplace:
        x._version += 1
        if isinstance(input, np.ndarray):  # a NumPy array changes, as a tensor would
            input[...] = y.numpy()
        return y

    def backward(grad):
        dx = empty(x.shape, dtype, x.device)
        if dx.size:
            _launch(x.device, "activation_backward", code, dtype, dx.size, x.array.data,
                    grad.array.data, dx.array.data, scalar(dtype, a), scalar(dtype, b),
                    *i32(dx.size))
        return (dx,)

    return autograd.record(op, y, (x,), backward, saved=(x,))


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-x))."""
    return _pointwise("sigmoid", "sigmoid", input)


def tanh(input) -> Tensor:
    """tanh(x)."""
    return _pointwise("tanh", "tanh", input)


def silu(input, inplace=False) -> Tensor:
    """x * sigmoid(x)."""
    return _pointwise("silu", "silu", input, inplace)


def hardsigmoid(input, inplace=False) -> Tensor:
    """0 below -3, 1 above 3, x / 6 + 1/2 between."""
    return _pointwise("hardsigmoid", "hardsigmoid", input, inplace)


def hardswish(input, inplace=False) -> Tensor:
    """x * hardsigmoid(x): 0 below -3, x above 3, x (x + 3) / 6 between."""
    return _pointwise("hardswish", "hardswish", input, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    low, high = real(min_val, "min_val", "hardtanh"), real(max_val, "max_val", "hardtanh")
    if not low <= high:
        raise ValueError(f"hardtanh: min_val must not exceed max_val, got {low} and {high}")
    return _pointwise("hardtanh", "hardtanh", input, inplace, low, high)


def relu6(input, inplace=False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6)."""
    return _pointwise("relu6", "hardtanh", input, inplace, 0.0, 6.0)


def elu(input, alpha=1.0, inplace=False) -> Tensor:
    """x above 0, alpha * (exp(x) - 1) elsewhere."""
    return _pointwise("elu", "elu", input, inplace, real(alpha, "alpha", "elu"))


def clamp(input, min=None, max=None) -> Tensor:
    """x clamped to [min, max]; either bound may be None (not both); min > max gives max
    everywhere. The gradient passes where min <= x <= max."""
    op = "clamp"
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    low = -np.inf if min is None else real(min, "min", op)
    high = np.inf if max is None else real(max, "max", op)
    return _pointwise(op, "clamp", input, False, low, high)


def gelu(input, approximate="none") -> Tensor:
    """x * Phi(x) (Phi the standard normal CDF); approximate='tanh' gives
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _pointwise("gelu", "gelu" if approximate == "none" else "gelu_tanh", input)


def erf(input) -> Tensor:
    """The error function 2/sqrt(pi) * integral of exp(-t^2) from 0 to x."""
    return _pointwise("erf", "erf", input)


def exp(input) -> Tensor:
    """e^x."""
    return _pointwise("exp", "exp", input)


def log(input) -> Tensor:
    """The natural logarithm (NaN below 0, -inf at 0)."""
    return _pointwise("log", "log", input)


def sqrt(input) -> Tensor:
    """The square root (NaN below 0)."""
    return _pointwise("sqrt", "sqrt", input)


def abs(input) -> Tensor:  # noqa: A001 (PyTorch's name)
    """|x|; the gradient is sign(x) (0 at 0)."""
    return _pointwise("abs", "abs", input)


def floor(input) -> Tensor:
    """The largest integer not above x; zero gradient."""
    return _pointwise("floor", "floor", input)


def ceil(input) -> Tensor:
    """The smallest integer not below x; zero gradient."""
    return _pointwise("ceil", "ceil", input)
