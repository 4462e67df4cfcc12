"""The optimizers' updates (clconv.optim), one step on NumPy arrays."""
from __future__ import annotations

import numpy as np

from ._common import f64


def sgd_step(param, grad, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False):
    """One SGD update as PyTorch's: g = grad + weight_decay * param; with momentum,
    buf = g (first step) or momentum * buf + (1 - dampening) * g, and g = g + momentum * buf
    (nesterov) or buf; param - lr * g. Returns (new param, new momentum buffer)."""
    dtype = np.asarray(param).dtype
    p, g = f64(param), f64(grad) + weight_decay * f64(param)
    buf = None
    if momentum:
        buf = g if momentum_buffer is None else momentum * f64(momentum_buffer) + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return (p - lr * g).astype(dtype), None if buf is None else buf.astype(dtype)


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0):
    """One Adam update (step counts from 1): m and v are moving averages of g and g^2 (g with
    weight decay added); param - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
    Returns (new param, new m, new v)."""
    dtype = np.asarray(param).dtype
    p, g = f64(param), f64(grad) + weight_decay * f64(param)
    m = betas[0] * f64(exp_avg) + (1 - betas[0]) * g
    v = betas[1] * f64(exp_avg_sq) + (1 - betas[1]) * g * g
    p = p - lr / (1 - betas[0] ** step) * m / (np.sqrt(v) / np.sqrt(1 - betas[1] ** step) + eps)
    return p.astype(dtype), m.astype(dtype), v.astype(dtype)
