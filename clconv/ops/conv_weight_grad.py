"""The weight gradient's GPU algorithms (family "conv_weight_grad"): local (kernels/
conv_weight_grad_local.cl), an implicit GEMM in local memory with the reduction over batch x
positions split across work-groups, and general (kernels/conv_weight_grad.cl), split across
work-items; both sum the partial results in order. See conv_grad.py."""
from __future__ import annotations


import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor, empty
from .arguments import i32
from .conv_geometry import ConvProblem, geometry_args
from .conv_local import block_tile
from .linear import local_tile_reason
from .reduce import sum_slices


def _kernel(device, family, name, dtype, **defines):
    return runtime.get_kernel(device, family, name, **defines, **runtime.dtype_defines(dtype))


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
    runtime.launch(device, _kernel(device, "conv_weight_grad", "conv_backward_weight", problem.dtype, **tiles),
                   global_size, tuple(params["local"]), x.array.data, grad.array.data,
                   partial.array.data, *i32(geo.batch, chunk, splits), *geometry_args(geo))
    if splits > 1:
        sum_slices(partial, dw, splits)
    return dw


def _general_grad_params(context: Context, problem: ConvProblem) -> dict:
    chunk, splits = _split(context, problem)
    return {**_grad_tiles(context.params, problem.geo), "chunk": chunk, "splits": splits}




dispatch.register(Algorithm("conv_weight_grad", "general", _general_grad_run,
                  params=_general_grad_params, workspace=_general_grad_workspace,
                  about="conv_backward_weight: split-K over (sample, position) pairs, partial "
                  "tiles summed in order"))


# --- weight gradient on GPUs: an implicit GEMM in local memory, split-K -----------------------

def _local_sizes(problem: ConvProblem) -> tuple[int, int, int]:
    """(output channels per group, columns = input channels per group x taps, pairs = batch x
    output positions: the reduction)."""
    geo = problem.geo
    return (geo.out_channels // geo.groups,
            geo.in_channels // geo.groups * int(np.prod(geo.kernel)),
            geo.batch * int(np.prod(geo.out_size)))


def _local_split(context: Context, problem: ConvProblem) -> tuple[int, int]:
    """(chunk, splits): enough splits of the reduction for `groups_per_unit` work-groups per
    compute unit, each at least `min_chunk` pairs (in whole slices), the partial results within
    the workspace limit; one split where the blocks alone are enough."""
    params, tile = context.params, block_tile(context, problem)
    rows, columns, pairs = _local_sizes(problem)
    blocks = (-(-rows // (tile["WG_M"] * tile["RM"])) * -(-columns // (tile["WG_N"] * tile["RN"]))
              * problem.geo.groups)
    wanted = int(params["groups_per_unit"]) * context.profile.compute_units
    bk = tile["BK"]
    least = max(bk, -(-int(params["min_chunk"]) // bk) * bk)
    room = runtime.workspace_limit(context.device) // max(  # splits the workspace holds
        1, problem.geo.out_channels * columns * problem.dtype.itemsize)
    splits = max(1, min(-(-wanted // blocks), room))
    if splits == 1:
        return pairs, 1
    # runs of whole slices, rounded down (so that there are at least as many as wanted), of at
    # least `least` pairs, and long enough for no more runs than the workspace holds
    chunk = max(least, pairs // splits // bk * bk, runtime.round_up(-(-pairs // room), bk))
    return chunk, -(-pairs // chunk)


def _local_applies(context: Context, problem: ConvProblem) -> str | None:
    tile = block_tile(context, problem)
    items = tile["WG_M"] * tile["WG_N"]
    step = items // tile["BK"] if items % tile["BK"] == 0 else 0
    chunk, _ = _local_split(context, problem)
    return first_reason(
        # each work-item loads one r of every slice (kernels/conv_weight_grad_local.cl)
        (step and (tile["WG_M"] * tile["RM"]) % step == 0 and (tile["WG_N"] * tile["RN"]) % step == 0,
         f"{tile['WG_N']} x {tile['WG_M']} work-items that do not load whole columns of "
         f"{tile['BK']}-deep slices")) \
        or local_tile_reason(context, tile, problem.dtype) \
        or loop_reason(context, chunk + chunk // tile["BK"], "a work-item along its split")


def _local_prefers(context: Context, problem: ConvProblem) -> str | None:
    least = int(context.params["min_channels"])
    rows, columns, _ = _local_sizes(problem)
    return first_reason(
        (rows >= least, f"{rows} output channels per group (fewer than {least})"),
        (columns >= least, f"{columns} input channels x taps per group (fewer than {least})"))


def _local_workspace(context: Context, problem: ConvProblem) -> int:
    _, splits = _local_split(context, problem)
    geo = problem.geo
    size = geo.out_channels * _local_sizes(problem)[1]
    return (size * splits if splits > 1 else 0) * problem.dtype.itemsize


def _local_run(context: Context, problem: ConvProblem, x, grad, dw) -> Tensor:
    geo, device, tile = problem.geo, context.device, block_tile(context, problem)
    kernel = _kernel(device, "conv_weight_grad_local", "conv_weight_grad_local", problem.dtype,
                     **tile)
    if runtime.kernel_limits(device, kernel).work_group_size < tile["WG_M"] * tile["WG_N"]:
        # (registers can lower a kernel's limit below the device's): the general kernel
        return _general_grad_run(context.sibling("general"), problem, x, grad, dw)
    rows, columns, pairs = _local_sizes(problem)
    chunk, splits = _local_split(context, problem)
    partial = dw if splits == 1 else empty((splits * dw.size,), dw.dtype, device)
    global_size = (-(-columns // (tile["WG_N"] * tile["RN"])) * tile["WG_N"],
                   -(-rows // (tile["WG_M"] * tile["RM"])) * tile["WG_M"], geo.groups * splits)
    runtime.launch(device, kernel, global_size, (tile["WG_N"], tile["WG_M"], 1),
                   x.array.data, grad.array.data, partial.array.data,
                   *i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size,
                        *geo.stride, *geo.padding, *geo.dilation, geo.groups, pairs, chunk))
    if splits > 1:
        sum_slices(partial, dw, splits)
    return dw


def _local_params(context: Context, problem: ConvProblem) -> dict:
    chunk, splits = _local_split(context, problem)
    return {**block_tile(context, problem), "chunk": chunk, "splits": splits}


dispatch.register(Algorithm(
    "conv_weight_grad", "local", _local_run, applies=_local_applies, prefers=_local_prefers,
    params=_local_params, workspace=_local_workspace,
    about="conv_weight_grad_local: an implicit GEMM, 64 x 64 blocks in local memory, the "
          "reduction split for 4 work-groups per compute unit, partial blocks summed in order"))
