"""max / average / adaptive-average pooling in 1, 2 and 3 dimensions (`pool.cl`).

The dispatcher chooses each direction's kernel (families "max_pool_forward",
"max_pool_backward", "avg_pool_forward", "avg_pool_backward"): the general kernels (one
work-item per output, or per input for the backward: any window), or the specialized ones for
common 2D windows, in which a work-item computes a vector of neighbouring outputs along a row
(max 2x2 at stride 2: "k2s2"; average 3x3 at stride 1 with padding 1: "k3s1p1").
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np

from .. import autograd, dispatch, runtime, tuning
from ..dispatch import Algorithm, Context, first_reason
from ..shapes import pool_output_size
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import (
    as_3d,
    i32,
    non_negative,
    ntuple,
    pad3,
    positive,
    spatial_input,
    tensors,
)

_FAMILIES = ("max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward")


def _defaults(profile) -> dict:
    """CPUs: the specialized kernels first (a row of outputs in vectors per work-item, in
    work-groups of 16 rows), vectors one register wide. GPUs: the general kernels, one output
    per work-item (consecutive items on consecutive outputs: coalesced; a row per work-item
    leaves a GPU too little parallelism and scatters a warp's loads across rows); the
    specialized ones stay available (forced or by the table) in groups of the launch size."""
    cpu = profile.kind == "cpu"
    rows_local = 16 if cpu else max(64, profile.preferred_multiple)
    special = {"local": rows_local, "vector_bytes": profile.vector_bytes}
    entries = {}
    for family in _FAMILIES:
        name = "k2s2" if family.startswith("max") else "k3s1p1"
        entries[family] = {"order": [name, "general"] if cpu else ["general", name],
                           name: dict(special)}
    if cpu:
        entries["max_pool_forward"]["order"].insert(1, "rows")
        entries["max_pool_forward"]["rows"] = dict(special)
    return entries


for _family in _FAMILIES:
    tuning.register_defaults(_family, lambda profile, _family=_family: _defaults(profile)[_family])
del _family


@dataclass(frozen=True)
class PoolProblem:
    """What the pooling algorithms decide on."""
    nd: int
    shape: tuple      # the (batched) input's
    out: tuple        # the output's spatial size
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    dtype: np.dtype


def _window(op, nd, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated (kernel, stride, padding, dilation, out_size) of a pooling window."""
    kernel = positive(ntuple(kernel_size, nd, "kernel_size", op), "kernel_size", op)
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        stride = kernel
    stride = positive(ntuple(stride, nd, "stride", op), "stride", op)
    padding = non_negative(ntuple(padding, nd, "padding", op), "padding", op)
    dilation = positive(ntuple(dilation, nd, "dilation", op), "dilation", op)
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: padding {padding} must be at most half of the (dilated) "
                             f"kernel size {kernel} (dilation {dilation})")
    spatial = x.shape[2:]
    out = tuple(pool_output_size(*args, ceil_mode)
                for args in zip(spatial, kernel, stride, padding, dilation))
    if min(out) <= 0 or min(spatial) <= 0:
        raise ValueError(f"{op}: input of shape {x.shape} is too small for kernel_size {kernel}, "
                         f"stride {stride}, padding {padding}, dilation {dilation}: the output "
                         f"would be {out}")
    return kernel, stride, padding, dilation, out


def _kernel(device, name: str, dtype, lanes: int | None = None, family: str = "pool"):
    return runtime.get_kernel(device, family, name,
                              **runtime.vector_defines(device, dtype, lanes))


def _k2s2_lanes(context: Context, p: PoolProblem) -> int:
    """max_pool2d_k2s2's vectors hold int64 indices as well: lanes of 8-byte elements."""
    return context.lanes(np.int64 if p.dtype.itemsize < 8 else p.dtype)


def _k2s2_applies(context: Context, p: PoolProblem) -> str | None:
    """max_pool2d_k2s2: 2x2 windows at stride 2, no padding or dilation, any size/ceil_mode."""
    return first_reason((p.nd == 2, f"{p.nd}D pooling"),
                        (p.kernel == (2, 2), f"kernel {p.kernel}"),
                        (p.stride == (2, 2), f"stride {p.stride}"),
                        (p.padding == (0, 0), f"padding {p.padding}"),
                        (p.dilation == (1, 1), f"dilation {p.dilation}"))


def _k3s1p1_applies(context: Context, p: PoolProblem) -> str | None:
    """avg_pool2d_k3s1p1: 3x3 windows at stride 1 with padding 1 on rows of at least a
    vector."""
    lanes = context.lanes(p.dtype)
    return first_reason((p.nd == 2, f"{p.nd}D pooling"),
                        (p.kernel == (3, 3), f"kernel {p.kernel}"),
                        (p.stride == (1, 1), f"stride {p.stride}"),
                        (p.padding == (1, 1), f"padding {p.padding}"),
                        (p.shape[-1] >= lanes, f"rows of {p.shape[-1]} are shorter than a "
                                               f"vector ({lanes})"))


def _rows_interior(p: PoolProblem) -> int:
    """How many outputs of a row max_pool2d_rows computes with vectors (pool_rows.cl)."""
    (kw, sw, pw), (width, out_w) = (p.kernel[1], p.stride[1], p.padding[1]), (p.shape[3], p.out[1])
    low, last = -(-pw // sw), width - 1 + pw - (kw - 1) - (sw - 1)
    return 0 if last < 0 else min(last // sw, out_w - 1) - low + 1


def _rows_applies(context: Context, p: PoolProblem) -> str | None:
    """max_pool2d_rows: 2D windows at stride 1 or 2 along rows, no dilation, rows long enough
    for a vector of outputs whose windows lie inside the input."""
    lanes = _k2s2_lanes(context, p)
    if p.nd != 2:
        return f"{p.nd}D pooling"
    return first_reason((p.stride[1] in (1, 2), f"stride {p.stride[1]} along rows"),
                        (p.dilation == (1, 1), f"dilation {p.dilation}"),
                        (_rows_interior(p) >= lanes,
                         f"fewer than a vector ({lanes}) of outputs per row away from its edges"))


def _vector_params(context: Context, p: PoolProblem) -> dict:
    lanes = (_k2s2_lanes(context, p) if context.algorithm in ("k2s2", "rows")
             else context.lanes(p.dtype))
    return {"VW": lanes, "local": context.params["local"]}


def _plane_args(x: Tensor, out) -> list:
    planes = x.shape[0] * x.shape[1]
    return i32(planes, *as_3d(x.shape[2:]), *as_3d(out))


def _max_pool_problem(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode):
    """The checked input (batched), whether it was batched, the window's kernel arguments and
    the dispatcher's problem."""
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    kernel, stride, padding, dilation, out = _window(
        op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    window = [*i32(*pad3(kernel, 1)), *i32(*pad3(stride, 1)), *i32(*pad3(padding, 0))]
    return x, batched, window, PoolProblem(nd, x.shape, out, kernel, stride, padding, dilation,
                                           np.dtype(x.dtype))


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, batched, window, problem = _max_pool_problem(op, nd, input, kernel_size, stride, padding,
                                                    dilation, ceil_mode)
    device, out = x.device, problem.out
    y = empty(x.shape[:2] + out, x.dtype, device)
    # The backward routes each gradient to its window's argmax: keep indices when it will run.
    keep_indices = return_indices or autograd.needs_grad(x)
    indices = empty(y.shape, "int64", device) if keep_indices else None
    indices_data = indices.array.data if keep_indices else device.placeholder
    if y.size:
        dispatch.run("max_pool_forward", device, problem, x, y, indices_data, keep_indices,
                     window)

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size:
            dispatch.run("max_pool_backward", device, problem, grad, indices, dx, window)
        return (dx,)

    y = autograd.record(op, y, (x,), backward)
    if not batched:  # (backward keeps the batched indices: do not rebind that name)
        y = y.reshape(y.shape[1:])
    if return_indices:
        return y, indices if batched else indices.reshape(indices.shape[1:])
    return y


def _max_k2s2_forward(context, p: PoolProblem, x, y, indices_data, keep_indices, window):
    planes = p.shape[0] * p.shape[1]
    runtime.launch(context.device, _kernel(context.device, "max_pool2d_k2s2", p.dtype,
                                           _k2s2_lanes(context, p), "pool_k2s2"),
                   (planes * p.out[0],), (context.params["local"],), x.array.data, y.array.data,
                   indices_data, *i32(keep_indices, planes, *p.shape[2:], *p.out))


def _max_rows_forward(context, p: PoolProblem, x, y, indices_data, keep_indices, window):
    planes = p.shape[0] * p.shape[1]
    kernel = runtime.get_kernel(context.device, "pool_rows", "max_pool2d_rows", POOL_SW=p.stride[1],
                                **runtime.vector_defines(context.device, p.dtype,
                                                         _k2s2_lanes(context, p)))
    runtime.launch(context.device, kernel, (planes * p.out[0],), (context.params["local"],),
                   x.array.data, y.array.data, indices_data,
                   *i32(keep_indices, planes, *p.shape[2:], *p.out, *p.kernel, p.stride[0],
                        *p.padding))


def _max_general_forward(context, p: PoolProblem, x, y, indices_data, keep_indices, window):
    runtime.launch(context.device, _kernel(context.device, "max_pool_forward", p.dtype),
                   (y.size,), (launch_sizes.items(context.device),), x.array.data, y.array.data,
                   indices_data, *i32(keep_indices), *_plane_args(x, p.out), *window,
                   *i32(*pad3(p.dilation, 1)))


def _max_k2s2_backward(context, p: PoolProblem, grad, indices, dx, window):
    planes, (height, width) = p.shape[0] * p.shape[1], p.shape[2:]
    runtime.launch(context.device, _kernel(context.device, "max_pool2d_k2s2_backward", p.dtype,
                                           _k2s2_lanes(context, p), "pool_k2s2"),
                   (planes * ((height + 1) // 2),), (context.params["local"],), grad.array.data,
                   indices.array.data, dx.array.data, *i32(planes, height, width, *p.out))


def _max_general_backward(context, p: PoolProblem, grad, indices, dx, window):
    runtime.launch(context.device, _kernel(context.device, "max_pool_backward", p.dtype),
                   (dx.size,), (launch_sizes.items(context.device),), grad.array.data,
                   indices.array.data, dx.array.data, *_plane_args(dx, p.out), *window,
                   *i32(*pad3(p.dilation, 1)))


for _direction, _special, _general in (("forward", _max_k2s2_forward, _max_general_forward),
                                       ("backward", _max_k2s2_backward, _max_general_backward)):
    dispatch.register(Algorithm(
        f"max_pool_{_direction}", "k2s2", _special, applies=_k2s2_applies,
        params=_vector_params, about="2x2 windows at stride 2: a vector of outputs per step"))
    dispatch.register(Algorithm(
        f"max_pool_{_direction}", "general", _general,
        about="one work-item per output (forward) or input (backward), any window"))
dispatch.register(Algorithm(
    "max_pool_forward", "rows", _max_rows_forward, applies=_rows_applies, params=_vector_params,
    about="2D windows at stride 1 or 2 along rows: a row per work-item, vectors of outputs "
    "inside it"))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _avg_k3s1p1(context, p: PoolProblem, source: Tensor, out: Tensor, window,
                backward: bool) -> None:
    """The 3x3 / stride 1 / padding 1 average pool of `source` (backward: its input gradient from
    the output gradient `source`: the same neighbourhood, see pool.cl) into `out`."""
    lanes = context.lanes(p.dtype)
    planes, blocks = source.shape[0] * source.shape[1], source.shape[3] // lanes
    count_include_pad, divisor_override = window[-2:]
    runtime.launch(context.device, _kernel(context.device, "avg_pool2d_k3s1p1", p.dtype, lanes,
                                           "pool_k3s1p1"),
                   (planes * blocks,), (context.params["local"],), source.array.data,
                   out.array.data, *i32(planes, *source.shape[2:]), count_include_pad,
                   divisor_override, np.int32(backward))


def _avg_general_forward(context, p: PoolProblem, x, y, window):
    runtime.launch(context.device, _kernel(context.device, "avg_pool_forward", p.dtype),
                   (y.size,), (launch_sizes.items(context.device),), x.array.data, y.array.data,
                   *_plane_args(x, p.out), *window)


def _avg_general_backward(context, p: PoolProblem, grad, dx, window):
    runtime.launch(context.device, _kernel(context.device, "avg_pool_backward", p.dtype),
                   (dx.size,), (launch_sizes.items(context.device),), grad.array.data, dx.array.data,
                   *_plane_args(dx, p.out), *window)


dispatch.register(Algorithm(
    "avg_pool_forward", "k3s1p1",
    lambda c, p, x, y, window: _avg_k3s1p1(c, p, x, y, window, backward=False),
    applies=_k3s1p1_applies, params=_vector_params,
    about="3x3 windows at stride 1, padding 1: a vector of columns walking down the rows"))
dispatch.register(Algorithm("avg_pool_forward", "general", _avg_general_forward,
                            about="one work-item per output, any window"))
dispatch.register(Algorithm(
    "avg_pool_backward", "k3s1p1",
    lambda c, p, grad, dx, window: _avg_k3s1p1(c, p, grad, dx, window, backward=True),
    applies=_k3s1p1_applies, params=_vector_params,
    about="the forward's walk over the output gradient (the same neighbourhood)"))
dispatch.register(Algorithm("avg_pool_backward", "general", _avg_general_backward,
                            about="one work-item per input, gathering its windows"))


def _avg_pool_problem(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override):
    """As _max_pool_problem, for average pooling."""
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    kernel, stride, padding, _, out = _window(op, nd, x, kernel_size, stride, padding, 1,
                                              ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int or None, "
                         f"got {divisor_override!r}")
    window = [*i32(*pad3(kernel, 1)), *i32(*pad3(stride, 1)), *i32(*pad3(padding, 0)),
              *i32(bool(count_include_pad), divisor_override or 0)]
    return x, batched, window, PoolProblem(nd, x.shape, out, kernel, stride, padding,
                                           (1,) * nd, np.dtype(x.dtype))


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, batched, window, problem = _avg_pool_problem(op, nd, input, kernel_size, stride, padding,
                                                    ceil_mode, count_include_pad,
                                                    divisor_override)
    device = x.device
    y = empty(x.shape[:2] + problem.out, x.dtype, device)
    if y.size:
        dispatch.run("avg_pool_forward", device, problem, x, y, window)

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size:
            dispatch.run("avg_pool_backward", device, problem, grad, dx, window)
        return (dx,)

    y = autograd.record(op, y, (x,), backward)
    return y if batched else y.reshape(y.shape[1:])


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _adaptive_avg_pool(op, nd, input, output_size):
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    if isinstance(output_size, (tuple, list)) and len(output_size) == nd:
        sizes = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    else:
        sizes = output_size
    out = positive(ntuple(sizes, nd, "output_size", op), "output_size", op)
    if min(x.shape[2:]) <= 0:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dimension")
    device = x.device
    y = empty(x.shape[:2] + out, x.dtype, device)
    if y.size and all(s == 1 for s in out) and device.profile.kind == "cpu":
        # global average pooling on CPUs: a work-item per plane, summing vectors of it
        planes = x.shape[0] * x.shape[1]
        runtime.launch(device, _kernel(device, "global_avg_pool", x.dtype), (planes,),
                       (launch_sizes.items(device),), x.array.data, y.array.data,
                       *i32(planes, math.prod(x.shape[2:])))
    elif y.size:
        runtime.launch(device, _kernel(device, "adaptive_avg_pool_forward", x.dtype), (y.size,),
                (launch_sizes.items(device),), x.array.data, y.array.data, *_plane_args(x, out))

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size:
            runtime.launch(device, _kernel(device, "adaptive_avg_pool_backward", x.dtype),
                    (dx.size,), (launch_sizes.items(device),), grad.array.data, dx.array.data,
                    *_plane_args(x, out))
        return (dx,)

    y = autograd.record(op, y, (x,), backward)
    return y if batched else y.reshape(y.shape[1:])


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The maximum over adaptive windows (those of adaptive_avg_pool2d); with return_indices
    also each maximum's int64 position, flat in its (n, c) plane."""
    op, nd = "adaptive_max_pool2d", 2
    x, batched = spatial_input(tensors(op, input=input)["input"], nd, op)
    if isinstance(output_size, (tuple, list)) and len(output_size) == nd:
        sizes = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    else:
        sizes = output_size
    out = positive(ntuple(sizes, nd, "output_size", op), "output_size", op)
    if not isinstance(return_indices, bool):
        raise TypeError(f"{op}: return_indices must be True or False, got {return_indices!r}")
    if min(x.shape[2:]) <= 0:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dimension")
    device = x.device
    y = empty(x.shape[:2] + out, x.dtype, device)
    indices = empty(y.shape, np.int64, device)
    if y.size:
        runtime.launch(device, _kernel(device, "adaptive_max_pool_forward", x.dtype), (y.size,),
                       (launch_sizes.items(device),), x.array.data, y.array.data,
                       indices.array.data, *_plane_args(x, out))

    def backward(grad):
        dx = empty(x.shape, x.dtype, device)
        if dx.size:
            runtime.launch(device, _kernel(device, "adaptive_max_pool_backward", x.dtype),
                           (dx.size,), (launch_sizes.items(device),), grad.array.data,
                           indices.array.data, dx.array.data, *_plane_args(x, out))
        return (dx,)

    y = autograd.record(op, y, (x,), backward, saved=(indices,))
    if not batched:
        y, indices = y.reshape(y.shape[1:]), indices.reshape(indices.shape[1:])
    return (y, indices) if return_indices else y


def _explainer(op, kind: str, nd: int, make_problem):
    """clconv.explain for `op`: its arguments bound as the op binds them, then both directions'
    choices."""
    signature = inspect.signature(op)

    def explain(*args, **kwargs):
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        options = dict(arguments.arguments)
        options.pop("return_indices", None)
        options.setdefault("divisor_override", None)
        if kind == "max":
            options.pop("divisor_override")
        x, _, _, problem = make_problem(f"{kind}_pool{nd}d", nd, **options)
        return [dispatch.choose(f"{kind}_pool_forward", x.device, problem),
                dispatch.choose(f"{kind}_pool_backward", x.device, problem)]
    return explain


for _nd, _max, _avg in ((1, max_pool1d, avg_pool1d), (2, max_pool2d, avg_pool2d),
                        (3, max_pool3d, avg_pool3d)):
    dispatch.explains(_max)(_explainer(_max, "max", _nd, _max_pool_problem))
    dispatch.explains(_avg)(_explainer(_avg, "avg", _nd, _avg_pool_problem))
del _nd, _max, _avg
