"""Gradients of convolution: input and weight gradients (`conv_backward.cl`), bias gradient
(a per-channel row sum). Deterministic: no atomics, each result written by one work-item."""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import gcd

import numpy as np
import pyopencl as cl

from .. import runtime
from ..tensors import Tensor, empty
from ._args import as_3d, i32
from .elementwise import add
from .reduce import Rows, row_sum

_TILES = {"TILE_C": 8, "TILE_P": 8, "TILE_K": 8}


def _geometry_args(geo) -> list:
    return i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
               *geo.stride, *geo.padding, *geo.dilation, geo.groups)


def _kernel(device, name, dtype):
    return runtime.get_kernel(device, "conv_backward", name, **_TILES,
                              **runtime.dtype_defines(dtype))


def input_grad(grad: Tensor, weight: Tensor, geo, input_shape) -> Tensor:
    """dL/dx of y = conv(x, weight): a transposed convolution of the output gradient."""
    dx = empty(input_shape, grad.dtype, grad.device)
    if dx.size == 0:
        return dx
    if grad.size and weight.size and _phase_split_fits(geo):
        return _input_grad_by_phases(grad, weight, geo, dx)
    if grad.size and weight.size and _transposed_fits(geo) and \
            _spread_bytes(geo, grad.dtype) <= runtime.workspace_limit(grad.device):
        return _input_grad_as_convolution(grad, weight, geo, dx)
    in_plane = geo.in_size[0] * geo.in_size[1] * geo.in_size[2]
    in_per_group = geo.in_channels // geo.groups
    channel_tiles = geo.groups * -(-in_per_group // _TILES["TILE_C"])
    global_size = (-(-in_plane // _TILES["TILE_P"]), channel_tiles, geo.batch)
    if grad.size == 0 or weight.size == 0:  # nothing flows back
        dx.array.fill(0)
        return dx
    runtime.launch(grad.device, _kernel(grad.device, "conv_backward_input", grad.dtype),
                   global_size, (1, 1, 1), grad.array.data, weight.array.data, dx.array.data,
                   *_geometry_args(geo))
    return dx


def _transposed_fits(geo) -> bool:
    """Padding within the kernel's reach: the input gradient is then an ordinary stride-1
    convolution (flipped, transposed weights) of the output gradient, spread out by the stride
    with zeros between, run by the forward's fastest path. (With stride s, (s^d - 1)/s^d of
    its multiply-adds meet zeros: still faster than the scalar gather on CPUs.)"""
    return all(d * (k - 1) >= p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding))


def _input_grad_as_convolution(grad: Tensor, weight: Tensor, geo, dx: Tensor) -> Tensor:
    from . import conv  # conv imports this module

    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    w_t = empty((geo.in_channels, out_per_group) + weight.shape[2:], weight.dtype, weight.device)
    runtime.launch(weight.device, _kernel(weight.device, "flip_transpose_weight", weight.dtype),
                   (w_t.size,), (64,), weight.array.data, w_t.array.data,
                   *i32(in_per_group, out_per_group, geo.groups, taps))
    if geo.stride != (1, 1, 1):
        grad = _zero_upsample(grad, geo)
    transposed = conv.ConvGeometry(
        batch=geo.batch, in_channels=geo.out_channels, out_channels=geo.in_channels,
        groups=geo.groups, in_size=as_3d(grad.shape[2:]), kernel=geo.kernel,
        out_size=geo.in_size, stride=(1, 1, 1), dilation=geo.dilation,
        padding=tuple(d * (k - 1) - p for d, k, p in zip(geo.dilation, geo.kernel, geo.padding)))
    conv._launch_forward(grad, w_t, None, dx, transposed)
    return dx


def _spread_bytes(geo, dtype) -> int:
    """Bytes of the output gradient spread out by the stride (0 at stride 1: no copy)."""
    if geo.stride == (1, 1, 1):
        return 0
    spread = [(o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride)]
    return geo.batch * geo.out_channels * spread[0] * spread[1] * spread[2] * np.dtype(dtype).itemsize


def _zero_upsample(grad: Tensor, geo) -> Tensor:
    """(N, K, (O-1)*S + 1 per dimension): grad at multiples of the stride, zeros between."""
    spread = tuple((o - 1) * s + 1 for o, s in zip(geo.out_size, geo.stride))
    up = empty((geo.batch, geo.out_channels) + spread, grad.dtype, grad.device)
    runtime.launch(grad.device, _kernel(grad.device, "zero_upsample", grad.dtype), (up.size,),
                   (64,), grad.array.data, up.array.data,
                   *i32(geo.batch * geo.out_channels, *geo.out_size, *spread, *geo.stride))
    return up


# --- the input gradient of strided convolutions, phase by phase -------------------------------
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


def _phase_split_fits(geo) -> bool:
    """Strided 1D and 2D convolutions (unit depth) take the phase split."""
    return (geo.stride != (1, 1, 1) and geo.in_size[0] == 1 and geo.kernel[0] == 1
            and geo.padding[0] == 0)


def _input_grad_by_phases(grad: Tensor, weight: Tensor, geo, dx: Tensor) -> Tensor:
    """Each phase of dx as its own stride-1 convolution into a scratch tensor, scattered into
    dx. The scratch tensors take about dx / (SH SW) each; past runtime.workspace_limit, runs
    of samples go one after another."""
    phase_grid = [(row, col) for row in _phases(*_dimension(geo, 1))
                  for col in _phases(*_dimension(geo, 2))]
    weights = {phase: _phase_weight(weight, geo, *phase) for phase in phase_grid
               if phase[0].taps and phase[1].taps}
    largest = max(row.out_size * col.out_size for row, col in weights) if weights else 0
    scratch = geo.batch * geo.in_channels * largest * dx.dtype.itemsize
    limit = runtime.workspace_limit(dx.device)
    per_run = geo.batch if scratch <= limit else max(1, geo.batch * limit // scratch)
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        rows = grad if count == geo.batch else _rows(grad, first, count)
        for phase in phase_grid:
            part = _phase_convolution(rows, weights[phase], geo, count, *phase) \
                if phase in weights else None
            _scatter_phase(part, dx, geo, first, count, *phase)
    return dx


def _dimension(geo, axis: int) -> tuple:
    return (geo.in_size[axis], geo.kernel[axis], geo.stride[axis], geo.padding[axis],
            geo.dilation[axis])


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
    from . import conv  # conv imports this module

    phase_geo = conv.ConvGeometry(
        batch=batch, in_channels=geo.out_channels, out_channels=geo.in_channels,
        groups=geo.groups, in_size=geo.out_size, kernel=(1, row.taps, col.taps),
        out_size=(1, row.out_size, col.out_size), stride=(1, 1, 1),
        padding=(0, row.padding, col.padding), dilation=(1, row.dilation, col.dilation))
    part = empty((batch, geo.in_channels, 1, row.out_size, col.out_size), grad.dtype, grad.device)
    conv._launch_forward(grad, w_sub, None, part, phase_geo)
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


def weight_grad(x: Tensor, grad: Tensor, geo, weight_shape) -> Tensor:
    """dL/dweight of y = conv(x, weight): input patches correlated with the output gradient."""
    dw = empty(weight_shape, grad.dtype, grad.device)
    if dw.size == 0:
        return dw
    if x.size == 0 or grad.size == 0:
        dw.array.fill(0)
        return dw
    if not grad.device.is_gpu:  # wide vectors (any dimension, any stride)
        if geo.in_channels == geo.groups:
            return _weight_grad_depthwise(x, grad, geo, dw)
        if _pointwise_fits(geo):
            return _weight_grad_pointwise(x, grad, geo, dw)
        return _weight_grad_flat(x, grad, geo, dw)
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    global_size = (taps, -(-in_per_group // _TILES["TILE_C"]),
                   geo.groups * -(-out_per_group // _TILES["TILE_K"]))
    runtime.launch(grad.device, _kernel(grad.device, "conv_backward_weight", grad.dtype),
                   global_size, (1, 1, 1), x.array.data, grad.array.data, dw.array.data,
                   *i32(geo.batch), *_geometry_args(geo))
    return dw


_LANES = 16  # vector width of conv_backward_weight_flat and conv_backward_weight_depthwise
# conv_backward_weight_flat's input x output channels per work-item, by element size: 5 x 5
# float vectors (25 accumulators) keep more multiply-adds per load in AVX-512's 32 registers.
_FLAT_TILES = {4: (5, 5)}
_FLAT_TILES_DEFAULT = (4, 4)
# conv_backward_weight_depthwise's taps per work-item: all of a 3x3 or 5x5 kernel in one (a
# few accumulators more than 16 still fit AVX-512's 32 vector registers), larger kernels in
# even blocks of at most this many.
_DEPTHWISE_TAPS = 25


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


def _flat_layout(geo) -> _FlatLayout:
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
    dy_plane = -(-out_depth * dy_rows * row // _LANES) * _LANES
    # Whole vectors of dy_plane positions from the farthest tap stay inside its phase.
    farthest = reach[0] * x_rows * row + reach[1] * row + reach[2]
    x_phase = max((out_depth + reach[0]) * x_rows * row, dy_plane + farthest)
    return _FlatLayout(row, x_rows, out_depth + reach[0], x_phase,
                       geo.stride[0] * geo.stride[1] * geo.stride[2], dy_rows, dy_plane)


def _pad_planes(t: Tensor, planes: int, size_in: tuple, size_out: tuple, shift: tuple,
                steps: tuple, phase_out: int, tail: int) -> Tensor:
    """Each (depth, rows, cols) volume of t zero-padded, shifted by `shift`, split into
    steps[0] x steps[1] x steps[2] phases of `size_out` grids, each followed by zeros up to
    phase_out elements (kernels/conv_backward.cl:pad_volumes)."""
    phases = steps[0] * steps[1] * steps[2]
    out = empty((planes * phases * phase_out + tail,), t.dtype, t.device)
    kernel = runtime.get_kernel(t.device, "conv_backward", "pad_volumes", PAD_COL_STEP=steps[2],
                                WVW=_LANES, **runtime.dtype_defines(t.dtype))
    runtime.launch(t.device, kernel, (planes * phases,), (1,),
                   t.array.data, out.array.data,
                   *i32(planes, *size_in, *size_out, *shift, steps[0], steps[1], phase_out, tail))
    return out


def _weight_grad_flat(x: Tensor, grad: Tensor, geo, dw: Tensor) -> Tensor:
    """The padded copies of x and dy (_FlatLayout) take a little more than x + dy; past
    runtime.workspace_limit, runs of samples are summed (the copies of each run stay under it)."""
    layout = _flat_layout(geo)
    workspace = (geo.in_channels * layout.x_plane + geo.out_channels * layout.dy_plane) \
        * geo.batch * x.dtype.itemsize
    limit = runtime.workspace_limit(x.device)
    if workspace <= limit or geo.batch == 1:
        return _weight_grad_flat_run(x, grad, geo, layout, dw)
    per_run = max(1, geo.batch * limit // workspace)
    total = None
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        part = _weight_grad_flat_run(_rows(x, first, count), _rows(grad, first, count),
                                     replace(geo, batch=count), layout,
                                     empty(dw.shape, dw.dtype, dw.device))
        total = part if total is None else add(total, part)
    return total


def _rows(t: Tensor, first: int, count: int) -> Tensor:
    """A copy of samples first .. first + count - 1 of t."""
    sample = t.size // t.shape[0] * t.dtype.itemsize
    out = empty((count,) + t.shape[1:], t.dtype, t.device)
    cl.enqueue_copy(t.device.queue, out.array.data, t.array.data, src_offset=first * sample,
                    byte_count=count * sample)
    return out


def _flat_tile(preferred: int, channels: int) -> int:
    """Channels per work-item: no more than a group has (tiles are build options: at most 16),
    and one fewer than preferred where that wastes less and the preferred size would spend over
    a tenth of the multiply-adds on repeated channels (16 channels: 4 tiles of 4, not 4 of 5
    with 4 of the 20 wasted)."""
    tile = min(preferred, channels)
    smaller = tile - 1
    if smaller > 1 and -(-channels // smaller) * smaller < -(-channels // tile) * tile \
            and -(-channels // tile) * tile > 1.1 * channels:
        return smaller
    return tile


# conv_backward_weight_rows: at most this many taps of a kernel row per work-item, and about
# this many accumulator vectors (taps x input x output channels) per work-item: measured on
# AVX-512 (32 registers), 3 taps x 2 x 4 channels beat 3 x 3 x 3 and 3 x 2 x 5 (spills), and
# 5 taps x 1 x 5 beat 5 x 3 x 2 (more work-items for 3 input channels).
_ROW_TAPS = 5
_ROW_ACCUMULATORS = 25


def _row_taps(geo, dtype) -> int:
    """Taps per work-item of conv_backward_weight_rows (even blocks of a kernel row), or 0 for
    conv_backward_weight_flat (1-wide kernels; float64, whose 16-lane vectors take two
    registers each, keeps the flat kernel's 4 x 4 tiles)."""
    if np.dtype(dtype).itemsize != 4 or geo.kernel[2] < 2:
        return 0
    blocks = -(-geo.kernel[2] // _ROW_TAPS)
    return -(-geo.kernel[2] // blocks)


def _row_tiles(row_taps: int, in_per_group: int, out_per_group: int) -> tuple[int, int]:
    """Input x output channels per work-item of conv_backward_weight_rows, within
    _ROW_ACCUMULATORS: one input channel for long rows, two for short ones."""
    tile_c = _flat_tile(1 if row_taps >= 4 else 2, in_per_group)
    pairs = max(1, _ROW_ACCUMULATORS // row_taps)
    return tile_c, _flat_tile(max(1, pairs // tile_c), out_per_group)


def _flat_kernel(x: Tensor, geo) -> tuple:
    """The kernel over padded copies and its global size: rows of taps per work-item
    (conv_backward_weight_rows) where _row_taps allows, else one tap each (..._flat)."""
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    row_taps = _row_taps(geo, x.dtype)
    if row_taps:
        tile_c, tile_k = _row_tiles(row_taps, in_per_group, out_per_group)
        kernel = runtime.get_kernel(x.device, "conv_backward", "conv_backward_weight_rows",
                                    **_TILES, WG_T=row_taps, WG_C=tile_c, WG_K=tile_k,
                                    WVW=_LANES, **runtime.dtype_defines(x.dtype))
        tap_items = geo.kernel[0] * geo.kernel[1] * -(-geo.kernel[2] // row_taps)
    else:
        tiles = _FLAT_TILES.get(x.dtype.itemsize, _FLAT_TILES_DEFAULT)
        tile_c, tile_k = _flat_tile(tiles[0], in_per_group), _flat_tile(tiles[1], out_per_group)
        kernel = runtime.get_kernel(x.device, "conv_backward", "conv_backward_weight_flat",
                                    **_TILES, WG_C=tile_c, WG_K=tile_k, WVW=_LANES,
                                    **runtime.dtype_defines(x.dtype))
        tap_items = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    return kernel, (tap_items, -(-in_per_group // tile_c),
                    geo.groups * -(-out_per_group // tile_k))


def _weight_grad_flat_run(x: Tensor, grad: Tensor, geo, layout: _FlatLayout,
                          dw: Tensor) -> Tensor:
    batch, c, k = geo.batch, geo.in_channels, geo.out_channels
    xp = _pad_planes(x, batch * c, geo.in_size, (layout.x_slices, layout.x_rows, layout.row),
                     geo.padding, geo.stride, layout.x_phase, _LANES)
    dyp = _pad_planes(grad, batch * k, geo.out_size,
                      (geo.out_size[0], layout.dy_rows, layout.row), (0, 0, 0), (1, 1, 1),
                      layout.dy_plane, 0)
    kernel, global_size = _flat_kernel(x, geo)
    runtime.launch(x.device, kernel, global_size, (1, 1, 1), xp.array.data, dyp.array.data,
                   dw.array.data, *i32(batch, c, k, geo.groups, *geo.kernel, *geo.dilation,
                                       *geo.stride, layout.row, layout.x_rows * layout.row,
                                       layout.x_phase, layout.x_plane, layout.dy_plane))
    return dw


def _pointwise_fits(geo) -> bool:
    """1x1 kernels at stride 1 without padding, planes of at least a vector: dw is a matrix
    product of dy and x as they lie (conv_backward_weight_pointwise), no padded copies."""
    plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    return (geo.kernel == (1, 1, 1) and geo.stride == (1, 1, 1) and geo.padding == (0, 0, 0)
            and plane >= _LANES)


# conv_backward_weight_pointwise's output tiles per band: 8 tiles of dy (250 KiB at N = 8,
# 14 x 14) stay in a 1 MiB L2 next to the x tile in use.
_POINTWISE_BAND = 8


def _weight_grad_pointwise(x: Tensor, grad: Tensor, geo, dw: Tensor) -> Tensor:
    """conv_backward_weight_pointwise: the flat kernel's channel tiles, one work-item each."""
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    tiles = _FLAT_TILES.get(x.dtype.itemsize, _FLAT_TILES_DEFAULT)
    tile_c, tile_k = _flat_tile(tiles[0], in_per_group), _flat_tile(tiles[1], out_per_group)
    kernel = runtime.get_kernel(x.device, "conv_backward", "conv_backward_weight_pointwise",
                                **_TILES, WG_C=tile_c, WG_K=tile_k, WVW=_LANES,
                                K_BAND=_POINTWISE_BAND, **runtime.dtype_defines(x.dtype))
    plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    items = geo.groups * -(-in_per_group // tile_c) * -(-out_per_group // tile_k)
    runtime.launch(x.device, kernel, (items,), (1,), x.array.data, grad.array.data,
                   dw.array.data, *i32(geo.batch, geo.in_channels, geo.out_channels,
                                       geo.groups, plane))
    return dw


def _weight_grad_depthwise(x: Tensor, grad: Tensor, geo, dw: Tensor) -> Tensor:
    """One input channel per group (conv_backward_weight_depthwise): each work-item pads its
    own planes into a scratch slot. Past runtime.workspace_limit, runs of output channels go
    one after another (each run's slots under it)."""
    layout = _flat_layout(geo)
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    tap_blocks = -(-taps // _DEPTHWISE_TAPS)
    taps_per_item = -(-taps // tap_blocks)  # even blocks: no block of mostly repeated taps
    item_scratch = layout.x_plane + layout.dy_plane
    slot_bytes = tap_blocks * item_scratch * x.dtype.itemsize
    channels = geo.out_channels
    per_run = max(1, min(channels, runtime.workspace_limit(x.device) // slot_bytes))
    scratch = empty((per_run * tap_blocks * item_scratch,), x.dtype, x.device)
    kernel = runtime.get_kernel(x.device, "conv_backward", "conv_backward_weight_depthwise",
                                WG_TAPS=taps_per_item, WVW=_LANES, PAD_COL_STEP=geo.stride[2],
                                **runtime.dtype_defines(x.dtype))
    for first in range(0, channels, per_run):
        count = min(per_run, channels - first)
        runtime.launch(x.device, kernel, (tap_blocks, count), (1, 1), x.array.data,
                       grad.array.data, dw.array.data, scratch.array.data,
                       *i32(geo.batch, geo.in_channels, channels, first, count, *geo.in_size,
                            *geo.out_size, *geo.kernel, *geo.dilation, *geo.stride,
                            *geo.padding, layout.x_slices, layout.x_rows, layout.row,
                            layout.dy_rows, layout.x_phase, layout.dy_plane, item_scratch))
    return dw


def bias_grad(grad: Tensor) -> Tensor:
    """dL/dbias: the output gradient summed over the batch and every position, per channel."""
    batch, channels = grad.shape[:2]
    spatial = grad.size // max(batch * channels, 1)
    return row_sum(grad, Rows.channels(batch, channels, spatial))
