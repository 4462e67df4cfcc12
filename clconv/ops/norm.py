"""batch_norm, layer_norm, instance_norm and group_norm, forward and backward (`norm.cl`).

All four are one computation: statistics over "rows" (see norm.cl), then normalize with a
per-element affine. What differs is which elements form a row (`Rows`) and how the affine
parameters are indexed: parameter p = (flat index // param_div) % param_mod.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from .. import autograd, runtime
from ..tensors import Tensor, empty
from ._args import buffer, expect_shape, i32, ntuple, real, scalar, tensors
from .reduce import GROUP_SIZE, Rows

_LOCAL = 64
# The forward's two ways (see norm.cl). On a CPU, row_normalize: one work-item per row, where a
# row fits a core's L2 (_ROW_BYTES) and the input the L3 (_ROWS_BYTES); measured on PoCL it beat
# the chunked path there even for a single row (one launch instead of three), and lost to it on
# larger inputs, whose sequential normalize pass streams from memory better. Elsewhere (and on
# GPUs, which need far more work-items than rows) the chunked statistics and normalize_rows.
_ROW_BYTES = 1 << 20
_ROWS_BYTES = 8 << 20
_CHUNK = 4096        # most elements of a row that one chunk_stats work-item describes
_SPAN = 4096         # most elements that one normalize_rows work-item normalizes
_MIN_CHUNKS = 64     # work-items those two aim for at least (load balance over the cores)
_CHUNKS_LOCAL = 16   # work-group size of chunk_stats, normalize_rows and of row_normalize
                     # for many rows (a work-group per row below _MANY_ROWS)
_MANY_ROWS = 64
_OPTIONAL = ("running_mean", "running_var", "weight", "bias")


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


def _kernel(device: runtime.Device, name: str, dtype):
    # Every norm kernel is built with the same defines: one program serves the family.
    return runtime.get_kernel(device, "norm", name, GROUP_SIZE=GROUP_SIZE,
                              **runtime.dtype_defines(dtype))


def _chunk_len(rows: Rows) -> int:
    """Elements per chunk_stats work-item: at most _CHUNK (the second pass then reads from L1/L2),
    fewer where that leaves too few chunks to share among the cores; a multiple of 16."""
    wanted = -(-rows.count * rows.length // _MIN_CHUNKS)
    return max(16, min(_CHUNK, rows.length, runtime.round_up(wanted, 16)))


def _statistics(x: Tensor, count: int, keep: bool):
    """Where a forward writes each row's mean and variance: tensors where backward will read them
    (`keep`), else scratch buffers from the device's allocator (a tensor costs ~15 us of Python,
    as much as a small kernel)."""
    if keep:
        return empty((count,), x.dtype, x.device), empty((count,), x.dtype, x.device)
    nbytes = count * x.dtype.itemsize
    return x.device.allocator(nbytes), x.device.allocator(nbytes)


def _data(statistic):
    """The buffer of a statistics tensor or scratch buffer (see _statistics)."""
    return statistic.array.data if isinstance(statistic, Tensor) else statistic


def _row_stats(x: Tensor, rows: Rows, keep: bool):
    """Mean and biased variance of each row (see _statistics): per-chunk statistics, then merged
    per row."""
    device = x.device
    chunk_len = _chunk_len(rows)
    chunks_per_row = -(-rows.length // chunk_len)
    chunks = rows.count * chunks_per_row
    chunk_mean, chunk_m2 = (device.allocator(chunks * x.dtype.itemsize) for _ in range(2))
    runtime.launch(device, _kernel(device, "chunk_stats", x.dtype), (chunks,), (_CHUNKS_LOCAL,),
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
    rows, device = layout.stats, x.device
    keep = autograd.needs_grad(x, weight, bias)
    if device.is_gpu or rows.length * x.dtype.itemsize > _ROW_BYTES \
            or x.size * x.dtype.itemsize > _ROWS_BYTES:
        mean, var = _row_stats(x, rows, keep)
        return _normalize(x, _data(mean), _data(var), weight, bias, eps, layout), mean, var
    y = empty(x.shape, x.dtype, device)
    mean, var = _statistics(x, rows.count, keep)
    local_size = _CHUNKS_LOCAL if rows.count >= _MANY_ROWS else 1
    runtime.launch(device, _kernel(device, "row_normalize", x.dtype), (rows.count,), (local_size,),
            x.array.data, y.array.data, _data(mean), _data(var),
            buffer(weight, device), buffer(bias, device),
            *i32(weight is not None, bias is not None), scalar(x.dtype, eps),
            *i32(rows.count, rows.row_stride, rows.segments, rows.segment_stride,
                 rows.segment_len, layout.param_div, layout.param_mod))
    return y, mean, var


def _normalize(x: Tensor, mean, var, weight, bias, eps: float, layout: Layout) -> Tensor:
    """x normalized with the given statistics (buffers of a mean and a variance per row)."""
    device = x.device
    y = empty(x.shape, x.dtype, device)
    span = max(16, min(_SPAN, runtime.round_up(-(-x.size // _MIN_CHUNKS), 16)))
    runtime.launch(device, _kernel(device, "normalize_rows", x.dtype), (-(-x.size // span),),
            (_CHUNKS_LOCAL,), x.array.data, y.array.data, mean, var,
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
        runtime.launch(device, _kernel(device, "row_backward_sums", x.dtype),
                (stats.count * GROUP_SIZE,), (GROUP_SIZE,), x.array.data,
                grad.array.data, mean.array.data, var.array.data, buffer(weight, device),
                *i32(weight is not None), scalar(x.dtype, eps), sum_g.array.data,
                sum_g_xhat.array.data,
                *i32(stats.row_stride, stats.segments, stats.segment_stride,
                            stats.segment_len, layout.param_div, layout.param_mod))
    runtime.launch(device, _kernel(device, "normalize_backward", x.dtype), (x.size,), (_LOCAL,),
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
    dweight = empty((params.count,), x.dtype, device) if want_weight else None
    dbias = empty((params.count,), x.dtype, device) if want_bias else None
    if _params_are_columns(layout):
        runtime.launch(device, _kernel(device, "column_backward_sums", x.dtype),
                       (-(-params.count // 16),), (_LOCAL,), x.array.data, grad.array.data,
                       mean.array.data, var.array.data, scalar(x.dtype, eps),
                       buffer(dweight, device), buffer(dbias, device),
                       *i32(want_weight, want_bias, params.segments, params.count))
        return dweight, dbias
    runtime.launch(device, _kernel(device, "param_backward_sums", x.dtype),
            (params.count * GROUP_SIZE,), (GROUP_SIZE,), x.array.data, grad.array.data,
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


def _backward_by_rows(x, grad, mean, var, weight, eps, layout: Layout, want_dx: bool,
                      want_weight: bool, want_bias: bool):
    """(dx, dweight, dbias), each where wanted, by row_normalize_backward and column_sums (see
    norm.cl)."""
    device, stats = x.device, layout.stats
    dx = empty(x.shape, x.dtype, device) if want_dx else None
    want_params = want_weight or want_bias
    runs_of_one = layout.param_div > 1
    blocks = x.size // layout.param_div
    # Per-block sums of dy (dy itself where each element is a block) and of dy * xhat.
    block_dy = device.allocator(blocks * x.dtype.itemsize) if want_params and runs_of_one \
        else grad.array.data
    block_dy_xhat = device.allocator(blocks * x.dtype.itemsize) if want_params else None
    local_size = _CHUNKS_LOCAL if stats.count >= _MANY_ROWS else 1
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
    runtime.launch(device, _kernel(device, "column_sums", x.dtype), (-(-columns // 16),),
                   (_LOCAL,), block_dy, block_dy_xhat, buffer(dbias, device),
                   buffer(dweight, device), *i32(want_bias, want_weight, blocks // columns, columns))
    return dx, dweight, dbias


def _record(op, x, y, mean, var, weight, bias, eps, layout: Layout) -> Tensor:
    """Record how gradients flow from y, x normalized with (mean, var), to x, weight and bias."""

    def backward(grad):
        want_x = x.requires_grad
        want_w = weight is not None and weight.requires_grad
        want_b = bias is not None and bias.requires_grad
        by_rows = not x.device.is_gpu and _blocks_fit_rows(layout)
        # Parameters owning a column each (layer norm): summing down the columns from x and dy
        # beats writing dy * xhat per element for column_sums.
        params_by_rows = by_rows and not _params_are_columns(layout)
        dx = dw = db = None
        if by_rows and (want_x or params_by_rows and (want_w or want_b)):
            dx, dw, db = _backward_by_rows(x, grad, mean, var, weight, eps, layout, want_x,
                                           params_by_rows and want_w, params_by_rows and want_b)
        elif want_x:
            dx = _input_grad(x, grad, mean, var, weight, eps, layout)
        if (want_w or want_b) and not params_by_rows:
            dw, db = _param_grads(x, grad, mean, var, eps, layout, want_w, want_b)
        if dw is not None:
            dw = dw.reshape(weight.shape)
        if db is not None:
            db = db.reshape(bias.shape)
        return dx, dw, db

    return autograd.record(op, y, (x, weight, bias), backward, saved=(x, mean, var, weight))


def _update_running(mean, var, running_mean, running_var, channels: int, instances: int,
                    momentum: float, count: int) -> None:
    """Blend the batch statistics (see _statistics) into the running ones, in place."""
    if running_mean is None and running_var is None:
        return
    running = running_mean if running_mean is not None else running_var
    device, dtype = running.device, running.dtype
    runtime.launch(device, _kernel(device, "update_running", dtype), (channels,), (_LOCAL,),
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


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5) -> Tensor:
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
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    channels = Rows.channels(n, c, spatial)
    layout = Layout(stats=channels, params=channels, batch_statistics=training)
    if training:
        y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
        _update_running(mean, var, t["running_mean"], t["running_var"], c, 1, momentum,
                        n * spatial)
        _write_back({"running_mean": running_mean, "running_var": running_var}, t)
    else:
        mean, var = t["running_mean"], t["running_var"]
        y = _normalize(x, _data(mean), _data(var), t["weight"], t["bias"], eps, layout)
    return _record(op, x, y, mean, var, t["weight"], t["bias"], eps, layout)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
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
        return empty(x.shape, x.dtype, x.device)
    rows = x.size // row_len
    # Parameter p multiplies element p of every row: p's elements are `rows` runs of one.
    params = Rows(count=row_len, row_stride=1, segments=rows, segment_stride=row_len,
                  segment_len=1, row_div=1, row_mod=row_len)
    layout = Layout(stats=Rows.contiguous(rows, row_len), params=params, batch_statistics=True)
    y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
    return _record(op, x, y, mean, var, t["weight"], t["bias"], eps, layout)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5) -> Tensor:
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
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    channels = Rows.channels(n, c, spatial)
    if use_input_stats:
        layout = Layout(stats=Rows.contiguous(n * c, spatial), params=channels,
                        batch_statistics=True)
        y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
        _update_running(mean, var, t["running_mean"], t["running_var"], c, n, momentum, spatial)
        _write_back({"running_mean": running_mean, "running_var": running_var}, t)
    else:  # the running statistics, per channel, as in batch_norm's evaluation mode
        layout = Layout(stats=channels, params=channels, batch_statistics=False)
        mean, var = t["running_mean"], t["running_var"]
        y = _normalize(x, _data(mean), _data(var), t["weight"], t["bias"], eps, layout)
    return _record(op, x, y, mean, var, t["weight"], t["bias"], eps, layout)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
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
    if x.size == 0:
        return empty(x.shape, x.dtype, x.device)
    layout = Layout(stats=Rows.contiguous(n * num_groups, c // num_groups * spatial),
                    params=Rows.channels(n, c, spatial), batch_statistics=True)
    y, mean, var = _batch_normalize(x, t["weight"], t["bias"], eps, layout)
    return _record(op, x, y, mean, var, t["weight"], t["bias"], eps, layout)
