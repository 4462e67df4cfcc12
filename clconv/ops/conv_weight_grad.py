"""The weight gradient's general algorithm (family "conv_weight_grad"; kernels/
conv_weight_grad.cl), GPUs: the reduction over batch x positions split across work-items
(split-K), the partial tiles summed in order. See conv_grad.py."""
from __future__ import annotations


import numpy as np

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context
from ..tensors import Tensor, empty
from .arguments import i32
from .conv_geometry import ConvProblem, geometry_args
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
