"""linear (y = x @ weight.T + bias over the last dimension) and matmul with broadcasting, and
their gradients (`gemm.cl`)."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from .. import autograd, dispatch, runtime, tuning
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor, empty
from .arguments import buffer, expect_shape, i32, tensors
from .conv_geometry import NO_EPILOGUE, Epilogue
from .elementwise import sum_to_shape
from .reduce import Rows, row_sum
from .shape import broadcasted


def _defaults(profile) -> dict:
    """4 x 8 register tiles; work-groups of one work-item on CPUs (PoCL runs a group as a loop
    over its items), 8 x 8 elsewhere (64 items: two warps, a wavefront). On CPUs, products of operands that both run along k
    (linear's forward) take gemm_dot: 16 accumulator vectors over up to 8 rows, the weights
    read once per 8 rows (measured 2-3x faster than the tiles from 1 to 256 rows: gemm reads
    the weights' columns element by element)."""
    return {
        "order": ["dot", "tiled"] if profile.kind == "cpu" else ["local", "tiled"],
        "tiled": {"TILE_M": 4, "TILE_N": 8,
                  "local": [1, 1] if profile.kind == "cpu" else [8, 8]},
        "dot": {"vector_bytes": profile.vector_bytes, "accumulators": 16},
        # gemm_local (GPUs): 16 x 16 work-items of 4 x 4 results, 64 x 64 blocks, slices of 16
        # along k in local memory (8.3 KiB in float32), smaller groups where the device's are;
        # products with fewer than 16 rows or columns keep gemm's tiles (a block would be
        # mostly idle). Derived, not measured.
        "local": {"WG": [16, 16], "RM": 4, "RN": 4, "BK": 16, "min_size": 16},
    }


tuning.register_defaults("gemm", _defaults)


@dataclass(frozen=True)
class GemmProblem:
    m: int
    n: int
    k: int
    dtype: np.dtype
    batch: int = 1
    along_k: bool = False  # a's rows and b's columns are contiguous (strides (k, 1), (1, k))


def _tiled(context: Context, problem: GemmProblem, a, a_strides, b, b_strides, bias, out,
           batch_strides=(0, 0)):
    device, params = context.device, context.params
    tiles = {"TILE_M": int(params["TILE_M"]), "TILE_N": int(params["TILE_N"])}
    kernel = runtime.get_kernel(device, "gemm", "gemm", **tiles,
                                **runtime.dtype_defines(problem.dtype))
    global_size = (-(-problem.n // tiles["TILE_N"]), -(-problem.m // tiles["TILE_M"]),
                   problem.batch)
    runtime.launch(device, kernel, global_size, tuple(params["local"]) + (1,),
                   buffer(a, device), *i32(*a_strides), buffer(b, device), *i32(*b_strides),
                   buffer(bias, device), *i32(bias is not None), out.array.data,
                   *i32(problem.m, problem.n, problem.k, *batch_strides))


dispatch.register(Algorithm("gemm", "tiled", _tiled,
                            params=lambda c, p: dict(c.params),
                            about="gemm: a TILE_M x TILE_N register tile per work-item"))


def local_tile(context: Context, problem: GemmProblem) -> dict:
    """gemm_local's blocking from the table: work-items (WG_M x WG_N, halved along the longer
    side until the device allows the group), results per item (RM x RN), the slice along k
    (BK), and the loads per item of each slice."""
    params, profile = context.params, context.profile
    wg_m, wg_n = (int(v) for v in params["WG"])
    sizes = profile.max_work_item_sizes
    while wg_m * wg_n > profile.max_work_group_size or wg_n > sizes[0] or wg_m > sizes[1]:
        if wg_n >= wg_m and wg_n > 1:
            wg_n //= 2
        elif wg_m > 1:
            wg_m //= 2
        else:
            break
    rm, rn, bk = int(params["RM"]), int(params["RN"]), int(params["BK"])
    items = wg_m * wg_n
    return {"WG_M": wg_m, "WG_N": wg_n, "RM": rm, "RN": rn, "BK": bk,
            "A_LOADS": wg_m * rm * bk // items, "B_LOADS": wg_n * rn * bk // items}


def local_bytes(tile: dict, dtype) -> int:
    """Local memory of one work-group's slices (padded by a word per row)."""
    return tile["BK"] * (tile["WG_M"] * tile["RM"] + tile["WG_N"] * tile["RN"] + 2) * \
        np.dtype(dtype).itemsize


def local_tile_reason(context: Context, tile: dict, dtype) -> str | None:
    """Why the device cannot run `tile`'s blocking (gemm_local's and conv_local's), else None."""
    items = tile["WG_M"] * tile["WG_N"]
    needed = local_bytes(tile, dtype)
    profile = context.profile
    return first_reason(
        (items <= profile.max_work_group_size,
         f"work-groups of {items} items (the device allows {profile.max_work_group_size})"),
        (tile["WG_N"] <= profile.max_work_item_sizes[0]
         and tile["WG_M"] <= profile.max_work_item_sizes[1],
         f"a {tile['WG_N']} x {tile['WG_M']} work-group past {profile.max_work_item_sizes}"),
        (tile["A_LOADS"] * items == tile["WG_M"] * tile["RM"] * tile["BK"]
         and tile["B_LOADS"] * items == tile["WG_N"] * tile["RN"] * tile["BK"],
         "slices that do not divide among the work-items"),
        (max(tile["RM"], tile["RN"], tile["A_LOADS"], tile["B_LOADS"]) <= 16,
         "more than 16 results or loads per work-item along a dimension"),
        (needed <= profile.local_memory_bytes,
         f"its slices need {needed:,} bytes of local memory, the device has "
         f"{profile.local_memory_bytes:,}"))


def _local_applies(context: Context, problem: GemmProblem) -> str | None:
    tile = local_tile(context, problem)
    return local_tile_reason(context, tile, problem.dtype) or loop_reason(
        context, problem.k + -(-problem.k // tile["BK"]), "a work-item along k")


def _local_prefers(context: Context, problem: GemmProblem) -> str | None:
    least = int(context.params["min_size"])
    return None if min(problem.m, problem.n) >= least else \
        f"{problem.m} x {problem.n} results (fewer than {least} rows or columns)"


def _local(context: Context, problem: GemmProblem, a, a_strides, b, b_strides, bias, out,
           batch_strides=(0, 0)):
    device, tile = context.device, local_tile(context, problem)
    kernel = runtime.get_kernel(device, "gemm_local", "gemm_local", **tile,
                                A_K_FAST=int(a_strides[1] == 1), B_K_FAST=int(b_strides[0] == 1),
                                **runtime.dtype_defines(problem.dtype))
    items = tile["WG_M"] * tile["WG_N"]
    if runtime.kernel_limits(device, kernel).work_group_size < items:
        # (registers can lower a kernel's limit below the device's): gemm's tiles instead
        return _tiled(context.sibling("tiled"), problem, a, a_strides, b, b_strides, bias, out,
                      batch_strides)
    global_size = (-(-problem.n // (tile["WG_N"] * tile["RN"])) * tile["WG_N"],
                   -(-problem.m // (tile["WG_M"] * tile["RM"])) * tile["WG_M"], problem.batch)
    runtime.launch(device, kernel, global_size, (tile["WG_N"], tile["WG_M"], 1),
                   buffer(a, device), *i32(*a_strides), buffer(b, device), *i32(*b_strides),
                   buffer(bias, device), *i32(bias is not None), out.array.data,
                   *i32(problem.m, problem.n, problem.k, *batch_strides))


dispatch.register(Algorithm("gemm", "local", _local, applies=_local_applies,
                            prefers=_local_prefers, params=local_tile,
                            about="gemm_local: 64 x 64 blocks per work-group, slices along k "
                            "in local memory, 4 x 4 results per work-item"))


def dot_tile(context: Context, problem: GemmProblem) -> dict:
    """gemm_dot's rows x columns per work-item: the rows up to 8 (a power of two), columns
    for the table's accumulator vectors (at most 8)."""
    rows = 1 << (min(problem.m, 8).bit_length() - 1)
    return {"DOT_M": rows, "DOT_N": max(1, min(8, context.params["accumulators"] // rows)),
            "VW": context.lanes(problem.dtype)}


def dot_loop(context: Context, problem: GemmProblem) -> str | None:
    """gemm_dot's loop along k, on devices whose loops stop early (dispatch.loop_reason)."""
    tile = dot_tile(context, problem)
    rows, columns = tile["DOT_M"], tile["DOT_N"]
    return loop_reason(context, problem.k // tile["VW"], "a work-item along k",
                       body=rows * columns + rows + columns + 1)


def _dot_applies(context: Context, problem: GemmProblem) -> str | None:
    return dot_loop(context, problem) if problem.along_k else \
        "the operands do not both run along k"


def _dot(context: Context, problem: GemmProblem, a, a_strides, b, b_strides, bias, out,
         batch_strides=(0, 0)):
    launch_dot(context, problem, a, a_strides[0], b, b_strides[1], bias, out, batch_strides)


def launch_dot(context: Context, problem: GemmProblem, a, a_row: int, b, b_column: int, bias,
               out, batch_strides=(0, 0), epilogue: Epilogue = NO_EPILOGUE) -> None:
    """gemm_dot: out (m x n) = a (m x k, rows a_row apart) times b (columns b_column apart,
    each contiguous along k) [+ bias], then the epilogue's activation. `out`: a Tensor or a
    buffer."""
    device, tile = context.device, dot_tile(context, problem)
    kernel = runtime.get_kernel(device, "gemm", "gemm_dot", DOT_M=tile["DOT_M"],
                                DOT_N=tile["DOT_N"], **epilogue.defines(),
                                **runtime.vector_defines(device, problem.dtype, tile["VW"]))
    global_size = (-(-problem.n // tile["DOT_N"]), -(-problem.m // tile["DOT_M"]),
                   problem.batch)
    runtime.launch(device, kernel, global_size, (1, 1, 1), buffer(a, device), *i32(a_row),
                   buffer(b, device), *i32(b_column), buffer(bias, device),
                   *i32(bias is not None), *epilogue.args(problem.dtype),
                   out.array.data if isinstance(out, Tensor) else out,
                   *i32(problem.m, problem.n, problem.k, *batch_strides))


dispatch.register(Algorithm("gemm", "dot", _dot, applies=_dot_applies, params=dot_tile,
                            about="gemm_dot: DOT_M rows x DOT_N columns per work-item, vectors "
                            "along k (both operands contiguous along k)"))


def gemm(a: Tensor, a_strides: tuple[int, int], b: Tensor, b_strides: tuple[int, int],
         m: int, n: int, k: int, bias: Tensor | None = None, batch: int = 1,
         batch_strides: tuple[int, int] = (0, 0)) -> Tensor:
    """(m x n) = a (m x k) @ b (k x n) [+ bias], operands read through (row, column) strides;
    with `batch`, (batch, m, n), the operands `batch_strides` elements apart per entry."""
    out = empty((batch, m, n) if batch != 1 else (m, n), a.dtype, a.device)
    if out.size:
        along_k = a_strides[1] == 1 and b_strides[0] == 1
        dispatch.run("gemm", a.device, GemmProblem(m, n, k, np.dtype(a.dtype), batch, along_k),
                     a, a_strides, b, b_strides, bias, out, batch_strides)
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


def matmul(input, other) -> Tensor:
    """The matrix product with torch.matmul's rules: 1-D operands are vectors (a dimension of 1
    added, then removed), the dimensions before the last two are batch dimensions and
    broadcast."""
    op = "matmul"
    t = tensors(op, input=input, other=other)
    a, b = t["input"], t["other"]
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: both operands need at least one dimension, got shapes {a.shape} "
                         f"and {b.shape}")
    a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
    b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
    (m, k), (k2, n) = a2.shape[-2:], b2.shape[-2:]
    if k != k2:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({k} columns against {k2} rows)")
    try:
        batch_shape = tuple(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]))
    except ValueError:
        raise ValueError(f"{op}: the batch dimensions of {a.shape} and {b.shape} cannot be "
                         "broadcast") from None
    batch = prod(batch_shape)

    def operand(x, rows, cols):
        """x's matrices for every batch entry and their distance: 0 where x has one matrix."""
        if prod(x.shape[:-2]) == 1:
            return x, 0
        return broadcasted(x, batch_shape + (rows, cols)), rows * cols

    a3, a_step = operand(a2, m, k)
    b3, b_step = operand(b2, k, n)
    y = gemm(a3, (k, 1), b3, (n, 1), m, n, k, batch=batch, batch_strides=(a_step, b_step))
    out_shape = batch_shape + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    y = y.reshape(out_shape)

    def backward(grad):
        g = grad.reshape((batch, m, n))
        da = db = None
        if a.requires_grad:  # da = g b^T, then summed over a's broadcast batch dimensions
            da = gemm(g, (n, 1), b3, (1, n), m, k, n, batch=batch,
                      batch_strides=(m * n, b_step)).reshape(batch_shape + (m, k))
            da = sum_to_shape(da, a2.shape).reshape(a.shape)
        if b.requires_grad:  # db = a^T g
            db = gemm(a3, (1, k), g, (n, 1), k, n, m, batch=batch,
                      batch_strides=(a_step, m * n)).reshape(batch_shape + (k, n))
            db = sum_to_shape(db, b2.shape).reshape(b.shape)
        return da, db

    return autograd.record(op, y, (a, b), backward, saved=(a, b))


@dispatch.explains(linear)
def _explain_linear(*args, **kwargs) -> list:
    """The product of the forward (its gradients are products of the same kernel)."""
    x, w, _ = _linear_arguments(*args, **kwargs)
    problem = GemmProblem(prod(x.shape[:-1]), w.shape[0], w.shape[1], np.dtype(x.dtype),
                          along_k=True)
    return [dispatch.choose("gemm", x.device, problem)]


@dispatch.explains(matmul)
def _explain_matmul(input, other) -> list:
    """The product of the forward, per batch entry (its gradients are products too)."""
    t = tensors("matmul", input=input, other=other)
    a, b = t["input"], t["other"]
    m = a.shape[-2] if a.ndim > 1 else 1
    n = b.shape[-1] if b.ndim > 1 else 1
    problem = GemmProblem(m, n, a.shape[-1], np.dtype(a.dtype))
    return [dispatch.choose("gemm", a.device, problem)]
