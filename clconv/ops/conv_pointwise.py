"""conv_forward's pointwise algorithm (kernels/conv_pointwise.cl), CPUs: 1x1 convolutions at
stride 1 without padding or groups on planes large enough, as a product over each image's planes
read in place, a work-item's input read as a few long streams rather than one short stream per
input channel."""
from __future__ import annotations

import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor
from .arguments import buffer, i32
from .conv_geometry import ConvProblem, Epilogue


def _tiles(context: Context, problem: ConvProblem) -> dict:
    """The blocking: the table's BLOCK_K x BLOCK_V accumulators, CHUNK input channels a pass,
    ITEM_CHANNELS output channels (in blocks) and SPAN_BYTES of each plane per work-item."""
    params, lanes = context.params, context.lanes(problem.dtype)
    tile = params["BLOCK_V"] * lanes
    span = max(tile, params["SPAN_BYTES"] // problem.dtype.itemsize // tile * tile)
    return {"VW": lanes, "BLOCK_K": params["BLOCK_K"], "BLOCK_V": params["BLOCK_V"],
            "CHUNK": params["CHUNK"], "SPAN": span,
            "ITEM_BLOCKS": max(1, params["ITEM_CHANNELS"] // params["BLOCK_K"])}


def _positions(problem: ConvProblem) -> int:
    d, h, w = problem.geo.in_size
    return d * h * w


def _global_size(tiles: dict, problem: ConvProblem) -> tuple:
    geo = problem.geo
    return (-(-_positions(problem) // tiles["SPAN"]),
            -(-geo.out_channels // (tiles["ITEM_BLOCKS"] * tiles["BLOCK_K"])), geo.batch)


def _applies(context: Context, problem: ConvProblem) -> str | None:
    geo = problem.geo
    tiles = _tiles(context, problem)
    items = int(np.prod(_global_size(tiles, problem)))
    # (fewer work-items per compute unit: conv_direct's finer tiles keep the cores busier)
    wanted = context.params["items_per_unit"] * context.profile.compute_units
    return first_reason(
        (geo.kernel == (1, 1, 1), f"a {geo.kernel} kernel (not 1x1)"),
        (geo.stride == (1, 1, 1), f"stride {geo.stride}"),
        (geo.padding == (0, 0, 0), f"padding {geo.padding}"),
        # (the gradients' convolutions choose their output sizes: a stride-2 gradient's 1x1
        # phase reads 111x111 and writes 112x112)
        (geo.out_size == geo.in_size, f"output {geo.out_size} of another size than the "
                                      f"input {geo.in_size}"),
        (geo.groups == 1, f"{geo.groups} groups"),
        (_positions(problem) >= context.params["min_positions"],
         f"planes of {_positions(problem)} positions (fewer than "
         f"{context.params['min_positions']})"),
        (items >= wanted, f"{items} work-items (fewer than {wanted})")) \
        or _loop(context, problem, tiles)


def _loop(context: Context, problem: ConvProblem, tiles: dict) -> str | None:
    """A work-item's loops (dispatch.loop_reason): over its input channels, blocks and span's
    tiles (and the plane's last vector where it is not whole), a block's accumulators in each;
    in planes shorter than a vector, the last one's also over the positions one by one."""
    geo, channels, positions = problem.geo, tiles["ITEM_BLOCKS"] * tiles["BLOCK_K"], \
        _positions(problem)
    body = tiles["BLOCK_K"] * tiles["BLOCK_V"] + tiles["BLOCK_K"] + tiles["BLOCK_V"] + 1
    spans = tiles["SPAN"] // (tiles["VW"] * tiles["BLOCK_V"]) + (positions % tiles["VW"] > 0)
    tail = positions * channels * (geo.in_channels + 1) if positions < tiles["VW"] else 0
    return loop_reason(context, geo.in_channels * tiles["ITEM_BLOCKS"] * spans
                       + -(-tail // body),
                       "a work-item over its input channels, blocks and span", body=body)


def _run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    _launch(context, problem, x, w, b, y, epilogue)


def _launch(context: Context, problem: ConvProblem, x: Tensor, w: Tensor, b: Tensor | None,
            y: Tensor, epilogue: Epilogue, scale: Tensor | None = None,
            residual: Tensor | None = None) -> None:
    device, geo = context.device, problem.geo
    tiles = _tiles(context, problem)
    defines = {name: value for name, value in tiles.items() if name != "VW"}
    if scale is not None:
        defines["INPUT_SCALE"] = 1
    if residual is not None:
        defines["RESIDUAL"] = 1
    kernel = runtime.get_kernel(device, "conv_pointwise", "conv_pointwise", **defines,
                                **epilogue.defines(),
                                **runtime.vector_defines(device, problem.dtype, tiles["VW"]))
    runtime.launch(device, kernel, _global_size(tiles, problem), (1, 1, 1), buffer(x, device),
                   buffer(w, device), buffer(b, device), *i32(b is not None),
                   *epilogue.args(problem.dtype), y.array.data, buffer(scale, device),
                   buffer(residual, device),
                   *i32(geo.in_channels, geo.out_channels, _positions(problem)))


def run_fused(choice, problem: ConvProblem, x: Tensor, scale: Tensor | None,
              residual: Tensor | None, w: Tensor, b: Tensor | None, y: Tensor,
              epilogue: Epilogue) -> bool:
    """y = activation(conv(x * scale) + b + residual), `scale` (N x C, or None) applied as the
    kernel reads x (INPUT_SCALE), `residual` (y's shape, or None) added in its last pass
    (RESIDUAL), where `choice` (the dispatcher's for `problem`) is this algorithm; else False
    (nothing run)."""
    if choice.algorithm != "pointwise":
        return False
    _launch(choice.context, problem, x, w, b, y, epilogue, scale, residual)
    return True


dispatch.register(Algorithm(
    "conv_forward", "pointwise", _run, applies=_applies, params=_tiles,
    about="conv_pointwise: 1x1, stride 1: SPAN positions x ITEM_CHANNELS output channels per "
    "work-item, CHUNK input channels a pass, partial sums kept in the output"))
