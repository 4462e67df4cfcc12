"""The normalizations' forward algorithms (family "norm_forward"): rows (one work-item per
statistics row) and chunked (statistics per chunk of a row, merged). See norm.py."""
from __future__ import annotations


import numpy as np

from .. import autograd, dispatch, runtime, tuning
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import buffer, i32, scalar
from .reduce import Rows
from .norm_layout import Layout, NormProblem, chunk_length, norm_kernel


def statistics(x: Tensor, count: int, keep: bool):
    """Where a forward writes each row's mean and variance: tensors where backward will read them
    (`keep`), else scratch buffers from the device's allocator (a tensor costs ~15 us of Python,
    as much as a small kernel)."""
    if keep:
        return empty((count,), x.dtype, x.device), empty((count,), x.dtype, x.device)
    nbytes = count * x.dtype.itemsize
    return runtime.scratch(x.device, nbytes), runtime.scratch(x.device, nbytes)


def data(statistic):
    """The buffer of a statistics tensor or scratch buffer (see statistics)."""
    return statistic.array.data if isinstance(statistic, Tensor) else statistic


def row_stats(params: dict, x: Tensor, rows: Rows, keep: bool):
    """Mean and biased variance of each row (see statistics): per-chunk statistics, then merged
    per row."""
    device = x.device
    chunk_len = chunk_length(params, rows)
    chunks_per_row = -(-rows.length // chunk_len)
    chunks = rows.count * chunks_per_row
    chunk_mean, chunk_m2 = (runtime.scratch(device, chunks * x.dtype.itemsize) for _ in range(2))
    runtime.launch(device, norm_kernel(device, "chunk_stats", x.dtype), (chunks,), (params["local"],),
            x.array.data, chunk_mean, chunk_m2,
            *i32(rows.count, chunks_per_row, chunk_len, rows.row_stride, rows.segments,
                 rows.segment_stride, rows.segment_len))
    mean, var = statistics(x, rows.count, keep)
    runtime.launch(device, norm_kernel(device, "combine_stats", x.dtype), (rows.count,),
                   (launch_sizes.items(device),),
            chunk_mean, chunk_m2, data(mean), data(var),
            *i32(rows.count, chunks_per_row, chunk_len, rows.length))
    return mean, var


def batch_normalize(x: Tensor, weight, bias, eps: float, layout: Layout):
    """x normalized with the statistics of its own rows; returns (y, mean, biased variance), the
    statistics as tensors where backward will need them (see statistics)."""
    keep = autograd.needs_grad(x, weight, bias)
    return dispatch.run("norm_forward", x.device, NormProblem(layout, np.dtype(x.dtype), x.size),
                        x, weight, bias, eps, keep)


def rows_loop(context: Context, problem: NormProblem) -> str | None:
    """One work-item walks a whole statistics row (in vectors)."""
    lanes = context.profile.vector_lanes(problem.dtype.itemsize)
    return loop_reason(context, problem.layout.stats.length // lanes, "a work-item per row")


def rows_fit(context: Context, problem: NormProblem) -> str | None:
    """A statistics row within `row_bytes` and the input within `input_bytes` (caches)."""
    row = problem.layout.stats.length * problem.dtype.itemsize
    total = problem.size * problem.dtype.itemsize
    return first_reason(
        (row <= context.params["row_bytes"], f"rows of {row:,} bytes pass {context.params['row_bytes']:,}"),
        (total <= context.params["input_bytes"],
         f"the input's {total:,} bytes pass {context.params['input_bytes']:,}"))


def _chunked_forward(context: Context, problem: NormProblem, x, weight, bias, eps, keep):
    layout = problem.layout
    mean, var = row_stats(context.params, x, layout.stats, keep)
    return (normalize(x, data(mean), data(var), weight, bias, eps, layout, context.params),
            mean, var)


def _rows_forward(context: Context, problem: NormProblem, x, weight, bias, eps, keep):
    rows, device, layout = problem.layout.stats, x.device, problem.layout
    y = empty(x.shape, x.dtype, device)
    mean, var = statistics(x, rows.count, keep)
    params = context.params
    local_size = params["local"] if rows.count >= params["many_rows"] else 1
    runtime.launch(device, norm_kernel(device, "row_normalize", x.dtype), (rows.count,), (local_size,),
            x.array.data, y.array.data, data(mean), data(var),
            buffer(weight, device), buffer(bias, device),
            *i32(weight is not None, bias is not None), scalar(x.dtype, eps),
            *i32(rows.count, rows.row_stride, rows.segments, rows.segment_stride,
                 rows.segment_len, layout.param_div, layout.param_mod))
    return y, mean, var


dispatch.register(Algorithm(
    "norm_forward", "rows", _rows_forward, applies=rows_loop, prefers=rows_fit,
    params=lambda c, p: {k: c.params[k] for k in ("row_bytes", "input_bytes")},
    about="row_normalize: one work-item per statistics row, its second pass from cache"))
dispatch.register(Algorithm(
    "norm_forward", "chunked", _chunked_forward,
    params=lambda c, p: {"chunk": chunk_length(c.params, p.layout.stats)},
    about="chunk_stats + combine_stats + normalize_rows: rows described in chunks"))


def chunked_params(device) -> dict:
    """The chunked algorithm's parameters (normalize_rows' too, with fixed statistics)."""
    return tuning.entry(device.profile)["norm_forward"]["chunked"]


def normalize(x: Tensor, mean, var, weight, bias, eps: float, layout: Layout,
               params: dict) -> Tensor:
    """x normalized with the given statistics (buffers of a mean and a variance per row), by
    normalize_rows with the chunked algorithm's `params`."""
    device = x.device
    y = empty(x.shape, x.dtype, device)
    span = max(16, min(int(params["span"]),
                       runtime.round_up(-(-x.size // int(params["min_items"])), 16)))
    runtime.launch(device, norm_kernel(device, "normalize_rows", x.dtype), (-(-x.size // span),),
            (params["local"],), x.array.data, y.array.data, mean, var,
            buffer(weight, device), buffer(bias, device),
            *i32(weight is not None, bias is not None), scalar(x.dtype, eps),
            *i32(x.size, layout.stats.row_div, layout.stats.row_mod, layout.param_div,
                 layout.param_mod, span))
    return y
