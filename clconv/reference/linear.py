"""The fully connected layer y = x W^T + b and its gradients.

For in_features inputs and out_features outputs: out_features * in_features weights plus
out_features biases, and as many multiply-adds per row of x as weights.
"""
from __future__ import annotations

import numpy as np

from ._common import cast, f64, sum_to


def linear(input, weight, bias=None):
    """y = x @ weight.T + bias over the last dimension of x."""
    dtype = np.asarray(input).dtype
    y = f64(input) @ f64(weight).T
    if bias is not None:
        y = y + f64(bias)
    return y.astype(dtype)


def linear_backward(grad_output, input, weight, bias=None):
    """dx = dy @ w, dw = dy^T @ x (over all leading dimensions), db = sum of dy."""
    dtype = np.asarray(input).dtype
    g, x, w = f64(grad_output), f64(input), f64(weight)
    g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
    db = None if bias is None else g2.sum(axis=0)
    return cast(dtype, g @ w, g2.T @ x2, db)


def matmul(input, other):
    """The matrix product with torch.matmul's rules (NumPy's matmul has them): 1-D operands are
    vectors, leading dimensions are batch dimensions and broadcast. A (m x k) @ (k x n) product
    takes m * n * k multiply-adds."""
    dtype = np.result_type(np.asarray(input).dtype, np.asarray(other).dtype)
    return np.asarray(np.matmul(f64(input), f64(other))).astype(dtype)


def matmul_backward(grad_output, input, other):
    """da = g b^T, db = a^T g, each summed over its broadcast batch dimensions."""
    a, b = f64(input), f64(other)
    a2 = a[None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g = f64(grad_output)
    if a.ndim == 1:
        g = np.expand_dims(g, -2)
    if b.ndim == 1:
        g = np.expand_dims(g, -1)
    da = sum_to(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
    db = sum_to(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
    return cast(np.asarray(input).dtype, da, db)
