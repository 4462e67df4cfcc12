"""conv_forward's general algorithm (kernels/conv_general.cl), any device (GPUs): a
register-tiled implicit GEMM, every option, no workspace."""
from __future__ import annotations


import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, loop_reason
from .arguments import buffer, i32
from .conv_geometry import ConvProblem, double_halved, geometry_args


# --- conv_forward, the general kernel ---------------------------------------------------------

def general_tiles(params: dict, out_per_group: int, dtype) -> dict:
    """Register-tile sizes of conv_forward: no more output channels than a group has; half the
    positions in float64, whose values take two 32-bit registers each."""
    tile_k = int(params["TILE_K"])
    tile_k = 1 if out_per_group == 1 else min(tile_k, 4) if out_per_group <= 4 else tile_k
    return {"TILE_K": tile_k, "TILE_P": double_halved(int(params["TILE_P"]), dtype)}


def _general_params(context: Context, problem: ConvProblem) -> dict:
    geo = problem.geo
    return {**general_tiles(context.params, geo.out_channels // geo.groups, problem.dtype),
            "local": tuple(context.params["local"])}


def general_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device = problem.geo, context.device
    tiles = general_tiles(context.params, geo.out_channels // geo.groups, problem.dtype)
    out_plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    channel_tiles = geo.groups * -(-(geo.out_channels // geo.groups) // tiles["TILE_K"])
    global_size = (-(-out_plane // tiles["TILE_P"]), channel_tiles, geo.batch)
    kernel = runtime.get_kernel(device, "conv_general", "conv_forward",
                                **runtime.dtype_defines(problem.dtype), **tiles,
                                **epilogue.defines())
    runtime.launch(
        device, kernel, global_size, tuple(context.params["local"]),
        buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
        *epilogue.args(problem.dtype), y.array.data, *geometry_args(geo))


def _general_applies(context: Context, problem: ConvProblem) -> str | None:
    geo = problem.geo
    return loop_reason(context, geo.in_channels // geo.groups * int(np.prod(geo.kernel)),
                       "the reduction over input channels and taps")


dispatch.register(Algorithm(
    "conv_forward", "general", general_run, applies=_general_applies, params=_general_params,
    about="conv_forward: a register-tiled implicit GEMM, any option, no workspace"))
