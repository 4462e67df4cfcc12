"""cross_entropy (fused, numerically stable log-softmax) and mse_loss (`loss.cl`)."""
from __future__ import annotations

import numpy as np

from .. import autograd, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import buffer, expect_shape, i32, tensors

_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


def _reduction(op: str, reduction) -> int:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    return _REDUCTIONS[reduction]


def _kernel(device, name: str, dtype):
    return runtime.get_kernel(device, "loss", name, **runtime.dtype_defines(dtype))


def _group_kernel(device, name: str, dtype):
    """A kernel reducing in one work-group of GROUP_SIZE, and that size."""
    return runtime.fixed_group_kernel(device, "loss", name, launch_sizes.group_size(device),
                                      **runtime.dtype_defines(dtype))


def _groups(device, count: int, group: int) -> int:
    """Work-groups of a loss's first stage over `count` rows or elements: at least 64 of them
    per work-item, at most 4 groups per compute unit (the launch, and so the order of every
    sum, depends only on the device and the size)."""
    return max(1, min(4 * device.profile.compute_units, count // (64 * group)))


def _finish(device, partials: Tensor, count: int, width: int, loss: Tensor,
            total_weight: Tensor | None, mode: int, total: int) -> None:
    """loss_finish: the second stage over `count` groups' partials."""
    kernel, group = _group_kernel(device, "loss_finish", partials.dtype)
    runtime.launch(device, kernel, (group,), (group,), partials.array.data, *i32(count, width),
                   buffer(loss, device), buffer(total_weight, device), *i32(mode, total))


def _class_indices(op: str, target, batch: int, classes: int, ignore_index: int, device) -> Tensor:
    """target as an int64 device tensor, each entry a class in [0, classes) or ignore_index."""
    if isinstance(target, Tensor):
        host = target.numpy()
    elif runtime.is_device_array(target):
        host = target.get()
    else:
        host = np.asarray(target)
    if host.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold class indices (an integer array), got dtype "
                        f"{host.dtype}; class probabilities are not supported")
    if host.shape != (batch,):
        raise ValueError(f"{op}: target must have shape ({batch},) for input of {batch} rows, "
                         f"got {host.shape}")
    bad = (host != ignore_index) & ((host < 0) | (host >= classes))
    if bad.any():
        raise ValueError(f"{op}: target holds {host[bad][0]}, outside the {classes} classes "
                         f"[0, {classes}) (ignore_index={ignore_index})")
    out = empty((batch,), np.int64, device)
    if batch:
        out.array.set(host.astype(np.int64))
    return out


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0) -> Tensor:
    """Cross entropy between logits (N, C) and class indices (N,), as PyTorch's."""
    op = "cross_entropy"
    mode = _reduction(op, reduction)
    if label_smoothing:
        raise ValueError(f"{op}: label_smoothing is not supported (got {label_smoothing})")
    t = tensors(op, ("weight",), input=input, weight=weight)
    x, class_weight = t["input"], t["weight"]
    if x.ndim != 2:
        raise ValueError(f"{op}: input must be (N, C) logits, got shape {x.shape}")
    batch, classes = x.shape
    if classes == 0:
        raise ValueError(f"{op}: input of shape {x.shape} has no classes")
    expect_shape(class_weight, (classes,), "weight", op, " (one weight per class)")
    device = x.device
    labels = _class_indices(op, target, batch, classes, int(ignore_index), device)
    loss = empty((batch,) if mode == 0 else (), x.dtype, device)
    log_sum_exp = empty((batch,), x.dtype, device)
    total_weight = empty((1,), x.dtype, device)
    common = (buffer(class_weight, device), *i32(class_weight is not None),
              np.int64(ignore_index), *i32(mode))
    kernel, group = _group_kernel(device, "cross_entropy_forward", x.dtype)
    groups = _groups(device, batch, group)
    partials = empty((2 * groups,), x.dtype, device) if groups > 1 else None
    runtime.launch(device, kernel, (groups * group,), (group,), buffer(x, device),
                   buffer(labels, device), *common, buffer(loss, device),
                   buffer(log_sum_exp, device), total_weight.array.data,
                   buffer(partials, device), *i32(batch, classes))
    if partials is not None:
        _finish(device, partials, groups, 2, loss, total_weight, mode, batch)

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size:
            runtime.launch(device, _kernel(device, "cross_entropy_backward", x.dtype), (dx.size,),
                           (launch_sizes.items(device),), x.array.data, labels.array.data, *common,
                           log_sum_exp.array.data, total_weight.array.data, grad.array.data,
                           dx.array.data, *i32(batch, classes))
        return dx, None

    return autograd.record(op, loss, (x, class_weight), backward, saved=(x,))


def mse_loss(input, target, reduction="mean") -> Tensor:
    """Mean squared error between input and target (same shape), as PyTorch's."""
    op = "mse_loss"
    mode = _reduction(op, reduction)
    t = tensors(op, input=input, target=target)
    x, y = t["input"], t["target"]
    if x.shape != y.shape:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {y.shape} differ")
    device = x.device
    loss = empty(x.shape if mode == 0 else (), x.dtype, device)
    kernel, group = _group_kernel(device, "mse_loss_forward", x.dtype)
    groups = _groups(device, x.size, group)
    partials = empty((groups,), x.dtype, device) if groups > 1 and mode else None
    runtime.launch(device, kernel, (groups * group,), (group,), buffer(x, device),
                   buffer(y, device), buffer(loss, device), buffer(partials, device),
                   *i32(mode, x.size))
    if partials is not None:
        _finish(device, partials, groups, 1, loss, None, mode, x.size)

    def gradient(a, b, grad):
        out = empty(a.shape, a.dtype, device)
        if out.size:
            runtime.launch(device, _kernel(device, "mse_loss_backward", a.dtype), (out.size,),
                           (launch_sizes.items(device),), a.array.data, b.array.data, grad.array.data,
                           out.array.data, *i32(mode, a.size))
        return out

    def backward(grad):  # d/dx (x - y)^2 = 2 (x - y); d/dy is its negative
        return (gradient(x, y, grad) if x.requires_grad else None,
                gradient(y, x, grad) if y.requires_grad else None)

    return autograd.record(op, loss, (x, y), backward, saved=(x, y))
