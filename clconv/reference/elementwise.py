"""Activations and broadcasting addition, and their gradients."""
from __future__ import annotations

import numpy as np

from ._common import f64


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


def add(input, other):
    """input + other with NumPy broadcasting."""
    dtype = np.result_type(np.asarray(input).dtype, np.asarray(other).dtype)
    return (f64(input) + f64(other)).astype(dtype)


def _sum_to(g, shape):
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True)


def add_backward(grad_output, input, other):
    """Each operand gets the gradient summed over the dimensions it was broadcast along."""
    g = f64(grad_output)
    a, b = np.asarray(input), np.asarray(other)
    return _sum_to(g, a.shape).astype(a.dtype), _sum_to(g, b.shape).astype(b.dtype)
