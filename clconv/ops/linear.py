"""linear: y = x @ weight.T + bias over the last dimension, and its gradients (`gemm.cl`)."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from .. import autograd, dispatch, runtime, tuning
from ..dispatch import Algorithm, Context
from ..tensors import Tensor, empty
from .arguments import buffer, expect_shape, i32, tensors
from .reduce import Rows, row_sum


def _defaults(profile) -> dict:
    """4 x 8 register tiles; work-groups of one work-item on CPUs (PoCL runs a group as a loop
    over its items), 4 x 4 elsewhere."""
    return {"tiled": {"TILE_M": 4, "TILE_N": 8,
                      "local": [1, 1] if profile.kind == "cpu" else [4, 4]}}


tuning.register_defaults("gemm", _defaults)


@dataclass(frozen=True)
class GemmProblem:
    m: int
    n: int
    k: int
    dtype: np.dtype


def _tiled(context: Context, problem: GemmProblem, a, a_strides, b, b_strides, bias, out):
    device, params = context.device, context.params
    tiles = {"TILE_M": int(params["TILE_M"]), "TILE_N": int(params["TILE_N"])}
    kernel = runtime.get_kernel(device, "gemm", "gemm", **tiles,
                                **runtime.dtype_defines(problem.dtype))
    global_size = (-(-problem.n // tiles["TILE_N"]), -(-problem.m // tiles["TILE_M"]))
    runtime.launch(device, kernel, global_size, tuple(params["local"]),
                   buffer(a, device), *i32(*a_strides), buffer(b, device), *i32(*b_strides),
                   buffer(bias, device), *i32(bias is not None), out.array.data,
                   *i32(problem.m, problem.n, problem.k))


dispatch.register(Algorithm("gemm", "tiled", _tiled,
                            params=lambda c, p: dict(c.params),
                            about="gemm: a TILE_M x TILE_N register tile per work-item"))


def gemm(a: Tensor, a_strides: tuple[int, int], b: Tensor, b_strides: tuple[int, int],
         m: int, n: int, k: int, bias: Tensor | None = None) -> Tensor:
    """(m x n) = a (m x k) @ b (k x n) [+ bias], operands read through (row, column) strides."""
    out = empty((m, n), a.dtype, a.device)
    if out.size:
        dispatch.run("gemm", a.device, GemmProblem(m, n, k, np.dtype(a.dtype)), a, a_strides, b,
                     b_strides, bias, out)
    return out


def _linear_arguments(input, weight, bias=None):
    op = "linear"
    t = tensors(op, ("bias",), input=input, weight=weight, bias=bias)
    x, w, b = t["input"], t["weight"], t["bias"]
    if w.ndim != 2:
        raise ValueError(f"{op}: weight must be 2D (out_features, in_features), got {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features but weight of shape {w.shape} expects {w.shape[1]}")
    expect_shape(b, (w.shape[0],), "bias", op, " (out_features)")
    return x, w, b


def linear(input, weight, bias=None) -> Tensor:
    op = "linear"
    x, w, b = _linear_arguments(input, weight, bias)
    rows, out_features, in_features = prod(x.shape[:-1]), w.shape[0], w.shape[1]
    # y = x w^T + b: b's (k, n) element is w[n, k].
    y = gemm(x, (in_features, 1), w, (1, in_features), rows, out_features, in_features, b)
    y = y.reshape(x.shape[:-1] + (out_features,))

    def backward(grad):
        dx = dw = db = None
        if x.requires_grad:  # dx = dy w
            dx = gemm(grad, (out_features, 1), w, (in_features, 1), rows, in_features,
                      out_features).reshape(x.shape)
        if w.requires_grad:  # dw = dy^T x
            dw = gemm(grad, (1, out_features), x, (in_features, 1), out_features, in_features,
                      rows)
        if b is not None and b.requires_grad:  # db = sum of dy over the rows
            db = row_sum(grad, Rows(count=out_features, row_stride=1, segments=rows,
                                    segment_stride=out_features, segment_len=1, row_div=1,
                                    row_mod=out_features))
        return dx, dw, db

    return autograd.record(op, y, (x, w, b), backward, saved=(x, w))


@dispatch.explains(linear)
def _explain_linear(*args, **kwargs) -> list:
    """The product of the forward (its gradients are products of the same kernel)."""
    x, w, _ = _linear_arguments(*args, **kwargs)
    problem = GemmProblem(prod(x.shape[:-1]), w.shape[0], w.shape[1], np.dtype(x.dtype))
    return [dispatch.choose("gemm", x.device, problem)]
