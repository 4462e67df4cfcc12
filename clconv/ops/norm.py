"""batch_norm, layer_norm, instance_norm and group_norm, forward and backward
(`kernels/norm_*.cl`: one file per algorithm, the rows and their runs in `norm_runs.h`).

All four are one computation: statistics over "rows" (see norm_runs.h), then normalize with a
per-element affine. What differs is which elements form a row (`Rows`) and how the affine
parameters are indexed: parameter p = (flat index // param_div) % param_mod.

The dispatcher chooses (families "norm_forward", "norm_backward"; the algorithms are in
norm_forward.py and norm_backward.py, what they share in norm_layout.py):
- rows: one work-item per statistics row (row_normalize, row_normalize_backward + column_sums):
  a row is read from memory once, its second pass from the core's cache. CPUs, where a row fits
  a core's cache and the input the shared one (the `row_bytes` and `input_bytes` parameters).
- chunked / general: statistics per chunk of a row merged per row (chunk_stats, combine_stats),
  then normalize_rows; the backward sums per row and per parameter by work-group reductions and
  the input gradient per element (GPUs, which need far more work-items than rows).
"""
from __future__ import annotations

from math import prod

import numpy as np

from .. import dispatch, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import buffer, expect_shape, i32, ntuple, real, scalar, tensors
from .norm_backward import record
from .norm_forward import batch_normalize, chunked_params, data, normalize
from .norm_layout import Layout, NormProblem, norm_kernel
from .reduce import Rows

_OPTIONAL = ("running_mean", "running_var", "weight", "bias")


def _update_running(mean, var, running_mean, running_var, channels: int, instances: int,
                    momentum: float, count: int) -> None:
    """Blend the batch statistics (see statistics) into the running ones, in place."""
    if running_mean is None and running_var is None:
        return
    running = running_mean if running_mean is not None else running_var
    device, dtype = running.device, running.dtype
    runtime.launch(device, norm_kernel(device, "update_running", dtype), (channels,),
            (launch_sizes.items(device),),
            data(mean), data(var), buffer(running_mean, device), buffer(running_var, device),
            *i32(running_mean is not None, running_var is not None, channels, instances),
            scalar(dtype, momentum), scalar(dtype, count / (count - 1)))
    for running in (running_mean, running_var):
        if running is not None:
            running._version += 1


def _write_back(host_arrays: dict, device_tensors: dict) -> None:
    """Running statistics given as NumPy arrays are updated in place, as PyTorch's would be."""
    for name, host in host_arrays.items():
        if isinstance(host, np.ndarray) and device_tensors[name] is not None:
            host[...] = device_tensors[name].numpy()




def _check_channel_params(op: str, t: dict, x: Tensor, names) -> None:
    for name in names:
        expect_shape(t[name], (x.shape[1],), name, op,
                     f" (one value per channel of input {x.shape})")


def _per_channel(op, min_ndim: int, expected: str, input, running_mean, running_var, weight,
                 bias, momentum, eps):
    """What batch and instance norm check alike: tensors, an input of `min_ndim` or more
    dimensions, a value per channel in each optional tensor, real momentum and eps. Returns
    (tensors, input, N, C, spatial size, momentum, eps)."""
    t = tensors(op, _OPTIONAL, input=input, running_mean=running_mean,
                running_var=running_var, weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < min_ndim:
        raise ValueError(f"{op}: expected input of shape {expected}, got {x.shape}")
    _check_channel_params(op, t, x, ("running_mean", "running_var", "weight", "bias"))
    momentum, eps = real(momentum, "momentum", op), real(eps, "eps", op)
    return t, x, x.shape[0], x.shape[1], prod(x.shape[2:]), momentum, eps


def _batch_norm_arguments(input, running_mean, running_var, weight=None, bias=None,
                          training=False, momentum=0.1, eps=1e-5):
    """batch_norm's checked arguments: (tensors, layout (None for an empty input), momentum,
    eps)."""
    op = "batch_norm"
    t, x, n, c, spatial, momentum, eps = _per_channel(
        op, 2, "(N, C, ...)", input, running_mean, running_var, weight, bias, momentum, eps)
    if not training and (t["running_mean"] is None or t["running_var"] is None):
        raise ValueError(f"{op}: running_mean and running_var are required when training=False")
    if training and n * spatial == 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    channels = Rows.channels(n, c, spatial)
    layout = Layout(stats=channels, params=channels, batch_statistics=bool(training))
    return t, layout if x.size else None, momentum, eps


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
    op = "batch_norm"
    t, layout, momentum, eps = _batch_norm_arguments(input, running_mean, running_var, weight,
                                                     bias, training, momentum, eps)
    x = t["input"]
    if layout is None:
        return empty(x.shape, x.dtype, x.device)
    n, spatial = x.shape[0], prod(x.shape[2:])
    return _with_running_statistics(op, t, layout, momentum, eps, 1, n * spatial,
                                    {"running_mean": running_mean, "running_var": running_var})


def _with_running_statistics(op, t: dict, layout: Layout, momentum, eps, instances: int,
                             count: int, host_running: dict) -> Tensor:
    """batch_norm's and instance_norm's common part: with statistics from the input, normalize
    and blend them (averaged over `instances` rows per channel, `count` elements each) into
    the running ones (NumPy arrays among them updated in place); else normalize with the
    running ones."""
    x = t["input"]
    if layout.batch_statistics:
        y, mean, var = batch_normalize(x, t["weight"], t["bias"], eps, layout)
        _update_running(mean, var, t["running_mean"], t["running_var"], x.shape[1], instances,
                        momentum, count)
        _write_back(host_running, t)
    else:
        mean, var = t["running_mean"], t["running_var"]
        y = normalize(x, data(mean), data(var), t["weight"], t["bias"], eps, layout,
                       chunked_params(x.device))
    return record(op, x, y, mean, var, t["weight"], t["bias"], eps, layout)


def _layer_norm_arguments(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    op = "layer_norm"
    t = tensors(op, _OPTIONAL, input=input, weight=weight, bias=bias)
    x = t["input"]
    eps = real(eps, "eps", op)
    shape = ntuple(normalized_shape, len(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else 1,
                   "normalized_shape", op)
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"{op}: normalized_shape {shape} must be a non-empty suffix of the "
                         f"input's shape {x.shape}")
    for name in ("weight", "bias"):
        expect_shape(t[name], shape, name, op, " (normalized_shape)")
    row_len = prod(shape)
    if x.size == 0:
        return t, None, None, eps
    rows = x.size // row_len
    # Parameter p multiplies element p of every row: p's elements are `rows` runs of one.
    params = Rows(count=row_len, row_stride=1, segments=rows, segment_stride=row_len,
                  segment_len=1, row_div=1, row_mod=row_len)
    layout = Layout(stats=Rows.contiguous(rows, row_len), params=params, batch_statistics=True)
    return t, layout, None, eps


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    t, layout, _, eps = _layer_norm_arguments(input, normalized_shape, weight, bias, eps)
    x = t["input"]
    if layout is None:
        return empty(x.shape, x.dtype, x.device)
    y, mean, var = batch_normalize(x, t["weight"], t["bias"], eps, layout)
    return record("layer_norm", x, y, mean, var, t["weight"], t["bias"], eps, layout)


def _instance_norm_arguments(input, running_mean=None, running_var=None, weight=None, bias=None,
                             use_input_stats=True, momentum=0.1, eps=1e-5):
    op = "instance_norm"
    t, x, n, c, spatial, momentum, eps = _per_channel(
        op, 3, "(N, C, *spatial)", input, running_mean, running_var, weight, bias, momentum, eps)
    if use_input_stats and spatial == 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when using input "
                         f"statistics, got input of shape {x.shape}")
    if not use_input_stats and (t["running_mean"] is None or t["running_var"] is None):
        raise ValueError(f"{op}: running_mean and running_var are required when "
                         "use_input_stats=False")
    channels = Rows.channels(n, c, spatial)
    if use_input_stats:
        layout = Layout(stats=Rows.contiguous(n * c, spatial), params=channels,
                        batch_statistics=True)
    else:  # the running statistics, per channel, as in batch_norm's evaluation mode
        layout = Layout(stats=channels, params=channels, batch_statistics=False)
    return t, layout if x.size else None, momentum, eps


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5) -> Tensor:
    t, layout, momentum, eps = _instance_norm_arguments(input, running_mean, running_var, weight,
                                                        bias, use_input_stats, momentum, eps)
    x = t["input"]
    if layout is None:
        return empty(x.shape, x.dtype, x.device)
    return _with_running_statistics("instance_norm", t, layout, momentum, eps, x.shape[0],
                                    prod(x.shape[2:]),
                                    {"running_mean": running_mean, "running_var": running_var})


def _group_norm_arguments(input, num_groups, weight=None, bias=None, eps=1e-5):
    op = "group_norm"
    t = tensors(op, _OPTIONAL, input=input, weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got {x.shape}")
    n, c, spatial = x.shape[0], x.shape[1], prod(x.shape[2:])
    eps = real(eps, "eps", op)
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups <= 0 \
            or c % num_groups:
        raise ValueError(f"{op}: num_groups ({num_groups!r}) must be a positive divisor of the "
                         f"number of channels ({c}, input {x.shape})")
    _check_channel_params(op, t, x, ("weight", "bias"))
    layout = Layout(stats=Rows.contiguous(n * num_groups, c // num_groups * spatial),
                    params=Rows.channels(n, c, spatial), batch_statistics=True)
    return t, layout if x.size else None, None, eps


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
    t, layout, _, eps = _group_norm_arguments(input, num_groups, weight, bias, eps)
    x = t["input"]
    if layout is None:
        return empty(x.shape, x.dtype, x.device)
    y, mean, var = batch_normalize(x, t["weight"], t["bias"], eps, layout)
    return record("group_norm", x, y, mean, var, t["weight"], t["bias"], eps, layout)


def _explainer(arguments):
    """clconv.explain for a norm: the statistics' algorithm (where the input gives them) and
    the backward's."""
    def explain(*args, **kwargs):
        t, layout, _, _ = arguments(*args, **kwargs)
        if layout is None:
            return []
        x = t["input"]
        problem = NormProblem(layout, np.dtype(x.dtype), x.size)
        forward = [dispatch.choose("norm_forward", x.device, problem)] \
            if layout.batch_statistics else []
        return forward + [dispatch.choose("norm_backward", x.device, problem)]
    return explain


for _op, _arguments in ((batch_norm, _batch_norm_arguments), (layer_norm, _layer_norm_arguments),
                        (instance_norm, _instance_norm_arguments),
                        (group_norm, _group_norm_arguments)):
    dispatch.explains(_op)(_explainer(_arguments))
del _op, _arguments
