"""conv_forward's dot algorithm, CPUs: a 1x1 convolution of 1x1 planes (a squeeze-excitation's
two convolutions, a classifier written as a convolution) is the product x (N x C) w^T (C x K),
both operands contiguous along the channels: linear's gemm_dot, with the epilogue, and none of
conv_direct's copies of the input (kernels/gemm.cl)."""
from __future__ import annotations

import numpy as np

from .. import dispatch
from ..dispatch import Algorithm, Context, first_reason
from .conv_geometry import ConvProblem
from .linear import GemmProblem, dot_loop, dot_tile, launch_dot


def _product(problem: ConvProblem) -> GemmProblem:
    geo = problem.geo
    return GemmProblem(geo.batch, geo.out_channels, geo.in_channels, np.dtype(problem.dtype),
                       along_k=True)


def _dot_applies(context: Context, problem: ConvProblem) -> str | None:
    geo = problem.geo
    return first_reason(
        (geo.in_size == (1, 1, 1), f"planes of {geo.in_size} (not 1x1)"),
        (geo.kernel == (1, 1, 1), f"a {geo.kernel} kernel (not 1x1)"),
        (geo.padding == (0, 0, 0), f"padding {geo.padding}"),
        (geo.groups == 1, f"{geo.groups} groups")) or dot_loop(context, _product(problem))


def _dot_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo = problem.geo
    launch_dot(context, _product(problem), x, geo.in_channels, w, geo.in_channels, b, y,
               epilogue=epilogue)


dispatch.register(Algorithm(
    "conv_forward", "dot", _dot_run, applies=_dot_applies,
    params=lambda context, problem: dot_tile(context, _product(problem)),
    about="gemm_dot: a 1x1 convolution of 1x1 planes as the product of the inputs and the "
    "weights, both contiguous along the channels"))
