"""clconv's specification: every op in plain NumPy, computed in float64.

Each function has the name, signature and semantics of its `clconv.functional` twin (and of
PyTorch's `torch.nn.functional`), takes and returns NumPy arrays, and returns results in the input's
dtype. The code favours being read over being fast: it is the oracle the kernels are tested against.
"""
from __future__ import annotations

import math
from itertools import product

import numpy as np

from .shapes import ntuple, pool_output_size

__all__ = [
    "conv1d", "conv2d", "conv3d", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "batch_norm", "layer_norm", "instance_norm", "group_norm", "relu",
    "leaky_relu", "linear", "add", "cross_entropy", "mse_loss",
    "fused_conv1d", "fused_conv2d", "fused_conv3d",
]
__all__ += [f"{name}_backward" for name in __all__]


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _batched(x, nd):
    """(N, C, *spatial) view of x and whether x had the batch dimension."""
    return (x, True) if x.ndim == nd + 2 else (x[None], False)


# --- convolution ------------------------------------------------------------------------------

def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    r"""y[n, k, o] = bias[k] + sum_{c in group(k), t} w[k, c, t] * x_pad[n, c, o*stride + t*dilation]

    Output size per dimension: floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1.
    """
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    w = _f64(weight)
    kernel = w.shape[2:]
    stride, dilation = ntuple(stride, nd, "stride", "ref"), ntuple(dilation, nd, "dilation", "ref")
    if padding == "valid":
        pads = [(0, 0)] * nd
    elif padding == "same":  # PyTorch puts the odd one of an even total padding at the end
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for d, k in zip(dilation, kernel)]
    else:
        pads = [(p, p) for p in ntuple(padding, nd, "padding", "ref")]
    x = np.pad(x, [(0, 0), (0, 0)] + pads)
    spatial = x.shape[2:]
    out_size = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(spatial, kernel, stride, dilation)]
    n_batch, out_channels = x.shape[0], w.shape[0]
    in_per_group, out_per_group = w.shape[1], out_channels // groups
    y = np.zeros((n_batch, out_channels, *out_size))
    for tap in product(*(range(k) for k in kernel)):
        # The input values that kernel tap `tap` multiplies, for every output position.
        window = tuple(slice(t * d, t * d + (o - 1) * st + 1, st)
                       for t, d, o, st in zip(tap, dilation, out_size, stride))
        for g in range(groups):
            xs = x[(slice(None), slice(g * in_per_group, (g + 1) * in_per_group)) + window]
            ws = w[(slice(g * out_per_group, (g + 1) * out_per_group), slice(None)) + tap]
            y[:, g * out_per_group:(g + 1) * out_per_group] += np.einsum("nc...,kc->nk...", xs, ws)
    if bias is not None:
        y += _f64(bias).reshape((1, -1) + (1,) * nd)
    return (y if batched else y[0]).astype(dtype)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


# --- pooling ----------------------------------------------------------------------------------

def _pool_windows(nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = ntuple(kernel_size, nd, "kernel_size", "ref")
    empty = stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)
    stride = kernel if empty else ntuple(stride, nd, "stride", "ref")  # PyTorch: [] = kernel
    padding = ntuple(padding, nd, "padding", "ref")
    dilation = ntuple(dilation, nd, "dilation", "ref")
    out = [pool_output_size(s, k, st, p, d, ceil_mode)
           for s, k, st, p, d in zip(x_shape[2:], kernel, stride, padding, dilation)]
    return kernel, stride, padding, dilation, out


def _window_index(o, t, stride, pad, dilation):
    """Input coordinate read by output o at kernel tap t (may fall in the padding)."""
    return o * stride - pad + t * dilation


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """y = max over the window of x (padding never wins); NaN wins over any number.

    indices hold the position of the maximum in the flattened spatial plane of its (n, c): the
    first maximum in scan order, or the last NaN; -1 (with y = -inf) for a window that lies wholly
    in the padding, which dilation makes possible.
    """
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    kernel, stride, padding, dilation, out = _pool_windows(
        nd, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    spatial = x.shape[2:]
    grids = np.meshgrid(*(np.arange(o) for o in out), indexing="ij")
    best = np.full(x.shape[:2] + tuple(out), -np.inf)
    best_index = np.full(best.shape, -1, dtype=np.int64)
    for tap in product(*(range(k) for k in kernel)):
        coords = [_window_index(g, t, st, p, d)
                  for g, t, st, p, d in zip(grids, tap, stride, padding, dilation)]
        inside = np.logical_and.reduce([(c >= 0) & (c < s) for c, s in zip(coords, spatial)])
        clipped = [np.clip(c, 0, s - 1) for c, s in zip(coords, spatial)]
        values = x[(slice(None), slice(None)) + tuple(clipped)]
        flat = np.ravel_multi_index(clipped, spatial)
        take = inside & ((best_index < 0) | (values > best) | np.isnan(values))
        best = np.where(take, values, best)
        best_index = np.where(take, flat, best_index)
    y = best if batched else best[0]
    indices = best_index if batched else best_index[0]
    return (y.astype(dtype), indices) if return_indices else y.astype(dtype)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool_taps(spatial, kernel, stride, padding, out):
    """For each kernel tap: the input coordinates each output reads, and where they are inside
    the input and inside the padded input."""
    grids = np.meshgrid(*(np.arange(o) for o in out), indexing="ij")
    for tap in product(*(range(k) for k in kernel)):
        coords = [_window_index(g, t, st, p, 1) for g, t, st, p in zip(grids, tap, stride, padding)]
        inside = np.logical_and.reduce([(c >= 0) & (c < s) for c, s in zip(coords, spatial)])
        in_padded = np.logical_and.reduce(
            [(c >= -p) & (c < s + p) for c, s, p in zip(coords, spatial, padding)])
        yield coords, inside, in_padded


def _avg_pool_divisor(spatial, kernel, stride, padding, out, count_include_pad, divisor_override):
    """Per output: divisor_override if given, else the window's size clipped to the padded input
    (count_include_pad=True) or to the input itself (False)."""
    if divisor_override:
        return np.full(tuple(out), float(divisor_override))
    taps = list(_avg_pool_taps(spatial, kernel, stride, padding, out))
    return sum((in_padded if count_include_pad else inside) for _, inside, in_padded in taps).astype(float)


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    """y = (sum of the window's input values) / divisor (see _avg_pool_divisor)."""
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    kernel, stride, padding, _, out = _pool_windows(
        nd, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    spatial = x.shape[2:]
    total = np.zeros(x.shape[:2] + tuple(out))
    for coords, inside, _ in _avg_pool_taps(spatial, kernel, stride, padding, out):
        clipped = [np.clip(c, 0, s - 1) for c, s in zip(coords, spatial)]
        total += np.where(inside, x[(slice(None), slice(None)) + tuple(clipped)], 0.0)
    y = total / _avg_pool_divisor(spatial, kernel, stride, padding, out, count_include_pad,
                                  divisor_override)
    return (y if batched else y[0]).astype(dtype)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _adaptive_avg_pool(nd, input, output_size):
    """Output o averages input[floor(o*size/out) : ceil((o+1)*size/out)] in each dimension."""
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    if isinstance(output_size, (tuple, list)):  # a 1-tuple stands for every dimension
        sizes = list(output_size) * (nd if len(output_size) == 1 else 1)
    else:
        sizes = [output_size] * nd
    sizes = [s if s is not None else x.shape[2 + i] for i, s in enumerate(sizes)]
    y = np.empty(x.shape[:2] + tuple(sizes))
    for out_index in product(*(range(o) for o in sizes)):
        window = tuple(slice(o * s // n, math.ceil((o + 1) * s / n))
                       for o, s, n in zip(out_index, x.shape[2:], sizes))
        y[(Ellipsis,) + out_index] = x[(slice(None), slice(None)) + window].mean(
            axis=tuple(range(2, 2 + nd)))
    return (y if batched else y[0]).astype(dtype)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool(3, input, output_size)


# --- normalization ----------------------------------------------------------------------------

def _normalize(x, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps)


def _channel_affine(y, weight, bias):
    shape = (1, -1) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * _f64(weight).reshape(shape)
    if bias is not None:
        y = y + _f64(bias).reshape(shape)
    return y


def _update_running(running, value, momentum):
    """running <- (1 - momentum) * running + momentum * value, in place."""
    running[...] = ((1 - momentum) * running + momentum * value).astype(running.dtype)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c over channel axis 1.

    Training: mean_c and the biased var_c come from the batch (all axes but 1); the running
    statistics are updated in place with the unbiased variance var_c * m / (m - 1), m = N*spatial.
    Evaluation: mean_c, var_c are the running statistics.
    """
    dtype = np.asarray(input).dtype
    x = _f64(input)
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
        mean, var = _f64(running_mean), _f64(running_var)
    y = _normalize(x, mean.reshape(shape), var.reshape(shape), eps)
    return _channel_affine(y, weight, bias).astype(dtype)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the trailing
    `normalized_shape` dimensions of each sample; weight and bias have that shape."""
    dtype = np.asarray(input).dtype
    x = _f64(input)
    if x.size == 0:  # an empty batch: nothing to normalize, no statistics to update
        return x.astype(dtype)
    count = len((normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape)
    axes = tuple(range(x.ndim - count, x.ndim))
    y = _normalize(x, x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True), eps)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y.astype(dtype)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Each (sample, channel) plane normalized by its own mean and biased variance; with running
    statistics, they move towards the batch average of those (unbiased variance)."""
    dtype = np.asarray(input).dtype
    x = _f64(input)
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
        mean, var = _f64(running_mean).reshape(shape), _f64(running_var).reshape(shape)
    return _channel_affine(_normalize(x, mean, var, eps), weight, bias).astype(dtype)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Channels split into num_groups groups; each (sample, group) normalized by its own mean
    and biased variance, then the per-channel affine."""
    dtype = np.asarray(input).dtype
    x = _f64(input)
    if x.size == 0:  # an empty batch: nothing to normalize, no statistics to update
        return x.astype(dtype)
    grouped = x.reshape(x.shape[0], num_groups, x[0].size // num_groups if len(x) else 0)
    y = _normalize(grouped, grouped.mean(axis=2, keepdims=True),
                   grouped.var(axis=2, keepdims=True), eps).reshape(x.shape)
    return _channel_affine(y, weight, bias).astype(dtype)


# --- elementwise and dense ----------------------------------------------------------------------

def relu(input, inplace=False):
    """max(x, 0); NaN stays NaN."""
    x = np.asarray(input)
    y = np.where(x < 0, 0, x).astype(x.dtype)
    if inplace:
        x[...] = y
    return y


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x >= 0, negative_slope * x otherwise; NaN stays NaN."""
    x = np.asarray(input)
    slope = float(x.dtype.type(negative_slope))  # the slope as the tensor's dtype holds it
    y = np.where(x < 0, _f64(x) * slope, x).astype(x.dtype)
    if inplace:
        x[...] = y
    return y


def linear(input, weight, bias=None):
    """y = x @ weight.T + bias over the last dimension of x."""
    dtype = np.asarray(input).dtype
    y = _f64(input) @ _f64(weight).T
    if bias is not None:
        y = y + _f64(bias)
    return y.astype(dtype)


def add(input, other):
    """input + other with NumPy broadcasting."""
    dtype = np.result_type(np.asarray(input).dtype, np.asarray(other).dtype)
    return (_f64(input) + _f64(other)).astype(dtype)


# --- losses -------------------------------------------------------------------------------------

def _reduce(losses, reduction, total_weight=None):
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses.size if total_weight is None else total_weight)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """loss_n = weight[t_n] * (log(sum_c exp(x_nc)) - x_n,t_n); 'mean' divides by the summed
    weights of the counted samples; samples whose target is ignore_index count for nothing."""
    dtype = np.asarray(input).dtype
    x, target = _f64(input), np.asarray(target)
    kept = target != ignore_index
    safe_target = np.where(kept, target, 0)
    log_softmax = x - _logsumexp(x)
    w = (np.ones(x.shape[1]) if weight is None else _f64(weight))[safe_target] * kept
    losses = -w * log_softmax[np.arange(len(x)), safe_target]
    return np.asarray(_reduce(losses, reduction, w.sum())).astype(dtype)


def _logsumexp(x):
    largest = x.max(axis=1, keepdims=True)
    return largest + np.log(np.exp(x - largest).sum(axis=1, keepdims=True))


def mse_loss(input, target, reduction="mean"):
    """(x - y)^2, summed or averaged over every element unless reduction='none'."""
    dtype = np.asarray(input).dtype
    return np.asarray(_reduce((_f64(input) - _f64(target)) ** 2, reduction)).astype(dtype)


# === backward ===================================================================================
# Each <op>_backward(grad_output, *forward arguments) returns the gradients of the forward
# function's differentiable arguments (None for an absent bias), in float64 arithmetic, in the
# input's dtype.

def _cast(dtype, *arrays):
    out = tuple(None if a is None else np.asarray(a).astype(dtype) for a in arrays)
    return out if len(out) > 1 else out[0]


def _conv_backward(nd, grad_output, input, weight, bias, stride, padding, dilation, groups):
    r"""The forward's sum y[n,k,o] += w[k,c,t] * x_pad[n,c,o*stride+t*dilation], transposed:
    dx_pad[n,c,o*stride+t*dilation] += w[k,c,t] * dy[n,k,o] and dw[k,c,t] += x_pad[...] * dy."""
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    g = _f64(grad_output) if batched else _f64(grad_output)[None]
    w = _f64(weight)
    kernel = w.shape[2:]
    stride, dilation = ntuple(stride, nd, "stride", "ref"), ntuple(dilation, nd, "dilation", "ref")
    if padding == "valid":
        pads = [(0, 0)] * nd
    elif padding == "same":
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for d, k in zip(dilation, kernel)]
    else:
        pads = [(p, p) for p in ntuple(padding, nd, "padding", "ref")]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    out_size = g.shape[2:]
    in_per_group, out_per_group = w.shape[1], w.shape[0] // groups
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for tap in product(*(range(k) for k in kernel)):
        window = tuple(slice(t * d, t * d + (o - 1) * st + 1, st)
                       for t, d, o, st in zip(tap, dilation, out_size, stride))
        for grp in range(groups):
            cs = slice(grp * in_per_group, (grp + 1) * in_per_group)
            ks = slice(grp * out_per_group, (grp + 1) * out_per_group)
            gs = g[:, ks]
            dxp[(slice(None), cs) + window] += np.einsum("nk...,kc->nc...", gs, w[(ks, slice(None)) + tap])
            summed = [0] + list(range(2, 2 + nd))  # batch and output positions
            dw[(ks, slice(None)) + tap] += np.tensordot(gs, xp[(slice(None), cs) + window],
                                                        axes=(summed, summed))
    crop = tuple(slice(b, b + s) for (b, _), s in zip(pads, x.shape[2:]))
    dx = dxp[(slice(None), slice(None)) + crop]
    db = None if bias is None else g.sum(axis=(0,) + tuple(range(2, 2 + nd)))
    return _cast(dtype, dx if batched else dx[0], dw, db)


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_backward(1, grad_output, input, weight, bias, stride, padding, dilation, groups)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_backward(2, grad_output, input, weight, bias, stride, padding, dilation, groups)


def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_backward(3, grad_output, input, weight, bias, stride, padding, dilation, groups)


# --- fused convolution and activation (clconv.fused) ------------------------------------------

def _fused_conv(nd, input, weight, bias, stride, padding, dilation, groups, activation,
                negative_slope):
    y = globals()[f"conv{nd}d"](input, weight, bias, stride, padding, dilation, groups)
    if activation == "relu":
        return relu(y)
    return leaky_relu(y, negative_slope) if activation == "leaky_relu" else y


def fused_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01):
    """activation(conv1d(...)): activation None, "relu" or "leaky_relu" (negative_slope)."""
    return _fused_conv(1, input, weight, bias, stride, padding, dilation, groups, activation,
                       negative_slope)


def fused_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01):
    return _fused_conv(2, input, weight, bias, stride, padding, dilation, groups, activation,
                       negative_slope)


def fused_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01):
    return _fused_conv(3, input, weight, bias, stride, padding, dilation, groups, activation,
                       negative_slope)


def _fused_conv_backward(nd, grad_output, input, weight, bias, stride, padding, dilation,
                         groups, activation, negative_slope):
    """The activation's gradient at the convolution's output, then the convolution's."""
    y = globals()[f"conv{nd}d"](input, weight, bias, stride, padding, dilation, groups)
    if activation == "relu":
        grad_output = relu_backward(grad_output, y)
    elif activation == "leaky_relu":
        grad_output = leaky_relu_backward(grad_output, y, negative_slope)
    return _conv_backward(nd, grad_output, input, weight, bias, stride, padding, dilation,
                          groups)


def fused_conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                          dilation=1, groups=1, activation="relu", negative_slope=0.01):
    return _fused_conv_backward(1, grad_output, input, weight, bias, stride, padding, dilation,
                                groups, activation, negative_slope)


def fused_conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                          dilation=1, groups=1, activation="relu", negative_slope=0.01):
    return _fused_conv_backward(2, grad_output, input, weight, bias, stride, padding, dilation,
                                groups, activation, negative_slope)


def fused_conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                          dilation=1, groups=1, activation="relu", negative_slope=0.01):
    return _fused_conv_backward(3, grad_output, input, weight, bias, stride, padding, dilation,
                                groups, activation, negative_slope)


def _max_pool_backward(nd, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode):
    """Each output's gradient goes to the input element its maximum came from."""
    dtype = np.asarray(input).dtype
    _, indices = _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    x = np.asarray(input)
    planes = int(np.prod(x.shape[:-nd]))
    dx = np.zeros((planes, int(np.prod(x.shape[-nd:]))))
    rows = np.repeat(np.arange(planes), indices.size // planes)
    # A window that lies wholly in the padding (possible with dilation) has index -1: it
    # sends its gradient nowhere.
    found = indices.reshape(-1) >= 0
    np.add.at(dx, (rows[found], indices.reshape(-1)[found]), _f64(grad_output).reshape(-1)[found])
    return dx.reshape(x.shape).astype(dtype)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_backward(1, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_backward(2, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_backward(3, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode)


def _avg_pool_backward(nd, grad_output, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    """Each output's gradient, divided by its divisor, goes to every input element it averaged."""
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    g = _f64(grad_output) if batched else _f64(grad_output)[None]
    kernel, stride, padding, _, out = _pool_windows(nd, x.shape, kernel_size, stride, padding, 1,
                                                    ceil_mode)
    spatial = x.shape[2:]
    share = g / _avg_pool_divisor(spatial, kernel, stride, padding, out, count_include_pad,
                                  divisor_override)
    dx = np.zeros((x.shape[0] * x.shape[1],) + spatial)
    planes = share.reshape((-1,) + tuple(out))
    for coords, inside, _ in _avg_pool_taps(spatial, kernel, stride, padding, out):
        targets = tuple(c[inside] for c in coords)
        for plane in range(len(planes)):
            np.add.at(dx[plane], targets, planes[plane][inside])
    dx = dx.reshape(x.shape)
    return (dx if batched else dx[0]).astype(dtype)


def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    return _avg_pool_backward(1, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, None)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward(2, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)


def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward(3, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)


def _adaptive_avg_pool_backward(nd, grad_output, input, output_size):
    dtype = np.asarray(input).dtype
    x, batched = _batched(_f64(input), nd)
    g = _f64(grad_output) if batched else _f64(grad_output)[None]
    sizes = g.shape[2:]
    dx = np.zeros_like(x)
    for out_index in product(*(range(o) for o in sizes)):
        window = tuple(slice(o * s // n, math.ceil((o + 1) * s / n))
                       for o, s, n in zip(out_index, x.shape[2:], sizes))
        count = np.prod([w.stop - w.start for w in window])
        region = (slice(None), slice(None)) + window
        dx[region] += g[(Ellipsis,) + out_index].reshape(g.shape[:2] + (1,) * nd) / count
    return (dx if batched else dx[0]).astype(dtype)


def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward(1, grad_output, input, output_size)


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward(2, grad_output, input, output_size)


def adaptive_avg_pool3d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward(3, grad_output, input, output_size)


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


def batch_norm_backward(grad_output, input, running_mean, running_var, weight=None, bias=None,
                        training=False, momentum=0.1, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = _f64(input), _f64(grad_output)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = _f64(running_mean).reshape(shape), _f64(running_var).reshape(shape)
    w = None if weight is None else _f64(weight).reshape(shape)
    dx, dw, db = _normalize_backward(x, g, axes, mean, var, eps, w, axes, training)
    return _cast(dtype, dx, None if weight is None else dw, None if bias is None else db)


def layer_norm_backward(grad_output, input, normalized_shape, weight=None, bias=None, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = _f64(input), _f64(grad_output)
    count = len((normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape)
    axes = tuple(range(x.ndim - count, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    param_axes = tuple(range(x.ndim - count))
    dx, dw, db = _normalize_backward(x, g, axes, mean, var, eps, _f64(weight), param_axes, True)
    return _cast(dtype, dx, None if weight is None else dw, None if bias is None else db)


def instance_norm_backward(grad_output, input, running_mean=None, running_var=None, weight=None,
                           bias=None, use_input_stats=True, momentum=0.1, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = _f64(input), _f64(grad_output)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    axes = tuple(range(2, x.ndim))
    if use_input_stats:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = _f64(running_mean).reshape(shape), _f64(running_var).reshape(shape)
    w = None if weight is None else _f64(weight).reshape(shape)
    dx, dw, db = _normalize_backward(x, g, axes, mean, var, eps, w, (0,) + axes, use_input_stats)
    return _cast(dtype, dx, None if weight is None else dw, None if bias is None else db)


def group_norm_backward(grad_output, input, num_groups, weight=None, bias=None, eps=1e-5):
    dtype = np.asarray(input).dtype
    x, g = _f64(input), _f64(grad_output)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    grouped = x.reshape(x.shape[0], num_groups, -1)
    mean = np.broadcast_to(grouped.mean(axis=2, keepdims=True), grouped.shape).reshape(x.shape)
    var = np.broadcast_to(grouped.var(axis=2, keepdims=True), grouped.shape).reshape(x.shape)
    w = None if weight is None else _f64(weight).reshape(shape)
    gw = (g if w is None else g * w).reshape(grouped.shape)
    invstd = 1 / np.sqrt(var + eps)
    xhat = ((x - mean) * invstd).reshape(grouped.shape)
    dx = invstd.reshape(grouped.shape) * (gw - gw.mean(axis=2, keepdims=True)
                                          - xhat * (gw * xhat).mean(axis=2, keepdims=True))
    param_axes = (0,) + tuple(range(2, x.ndim))
    dw = (g * xhat.reshape(x.shape)).sum(axis=param_axes)
    db = g.sum(axis=param_axes)
    return _cast(dtype, dx.reshape(x.shape), None if weight is None else dw,
                 None if bias is None else db)


def relu_backward(grad_output, input):
    """grad where x > 0, else 0."""
    return np.where(np.asarray(input) > 0, grad_output, 0).astype(np.asarray(input).dtype)


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """grad where x > 0, else negative_slope * grad."""
    g = _f64(grad_output)
    return np.where(np.asarray(input) > 0, g, negative_slope * g).astype(np.asarray(input).dtype)


def linear_backward(grad_output, input, weight, bias=None):
    """dx = dy @ w, dw = dy^T @ x (over all leading dimensions), db = sum of dy."""
    dtype = np.asarray(input).dtype
    g, x, w = _f64(grad_output), _f64(input), _f64(weight)
    g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
    db = None if bias is None else g2.sum(axis=0)
    return _cast(dtype, g @ w, g2.T @ x2, db)


def _sum_to(g, shape):
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True)


def add_backward(grad_output, input, other):
    """Each operand gets the gradient summed over the dimensions it was broadcast along."""
    g = _f64(grad_output)
    a, b = np.asarray(input), np.asarray(other)
    return _sum_to(g, a.shape).astype(a.dtype), _sum_to(g, b.shape).astype(b.dtype)


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean", label_smoothing=0.0):
    """d loss_n / d x_nc = weight[t_n] * (softmax(x_n)_c - [c == t_n]), scaled by the reduction."""
    dtype = np.asarray(input).dtype
    x, target = _f64(input), np.asarray(target)
    kept = target != ignore_index
    safe_target = np.where(kept, target, 0)
    w = (np.ones(x.shape[1]) if weight is None else _f64(weight))[safe_target] * kept
    softmax = np.exp(x - _logsumexp(x))
    onehot = np.eye(x.shape[1])[safe_target]
    g = _f64(grad_output)
    scale = w * (g if reduction == "none" else g / (w.sum() if reduction == "mean" else 1))
    return (scale[:, None] * (softmax - onehot)).astype(dtype)


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    """d/dx (x - y)^2 = 2 (x - y) (times the upstream gradient; / count for the mean);
    the target's gradient is its negative."""
    dtype = np.asarray(input).dtype
    x, y, g = _f64(input), _f64(target), _f64(grad_output)
    dx = 2 * (x - y) * (g if reduction == "none" else g / (x.size if reduction == "mean" else 1))
    return dx.astype(dtype), (-dx).astype(dtype)


# === optimizer updates ============================================================================

def sgd_step(param, grad, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False):
    """One SGD update as PyTorch's: g = grad + weight_decay * param; with momentum,
    buf = g (first step) or momentum * buf + (1 - dampening) * g, and g = g + momentum * buf
    (nesterov) or buf; param - lr * g. Returns (new param, new momentum buffer)."""
    dtype = np.asarray(param).dtype
    p, g = _f64(param), _f64(grad) + weight_decay * _f64(param)
    buf = None
    if momentum:
        buf = g if momentum_buffer is None else momentum * _f64(momentum_buffer) + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return (p - lr * g).astype(dtype), None if buf is None else buf.astype(dtype)


def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0):
    """One Adam update (step counts from 1): m and v are moving averages of g and g^2 (g with
    weight decay added); param - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
    Returns (new param, new m, new v)."""
    dtype = np.asarray(param).dtype
    p, g = _f64(param), _f64(grad) + weight_decay * _f64(param)
    m = betas[0] * _f64(exp_avg) + (1 - betas[0]) * g
    v = betas[1] * _f64(exp_avg_sq) + (1 - betas[1]) * g * g
    p = p - lr / (1 - betas[0] ** step) * m / (np.sqrt(v) / np.sqrt(1 - betas[1] ** step) + eps)
    return p.astype(dtype), m.astype(dtype), v.astype(dtype)
