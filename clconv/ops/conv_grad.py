"""Gradients of convolution: the input gradient (family "conv_input_grad") and the weight
gradient ("conv_weight_grad"), each by the algorithm the dispatcher chooses, and the bias
gradient (a per-channel row sum). Deterministic: no atomics, each result written by one
work-item, partial sums added in a fixed order.

Input gradient:
- phases: strided 1D/2D convolutions, each phase of dx a stride-1 convolution of dy with that
  phase's taps (no multiply-add meets the zeros a spread-out dy would have).
- transposed: the stride-1 convolution of dy (spread out by the stride) with the flipped,
  transposed weights, through the forward's fastest path.
- general: conv_backward_input, a gather kernel for any option (no workspace).
Weight gradient:
- depthwise, pointwise, rows, flat (CPUs): wide-vector products over padded (phase-split) planes.
- general (GPUs): conv_backward_weight, the reduction over batch x positions split across
  work-items into a workspace (split-K), then summed in order by sum_slices.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import gcd

import numpy as np

from .. import dispatch, runtime, tuning
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32
from .conv_geometry import NO_EPILOGUE, ConvGeometry, ConvProblem, double_halved, is_2d
from .elementwise import add
from .reduce import Rows, row_sum


def _geometry_args(geo) -> list:
    return i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
               *geo.stride, *geo.padding, *geo.dilation, geo.groups)


def _kernel(device, name, dtype, **defines):
    return runtime.get_kernel(device, "conv_backward", name, **defines,
                              **runtime.dtype_defines(dtype))


def explain(device, geo: ConvGeometry, dtype) -> list:
    """The choices of both gradients of a convolution of `geo` (clconv.explain)."""
    problem = ConvProblem(geo, np.dtype(dtype))
    return [dispatch.choose("conv_input_grad", device, problem),
            dispatch.choose("conv_weight_grad", device, problem)]


def _defaults(profile) -> dict:
    """The gradients' parameters for a device the table has no entry for (see conv.py's)."""
    registers = profile.vector_registers
    # c x k accumulator vectors, plus a row of loads and an address: c k + c + 1 registers.
    square = max(1, int((registers - 1) ** 0.5))
    while square * square + square + 1 > registers and square > 1:
        square -= 1
    multiple = max(1, min(profile.preferred_multiple, 64))
    return {
        "conv_input_grad": {
            "order": ["phases", "transposed", "general"],
            "general": {"TILE_C": 8, "TILE_P": 8,
                        "local": [multiple, max(1, 64 // multiple), 1]},
        },
        "conv_weight_grad": {
            "order": ["depthwise", "pointwise", "rows", "flat", "general"]
            if profile.kind == "cpu" else ["general"],
            # run_bytes: the planes a run of the reduction reads (within a core's L2), at least
            # min_run positions a run; 0: one run (the tuner measures whether runs pay).
            "flat": {"vector_bytes": profile.vector_bytes, "tile": [square, square],
                     "run_bytes": 0, "min_run": 4096},
            "pointwise": {"vector_bytes": profile.vector_bytes, "tile": [square, square],
                          "band": 8},
            # Taps of a kernel row per work-item, and accumulator vectors in all.
            "rows": {"vector_bytes": profile.vector_bytes, "taps": 5,
                     "accumulators": max(4, registers - 7), "run_bytes": 0, "min_run": 4096},
            "depthwise": {"vector_bytes": profile.vector_bytes,
                          "taps": max(4, registers - 7)},
            # chunk: (sample, position) pairs per work-item; splits as many as it takes.
            "general": {"TILE_C": 8, "TILE_K": 8, "chunk": 2048, "local": [1, 1, 1]},
        },
    }


for _family in ("conv_input_grad", "conv_weight_grad"):
    tuning.register_defaults(_family, lambda profile, _family=_family: _defaults(profile)[_family])
del _family


def input_grad(grad: Tensor, weight: Tensor, geo, input_shape) -> Tensor:
    """dL/dx of y = conv(x, weight): a transposed convolution of the output gradient."""
    dx = empty(input_shape, grad.dtype, grad.device)
    if dx.size == 0:
        return dx
    if grad.size == 0 or weight.size == 0:  # nothing flows back
        dx.array.fill(0)
        return dx
    dispatch.run("conv_input_grad", grad.device, ConvProblem(geo, np.dtype(grad.dtype)), grad,
                 weight, dx)
    return dx


def weight_grad(x: Tensor, grad: Tensor, geo, weight_shape) -> Tensor:
    """dL/dweight of y = conv(x, weight): input patches correlated with the output gradient."""
    dw = empty(weight_shape, grad.dtype, grad.device)
    if dw.size == 0:
        return dw
    if x.size == 0 or grad.size == 0:
        dw.array.fill(0)
        return dw
    return dispatch.run("conv_weight_grad", grad.device, ConvProblem(geo, np.dtype(x.dtype)), x,
                        grad, dw)


def bias_grad(grad: Tensor) -> Tensor:
    """dL/dbias: the output gradient summed over the batch and every position, per channel."""
    batch, channels = grad.shape[:2]
    spatial = grad.size // max(batch * channels, 1)
    return row_sum(grad, Rows.channels(batch, channels, spatial))


def _rows(t: Tensor, first: int, count: int) -> Tensor:
    """A copy of samples first .. first + count - 1 of t."""
    sample = t.size // t.shape[0] * t.dtype.itemsize
    out = empty((count,) + t.shape[1:], t.dtype, t.device)
    runtime.copy(t.device, out.array.data, t.array.data, count * sample,
                 src_offset=first * sample)
    return out


# --- input gradient: the general gather kernel -----------------------------------------------

def _input_general_run(context: Context, problem: ConvProblem, grad, weight, dx) -> None:
    geo, device, params = problem.geo, context.device, context.params
    tiles = {"TILE_C": int(params["TILE_C"]),
             "TILE_P": double_halved(int(params["TILE_P"]), problem.dtype)}
    in_plane = geo.in_size[0] * geo.in_size[1] * geo.in_size[2]
    in_per_group = geo.in_channels // geo.groups
    channel_tiles = geo.groups * -(-in_per_group // tiles["TILE_C"])
    global_size = (-(-in_plane // tiles["TILE_P"]), channel_tiles, geo.batch)
    runtime.launch(device, _kernel(device, "conv_backward_input", problem.dtype, **tiles),
                   global_size, tuple(params["local"]), grad.array.data, weight.array.data,
                   dx.array.data, *_geometry_args(geo))


# --- input gradient: the transposed convolution ----------------------------------------------

def _spread_bytes(geo, dtype) -> int:
    """Bytes of the output gradient spread out by the stride (0 at stride 1: no copy)."""
    if geo.stride == (1, 1, 1):
        return 0
    spread = [(o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride)]
    return geo.batch * geo.out_channels * spread[0] * spread[1] * spread[2] * np.dtype(dtype).itemsize


def _transposed_geometry(geo) -> ConvGeometry:
    spread = tuple((o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride))
    return ConvGeometry(
        batch=geo.batch, in_channels=geo.out_channels, out_channels=geo.in_channels,
        groups=geo.groups, in_size=spread, kernel=geo.kernel, out_size=geo.in_size,
        stride=(1, 1, 1), dilation=geo.dilation,
        padding=tuple(d * (k - 1) - p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding)))


def _transposed_applies(context: Context, problem: ConvProblem) -> str | None:
    """Padding within the kernel's reach: the input gradient is then an ordinary stride-1
    convolution (flipped, transposed weights) of the output gradient, spread out by the stride
    with zeros between, run by the forward's fastest path. (With stride s, (s^d - 1)/s^d of
    its multiply-adds meet zeros.)"""
    geo = problem.geo
    spread = _spread_bytes(geo, problem.dtype)
    limit = runtime.workspace_limit(context.device)
    return first_reason(
        (all(d * (k - 1) >= p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding)),
         f"padding {geo.padding} passes the dilated kernel's reach"),
        (spread <= limit, f"the spread-out gradient ({spread:,} bytes) passes the workspace "
                          f"limit ({limit:,} bytes)"))


def _transposed_params(context: Context, problem: ConvProblem) -> dict:
    inner = dispatch.choose("conv_forward", context.device,
                            ConvProblem(_transposed_geometry(problem.geo), problem.dtype))
    return {"convolution": inner.algorithm, "spread": problem.geo.stride != (1, 1, 1)}


def _transposed_workspace(context: Context, problem: ConvProblem) -> int:
    geo = problem.geo
    weights = geo.in_channels * (geo.out_channels // geo.groups) * int(np.prod(geo.kernel))
    return _spread_bytes(geo, problem.dtype) + weights * problem.dtype.itemsize


def _transposed_run(context: Context, problem: ConvProblem, grad, weight, dx) -> None:
    geo, device = problem.geo, context.device
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    w_t = empty((geo.in_channels, out_per_group) + weight.shape[2:], weight.dtype, device)
    runtime.launch(device, _kernel(device, "flip_transpose_weight", weight.dtype),
                   (w_t.size,), (64,), weight.array.data, w_t.array.data,
                   *i32(in_per_group, out_per_group, geo.groups, taps))
    if geo.stride != (1, 1, 1):
        grad = _zero_upsample(grad, geo)
    dispatch.run("conv_forward", device, ConvProblem(_transposed_geometry(geo), problem.dtype),
                 grad, w_t, None, dx, NO_EPILOGUE)


def _zero_upsample(grad: Tensor, geo) -> Tensor:
    """(N, K, (O-1)*S + 1 per dimension): grad at multiples of the stride, zeros between."""
    spread = tuple((o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride))
    up = empty((geo.batch, geo.out_channels) + spread, grad.dtype, grad.device)
    runtime.launch(grad.device, _kernel(grad.device, "zero_upsample", grad.dtype), (up.size,),
                   (64,), grad.array.data, up.array.data,
                   *i32(geo.batch * geo.out_channels, *geo.out_size, *spread, *geo.stride))
    return up


# --- input gradient of strided convolutions, phase by phase ---------------------------------
#
# With stride s, input position i = s a + r (phase r) receives dy[o] w[t] exactly where
# o s - p + t d = i, i.e. from the taps t with t d = r + p (mod s): t = t0, t0 + step, ...
# (step = s / gcd(s, d)), and then o = a + base - j dd for the j-th of them (base =
# (r + p - t0 d) / s, dd = step d / s). So each phase of dx is a stride-1 convolution of dy
# with the phase's taps, flipped: no multiply-add meets the zeros that spreading dy out by the
# stride would put between its values.


@dataclass(frozen=True)
class _Phase:
    """Phase `offset` of one spatial dimension of dx: its positions offset, offset + stride, ...
    as a stride-1 convolution of dy with the taps first, first + step, ... (`taps` of them),
    dilation `dilation`, padding `padding`; its output a + `shift` is dx position
    offset + stride a. (A shift instead of negative padding: the convolution starts later.)"""
    offset: int
    positions: int
    first: int
    step: int
    taps: int
    dilation: int
    padding: int
    shift: int

    @property
    def out_size(self) -> int:
        return self.positions + self.shift


def _phases(size: int, kernel: int, stride: int, padding: int, dilation: int) -> list[_Phase]:
    """The phases of one dimension that hold positions of dx."""
    step = stride // gcd(stride, dilation)
    phases = []
    for offset in range(min(stride, size)):
        positions = -(-(size - offset) // stride)
        taps = [t for t in range(kernel) if (offset + padding - t * dilation) % stride == 0]
        if not taps:
            phases.append(_Phase(offset, positions, 0, step, 0, 1, 0, 0))
            continue
        sub_dilation = step * dilation // stride
        base = (offset + padding - taps[0] * dilation) // stride
        start = base - (len(taps) - 1) * sub_dilation  # dy index that output a reads first, - a
        phases.append(_Phase(offset, positions, taps[0], step, len(taps), sub_dilation,
                             max(0, -start), max(0, start)))
    return phases


def _dimension(geo, axis: int) -> tuple:
    return (geo.in_size[axis], geo.kernel[axis], geo.stride[axis], geo.padding[axis],
            geo.dilation[axis])


def _phase_grid(geo) -> list[tuple[_Phase, _Phase]]:
    return [(row, col) for row in _phases(*_dimension(geo, 1))
            for col in _phases(*_dimension(geo, 2))]


def _phases_applies(context: Context, problem: ConvProblem) -> str | None:
    """Strided 1D and 2D convolutions (unit depth)."""
    geo = problem.geo
    return first_reason((geo.stride != (1, 1, 1), "stride 1"),
                        (is_2d(geo), "not a 1D or 2D convolution"))


def _phase_scratch_bytes(geo, dtype) -> int:
    sizes = [row.out_size * col.out_size for row, col in _phase_grid(geo) if row.taps and col.taps]
    return geo.batch * geo.in_channels * max(sizes, default=0) * np.dtype(dtype).itemsize


def _phases_params(context: Context, problem: ConvProblem) -> dict:
    grid = _phase_grid(problem.geo)
    return {"phases": len(grid), "with_taps": sum(bool(r.taps and c.taps) for r, c in grid)}


def _phases_run(context: Context, problem: ConvProblem, grad, weight, dx) -> None:
    """Each phase of dx as its own stride-1 convolution into a scratch tensor, scattered into
    dx. The scratch tensors take about dx / (SH SW) each; past runtime.workspace_limit, runs
    of samples go one after another."""
    geo = problem.geo
    phase_grid = _phase_grid(geo)
    weights = {phase: _phase_weight(weight, geo, *phase) for phase in phase_grid
               if phase[0].taps and phase[1].taps}
    scratch = _phase_scratch_bytes(geo, problem.dtype)
    limit = runtime.workspace_limit(dx.device)
    per_run = geo.batch if scratch <= limit else max(1, geo.batch * limit // scratch)
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        rows = grad if count == geo.batch else _rows(grad, first, count)
        for phase in phase_grid:
            part = _phase_convolution(rows, weights[phase], geo, count, *phase) \
                if phase in weights else None
            _scatter_phase(part, dx, geo, first, count, *phase)


def _phase_weight(weight: Tensor, geo, row: _Phase, col: _Phase) -> Tensor:
    """The phase's taps, flipped, with in and out channels swapped within each group."""
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    w_sub = empty((geo.in_channels, out_per_group, 1, row.taps, col.taps), weight.dtype,
                  weight.device)
    runtime.launch(weight.device, _kernel(weight.device, "phase_transpose_weight", weight.dtype),
                   (out_per_group, geo.in_channels), (1, 16), weight.array.data, w_sub.array.data,
                   *i32(in_per_group, out_per_group, geo.groups, geo.kernel[1], geo.kernel[2],
                        row.first, row.step, row.taps, col.first, col.step, col.taps))
    return w_sub


def _phase_convolution(grad: Tensor, w_sub: Tensor, geo, batch: int, row: _Phase,
                       col: _Phase) -> Tensor:
    phase_geo = ConvGeometry(
        batch=batch, in_channels=geo.out_channels, out_channels=geo.in_channels,
        groups=geo.groups, in_size=geo.out_size, kernel=(1, row.taps, col.taps),
        out_size=(1, row.out_size, col.out_size), stride=(1, 1, 1),
        padding=(0, row.padding, col.padding), dilation=(1, row.dilation, col.dilation))
    part = empty((batch, geo.in_channels, 1, row.out_size, col.out_size), grad.dtype, grad.device)
    dispatch.run("conv_forward", grad.device, ConvProblem(phase_geo, np.dtype(grad.dtype)), grad,
                 w_sub, None, part, NO_EPILOGUE)
    return part


def _scatter_phase(part: Tensor | None, dx: Tensor, geo, first: int, count: int, row: _Phase,
                   col: _Phase) -> None:
    """dx's positions of the phase from `part` (zeros where None: the phase has no taps)."""
    planes = count * geo.in_channels
    source = dx if part is None else part  # (not read without a part)
    runtime.launch(dx.device, _kernel(dx.device, "phase_scatter", dx.dtype),
                   (row.positions, planes), (1, 16), source.array.data, dx.array.data,
                   *i32(part is not None, planes, first * geo.in_channels, geo.in_size[1],
                        geo.in_size[2], geo.stride[1], geo.stride[2], row.offset, col.offset,
                        row.out_size, col.out_size, row.shift, col.shift))


for _algorithm in (
        Algorithm("conv_input_grad", "phases", _phases_run, applies=_phases_applies,
                  params=_phases_params, workspace=lambda c, p: _phase_scratch_bytes(p.geo, p.dtype),
                  about="each phase of dx a stride-1 convolution of dy with its taps"),
        Algorithm("conv_input_grad", "transposed", _transposed_run, applies=_transposed_applies,
                  params=_transposed_params, workspace=_transposed_workspace,
                  about="the stride-1 convolution of dy (spread out) with flipped weights"),
        Algorithm("conv_input_grad", "general", _input_general_run,
                  params=lambda c, p: {"TILE_C": c.params["TILE_C"], "local": c.params["local"],
                                       "TILE_P": double_halved(c.params["TILE_P"], p.dtype)},
                  about="conv_backward_input: a gather over the taps that read each input")):
    dispatch.register(_algorithm)


# --- weight gradients with wide vectors (CPUs) -----------------------------------------------

@dataclass(frozen=True)
class _FlatLayout:
    """The padded copies of conv_backward.cl's flat weight gradients, in elements. x: `phases`
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
    phase_out elements (kernels/conv_backward.cl:pad_volumes)."""
    phases = steps[0] * steps[1] * steps[2]
    out = empty((planes * phases * phase_out + tail,), t.dtype, t.device)
    kernel = runtime.get_kernel(t.device, "conv_backward", "pad_volumes", PAD_COL_STEP=steps[2],
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
                          _rows(x, first, count), _rows(grad, first, count),
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
        kernel = runtime.get_kernel(device, "conv_backward", "conv_backward_weight_rows",
                                    WG_T=row_taps, WG_C=tile_c, WG_K=tile_k, **defines)
        tap_items = geo.kernel[0] * geo.kernel[1] * -(-geo.kernel[2] // row_taps)
    else:
        tile_c, tile_k = _channel_tiles(context.params["tile"], in_per_group, out_per_group)
        kernel = runtime.get_kernel(device, "conv_backward", "conv_backward_weight_flat",
                                    WG_C=tile_c, WG_K=tile_k, **defines)
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
        _sum_slices(partial, dw, runs.splits)
    return dw


def _sum_slices(partial: Tensor, out: Tensor, splits: int) -> None:
    """out = the sum of partial's `splits` slices of out's size, in order (deterministic)."""
    kernel = runtime.get_kernel(out.device, "reduce", "sum_slices",
                                **runtime.dtype_defines(out.dtype))
    runtime.launch(out.device, kernel, (out.size,), (launch_sizes.items(out.device),),
                   partial.array.data, out.array.data, *i32(out.size, splits))


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


def _flat_loop(context: Context, problem: ConvProblem) -> str | None:
    """A work-item walks its run's samples and positions."""
    lanes = context.lanes(problem.dtype)
    runs = _runs(context.params, problem.geo, _flat_layout(problem.geo, lanes), lanes,
                 problem.dtype.itemsize)
    return loop_reason(context, runs.samples * runs.chunk // lanes,
                       "a work-item over its run of the batch's planes")


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
        or loop_reason(context, geo.batch * plane // lanes, "a work-item over the batch's planes")


def _pointwise_run(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    """conv_backward_weight_pointwise: the flat kernel's channel tiles, one work-item each, in
    bands of `band` output tiles (a band's dy stays in cache while each x tile passes once)."""
    geo, device = problem.geo, context.device
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    tile_c, tile_k = _channel_tiles(context.params["tile"], in_per_group, out_per_group)
    kernel = runtime.get_kernel(device, "conv_backward", "conv_backward_weight_pointwise",
                                WG_C=tile_c, WG_K=tile_k, K_BAND=int(context.params["band"]),
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
    kernel = runtime.get_kernel(device, "conv_backward", "conv_backward_weight_depthwise",
                                WG_TAPS=taps_per_item, PAD_COL_STEP=geo.stride[2],
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


# --- weight gradient on GPUs: split-K ---------------------------------------------------------

def _split(context: Context, problem: ConvProblem) -> tuple[int, int]:
    """(chunk, splits): the reduction over batch x output positions in runs of at most the
    table's `chunk` pairs."""
    geo = problem.geo
    pairs = geo.batch * geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    chunk = max(1, int(context.params["chunk"]))
    splits = -(-pairs // chunk)
    return -(-pairs // splits), splits


def _general_grad_workspace(context: Context, problem: ConvProblem) -> int:
    _, splits = _split(context, problem)
    geo = problem.geo
    weights = geo.out_channels * (geo.in_channels // geo.groups) * int(np.prod(geo.kernel))
    return (weights * splits if splits > 1 else 0) * problem.dtype.itemsize


def _grad_tiles(params: dict, geo) -> dict:
    """conv_backward_weight's tiles: no larger than a group's channels (a power of two)."""
    def fit(tile: int, channels: int) -> int:
        return min(int(tile), 1 << max(0, (channels - 1).bit_length()))
    return {"TILE_C": fit(params["TILE_C"], geo.in_channels // geo.groups),
            "TILE_K": fit(params["TILE_K"], geo.out_channels // geo.groups)}


def _general_grad_run(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    geo, device, params = problem.geo, context.device, context.params
    tiles = _grad_tiles(params, geo)
    chunk, splits = _split(context, problem)
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    partial = dw if splits == 1 else empty((splits * dw.size,), dw.dtype, device)
    global_size = (taps * splits, -(-in_per_group // tiles["TILE_C"]),
                   geo.groups * -(-out_per_group // tiles["TILE_K"]))
    runtime.launch(device, _kernel(device, "conv_backward_weight", problem.dtype, **tiles),
                   global_size, tuple(params["local"]), x.array.data, grad.array.data,
                   partial.array.data, *i32(geo.batch, chunk, splits), *_geometry_args(geo))
    if splits > 1:
        _sum_slices(partial, dw, splits)
    return dw


def _general_grad_params(context: Context, problem: ConvProblem) -> dict:
    chunk, splits = _split(context, problem)
    return {**_grad_tiles(context.params, problem.geo), "chunk": chunk, "splits": splits}


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
                  about="conv_backward_weight_flat: one tap per work-item over padded planes"),
        Algorithm("conv_weight_grad", "general", _general_grad_run,
                  params=_general_grad_params, workspace=_general_grad_workspace,
                  about="conv_backward_weight: split-K over (sample, position) pairs, partial "
                  "tiles summed in order")):
    dispatch.register(_algorithm)
del _algorithm
