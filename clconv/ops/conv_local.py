"""conv_forward's local algorithm (kernels/conv_local.cl), GPUs: the convolution as an implicit
GEMM in gemm_local's blocking (64 x 64 blocks per work-group of 16 x 16 items, slices of weights
and of gathered patches in local memory, 4 x 4 outputs per item), every option. The input
gradient's transposed and phase convolutions run through it too."""
from __future__ import annotations

import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from .arguments import buffer, i32
from .conv_general import general_run
from .conv_geometry import ConvProblem
from .linear import local_tile, local_tile_reason


def block_tile(context: Context, problem: ConvProblem) -> dict:
    """gemm_local's blocking from the algorithm's table entry (halved to the device's
    work-group limit), and the kernel's size (the tap arithmetic divides by constants): the
    build options of conv_local and conv_weight_grad_local."""
    kd, kh, kw = problem.geo.kernel
    return {**local_tile(context, problem), "KD": kd, "KH": kh, "KW": kw}


MAX_TAPS = 32  # conv_local keeps a bit per tap of each item's window


def _forward_tile(context: Context, problem: ConvProblem) -> dict:
    """block_tile and conv_local's weight loads: vectors of 4 or 2 (VEC_A, at most the table's
    `vector`; A_VECTORS per item) where every row of the reduction starts on a vector's bytes
    (a multiple of its elements; buffers at offset 0) and the slices and each item's loads
    divide into them."""
    tile = block_tile(context, problem)
    widest = int(context.params["vector"])
    vector = next(v for v in (4, 2, 1) if v <= widest and _reduction(problem) % v == 0
                  and tile["BK"] % v == 0 and tile["A_LOADS"] % v == 0)
    return {**tile, "VEC_A": vector, "A_VECTORS": tile["A_LOADS"] // vector}


def _columns(problem: ConvProblem) -> int:
    geo = problem.geo
    return geo.batch * geo.out_size[0] * geo.out_size[1] * geo.out_size[2]


def _reduction(problem: ConvProblem) -> int:
    geo = problem.geo
    return geo.in_channels // geo.groups * geo.kernel[0] * geo.kernel[1] * geo.kernel[2]


def _applies(context: Context, problem: ConvProblem) -> str | None:
    tile = block_tile(context, problem)
    items, block_n = tile["WG_M"] * tile["WG_N"], tile["WG_N"] * tile["RN"]
    reduction, taps = _reduction(problem), int(np.prod(problem.geo.kernel))
    return first_reason(
        # each work-item gathers one column of every slice (kernels/conv_local.cl)
        (items % block_n == 0 and tile["BK"] % (items // block_n) == 0,
         f"{tile['WG_N']} x {tile['WG_M']} work-items that do not gather whole columns of "
         f"{tile['BK']}-deep slices"),
        (taps <= MAX_TAPS, f"a kernel of {taps} taps (it keeps a bit per tap: at most "
                           f"{MAX_TAPS})")) \
        or local_tile_reason(context, tile, problem.dtype) \
        or loop_reason(context, taps + reduction + -(-reduction // tile["BK"]),
                       "a work-item along the reduction (channels x taps)")


def _prefers(context: Context, problem: ConvProblem) -> str | None:
    least = int(context.params["min_channels"])
    out_per_group = problem.geo.out_channels // problem.geo.groups
    return first_reason(
        (out_per_group >= least, f"{out_per_group} output channels per group (fewer than "
                                 f"{least}: a block would be mostly idle)"),
        (_columns(problem) >= least, f"{_columns(problem)} output positions in the batch"))


def _run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device, tile = problem.geo, context.device, _forward_tile(context, problem)
    kernel = runtime.get_kernel(device, "conv_local", "conv_local", **tile,
                                **runtime.dtype_defines(problem.dtype), **epilogue.defines())
    items = tile["WG_M"] * tile["WG_N"]
    if runtime.kernel_limits(device, kernel).work_group_size < items:
        # (registers can lower a kernel's limit below the device's): the general kernel
        return general_run(context.sibling("general"), problem, x, w, b, y, epilogue)
    out_per_group = geo.out_channels // geo.groups
    global_size = (-(-_columns(problem) // (tile["WG_N"] * tile["RN"])) * tile["WG_N"],
                   -(-out_per_group // (tile["WG_M"] * tile["RM"])) * tile["WG_M"], geo.groups)
    runtime.launch(
        device, kernel, global_size, (tile["WG_N"], tile["WG_M"], 1),
        buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
        *epilogue.args(problem.dtype), y.array.data,
        *i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.stride,
             *geo.padding, *geo.dilation, geo.groups, _columns(problem)))


dispatch.register(Algorithm(
    "conv_forward", "local", _run, applies=_applies, prefers=_prefers, params=_forward_tile,
    about="conv_local: an implicit GEMM, 64 x 64 blocks per work-group, slices of weights and "
          "gathered patches in local memory, 4 x 4 outputs per work-item"))
