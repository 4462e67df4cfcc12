"""The normalizations' backward algorithms (family "norm_backward"): rows and general, the
input gradient and the parameter gradients, and the autograd record. See norm.py."""
from __future__ import annotations


import numpy as np

from .. import autograd, dispatch, runtime
from ..dispatch import Algorithm, Context
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import buffer, i32, scalar
from .norm_layout import Layout, NormProblem, norm_group_kernel, norm_kernel
from .norm_forward import rows_loop
from .reduce import sum_slices


def split_rows(params: dict, profile, rows, group: int) -> int:
    """Work-groups per row of a work-group reduction: enough for `groups_per_unit` per compute
    unit in all, each share at least `min_share` elements (and a group's worth)."""
    wanted = -(-int(params["groups_per_unit"]) * profile.compute_units // max(rows.count, 1))
    most = rows.length // max(int(params["min_share"]), group)
    return max(1, min(wanted, most))


def _partial(count: int, parts: int, dtype, device) -> Tensor:
    return empty((parts * count,), dtype, device)


def _summed(partial: Tensor | None, count: int, parts: int) -> Tensor | None:
    """The parts' slices of `partial` added in order (partial itself for one part)."""
    if partial is None or parts == 1:
        return partial
    out = empty((count,), partial.dtype, partial.device)
    sum_slices(partial, out, parts)
    return out


def _input_grad(params: dict, x, grad, mean, var, weight, eps, layout: Layout) -> Tensor:
    device, stats = x.device, layout.stats
    dx = empty(x.shape, x.dtype, device)
    sum_g = sum_g_xhat = None
    if layout.batch_statistics:  # the statistics depend on x too
        kernel, group = norm_group_kernel(device, "row_backward_sums", x.dtype)
        parts = split_rows(params, device.profile, stats, group)
        sum_g = _partial(stats.count, parts, x.dtype, device)
        sum_g_xhat = _partial(stats.count, parts, x.dtype, device)
        runtime.launch(device, kernel, (stats.count * parts * group,), (group,), x.array.data,
                grad.array.data, mean.array.data, var.array.data, buffer(weight, device),
                *i32(weight is not None), scalar(x.dtype, eps), sum_g.array.data,
                sum_g_xhat.array.data,
                *i32(stats.row_stride, stats.segments, stats.segment_stride,
                     stats.segment_len, layout.param_div, layout.param_mod, stats.count, parts))
        sum_g = _summed(sum_g, stats.count, parts)
        sum_g_xhat = _summed(sum_g_xhat, stats.count, parts)
    runtime.launch(device, norm_kernel(device, "normalize_backward", x.dtype), (x.size,),
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


def _param_grads(params_entry: dict | None, x, grad, mean, var, eps, layout: Layout,
                 want_weight: bool, want_bias: bool):
    device, params = x.device, layout.params
    lanes = device.profile.vector_lanes(x.dtype.itemsize)
    dweight = empty((params.count,), x.dtype, device) if want_weight else None
    dbias = empty((params.count,), x.dtype, device) if want_bias else None
    if _params_are_columns(layout):
        runtime.launch(device, norm_kernel(device, "column_backward_sums", x.dtype),
                       (-(-params.count // lanes),), (launch_sizes.items(device),), x.array.data,
                       grad.array.data,
                       mean.array.data, var.array.data, scalar(x.dtype, eps),
                       buffer(dweight, device), buffer(dbias, device),
                       *i32(want_weight, want_bias, params.segments, params.count))
        return dweight, dbias
    kernel, group = norm_group_kernel(device, "param_backward_sums", x.dtype)
    parts = split_rows(params_entry, device.profile, params, group) if params_entry else 1
    if parts > 1:
        dweight = _partial(params.count, parts, x.dtype, device) if want_weight else None
        dbias = _partial(params.count, parts, x.dtype, device) if want_bias else None
    runtime.launch(device, kernel, (params.count * parts * group,), (group,), x.array.data,
            grad.array.data, mean.array.data, var.array.data, scalar(x.dtype, eps),
            buffer(dweight, device), buffer(dbias, device), *i32(want_weight, want_bias),
            *i32(params.row_stride, params.segments, params.segment_stride,
                 params.segment_len, layout.stats.row_div, layout.stats.row_mod, params.count,
                 parts))
    return _summed(dweight, params.count, parts), _summed(dbias, params.count, parts)


def _blocks_fit_rows(layout: Layout) -> bool:
    """Whether every block of param_div elements (one parameter's run) lies inside one
    statistics row, as row_normalize_backward's per-block sums require."""
    stats, div = layout.stats, layout.param_div
    return div == 1 or (stats.segment_len % div == 0 and stats.row_stride % div == 0
                        and stats.segment_stride % div == 0)


def _backward_by_rows(params: dict, x, grad, mean, var, weight, eps, layout: Layout,
                      want_dx: bool, want_weight: bool, want_bias: bool):
    """(dx, dweight, dbias), each where wanted, by row_normalize_backward and column_sums (see
    norm_backward_rows.cl)."""
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
    runtime.launch(device, norm_kernel(device, "row_normalize_backward", x.dtype), (stats.count,),
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
    runtime.launch(device, norm_kernel(device, "column_sums", x.dtype), (-(-columns // lanes),),
                   (launch_sizes.items(device),), block_dy, block_dy_xhat, buffer(dbias, device),
                   buffer(dweight, device), *i32(want_bias, want_weight, blocks // columns, columns))
    return dx, dweight, dbias


def record(op, x, y, mean, var, weight, bias, eps, layout: Layout) -> Tensor:
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
        dw, db = _param_grads(None, x, grad, mean, var, eps, layout, want_w, want_b)
    return dx, dw, db


def _general_backward(context: Context, problem: NormProblem, x, grad, mean, var, weight, eps,
                      wanted):
    want_x, want_w, want_b = wanted
    layout = problem.layout
    dx = _input_grad(context.params, x, grad, mean, var, weight, eps, layout) if want_x else None
    dw = db = None
    if want_w or want_b:
        dw, db = _param_grads(context.params, x, grad, mean, var, eps, layout, want_w, want_b)
    return dx, dw, db


dispatch.register(Algorithm(
    "norm_backward", "rows", _rows_backward,
    applies=lambda c, p: (None if _blocks_fit_rows(p.layout)
                          else "a parameter's run of elements straddles statistics rows")
    or rows_loop(c, p),
    about="row_normalize_backward (+ column_sums): one work-item per statistics row"))
dispatch.register(Algorithm(
    "norm_backward", "general", _general_backward,
    params=lambda c, p: dict(c.params),
    about="row_backward_sums, normalize_backward, param_backward_sums: work-group reductions "
    "per share of a row and per parameter (shares summed in order), dx per element"))
