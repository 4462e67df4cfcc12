"""The input gradient's algorithms (family "conv_input_grad"): general (kernels/
conv_input_grad.cl), transposed and phases (forward convolutions over the rearrangements of
kernels/conv_grad_transforms.cl). See conv_grad.py."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import gcd, prod

import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32
from .conv_geometry import (NO_EPILOGUE, ConvGeometry, ConvProblem, double_halved,
                            geometry_args)
from .reduce import sample_rows


def _kernel(device, family, name, dtype, **defines):
    return runtime.get_kernel(device, family, name, **defines, **runtime.dtype_defines(dtype))


# --- input gradient: the general gather kernel -----------------------------------------------

def _input_general_run(context: Context, problem: ConvProblem, grad, weight, dx) -> None:
    geo, device, params = problem.geo, context.device, context.params
    tiles = {"TILE_C": int(params["TILE_C"]),
             "TILE_P": double_halved(int(params["TILE_P"]), problem.dtype)}
    in_plane = geo.in_size[0] * geo.in_size[1] * geo.in_size[2]
    in_per_group = geo.in_channels // geo.groups
    channel_tiles = geo.groups * -(-in_per_group // tiles["TILE_C"])
    global_size = (-(-in_plane // tiles["TILE_P"]), channel_tiles, geo.batch)
    runtime.launch(device, _kernel(device, "conv_input_grad", "conv_backward_input", problem.dtype, **tiles),
                   global_size, tuple(params["local"]), grad.array.data, weight.array.data,
                   dx.array.data, *geometry_args(geo))


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
    runtime.launch(device, _kernel(device, "conv_grad_transforms", "flip_transpose_weight", weight.dtype),
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
    runtime.launch(grad.device, _kernel(grad.device, "conv_grad_transforms", "zero_upsample", grad.dtype), (up.size,),
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


def _phase_grid(geo) -> list[tuple[_Phase, _Phase, _Phase]]:
    """Every (depth, row, column) phase of dx (1D and 2D convolutions: one depth phase)."""
    return list(product(*(_phases(*_dimension(geo, axis)) for axis in range(3))))


def _has_taps(phase) -> bool:
    return all(p.taps for p in phase)


def _phases_applies(context: Context, problem: ConvProblem) -> str | None:
    """Strided 1D, 2D and 3D convolutions."""
    return first_reason((problem.geo.stride != (1, 1, 1), "stride 1"))


def _phase_scratch_bytes(geo, dtype) -> int:
    sizes = [prod(p.out_size for p in phase) for phase in _phase_grid(geo) if _has_taps(phase)]
    return geo.batch * geo.in_channels * max(sizes, default=0) * np.dtype(dtype).itemsize


def _phases_params(context: Context, problem: ConvProblem) -> dict:
    grid = _phase_grid(problem.geo)
    return {"phases": len(grid), "with_taps": sum(_has_taps(phase) for phase in grid),
            "scatter": context.params["scatter"]}


def _phases_run(context: Context, problem: ConvProblem, grad, weight, dx) -> None:
    """Each phase of dx as its own stride-1 convolution into a scratch tensor, scattered into
    dx. The scratch tensors take about dx / (SH SW) each; past runtime.workspace_limit, runs
    of samples go one after another."""
    geo = problem.geo
    phase_grid = _phase_grid(geo)
    weights = {phase: _phase_weight(weight, geo, *phase) for phase in phase_grid
               if _has_taps(phase)}
    scratch = _phase_scratch_bytes(geo, problem.dtype)
    limit = runtime.workspace_limit(dx.device)
    per_run = geo.batch if scratch <= limit else max(1, geo.batch * limit // scratch)
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        rows = grad if count == geo.batch else sample_rows(grad, first, count)
        for phase in phase_grid:
            part = _phase_convolution(rows, weights[phase], geo, count, *phase) \
                if phase in weights else None
            _scatter_phase(context.params["scatter"], part, dx, geo, first, count, *phase)


def _phase_weight(weight: Tensor, geo, depth: _Phase, row: _Phase, col: _Phase) -> Tensor:
    """The phase's taps, flipped, with in and out channels swapped within each group."""
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    w_sub = empty((geo.in_channels, out_per_group, depth.taps, row.taps, col.taps), weight.dtype,
                  weight.device)
    runtime.launch(weight.device, _kernel(weight.device, "conv_grad_transforms", "phase_transpose_weight", weight.dtype),
                   (out_per_group, geo.in_channels), (1, launch_sizes.items(weight.device)),
                   weight.array.data, w_sub.array.data,
                   *i32(in_per_group, out_per_group, geo.groups, *geo.kernel,
                        *(v for p in (depth, row, col) for v in (p.first, p.step, p.taps))))
    return w_sub


def _phase_convolution(grad: Tensor, w_sub: Tensor, geo, batch: int, *phase: _Phase) -> Tensor:
    phase_geo = ConvGeometry(
        batch=batch, in_channels=geo.out_channels, out_channels=geo.in_channels,
        groups=geo.groups, in_size=geo.out_size, kernel=tuple(p.taps for p in phase),
        out_size=tuple(p.out_size for p in phase), stride=(1, 1, 1),
        padding=tuple(p.padding for p in phase), dilation=tuple(p.dilation for p in phase))
    part = empty((batch, geo.in_channels) + phase_geo.out_size, grad.dtype, grad.device)
    dispatch.run("conv_forward", grad.device, ConvProblem(phase_geo, np.dtype(grad.dtype)), grad,
                 w_sub, None, part, NO_EPILOGUE)
    return part


def _scatter_phase(scatter: str, part: Tensor | None, dx: Tensor, geo, first: int, count: int,
                   *phase: _Phase) -> None:
    """dx's positions of the phase from `part` (zeros where None: the phase has no taps): a
    row per work-item (scatter "rows": CPUs, the row loop in vectors) or a column per
    work-item ("columns": GPUs, neighbouring items on neighbouring elements)."""
    depth, row, col = phase
    planes = count * geo.in_channels
    source = dx if part is None else part  # (not read without a part)
    items = launch_sizes.items(dx.device)
    if scatter == "columns":
        name, sizes = "phase_scatter_columns", (
            (col.positions, row.positions, depth.positions * planes), (items, 1, 1))
    else:
        name, sizes = "phase_scatter", ((row.positions, depth.positions, planes), (1, 1, items))
    runtime.launch(dx.device, _kernel(dx.device, "conv_grad_transforms", name, dx.dtype), *sizes,
                   source.array.data,
                   dx.array.data, *i32(part is not None, planes, first * geo.in_channels,
                                       *geo.in_size, *geo.stride, *(p.offset for p in phase),
                                       *(p.out_size for p in phase), *(p.shift for p in phase)))


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
