"""The fully connected layer y = x W^T + b and its gradients.

For in_features inputs and out_features outputs: out_features * in_features weights plus
out_features biases, and as many multiply-adds per row of x as weights.
"""
from __future__ import annotations

import numpy as np

from ._common import cast, f64


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
