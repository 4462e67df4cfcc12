"""Reductions: sum and mean over dimensions, softmax and log_softmax over one, and their
gradients."""
from __future__ import annotations

import numpy as np

from ._common import f64


def _axes(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = (dim,) if np.isscalar(dim) else dim
    return tuple(d % max(ndim, 1) for d in dims)


def sum(input, dim=None, keepdim=False):  # noqa: A001 (PyTorch's name)
    """The sum over dim (an int, a tuple, or None for every dimension)."""
    x = np.asarray(input)
    axes = _axes(dim, x.ndim) if x.ndim else None
    return np.asarray(f64(x).sum(axis=axes, keepdims=keepdim)).astype(x.dtype)


def sum_backward(grad_output, input, dim=None, keepdim=False):
    """The gradient repeated over the summed dimensions."""
    x = np.asarray(input)
    kept = tuple(1 if d in _axes(dim, x.ndim) else s for d, s in enumerate(x.shape))
    return np.broadcast_to(f64(grad_output).reshape(kept), x.shape).astype(x.dtype)


def mean(input, dim=None, keepdim=False):
    """sum / count over dim; NaN over no elements."""
    x = np.asarray(input)
    axes = _axes(dim, x.ndim) if x.ndim else None
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(f64(x).mean(axis=axes, keepdims=keepdim)).astype(x.dtype)


def mean_backward(grad_output, input, dim=None, keepdim=False):
    """The gradient over the count, repeated over the averaged dimensions."""
    x = np.asarray(input)
    axes = _axes(dim, x.ndim)
    count = int(np.prod([x.shape[d] for d in axes])) if x.ndim else 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sum_backward(grad_output, input, dim, keepdim) / f64(count)).astype(x.dtype)


def _softmax_dim(dim, ndim):
    return (0 if ndim in (0, 1, 3) else 1) if dim is None else dim % max(ndim, 1)


def softmax(input, dim=None):
    """exp(x - max) / sum(exp(x - max)) over dim."""
    x = np.asarray(input)
    axis = _softmax_dim(dim, x.ndim)
    v = f64(x).reshape(x.shape or (1,))
    if not x.size:
        return x.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True)).reshape(x.shape).astype(x.dtype)


def softmax_backward(grad_output, input, dim=None):
    """dx = y (dy - sum(dy y))."""
    x = np.asarray(input)
    axis = _softmax_dim(dim, x.ndim)
    y = f64(softmax(f64(x), dim)).reshape(x.shape or (1,))
    g = f64(grad_output).reshape(x.shape or (1,))
    with np.errstate(invalid="ignore"):
        return (y * (g - (g * y).sum(axis=axis, keepdims=True))).reshape(x.shape).astype(x.dtype)


def log_softmax(input, dim=None):
    """x - max - log(sum(exp(x - max))) over dim."""
    x = np.asarray(input)
    axis = _softmax_dim(dim, x.ndim)
    v = f64(x).reshape(x.shape or (1,))
    if not x.size:
        return x.copy()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted = v - v.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return out.reshape(x.shape).astype(x.dtype)


def log_softmax_backward(grad_output, input, dim=None):
    """dx = dy - softmax(x) sum(dy)."""
    x = np.asarray(input)
    axis = _softmax_dim(dim, x.ndim)
    y = f64(softmax(f64(x), dim)).reshape(x.shape or (1,))
    g = f64(grad_output).reshape(x.shape or (1,))
    with np.errstate(invalid="ignore"):
        return (g - y * g.sum(axis=axis, keepdims=True)).reshape(x.shape).astype(x.dtype)
