"""Activations and broadcasting arithmetic, and their gradients."""
from __future__ import annotations

import numpy as np

from ._common import f64, sum_to


def relu(input, inplace=False):
    """max(x, 0); NaN stays NaN."""
    x = np.asarray(input)
    y = np.where(x < 0, 0, x).astype(x.dtype)
    if inplace:
        x[...] = y
    return y


def relu_backward(grad_output, input):
    """grad where x > 0, else 0."""
    return np.where(np.asarray(input) > 0, grad_output, 0).astype(np.asarray(input).dtype)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x >= 0, negative_slope * x otherwise; NaN stays NaN."""
    x = np.asarray(input)
    slope = float(x.dtype.type(negative_slope))  # the slope as the tensor's dtype holds it
    y = np.where(x < 0, f64(x) * slope, x).astype(x.dtype)
    if inplace:
        x[...] = y
    return y


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """grad where x > 0, else negative_slope * grad."""
    g = f64(grad_output)
    return np.where(np.asarray(input) > 0, g, negative_slope * g).astype(np.asarray(input).dtype)


def _operands(input, other):
    """The operands as arrays and the result's dtype: a nested list is float32 (as
    clconv.tensor makes it), a Python number gives the result the other operand's dtype."""
    number = (int, float, np.integer, np.floating)
    input, other = [np.asarray(v, np.float32) if isinstance(v, (list, tuple)) else v
                    for v in (input, other)]
    # (a number is rounded to the type the op computes in, as PyTorch does: float32 for
    # float16 and float32 tensors, float64 for float64 ones)
    def computed(value, dtype):
        with np.errstate(over="ignore"):
            return np.asarray(value, np.float64 if dtype == np.float64 else np.float32)

    if isinstance(other, number):
        a = np.asarray(input)
        return a, computed(other, a.dtype), a.dtype
    if isinstance(input, number):
        b = np.asarray(other)
        return computed(input, b.dtype), b, b.dtype
    a, b = np.asarray(input), np.asarray(other)
    return a, b, np.result_type(a.dtype, b.dtype)


def add(input, other):
    """input + other with NumPy broadcasting."""
    a, b, dtype = _operands(input, other)
    return (f64(a) + f64(b)).astype(dtype)


def sub(input, other):
    """input - other with NumPy broadcasting."""
    a, b, dtype = _operands(input, other)
    return (f64(a) - f64(b)).astype(dtype)


def mul(input, other):
    """input * other with NumPy broadcasting."""
    a, b, dtype = _operands(input, other)
    return (f64(a) * f64(b)).astype(dtype)


def div(input, other):
    """input / other with NumPy broadcasting (IEEE: x / 0 is +-inf, 0 / 0 NaN)."""
    a, b, dtype = _operands(input, other)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (f64(a) / f64(b)).astype(dtype)


def _reduced(ga, gb, a, b):
    """Each operand's gradient summed over the dimensions it was broadcast along."""
    return sum_to(ga, a.shape).astype(a.dtype), sum_to(gb, b.shape).astype(b.dtype)


def add_backward(grad_output, input, other):
    """d/da = d/db = 1."""
    a, b, _ = _operands(input, other)
    g = f64(grad_output)
    return _reduced(g, g, a, b)


def sub_backward(grad_output, input, other):
    """d/da = 1, d/db = -1."""
    a, b, _ = _operands(input, other)
    g = f64(grad_output)
    return _reduced(g, -g, a, b)


def mul_backward(grad_output, input, other):
    """d/da = b, d/db = a."""
    a, b, _ = _operands(input, other)
    g = f64(grad_output)
    return _reduced(g * f64(b), g * f64(a), a, b)


def div_backward(grad_output, input, other):
    """d/da = 1 / b, d/db = -a / b^2."""
    a, b, _ = _operands(input, other)
    g = f64(grad_output)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _reduced(g / f64(b), -g * f64(a) / f64(b) ** 2, a, b)


# --- activations of one input: y = f(x), dx = dy * f'(x) (PyTorch's choices at the kinks) ----

def _apply(input, inplace, f):
    x = np.asarray(input)
    with np.errstate(over="ignore", invalid="ignore"):
        y = f(f64(x)).astype(x.dtype)
    if inplace:
        x[...] = y
    return y


def _grad(grad_output, input, derivative):
    with np.errstate(over="ignore", invalid="ignore"):
        return (f64(grad_output) * derivative(f64(input))).astype(np.asarray(input).dtype)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid(input):
    """1 / (1 + exp(-x))."""
    return _apply(input, False, _sigmoid)


def sigmoid_backward(grad_output, input):
    """dy * s (1 - s), s = sigmoid(x)."""
    return _grad(grad_output, input, lambda x: _sigmoid(x) * (1 - _sigmoid(x)))


def tanh(input):
    """tanh(x)."""
    return _apply(input, False, np.tanh)


def tanh_backward(grad_output, input):
    """dy * (1 - tanh(x)^2)."""
    return _grad(grad_output, input, lambda x: 1 - np.tanh(x) ** 2)


def silu(input, inplace=False):
    """x * sigmoid(x) (the swish)."""
    return _apply(input, inplace, lambda x: x * _sigmoid(x))


def silu_backward(grad_output, input, inplace=False):
    """dy * s (1 + x (1 - s)), s = sigmoid(x)."""
    return _grad(grad_output, input, lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))))


def hardsigmoid(input, inplace=False):
    """0 for x <= -3, 1 for x >= 3, x / 6 + 1/2 between."""
    return _apply(input, inplace,
                  lambda x: np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, x / 6 + 0.5)))


def hardsigmoid_backward(grad_output, input, inplace=False):
    """dy / 6 for -3 < x < 3, else 0."""
    return _grad(grad_output, input, lambda x: np.where((x > -3) & (x < 3), 1 / 6, 0.0))


def hardswish(input, inplace=False):
    """x * hardsigmoid(x): 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between."""
    return _apply(input, inplace,
                  lambda x: np.where(x <= -3, 0.0, np.where(x >= 3, x, x * (x + 3) / 6)))


def hardswish_backward(grad_output, input, inplace=False):
    """dy * (0 for x < -3, x / 3 + 1/2 for x <= 3, else 1)."""
    return _grad(grad_output, input,
                 lambda x: np.where(x < -3, 0.0, np.where(x <= 3, x / 3 + 0.5, 1.0)))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val] (NaN stays NaN)."""
    dtype = np.asarray(input).dtype
    low, high = float(dtype.type(min_val)), float(dtype.type(max_val))  # as the dtype holds them
    return _apply(input, inplace, lambda x: np.where(x < low, low, np.where(x > high, high, x)))


def hardtanh_backward(grad_output, input, min_val=-1.0, max_val=1.0, inplace=False):
    """dy where min_val < x < max_val, else 0."""
    dtype = np.asarray(input).dtype
    low, high = float(dtype.type(min_val)), float(dtype.type(max_val))
    return _grad(grad_output, input, lambda x: np.where((x > low) & (x < high), 1.0, 0.0))


def relu6(input, inplace=False):
    """hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def relu6_backward(grad_output, input, inplace=False):
    return hardtanh_backward(grad_output, input, 0.0, 6.0)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (exp(x) - 1) elsewhere."""
    a = float(np.asarray(input).dtype.type(alpha))
    return _apply(input, inplace, lambda x: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))))


def elu_backward(grad_output, input, alpha=1.0, inplace=False):
    """dy for x > 0, dy alpha exp(x) elsewhere."""
    a = float(np.asarray(input).dtype.type(alpha))
    return _grad(grad_output, input, lambda x: np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0))))


def clamp(input, min=None, max=None):
    """min(max(x, min), max), a bound of None being absent; min > max gives max."""
    low = -np.inf if min is None else float(np.asarray(input).dtype.type(min))
    high = np.inf if max is None else float(np.asarray(input).dtype.type(max))
    return _apply(input, False, lambda x: np.where(np.isnan(x), x, np.minimum(np.maximum(x, low),
                                                                              high)))


def clamp_backward(grad_output, input, min=None, max=None):
    """grad where min <= x <= max (the bounds included, as in PyTorch)."""
    low = -np.inf if min is None else float(np.asarray(input).dtype.type(min))
    high = np.inf if max is None else float(np.asarray(input).dtype.type(max))
    return _grad(grad_output, input, lambda x: np.where((x >= low) & (x <= high), 1.0, 0.0))


_GELU_C = np.sqrt(2 / np.pi)


def _phi(x):
    """The standard normal CDF, 0.5 (1 + erf(x / sqrt 2)) (math.erf elementwise: NumPy has no
    erf)."""
    from math import erf
    return 0.5 * (1 + np.vectorize(erf, otypes=[np.float64])(x / np.sqrt(2)))


def gelu(input, approximate="none"):
    """x Phi(x); with approximate='tanh', 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate == "tanh":
        return _apply(input, False,
                      lambda x: 0.5 * x * (1 + np.tanh(_GELU_C * (x + 0.044715 * x ** 3))))
    return _apply(input, False, lambda x: x * _phi(x))


def gelu_backward(grad_output, input, approximate="none"):
    """Phi(x) + x phi(x); for the tanh form, 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 0.044715 x^2)
    with t = tanh(c (x + 0.044715 x^3)), c = sqrt(2/pi)."""
    if approximate == "tanh":
        def derivative(x):
            t = np.tanh(_GELU_C * (x + 0.044715 * x ** 3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * _GELU_C * (1 + 3 * 0.044715 * x ** 2)
        return _grad(grad_output, input, derivative)
    return _grad(grad_output, input,
                 lambda x: _phi(x) + x * np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi))


# --- pointwise math ----------------------------------------------------------------------------

def _erf(x):
    from math import erf as scalar_erf
    return np.vectorize(scalar_erf, otypes=[np.float64])(x)


def erf(input):
    """2/sqrt(pi) * the integral of exp(-t^2) from 0 to x."""
    return _apply(input, False, _erf)


def erf_backward(grad_output, input):
    """2/sqrt(pi) exp(-x^2)."""
    return _grad(grad_output, input, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x))


def exp(input):
    return _apply(input, False, np.exp)


def exp_backward(grad_output, input):
    return _grad(grad_output, input, np.exp)


def log(input):
    with np.errstate(divide="ignore"):
        return _apply(input, False, np.log)


def log_backward(grad_output, input):
    with np.errstate(divide="ignore"):
        return _grad(grad_output, input, lambda x: 1 / x)


def sqrt(input):
    return _apply(input, False, np.sqrt)


def sqrt_backward(grad_output, input):
    """1 / (2 sqrt(x)) (inf at 0)."""
    with np.errstate(divide="ignore"):
        return _grad(grad_output, input, lambda x: 0.5 / np.sqrt(x))


def abs(input):  # noqa: A001 (PyTorch's name)
    return _apply(input, False, np.abs)


def abs_backward(grad_output, input):
    """sign(x): 0 at 0 (and at NaN, as PyTorch)."""
    return _grad(grad_output, input, lambda x: np.nan_to_num(np.sign(x)))


def floor(input):
    return _apply(input, False, np.floor)


def floor_backward(grad_output, input):
    """0 everywhere."""
    return _grad(grad_output, input, lambda x: np.zeros_like(x))


def ceil(input):
    return _apply(input, False, np.ceil)


def ceil_backward(grad_output, input):
    return floor_backward(grad_output, input)


def maximum(input, other):
    """The larger of the two, elementwise with broadcasting; NaN if either is NaN."""
    a, b, dtype = _operands(input, other)
    with np.errstate(invalid="ignore"):
        return np.maximum(f64(a), f64(b)).astype(dtype)


def _extremum_backward(grad_output, input, other, larger):
    a, b, _ = _operands(input, other)
    fa, fb = np.broadcast_arrays(f64(a), f64(b))
    g = f64(grad_output)
    with np.errstate(invalid="ignore"):
        wins = (fa > fb) if larger else (fa < fb)
        share = np.where(wins, 1.0, np.where(fa == fb, 0.5, 0.0))
        share = np.where(np.isnan(fa), 1.0, np.where(np.isnan(fb), 0.0, share))
    return _reduced(g * share, g * (1 - share), a, b)


def maximum_backward(grad_output, input, other):
    """The gradient goes to the larger operand, half to each where they are equal (PyTorch's
    rule)."""
    return _extremum_backward(grad_output, input, other, True)


def minimum(input, other):
    """The smaller of the two, elementwise with broadcasting; NaN if either is NaN."""
    a, b, dtype = _operands(input, other)
    with np.errstate(invalid="ignore"):
        return np.minimum(f64(a), f64(b)).astype(dtype)


def minimum_backward(grad_output, input, other):
    return _extremum_backward(grad_output, input, other, False)


# --- dropout -----------------------------------------------------------------------------------

def _mix32(h):
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def dropout_mask(shape, p, key):
    """The elements dropout keeps for a call with `key`: uniform(key, i) >= p, where uniform
    takes 24 bits of murmur3's finalizer applied twice to i * 0x9E3779B9 + key (dropout.cl)."""
    i = np.arange(int(np.prod(shape)), dtype=np.uint32)
    k = np.uint32(key)
    with np.errstate(over="ignore"):
        h = _mix32(_mix32(i * np.uint32(0x9E3779B9) + k) ^ k)
    u = (h >> np.uint32(8)).astype(np.float32) * np.float32(1 / 16777216)
    return (u >= np.float32(p)).reshape(shape)


def dropout_keyed(input, p, key):
    """What dropout's training mode computes for a call with `key`: x * mask / (1 - p)."""
    x = np.asarray(input)
    if p == 1:
        return np.zeros_like(x)
    return np.where(dropout_mask(x.shape, p, key), f64(x) / (1 - p), 0).astype(x.dtype)


def dropout(input, p=0.5, training=True, inplace=False):
    """x * mask / (1 - p) when training, x otherwise. The mask is random (the device draws a
    key from clconv.random: dropout_keyed gives that call's result), so the reference gives
    only the deterministic cases: None for a random mask."""
    x = np.asarray(input)
    if not training or p == 0:
        return x.copy()
    if p != 1:
        return None
    y = np.zeros_like(x)
    if inplace:
        x[...] = y
    return y


def dropout_backward(grad_output, input, p=0.5, training=True, inplace=False):
    """The gradient through the same mask and scale (deterministic cases; None otherwise)."""
    x = np.asarray(input)
    if not training or p == 0:
        return f64(grad_output).astype(x.dtype)
    return np.zeros_like(x) if p == 1 else None
