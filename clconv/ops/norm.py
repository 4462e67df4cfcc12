"""batch_norm, layer_norm, instance_norm and group_norm (`norm.cl`).

All four are one computation: statistics over "rows" (see norm.cl), then normalize with a
per-element affine. What differs is which elements form a row and how parameters are indexed.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from .. import runtime
from ..tensors import Tensor, empty
from ._args import buffer, expect_shape, i32, scalar, tensors

_GROUP_SIZE = 64  # work-items reducing one row
_LOCAL = 64


@dataclass(frozen=True)
class Rows:
    """Which elements one mean/variance describes (see norm.cl) and how outputs find theirs."""
    count: int
    row_stride: int
    segments: int
    segment_stride: int
    segment_len: int
    row_div: int
    row_mod: int


def _kernel(device: runtime.Device, name: str, dtype):
    # Every norm kernel is built with the same defines: one program serves the family.
    return runtime.get_kernel(device, "norm", name, GROUP_SIZE=_GROUP_SIZE,
                              **runtime.dtype_defines(dtype))


def _row_stats(x: Tensor, rows: Rows) -> tuple[Tensor, Tensor]:
    device = x.device
    mean = empty((rows.count,), x.dtype, device)
    var = empty((rows.count,), x.dtype, device)
    kernel = _kernel(device, "row_stats", x.dtype)
    runtime.launch(device, kernel, (rows.count * _GROUP_SIZE,), (_GROUP_SIZE,), x.array.data,
                   mean.array.data, var.array.data,
                   *i32(rows.row_stride, rows.segments, rows.segment_stride, rows.segment_len))
    return mean, var


def _normalize(x: Tensor, mean: Tensor, var: Tensor, weight, bias, eps: float, rows: Rows,
               param_div: int, param_mod: int) -> Tensor:
    device = x.device
    y = empty(x.shape, x.dtype, device)
    kernel = _kernel(device, "normalize_rows", x.dtype)
    runtime.launch(device, kernel, (x.size,), (_LOCAL,), x.array.data, y.array.data,
                   mean.array.data, var.array.data, buffer(weight, device), buffer(bias, device),
                   *i32(weight is not None, bias is not None), scalar(x.dtype, eps),
                   *i32(x.size, rows.row_div, rows.row_mod, param_div, param_mod))
    return y


def _update_running(mean: Tensor, var: Tensor, running_mean, running_var, channels: int,
                    instances: int, momentum: float, count: int) -> None:
    if running_mean is None and running_var is None:
        return
    device = mean.device
    kernel = _kernel(device, "update_running", mean.dtype)
    runtime.launch(device, kernel, (channels,), (_LOCAL,), mean.array.data, var.array.data,
                   buffer(running_mean, device), buffer(running_var, device),
                   *i32(running_mean is not None, running_var is not None, channels, instances),
                   scalar(mean.dtype, momentum), scalar(mean.dtype, count / (count - 1)))


def _write_back(host_arrays: dict, device_tensors: dict) -> None:
    """Running statistics given as NumPy arrays are updated in place, as PyTorch's would be."""
    for name, host in host_arrays.items():
        if isinstance(host, np.ndarray) and device_tensors[name] is not None:
            host[...] = device_tensors[name].numpy()


def _check_momentum(op: str, momentum) -> float:
    if momentum is None or not np.isscalar(momentum):
        raise TypeError(f"{op}: momentum must be a float, got {momentum!r}")
    return float(momentum)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
    op = "batch_norm"
    t = tensors(op, input=input, running_mean=running_mean, running_var=running_var,
                weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got {x.shape}")
    n, c, spatial = x.shape[0], x.shape[1], prod(x.shape[2:])
    for name in ("running_mean", "running_var", "weight", "bias"):
        expect_shape(t[name], (c,), name, op, f" (one value per channel of input {x.shape})")
    momentum = _check_momentum(op, momentum)
    if not training and (t["running_mean"] is None or t["running_var"] is None):
        raise ValueError(f"{op}: running_mean and running_var are required when training=False")
    if training and n * spatial == 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    rows = Rows(count=c, row_stride=spatial, segments=n, segment_stride=c * spatial,
                segment_len=spatial, row_div=spatial, row_mod=c)
    if training:
        mean, var = _row_stats(x, rows)
        _update_running(mean, var, t["running_mean"], t["running_var"], c, 1, momentum,
                        n * spatial)
        _write_back({"running_mean": running_mean, "running_var": running_var}, t)
    else:
        mean, var = t["running_mean"], t["running_var"]
    return _normalize(x, mean, var, t["weight"], t["bias"], eps, rows, spatial, c)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    op = "layer_norm"
    t = tensors(op, input=input, weight=weight, bias=bias)
    x = t["input"]
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"{op}: normalized_shape {shape} must be a non-empty suffix of the "
                         f"input's shape {x.shape}")
    for name in ("weight", "bias"):
        expect_shape(t[name], shape, name, op, " (normalized_shape)")
    row_len = prod(shape)
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    rows = Rows(count=x.size // row_len, row_stride=row_len, segments=1, segment_stride=0,
                segment_len=row_len, row_div=row_len, row_mod=x.size // row_len)
    mean, var = _row_stats(x, rows)
    return _normalize(x, mean, var, t["weight"], t["bias"], eps, rows, 1, row_len)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5) -> Tensor:
    op = "instance_norm"
    t = tensors(op, input=input, running_mean=running_mean, running_var=running_var,
                weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < 3:
        raise ValueError(f"{op}: expected input of shape (N, C, *spatial), got {x.shape}")
    n, c, spatial = x.shape[0], x.shape[1], prod(x.shape[2:])
    for name in ("running_mean", "running_var", "weight", "bias"):
        expect_shape(t[name], (c,), name, op, f" (one value per channel of input {x.shape})")
    momentum = _check_momentum(op, momentum)
    if use_input_stats and spatial == 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when using input "
                         f"statistics, got input of shape {x.shape}")
    if not use_input_stats and (t["running_mean"] is None or t["running_var"] is None):
        raise ValueError(f"{op}: running_mean and running_var are required when "
                         "use_input_stats=False")
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    if use_input_stats:
        rows = Rows(count=n * c, row_stride=spatial, segments=1, segment_stride=0,
                    segment_len=spatial, row_div=spatial, row_mod=n * c)
        mean, var = _row_stats(x, rows)
        _update_running(mean, var, t["running_mean"], t["running_var"], c, n, momentum, spatial)
        _write_back({"running_mean": running_mean, "running_var": running_var}, t)
    else:  # the running statistics, per channel, as in batch_norm's evaluation mode
        rows = Rows(count=c, row_stride=spatial, segments=n, segment_stride=c * spatial,
                    segment_len=spatial, row_div=spatial, row_mod=c)
        mean, var = t["running_mean"], t["running_var"]
    return _normalize(x, mean, var, t["weight"], t["bias"], eps, rows, spatial, c)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
    op = "group_norm"
    t = tensors(op, input=input, weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got {x.shape}")
    n, c, spatial = x.shape[0], x.shape[1], prod(x.shape[2:])
    if not isinstance(num_groups, int) or num_groups <= 0 or c % num_groups:
        raise ValueError(f"{op}: num_groups ({num_groups!r}) must be a positive divisor of the "
                         f"number of channels ({c}, input {x.shape})")
    for name in ("weight", "bias"):
        expect_shape(t[name], (c,), name, op, f" (one value per channel of input {x.shape})")
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    group_len = c // num_groups * spatial
    rows = Rows(count=n * num_groups, row_stride=group_len, segments=1, segment_stride=0,
                segment_len=group_len, row_div=group_len, row_mod=n * num_groups)
    mean, var = _row_stats(x, rows)
    return _normalize(x, mean, var, t["weight"], t["bias"], eps, rows, spatial, c)
