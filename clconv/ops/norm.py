"""batch_norm, layer_norm, instance_norm and group_norm, forward and backward (`norm.cl`).

All four are one computation: statistics over "rows" (see norm.cl), then normalize with a
per-element affine. What differs is which elements form a row (`Rows`) and how the affine
parameters are indexed: parameter p = (flat index // param_div) % param_mod.

The dispatcher chooses (families "norm_forward", "norm_backward"):
- rows: one work-item per statistics row (row_normalize, row_normalize_backward + column_sums):
  a row is read from memory once, its second pass from the core's cache. CPUs, where a row fits
  a core's cache and the input the shared one (the `row_bytes` and `input_bytes` parameters).
- chunked / general: statistics per chunk of a row merged per row (chunk_stats, combine_stats),
  then normalize_rows; the backward sums per row and per parameter by work-group reductions and
  the input gradient per element (GPUs, which need far more work-items than rows).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from .. import autograd, dispatch, runtime, tuning
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import buffer, expect_shape, i32, ntuple, real, scalar, tensors
from .reduce import Rows

_OPTIONAL = ("running_mean", "running_var", "weight", "bias")


def _defaults(profile) -> dict:
    """norm's parameters for a device the table has no entry for. rows: a row within a core's
    cache (about 1 MiB of L2) and the input within the shared cache (8 MiB); chunked: chunks
    and spans of 4096 elements (the second pass from L1/L2), at least 32 work-items per compute
    unit, in groups of 16 (CPUs) or of the launch entry's size."""
    local = 16 if profile.kind == "cpu" else 64
    chunked = {"chunk": 4096, "span": 4096, "min_items": 32 * profile.compute_units,
               "local": local}
    rows = {"row_bytes": 1 << 20, "input_bytes": 8 << 20, "local": 16, "many_rows": 64}
    cpu = profile.kind == "cpu"
    return {"norm_forward": {"order": ["rows", "chunked"] if cpu else ["chunked"],
                             "rows": rows, "chunked": chunked},
            "norm_backward": {"order": ["rows", "general"] if cpu else ["general"],
                              "rows": {"local": 16, "many_rows": 64}}}


for _family in ("norm_forward", "norm_backward"):
    tuning.register_defaults(_family, lambda profile, _family=_family: _defaults(profile)[_family])
del _family


@dataclass(frozen=True)
class Layout:
    """Where a normalization's statistics and parameters sit in its input."""
    stats: Rows             # the elements each mean / variance describes
    params: Rows            # the elements each weight / bias entry multiplies / shifts
    batch_statistics: bool  # statistics from this input (else fixed running statistics)

    @property
    def param_div(self) -> int:
        return self.params.row_div

    @property
    def param_mod(self) -> int:
        return self.params.row_mod


@dataclass(frozen=True)
class NormProblem:
    """What the norm algorithms decide on."""
    layout: Layout
    dtype: np.dtype
    size: int


def _kernel(device: runtime.Device, name: str, dtype):
    # Every norm kernel is built with the same defines: one program serves the family.
    return runtime.get_kernel(device, "norm", name, GROUP_SIZE=launch_sizes.group_size(device),
                              **runtime.vector_defines(device, dtype))


def _group_kernel(device: runtime.Device, name: str, dtype):
    """A kernel reducing in work-groups of GROUP_SIZE, and that size (see
    runtime.fixed_group_kernel: the same program as _kernel's where the driver allows)."""
    return runtime.fixed_group_kernel(device, "norm", name, launch_sizes.group_size(device),
                                      **runtime.vector_defines(device, dtype))


def _chunk_len(params: dict, rows: Rows) -> int:
    """Elements per chunk_stats work-item: at most `chunk` (the second pass then reads from
    L1/L2), fewer where that leaves fewer than `min_items` chunks; a multiple of 16."""
    wanted = -(-rows.count * rows.length // int(params["min_items"]))
    return max(16, min(int(params["chunk"]), rows.length, runtime.round_up(wanted, 16)))


def _statistics(x: Tensor, count: int, keep: bool):
    """Where a forward writes each row's mean and variance: tensors where backward will read them
    (`keep`), else scratch buffers from the device's allocator (a tensor costs ~15 us of Python,
    as much as a small kernel)."""
    if keep:
        return empty((count,), x.dtype, x.device), empty((count,), x.dtype, x.device)
    nbytes = count * x.dtype.itemsize
    return runtime.scratch(x.device, nbytes), runtime.scratch(x.device, nbytes)


def _data(statistic):
    """The buffer of a statistics tensor or scratch buffer (see _statistics)."""
    return statistic.array.data if isinstance(statistic, Tensor) else statistic


def _row_stats(params: dict, x: Tensor, rows: Rows, keep: bool):
    """Mean and biased variance of each row (see _statistics): per-chunk statistics, then merged
    per row."""
    device = x.device
    chunk_len = _chunk_len(params, rows)
    chunks_per_row = -(-rows.length // chunk_len)
    chunks = rows.count * chunks_per_row
    chunk_mean, chunk_m2 = (runtime.scratch(device, chunks * x.dtype.itemsize) for _ in range(2))
    runtime.launch(device, _kernel(device, "chunk_stats", x.dtype), (chunks,), (params["local"],),
            x.array.data, chunk_mean, chunk_m2,
            *i32(rows.count, chunks_per_row, chunk_len, rows.row_stride, rows.segments,
                 rows.segment_stride, rows.segment_len))
    mean, var = _statistics(x, rows.count, keep)
    runtime.launch(device, _kernel(device, "combine_stats", x.dtype), (rows.count,), (1,),
            chunk_mean, chunk_m2, _data(mean), _data(var),
            *i32(rows.count, chunks_per_row, chunk_len, rows.length))
    return mean, var


def _batch_normalize(x: Tensor, weight, bias, eps: float, layout: Layout):
    """x normalized with the statistics of its own rows; returns (y, mean, biased variance), the
    statistics as tensors where backward will need them (see _statistics)."""
    keep = autograd.needs_grad(x, weight, bias)
    return dispatch.run("norm_forward", x.device, NormProblem(layout, np.dtype(x.dtype), x.size),
                        x, weight, bias, eps, keep)


def _rows_loop(context: Context, problem: NormProblem) -> str | None:
    """One work-item walks a whole statistics row (in vectors)."""
    lanes = context.profile.vector_lanes(problem.dtype.itemsize)
    return loop_reason(context, problem.layout.stats.length // lanes, "a work-item per row")


def _rows_fit(context: Context, problem: NormProblem) -> str | None:
    """A statistics row within `row_bytes` and the input within `input_bytes` (caches)."""
    row = problem.layout.stats.length * problem.dtype.itemsize
    total = problem.size * problem.dtype.itemsize
    return first_reason(
        (row <= context.params["row_bytes"], f"rows of {row:,} bytes pass {context.params['row_bytes']:,}"),
        (total <= context.params["input_bytes"],
         f"the input's {total:,} bytes pass {context.params['input_bytes']:,}"))


def _chunked_forward(context: Context, problem: NormProblem, x, weight, bias, eps, keep):
    layout = problem.layout
    mean, var = _row_stats(context.params, x, layout.stats, keep)
    return (_normalize(x, _data(mean), _data(var), weight, bias, eps, layout, context.params),
            mean, var)


def _rows_forward(context: Context, problem: NormProblem, x, weight, bias, eps, keep):
    rows, device, layout = problem.layout.stats, x.device, problem.layout
    y = empty(x.shape, x.dtype, device)
    mean, var = _statistics(x, rows.count, keep)
    params = context.params
    local_size = params["local"] if rows.count >= params["many_rows"] else 1
    runtime.launch(device, _kernel(device, "row_normalize", x.dtype), (rows.count,), (local_size,),
            x.array.data, y.array.data, _data(mean), _data(var),
            buffer(weight, device), buffer(bias, device),
            *i32(weight is not None, bias is not None), scalar(x.dtype, eps),
            *i32(rows.count, rows.row_stride, rows.segments, rows.segment_stride,
                 rows.segment_len, layout.param_div, layout.param_mod))
    return y, mean, var


dispatch.register(Algorithm(
    "norm_forward", "rows", _rows_forward, applies=_rows_loop, prefers=_rows_fit,
    params=lambda c, p: {k: c.params[k] for k in ("row_bytes", "input_bytes")},
    about="row_normalize: one work-item per statistics row, its second pass from cache"))
dispatch.register(Algorithm(
    "norm_forward", "chunked", _chunked_forward,
    params=lambda c, p: {"chunk": _chunk_len(c.params, p.layout.stats)},
    about="chunk_stats + combine_stats + normalize_rows: rows described in chunks"))


def _chunked_params(device) -> dict:
    """The chunked algorithm's parameters (normalize_rows' too, with fixed statistics)."""
    return tuning.entry(device.profile)["norm_forward"]["chunked"]


def _normalize(x: Tensor, mean, var, weight, bias, eps: float, layout: Layout,
               params: dict) -> Tensor:
    """x normalized with the given statistics (buffers of a mean and a variance per row), by
    normalize_rows with the chunked algorithm's `params`."""
    device = x.device
    y = empty(x.shape, x.dtype, device)
    span = max(16, min(int(params["span"]),
                       runtime.round_up(-(-x.size // int(params["min_items"])), 16)))
    runtime.launch(device, _kernel(device, "normalize_rows", x.dtype), (-(-x.size // span),),
            (params["local"],), x.array.data, y.array.data, mean, var,
            buffer(weight, device), buffer(bias, device),
            *i32(weight is not None, bias is not None), scalar(x.dtype, eps),
            *i32(x.size, layout.stats.row_div, layout.stats.row_mod, layout.param_div,
                 layout.param_mod, span))
    return y


def _input_grad(x, grad, mean, var, weight, eps, layout: Layout) -> Tensor:
    device, stats = x.device, layout.stats
    dx = empty(x.shape, x.dtype, device)
    sum_g = sum_g_xhat = None
    if layout.batch_statistics:  # the statistics depend on x too
        sum_g = empty((stats.count,), x.dtype, device)
        sum_g_xhat = empty((stats.count,), x.dtype, device)
        kernel, group = _group_kernel(device, "row_backward_sums", x.dtype)
        runtime.launch(device, kernel, (stats.count * group,), (group,), x.array.data,
                grad.array.data, mean.array.data, var.array.data, buffer(weight, device),
                *i32(weight is not None), scalar(x.dtype, eps), sum_g.array.data,
                sum_g_xhat.array.data,
                *i32(stats.row_stride, stats.segments, stats.segment_stride,
                            stats.segment_len, layout.param_div, layout.param_mod))
    runtime.launch(device, _kernel(device, "normalize_backward", x.dtype), (x.size,),
            (launch_sizes.items(device),),
            x.array.data, grad.array.data, dx.array.data, mean.array.data,
            var.array.data, buffer(weight, device), *i32(weight is not None),
            buffer(sum_g, device), buffer(sum_g_xhat, device),
            *i32(layout.batch_statistics), scalar(x.dtype, stats.length),
            scalar(x.dtype, eps),
            *i32(x.size, stats.row_div, stats.row_mod, layout.param_div, layout.param_mod))
    return dx


def _params_are_columns(layout: Layout) -> bool:
    """Whether each parameter owns one element of every statistics row (layer norm)."""
    params = layout.params
    return layout.stats.row_div == params.count == params.segment_stride \
        and params.segment_len == 1


def _param_grads(x, grad, mean, var, eps, layout: Layout, want_weight: bool, want_bias: bool):
    device, params = x.device, layout.params
    lanes = device.profile.vector_lanes(x.dtype.itemsize)
    dweight = empty((params.count,), x.dtype, device) if want_weight else None
    dbias = empty((params.count,), x.dtype, device) if want_bias else None
    if _params_are_columns(layout):
        runtime.launch(device, _kernel(device, "column_backward_sums", x.dtype),
                       (-(-params.count // lanes),), (launch_sizes.items(device),), x.array.data,
                       grad.array.data,
                       mean.array.data, var.array.data, scalar(x.dtype, eps),
                       buffer(dweight, device), buffer(dbias, device),
                       *i32(want_weight, want_bias, params.segments, params.count))
        return dweight, dbias
    kernel, group = _group_kernel(device, "param_backward_sums", x.dtype)
    runtime.launch(device, kernel, (params.count * group,), (group,), x.array.data, grad.array.data,
            mean.array.data, var.array.data, scalar(x.dtype, eps),
            buffer(dweight, device), buffer(dbias, device), *i32(want_weight, want_bias),
            *i32(params.row_stride, params.segments, params.segment_stride,
                        params.segment_len, layout.stats.row_div, layout.stats.row_mod))
    return dweight, dbias


def _blocks_fit_rows(layout: Layout) -> bool:
    """Whether every block of param_div elements (one parameter's run) lies inside one
    statistics row, as row_normalize_backward's per-block sums require."""
    stats, div = layout.stats, layout.param_div
    return div == 1 or (stats.segment_len % div == 0 and stats.row_stride % div == 0
                        and stats.segment_stride % div == 0)


def _backward_by_rows(params: dict, x, grad, mean, var, weight, eps, layout: Layout,
                      want_dx: bool, want_weight: bool, want_bias: bool):
    """(dx, dweight, dbias), each where wanted, by row_normalize_backward and column_sums (see
    norm.cl)."""
    device, stats = x.device, layout.stats
    dx = empty(x.shape, x.dtype, device) if want_dx else None
    want_params = want_weight or want_bias
    runs_of_one = layout.param_div > 1
    blocks = x.size // layout.param_div
    # Per-block sums of dy (dy itself where each element is a block) and of dy * xhat.
    block_dy = runtime.scratch(device, blocks * x.dtype.itemsize) \
        if want_params and runs_of_one else grad.array.data
    block_dy_xhat = runtime.scratch(device, blocks * x.dtype.itemsize) if want_params else None
    local_size = params["local"] if stats.count >= params["many_rows"] else 1
    runtime.launch(device, _kernel(device, "row_normalize_backward", x.dtype), (stats.count,),
                   (local_size,), x.array.data, grad.array.data, buffer(dx, device),
                   mean.array.data, var.array.data, buffer(weight, device),
                   *i32(weight is not None), scalar(x.dtype, eps),
                   *i32(layout.batch_statistics, want_dx),
                   block_dy, device.placeholder if block_dy_xhat is None else block_dy_xhat,
                   *i32(want_params, stats.count, stats.row_stride, stats.segments,
                        stats.segment_stride, stats.segment_len, layout.param_div,
                        layout.param_mod))
    if not want_params:
        return dx, None, None
    columns = layout.param_mod
    dweight = empty((columns,), x.dtype, device) if want_weight else None
    dbias = empty((columns,), x.dtype, device) if want_bias else None
    lanes = device.profile.vector_lanes(x.dtype.itemsize)
    runtime.launch(device, _kernel(device, "column_sums", x.dtype), (-(-columns // lanes),),
                   (launch_sizes.items(device),), block_dy, block_dy_xhat, buffer(dbias, device),
                   buffer(dweight, device), *i32(want_bias, want_weight, blocks // columns, columns))
    return dx, dweight, dbias


def _record(op, x, y, mean, var, weight, bias, eps, layout: Layout) -> Tensor:
    """Record how gradients flow from y, x normalized with (mean, var), to x, weight and bias."""

    def backward(grad):
        wanted = (x.requires_grad, weight is not None and weight.requires_grad,
                  bias is not None and bias.requires_grad)
        dx, dw, db = dispatch.run("norm_backward", x.device,
                                  NormProblem(layout, np.dtype(x.dtype), x.size), x, grad, mean,
                                  var, weight, eps, wanted)
        if dw is not None:
            dw = dw.reshape(weight.shape)
        if db is not None:
            db = db.reshape(bias.shape)
        return dx, dw, db

    return autograd.record(op, y, (x, weight, bias), backward, saved=(x, mean, var, weight))


def _rows_backward(context: Context, problem: NormProblem, x, grad, mean, var, weight, eps,
                   wanted):
    want_x, want_w, want_b = wanted
    layout = problem.layout
    # Parameters owning a column each (layer norm): summing down the columns from x and dy
    # beats writing dy * xhat per element for column_sums.
    params_by_rows = not _params_are_columns(layout)
    dx = dw = db = None
    if want_x or params_by_rows and (want_w or want_b):
        dx, dw, db = _backward_by_rows(context.params, x, grad, mean, var, weight, eps, layout,
                                       want_x, params_by_rows and want_w,
                                       params_by_rows and want_b)
    if (want_w or want_b) and not params_by_rows:
        dw, db = _param_grads(x, grad, mean, var, eps, layout, want_w, want_b)
    return dx, dw, db


def _general_backward(context: Context, problem: NormProblem, x, grad, mean, var, weight, eps,
                      wanted):
    want_x, want_w, want_b = wanted
    layout = problem.layout
    dx = _input_grad(x, grad, mean, var, weight, eps, layout) if want_x else None
    dw = db = None
    if want_w or want_b:
        dw, db = _param_grads(x, grad, mean, var, eps, layout, want_w, want_b)
    return dx, dw, db


dispatch.register(Algorithm(
    "norm_backward", "rows", _rows_backward,
    applies=lambda c, p: (None if _blocks_fit_rows(p.layout)
                          else "a parameter's run of elements straddles statistics rows")
    or _rows_loop(c, p),
    about="row_normalize_backward (+ column_sums): one work-item per statistics row"))
dispatch.register(Algorithm(
    "norm_backward", "general", _general_backward,
    about="row_backward_sums, normalize_backward, param_backward_sums: work-group reductions "
    "per row and per parameter, dx per element"))


def _update_running(mean, var, running_mean, running_var, channels: int, instances: int,
                    momentum: float, count: int) -> None:
    """Blend the batch statistics (see _statistics) into the running ones, in place."""
    if running_mean is None and running_var is None:
        return
    running = running_mean if running_mean is not None else running_var
    device, dtype = running.device, running.dtype
    runtime.launch(device, _kernel(device, "update_running", dtype), (channels,),
            (launch_sizes.items(device),),
            _data(mean), _data(var), buffer(running_mean, device), buffer(running_var, device),
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


def _batch_norm_arguments(input, running_mean, running_var, weight=None, bias=None,
                          training=False, momentum=0.1, eps=1e-5):
    """batch_norm's checked arguments: (tensors, layout (None for an empty input), momentum,
    eps)."""
    op = "batch_norm"
    t = tensors(op, _OPTIONAL, input=input, running_mean=running_mean,
                running_var=running_var, weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got {x.shape}")
    n, c, spatial = x.shape[0], x.shape[1], prod(x.shape[2:])
    _check_channel_params(op, t, x, ("running_mean", "running_var", "weight", "bias"))
    momentum, eps = real(momentum, "momentum", op), real(eps, "eps", op)
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
        y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
        _update_running(mean, var, t["running_mean"], t["running_var"], x.shape[1], instances,
                        momentum, count)
        _write_back(host_running, t)
    else:
        mean, var = t["running_mean"], t["running_var"]
        y = _normalize(x, _data(mean), _data(var), t["weight"], t["bias"], eps, layout,
                       _chunked_params(x.device))
    return _record(op, x, y, mean, var, t["weight"], t["bias"], eps, layout)


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
    y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
    return _record("layer_norm", x, y, mean, var, t["weight"], t["bias"], eps, layout)


def _instance_norm_arguments(input, running_mean=None, running_var=None, weight=None, bias=None,
                             use_input_stats=True, momentum=0.1, eps=1e-5):
    op = "instance_norm"
    t = tensors(op, _OPTIONAL, input=input, running_mean=running_mean,
                running_var=running_var, weight=weight, bias=bias)
    x = t["input"]
    if x.ndim < 3:
        raise ValueError(f"{op}: expected input of shape (N, C, *spatial), got {x.shape}")
    n, c, spatial = x.shape[0], x.shape[1], prod(x.shape[2:])
    _check_channel_params(op, t, x, ("running_mean", "running_var", "weight", "bias"))
    momentum, eps = real(momentum, "momentum", op), real(eps, "eps", op)
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
    y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
    return _record("group_norm", x, y, mean, var, t["weight"], t["bias"], eps, layout)


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
