r"""Batch, layer, instance and group normalization and their gradients.

Each normalizes x over a set of elements B (which set is what tells them apart) by

    mu = (1/m) sum_{i in B} x_i        sigma^2 = (1/m) sum_{i in B} (x_i - mu)^2   (biased)
    xhat_i = (x_i - mu) / sqrt(sigma^2 + eps)        y_i = gamma * xhat_i + beta

    batch_norm      B = one channel over the batch and all positions (N * H * W elements)
    layer_norm      B = one sample's trailing `normalized_shape` dimensions
    instance_norm   B = one (sample, channel) plane (H * W elements)
    group_norm      B = one sample's group of C/num_groups channels

Running statistics (batch_norm in training, instance_norm with running buffers) move as
running <- (1 - momentum) * running + momentum * statistic, with the unbiased variance
sigma^2 * m / (m - 1).
"""
from __future__ import annotations

import numpy as np

from ._common import cast, f64


def _normalize(x, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps)


def _channel_affine(y, weight, bias):
    shape = (1, -1) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * f64(weight).reshape(shape)
    if bias is not None:
        y = y + f64(bias).reshape(shape)
    return y


def _update_running(running, value, momentum):
    """running <- (1 - momentum) * running + momentum * value, in place."""
    running[...] = ((1 - momentum) * running + momentum * value).astype(running.dtype)


def _normalize_backward(x, g, axes, mean, var, eps, weight, param_axes, batch_statistics):
    """With xhat = (x - mean) / sqrt(var + eps) and gw = g * weight:
    batch statistics:  dx = (gw - mean(gw) - xhat * mean(gw * xhat)) / sqrt(var + eps)
    fixed statistics:  dx = gw / sqrt(var + eps);  dweight = sum(g * xhat), dbias = sum(g)."""
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    gw = g if weight is None else g * weight
    if batch_statistics:
        dx = invstd * (gw - gw.mean(axis=axes, keepdims=True)
                       - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
    else:
        dx = invstd * gw
    return dx, (g * xhat).sum(axis=param_axes), g.sum(axis=param_axes)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c over channel axis 1.

    Training: mean_c and the biased var_c come from the batch (all axes but 1); the running
    statistics are updated in place with the unbiased variance var_c * m / (m - 1), m = N*spatial.
    Evaluation: mean_c, var_c are the running statistics.
    """
    dtype = np.asarray(input).dtype
    x = f64(input)
    if x.size == 0:  # an empty batch: nothing to normalize, no statistics to update
        return x.astype(dtype)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        count = x.size // x.shape[1]
        if running_mean is not None:
            _update_running(running_mean, mean, momentum)
        if running_var is not None:
            _update_running(running_var, var * count / (count - 1), momentum)
    else:
        mean, var = f64(running_mean), f64(running_var)
    y = _normalize(x, mean.reshape(shape), var.reshape(shape), eps)
    return _channel_affine(y, weight, bias).astype(dtype)


def batch_norm_backward(grad_output, input, running_mean, running_var, weight=None, bias=None,
                        training=False, momentum=0.1, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = f64(input), f64(grad_output)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = f64(running_mean).reshape(shape), f64(running_var).reshape(shape)
    w = None if weight is None else f64(weight).reshape(shape)
    dx, dw, db = _normalize_backward(x, g, axes, mean, var, eps, w, axes, training)
    return cast(dtype, dx, None if weight is None else dw, None if bias is None else db)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the trailing
    `normalized_shape` dimensions of each sample; weight and bias have that shape."""
    dtype = np.asarray(input).dtype
    x = f64(input)
    if x.size == 0:  # an empty batch: nothing to normalize, no statistics to update
        return x.astype(dtype)
    count = len((normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape)
    axes = tuple(range(x.ndim - count, x.ndim))
    y = _normalize(x, x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True), eps)
    if weight is not None:
        y = y * f64(weight)
    if bias is not None:
        y = y + f64(bias)
    return y.astype(dtype)


def layer_norm_backward(grad_output, input, normalized_shape, weight=None, bias=None, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = f64(input), f64(grad_output)
    count = len((normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape)
    axes = tuple(range(x.ndim - count, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    param_axes = tuple(range(x.ndim - count))
    dx, dw, db = _normalize_backward(x, g, axes, mean, var, eps, f64(weight), param_axes, True)
    return cast(dtype, dx, None if weight is None else dw, None if bias is None else db)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Each (sample, channel) plane normalized by its own mean and biased variance; with running
    statistics, they move towards the batch average of those (unbiased variance)."""
    dtype = np.asarray(input).dtype
    x = f64(input)
    if x.size == 0:  # an empty batch: nothing to normalize, no statistics to update
        return x.astype(dtype)
    axes = tuple(range(2, x.ndim))
    if use_input_stats:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        count = int(np.prod(x.shape[2:]))
        if running_mean is not None:
            _update_running(running_mean, mean.reshape(x.shape[:2]).mean(axis=0), momentum)
        if running_var is not None:
            unbiased = var.reshape(x.shape[:2]) * count / (count - 1)
            _update_running(running_var, unbiased.mean(axis=0), momentum)
    else:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean, var = f64(running_mean).reshape(shape), f64(running_var).reshape(shape)
    return _channel_affine(_normalize(x, mean, var, eps), weight, bias).astype(dtype)


def instance_norm_backward(grad_output, input, running_mean=None, running_var=None, weight=None,
                           bias=None, use_input_stats=True, momentum=0.1, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = f64(input), f64(grad_output)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    axes = tuple(range(2, x.ndim))
    if use_input_stats:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = f64(running_mean).reshape(shape), f64(running_var).reshape(shape)
    w = None if weight is None else f64(weight).reshape(shape)
    dx, dw, db = _normalize_backward(x, g, axes, mean, var, eps, w, (0,) + axes, use_input_stats)
    return cast(dtype, dx, None if weight is None else dw, None if bias is None else db)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Channels split into num_groups groups; each (sample, group) normalized by its own mean
    and biased variance, then the per-channel affine."""
    dtype = np.asarray(input).dtype
    x = f64(input)
    if x.size == 0:  # an empty batch: nothing to normalize, no statistics to update
        return x.astype(dtype)
    grouped = x.reshape(x.shape[0], num_groups, x[0].size // num_groups if len(x) else 0)
    y = _normalize(grouped, grouped.mean(axis=2, keepdims=True),
                   grouped.var(axis=2, keepdims=True), eps).reshape(x.shape)
    return _channel_affine(y, weight, bias).astype(dtype)


def group_norm_backward(grad_output, input, num_groups, weight=None, bias=None, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = f64(input), f64(grad_output)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    grouped = x.reshape(x.shape[0], num_groups, -1)
    mean = np.broadcast_to(grouped.mean(axis=2, keepdims=True), grouped.shape).reshape(x.shape)
    var = np.broadcast_to(grouped.var(axis=2, keepdims=True), grouped.shape).reshape(x.shape)
    w = None if weight is None else f64(weight).reshape(shape)
    gw = (g if w is None else g * w).reshape(grouped.shape)
    invstd = 1 / np.sqrt(var + eps)
    xhat = ((x - mean) * invstd).reshape(grouped.shape)
    dx = invstd.reshape(grouped.shape) * (gw - gw.mean(axis=2, keepdims=True)
                                          - xhat * (gw * xhat).mean(axis=2, keepdims=True))
    param_axes = (0,) + tuple(range(2, x.ndim))
    dw = (g * xhat.reshape(x.shape)).sum(axis=param_axes)
    db = g.sum(axis=param_axes)
    return cast(dtype, dx.reshape(x.shape), None if weight is None else dw,
                 None if bias is None else db)


def _channel_window_sums(values, before, after):
    """For each channel c, the sum of values over channels c - before .. c + after that exist
    (shifted copies added: at most 2C - 1 of them, whatever the window's size)."""
    c = values.shape[1]
    out = np.zeros_like(values)
    for offset in range(max(-before, -(c - 1)), min(after, c - 1) + 1):
        if offset >= 0:
            out[:, :c - offset] += values[:, offset:]
        else:
            out[:, -offset:] += values[:, :c + offset]
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """y[n, c] = x[n, c] / (k + alpha / size * sum of x[n, c']^2 over the `size` channels
    c - size//2 .. c + (size-1)//2 that exist)^beta."""
    x = np.asarray(input)
    v = f64(x)
    window = _channel_window_sums(v * v, size // 2, (size - 1) // 2) / size
    return (v / (k + alpha * window) ** beta).astype(x.dtype)


def local_response_norm_backward(grad_output, input, size, alpha=1e-4, beta=0.75, k=1.0):
    """With d = k + alpha * mean of the window's squares: dx = g / d^beta -
    (2 alpha beta / size) x * sum over the windows holding x of g y / d."""
    x = np.asarray(input)
    v, g = f64(x), f64(grad_output)
    d = k + alpha * _channel_window_sums(v * v, size // 2, (size - 1) // 2) / size
    y = v / d ** beta
    # the windows that hold channel j are those of channels j - (size-1)//2 .. j + size//2
    spread = _channel_window_sums(g * y / d, (size - 1) // 2, size // 2)
    return (g / d ** beta - 2 * alpha * beta / size * v * spread).astype(x.dtype)
