r"""Losses and their gradients: cross entropy over class logits and mean squared error.

    cross_entropy   loss_n = w[t_n] * (log sum_c exp(x_nc) - x_{n,t_n})
    mse_loss        loss_i = (x_i - y_i)^2

reduced by 'none', 'sum' or 'mean' (cross entropy's mean divides by the summed weights).
"""
from __future__ import annotations

import numpy as np

from ._common import f64


def _reduce(losses, reduction, total_weight=None):
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses.size if total_weight is None else total_weight)


def _logsumexp(x):
    largest = x.max(axis=1, keepdims=True)
    return largest + np.log(np.exp(x - largest).sum(axis=1, keepdims=True))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """loss_n = weight[t_n] * (log(sum_c exp(x_nc)) - x_n,t_n); 'mean' divides by the summed
    weights of the counted samples; samples whose target is ignore_index count for nothing."""
    dtype = np.asarray(input).dtype
    x, target = f64(input), np.asarray(target)
    kept = target != ignore_index
    safe_target = np.where(kept, target, 0)
    log_softmax = x - _logsumexp(x)
    w = (np.ones(x.shape[1]) if weight is None else f64(weight))[safe_target] * kept
    losses = -w * log_softmax[np.arange(len(x)), safe_target]
    return np.asarray(_reduce(losses, reduction, w.sum())).astype(dtype)


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean", label_smoothing=0.0):
    """d loss_n / d x_nc = weight[t_n] * (softmax(x_n)_c - [c == t_n]), scaled by the reduction."""
    dtype = np.asarray(input).dtype
    x, target = f64(input), np.asarray(target)
    kept = target != ignore_index
    safe_target = np.where(kept, target, 0)
    w = (np.ones(x.shape[1]) if weight is None else f64(weight))[safe_target] * kept
    softmax = np.exp(x - _logsumexp(x))
    onehot = np.eye(x.shape[1])[safe_target]
    g = f64(grad_output)
    scale = w * (g if reduction == "none" else g / (w.sum() if reduction == "mean" else 1))
    return (scale[:, None] * (softmax - onehot)).astype(dtype)


def mse_loss(input, target, reduction="mean"):
    """(x - y)^2, summed or averaged over every element unless reduction='none'."""
    dtype = np.asarray(input).dtype
    return np.asarray(_reduce((f64(input) - f64(target)) ** 2, reduction)).astype(dtype)


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    """d/dx (x - y)^2 = 2 (x - y) (times the upstream gradient; / count for the mean);
    the target's gradient is its negative."""
    dtype = np.asarray(input).dtype
    x, y, g = f64(input), f64(target), f64(grad_output)
    dx = 2 * (x - y) * (g if reduction == "none" else g / (x.size if reduction == "mean" else 1))
    return dx.astype(dtype), (-dx).astype(dtype)
