"""Gradients of convolution: the input gradient (family "conv_input_grad") and the weight
gradient ("conv_weight_grad"), each by the algorithm the dispatcher chooses, and the bias
gradient (a per-channel row sum). Deterministic: no atomics, each result written by one
work-item, partial sums added in a fixed order.

Input gradient:
- phases: strided convolutions (1D, 2D, 3D), each phase of dx a stride-1 convolution of dy with that
  phase's taps (no multiply-add meets the zeros a spread-out dy would have).
- transposed: the stride-1 convolution of dy (spread out by the stride) with the flipped,
  transposed weights, through the forward's fastest path.
- general: conv_backward_input, a gather kernel for any option (no workspace).
Weight gradient:
- depthwise, pointwise, rows, flat (CPUs): wide-vector products over padded (phase-split) planes.
- local (GPUs): conv_weight_grad_local, an implicit GEMM with slices in local memory, the
  reduction over batch x positions split across work-groups (4+ per compute unit) into a
  workspace, then summed in order by sum_slices.
- general (GPUs): conv_backward_weight, the reduction over batch x positions split across
  work-items into a workspace (split-K), then summed in order by sum_slices.
"""
from __future__ import annotations

import numpy as np

from .. import dispatch, runtime, tuning
from ..tensors import Tensor, empty
# The algorithms register themselves with the dispatcher when imported.
from . import conv_input_grad, conv_weight_grad, conv_weight_grad_cpu  # noqa: F401
from .conv_geometry import ConvGeometry, ConvProblem
from .reduce import Rows, row_sum


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
            # phase_scatter a row per work-item (CPUs) or a column per work-item (GPUs)
            "phases": {"scatter": "rows" if profile.kind == "cpu" else "columns"},
            "general": {"TILE_C": 8, "TILE_P": 8,
                        "local": [multiple, max(1, 64 // multiple), 1]},
        },
        "conv_weight_grad": {
            "order": ["depthwise", "pointwise", "rows", "flat", "general"]
            if profile.kind == "cpu" else ["local", "general"],
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
            # (GPUs: where conv_weight_grad_local does not run, depthwise: 64 (tap, split)
            # work-items a group)
            "general": {"TILE_C": 8, "TILE_K": 8, "chunk": 2048,
                        "local": [1, 1, 1] if profile.kind == "cpu" else [64, 1, 1]},
            # conv_weight_grad_local (GPUs): gemm_local's blocking; the reduction split for 4
            # work-groups per compute unit (down to runs of one 16-deep slice: ResNet-18's
            # 64 -> 128 1x1 at batch 8 has 2 blocks for 132 compute units); fewer than 16
            # output channels, or input channels x taps, per group (depthwise) keep the
            # general kernel. Derived, not measured.
            "local": {"WG": [16, 16], "RM": 4, "RN": 4, "BK": 16, "groups_per_unit": 4,
                      "min_chunk": 16, "min_channels": 16},
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
        runtime.fill(dx.array, 0)
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
        runtime.fill(dw.array, 0)
        return dw
    return dispatch.run("conv_weight_grad", grad.device, ConvProblem(geo, np.dtype(x.dtype)), x,
                        grad, dw)


def bias_grad(grad: Tensor) -> Tensor:
    """dL/dbias: the output gradient summed over the batch and every position, per channel."""
    batch, channels = grad.shape[:2]
    spatial = grad.size // max(batch * channels, 1)
    return row_sum(grad, Rows.channels(batch, channels, spatial))
