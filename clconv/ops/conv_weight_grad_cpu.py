"""The weight gradient's CPU algorithms (family "conv_weight_grad"; kernels/
conv_weight_grad_cpu.cl and conv_weight_grad_depthwise.cl): depthwise, pointwise, rows and flat,
wide-vector products over padded (phase-split) planes (kernels/conv_pad.h). See conv_grad.py."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor, empty
from .arguments import i32
from .conv_geometry import (ConvProblem)
from .elementwise import add
from .reduce import sample_rows, sum_slices


def _kernel(device, family, name, dtype, **defines):
    return runtime.get_kernel(device, family, name, **defines, **runtime.dtype_defines(dtype))


# --- weight gradients with wide vectors (CPUs) -----------------------------------------------

@dataclass(frozen=True)
class _FlatLayout:
    """The padded copies of conv_weight_grad_cpu.cl's flat weight gradients, in elements. x: `phases`
    phases of `x_slices` slices of `x_rows` rows of `row`, then zeros up to `x_phase`; dy:
    slices of `dy_rows` rows of `row` (x's slice pitch where there are several), then zeros up
    to `dy_plane`, a whole number of vectors."""
    row: int
    x_rows: int
    x_slices: int
    x_phase: int
    phases: int
    dy_rows: int
    dy_plane: int

    @property
    def x_plane(self) -> int:
        return self.phases * self.x_phase


def _flat_layout(geo, lanes: int) -> _FlatLayout:
    # In a phase of x (every stride-th slice, row and column of the padded input), tap
    # (kd, kh, kw) of output (od, oh, ow) is at (od + kd DD // SD, oh + kh DH // SH,
    # ow + kw DW // SW): rows as wide as the output plus the kernel's reach keep every tap of
    # every output column in the same row, and slices as tall as the output plus the reach
    # keep every tap's row in the same slice. (At stride 1 that is the padded input's size.)
    reach = [d * (k - 1) // s for d, k, s in zip(geo.dilation, geo.kernel, geo.stride)]
    out_depth, out_height, out_width = geo.out_size
    row = out_width + reach[2]
    x_rows = out_height + reach[1]
    dy_rows = out_height if out_depth == 1 else x_rows
    dy_plane = -(-out_depth * dy_rows * row // lanes) * lanes
    # Whole vectors of dy_plane positions from the farthest tap stay inside its phase.
    farthest = reach[0] * x_rows * row + reach[1] * row + reach[2]
    x_phase = max((out_depth + reach[0]) * x_rows * row, dy_plane + farthest)
    return _FlatLayout(row, x_rows, out_depth + reach[0], x_phase,
                       geo.stride[0] * geo.stride[1] * geo.stride[2], dy_rows, dy_plane)


def _pad_planes(t: Tensor, planes: int, size_in: tuple, size_out: tuple, shift: tuple,
                steps: tuple, phase_out: int, tail: int, lanes: int) -> Tensor:
    """Each (depth, rows, cols) volume of t zero-padded, shifted by `shift`, split into
    steps[0] x steps[1] x steps[2] phases of `size_out` grids, each followed by zeros up to
    phase_out elements (kernels/conv_weight_grad_cpu.cl: pad_volumes)."""
    phases = steps[0] * steps[1] * steps[2]
    out = empty((planes * phases * phase_out + tail,), t.dtype, t.device)
    kernel = runtime.get_kernel(t.device, "conv_weight_grad_cpu", "pad_volumes", PAD_COL_STEP=steps[2],
                                **runtime.vector_defines(t.device, t.dtype, lanes))
    runtime.launch(t.device, kernel, (planes * phases,), (1,),
                   t.array.data, out.array.data,
                   *i32(planes, *size_in, *size_out, *shift, steps[0], steps[1], phase_out, tail))
    return out


def _flat_tile(preferred: int, channels: int) -> int:
    """Channels per work-item: no more than a group has (tiles are build options: at most 16),
    and one fewer than preferred where that wastes less and the preferred size would spend over
    a tenth of the multiply-adds on repeated channels (16 channels: 4 tiles of 4, not 4 of 5
    with 4 of the 20 wasted)."""
    tile = max(1, min(preferred, channels, 16))
    smaller = tile - 1
    if smaller > 1 and -(-channels // smaller) * smaller < -(-channels // tile) * tile \
            and -(-channels // tile) * tile > 1.1 * channels:
        return smaller
    return tile


def _channel_tiles(tile, in_per_group: int, out_per_group: int) -> tuple[int, int]:
    return _flat_tile(int(tile[0]), in_per_group), _flat_tile(int(tile[1]), out_per_group)


def _row_taps(params: dict, geo) -> int:
    """Taps per work-item of conv_backward_weight_rows: even blocks of a kernel row, at most
    the table's `taps`."""
    most = max(1, int(params["taps"]))
    blocks = -(-geo.kernel[2] // most)
    return -(-geo.kernel[2] // blocks)


def _row_tiles(params: dict, row_taps: int, in_per_group: int, out_per_group: int):
    """Input x output channels per work-item of conv_backward_weight_rows, within the table's
    `accumulators`: one input channel for long rows, two for short ones."""
    tile_c = _flat_tile(1 if row_taps >= 4 else 2, in_per_group)
    pairs = max(1, int(params["accumulators"]) // row_taps)
    return tile_c, _flat_tile(max(1, pairs // tile_c), out_per_group)


def _flat_workspace(context: Context, problem: ConvProblem) -> int:
    """The padded copies (and the runs' partial sums)."""
    geo, lanes = problem.geo, context.lanes(problem.dtype)
    layout = _flat_layout(geo, lanes)
    copies = (geo.in_channels * layout.x_plane + geo.out_channels * layout.dy_plane) * geo.batch
    if context.algorithm == "pointwise":
        return 0
    runs = _runs(context.params, geo, layout, lanes, problem.dtype.itemsize)
    weights = geo.out_channels * (geo.in_channels // geo.groups) * int(np.prod(geo.kernel))
    return (copies + (weights * runs.splits if runs.splits > 1 else 0)) * problem.dtype.itemsize


def _flat_run(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    """The padded copies of x and dy (_FlatLayout) take a little more than x + dy; past
    runtime.workspace_limit, runs of samples are summed (the copies of each run stay under it)."""
    geo = problem.geo
    workspace = _flat_workspace(context, problem)
    limit = runtime.workspace_limit(x.device)
    if workspace <= limit or geo.batch == 1:
        return _flat_pass(context, problem, x, grad, dw)
    per_run = max(1, geo.batch * limit // workspace)
    total = None
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        part = _flat_pass(context, replace(problem, geo=replace(geo, batch=count)),
                          sample_rows(x, first, count), sample_rows(grad, first, count),
                          empty(dw.shape, dw.dtype, dw.device))
        total = part if total is None else add(total, part)
    return total


def _flat_kernel(context: Context, problem: ConvProblem) -> tuple:
    """The kernel over padded copies and its global size: rows of taps per work-item
    (conv_backward_weight_rows) or one tap each (..._flat)."""
    geo, device, dtype = problem.geo, context.device, problem.dtype
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    defines = runtime.vector_defines(device, dtype, context.lanes(dtype))
    if context.algorithm == "rows":  # conv_backward_weight_rows
        row_taps = _row_taps(context.params, geo)
        tile_c, tile_k = _row_tiles(context.params, row_taps, in_per_group, out_per_group)
        kernel = runtime.get_kernel(device, "conv_weight_grad_cpu", "conv_backward_weight_rows",
                                    WGRAD_T=row_taps, WGRAD_C=tile_c, WGRAD_K=tile_k, **defines)
        tap_items = geo.kernel[0] * geo.kernel[1] * -(-geo.kernel[2] // row_taps)
    else:
        tile_c, tile_k = _channel_tiles(context.params["tile"], in_per_group, out_per_group)
        kernel = runtime.get_kernel(device, "conv_weight_grad_cpu", "conv_backward_weight_flat",
                                    WGRAD_C=tile_c, WGRAD_K=tile_k, **defines)
        tap_items = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    return kernel, (tap_items, -(-in_per_group // tile_c),
                    geo.groups * -(-out_per_group // tile_k))


@dataclass(frozen=True)
class _Runs:
    """The flat kernels' reduction in runs the cache holds: `samples` samples and `chunk`
    positions of each per run, `q_chunks` runs per sample, `splits` runs in all."""
    samples: int
    chunk: int
    q_chunks: int
    splits: int


def _runs(params: dict, geo, layout: _FlatLayout, lanes: int, itemsize: int) -> _Runs:
    """Runs whose x and dy planes (every channel's: each tile's work-items for a run come one
    after another) fit the table's `run_bytes`, of at least `min_run` positions (a work-item's
    sums cost as much as a few vectors of multiply-adds); one run where `run_bytes` is 0."""
    budget, least = int(params.get("run_bytes", 0)), int(params.get("min_run", 1024))
    plane = layout.dy_plane
    if budget <= 0:
        return _Runs(geo.batch, plane, 1, 1)
    per_position = (geo.in_channels * layout.x_plane / plane + geo.out_channels) * itemsize
    positions = max(least, int(budget // per_position))
    if positions >= plane:
        samples = min(geo.batch, positions // plane)
        return _Runs(samples, plane, 1, -(-geo.batch // samples))
    chunk = max(lanes, positions // lanes * lanes)
    q_chunks = -(-plane // chunk)
    return _Runs(1, chunk, q_chunks, geo.batch * q_chunks)


def _flat_pass(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    geo, lanes = problem.geo, context.lanes(problem.dtype)
    layout = _flat_layout(geo, lanes)
    batch, c, k = geo.batch, geo.in_channels, geo.out_channels
    xp = _pad_planes(x, batch * c, geo.in_size, (layout.x_slices, layout.x_rows, layout.row),
                     geo.padding, geo.stride, layout.x_phase, lanes, lanes)
    dyp = _pad_planes(grad, batch * k, geo.out_size,
                      (geo.out_size[0], layout.dy_rows, layout.row), (0, 0, 0), (1, 1, 1),
                      layout.dy_plane, 0, lanes)
    kernel, (taps, c_tiles, k_tiles) = _flat_kernel(context, problem)
    runs = _runs(context.params, geo, layout, lanes, problem.dtype.itemsize)
    partial = dw if runs.splits == 1 else empty((runs.splits * dw.size,), dw.dtype, dw.device)
    runtime.launch(x.device, kernel, (taps, c_tiles, k_tiles * runs.splits), (1, 1, 1),
                   xp.array.data, dyp.array.data, partial.array.data,
                   *i32(batch, c, k, geo.groups, *geo.kernel, *geo.dilation, *geo.stride,
                        layout.row, layout.x_rows * layout.row, layout.x_phase, layout.x_plane,
                        layout.dy_plane, runs.samples, runs.chunk, runs.q_chunks, runs.splits))
    if runs.splits > 1:
        sum_slices(partial, dw, runs.splits)
    return dw


def _flat_params(context: Context, problem: ConvProblem) -> dict:
    geo = problem.geo
    if context.algorithm in ("rows", "flat"):
        lanes = context.lanes(problem.dtype)
        runs = _runs(context.params, geo, _flat_layout(geo, lanes), lanes, problem.dtype.itemsize)
        return {**_tile_params(context, problem), "runs": runs.splits}
    return _tile_params(context, problem)


def _tile_params(context: Context, problem: ConvProblem) -> dict:
    geo = problem.geo
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    if context.algorithm == "rows":
        taps = _row_taps(context.params, geo)
        tile_c, tile_k = _row_tiles(context.params, taps, in_per_group, out_per_group)
        return {"VW": context.lanes(problem.dtype), "taps": taps, "tile": (tile_c, tile_k)}
    return {"VW": context.lanes(problem.dtype),
            "tile": _channel_tiles(context.params["tile"], in_per_group, out_per_group)}


def _tile_body(context: Context, problem: ConvProblem) -> int:
    """Inner loop iterations per vector of positions: a tile's loads and multiply-adds (for
    every tap of a row; a depthwise work-item's taps) - loop_reason's `body`, as if none of
    these loops were unrolled."""
    if context.algorithm == "depthwise":
        return 2 * _depthwise_taps(context, problem.geo)[1] + 2
    tile = _tile_params(context, problem)
    (tile_c, tile_k), taps = tile["tile"], tile.get("taps", 1)
    return taps * (tile_c + 1) * (tile_k + 1) + taps + 1


def _flat_loop(context: Context, problem: ConvProblem) -> str | None:
    """A work-item walks its run's samples and positions."""
    lanes = context.lanes(problem.dtype)
    runs = _runs(context.params, problem.geo, _flat_layout(problem.geo, lanes), lanes,
                 problem.dtype.itemsize)
    return loop_reason(context, runs.samples * runs.chunk // lanes,
                       "a work-item over its run of the batch's planes",
                       body=_tile_body(context, problem))


def _rows_applies(context: Context, problem: ConvProblem) -> str | None:
    return ("1-wide kernel rows" if problem.geo.kernel[2] < 2 else None) or \
        _flat_loop(context, problem)


def _pointwise_applies(context: Context, problem: ConvProblem) -> str | None:
    """1x1 kernels at stride 1 without padding, planes of at least a vector: dw is a matrix
    product of dy and x as they lie (conv_backward_weight_pointwise), no padded copies."""
    geo, lanes = problem.geo, context.lanes(problem.dtype)
    plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    return first_reason((geo.kernel == (1, 1, 1), f"kernel {geo.kernel} is not 1x1"),
                        (geo.stride == (1, 1, 1), f"stride {geo.stride}"),
                        (geo.padding == (0, 0, 0), f"padding {geo.padding}"),
                        (plane >= lanes, f"planes of {plane} are shorter than a vector ({lanes})")) \
        or loop_reason(context, geo.batch * plane // lanes, "a work-item over the batch's planes",
                       body=_tile_body(context, problem))


def _pointwise_run(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    """conv_backward_weight_pointwise: the flat kernel's channel tiles, one work-item each, in
    bands of `band` output tiles (a band's dy stays in cache while each x tile passes once)."""
    geo, device = problem.geo, context.device
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    tile_c, tile_k = _channel_tiles(context.params["tile"], in_per_group, out_per_group)
    kernel = runtime.get_kernel(device, "conv_weight_grad_cpu", "conv_backward_weight_pointwise",
                                WGRAD_C=tile_c, WGRAD_K=tile_k, K_BAND=int(context.params["band"]),
                                **runtime.vector_defines(device, problem.dtype,
                                                         context.lanes(problem.dtype)))
    plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    items = geo.groups * -(-in_per_group // tile_c) * -(-out_per_group // tile_k)
    runtime.launch(device, kernel, (items,), (1,), x.array.data, grad.array.data,
                   dw.array.data, *i32(geo.batch, geo.in_channels, geo.out_channels,
                                       geo.groups, plane))
    return dw


def _depthwise_taps(context: Context, geo) -> tuple[int, int]:
    """(tap blocks, taps per work-item): all of a small kernel in one work-item, larger
    kernels in even blocks of at most the table's `taps`."""
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    blocks = -(-taps // max(1, int(context.params["taps"])))
    return blocks, -(-taps // blocks)


def _depthwise_grad_run(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    """One input channel per group (conv_backward_weight_depthwise): each work-item pads its
    own planes into a scratch slot. Past runtime.workspace_limit, runs of output channels go
    one after another (each run's slots under it)."""
    geo, device, lanes = problem.geo, context.device, context.lanes(problem.dtype)
    layout = _flat_layout(geo, lanes)
    tap_blocks, taps_per_item = _depthwise_taps(context, geo)
    item_scratch = layout.x_plane + layout.dy_plane
    slot_bytes = tap_blocks * item_scratch * x.dtype.itemsize
    channels = geo.out_channels
    per_run = max(1, min(channels, runtime.workspace_limit(device) // slot_bytes))
    scratch = empty((per_run * tap_blocks * item_scratch,), x.dtype, device)
    kernel = runtime.get_kernel(device, "conv_weight_grad_depthwise", "conv_backward_weight_depthwise",
                                WGRAD_TAPS=taps_per_item, PAD_COL_STEP=geo.stride[2],
                                **runtime.vector_defines(device, problem.dtype, lanes))
    for first in range(0, channels, per_run):
        count = min(per_run, channels - first)
        runtime.launch(device, kernel, (tap_blocks, count), (1, 1), x.array.data,
                       grad.array.data, dw.array.data, scratch.array.data,
                       *i32(geo.batch, geo.in_channels, channels, first, count, *geo.in_size,
                            *geo.out_size, *geo.kernel, *geo.dilation, *geo.stride,
                            *geo.padding, layout.x_slices, layout.x_rows, layout.row,
                            layout.dy_rows, layout.x_phase, layout.dy_plane, item_scratch))
    return dw


def _depthwise_grad_workspace(context: Context, problem: ConvProblem) -> int:
    geo = problem.geo
    layout = _flat_layout(geo, context.lanes(problem.dtype))
    tap_blocks, _ = _depthwise_taps(context, geo)
    slot = tap_blocks * (layout.x_plane + layout.dy_plane) * problem.dtype.itemsize
    limit = runtime.workspace_limit(context.device)
    return min(geo.out_channels, max(1, limit // slot)) * slot




for _algorithm in (
        Algorithm("conv_weight_grad", "depthwise", _depthwise_grad_run,
                  applies=lambda c, p: ("not one input channel per group"
                                        if p.geo.in_channels != p.geo.groups else None)
                  or _flat_loop(c, p),
                  params=lambda c, p: {"VW": c.lanes(p.dtype), "taps": _depthwise_taps(c, p.geo)[1]},
                  workspace=_depthwise_grad_workspace,
                  about="conv_backward_weight_depthwise: all taps of a channel per work-item"),
        Algorithm("conv_weight_grad", "pointwise", _pointwise_run, applies=_pointwise_applies,
                  params=_flat_params, about="conv_backward_weight_pointwise: dy x^T as they lie"),
        Algorithm("conv_weight_grad", "rows", _flat_run, applies=_rows_applies,
                  params=_flat_params, workspace=_flat_workspace,
                  about="conv_backward_weight_rows: a kernel row of taps per work-item over "
                  "padded planes"),
        Algorithm("conv_weight_grad", "flat", _flat_run, params=_flat_params,
                  applies=_flat_loop, workspace=_flat_workspace,
                  about="conv_backward_weight_flat: one tap per work-item over padded planes")):
    dispatch.register(_algorithm)
