"""conv_forward's depthwise algorithm (kernels/conv_depthwise.cl), CPUs: one input channel per
group, any stride along columns and 1 or 2 along rows, read in place."""
from __future__ import annotations

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason
from .arguments import buffer, i32
from .conv_geometry import ConvProblem, is_2d


# --- depthwise_conv2d, depthwise_conv2d_strided ---------------------------------------------

def _lanes(context: Context, problem: ConvProblem) -> int:
    """The vectors' lanes: one register's, fewer where the rows are shorter (7x7 and 14x14
    planes), a power of two from 2."""
    geo = problem.geo
    return context.row_lanes(problem.dtype, min(
        geo.in_size[2] if geo.stride == (1, 1, 1) else geo.out_size[2], geo.out_size[2]))


def _depthwise_applies(context: Context, problem: ConvProblem) -> str | None:
    """One input channel per group, 2D, no dilation, stride 1 or (strided kernel) 1 or 2 along
    rows, input (stride 1) and output rows of at least two (its edge loads read a vector inside
    the row)."""
    geo = problem.geo
    rows = min(geo.in_size[2] if geo.stride == (1, 1, 1) else geo.out_size[2], geo.out_size[2])
    return first_reason(
        (geo.in_channels == geo.groups,
         f"{geo.in_channels} input channels in {geo.groups} groups (not one per group)"),
        (is_2d(geo), "not a 2D convolution"),
        (geo.stride[2] in (1, 2), f"stride {geo.stride[1:]}"),
        (geo.dilation == (1, 1, 1), f"dilation {geo.dilation[1:]}"),
        (rows >= 2, f"rows of {rows}"))


def _read_extent(problem: ConvProblem) -> tuple:
    """The rows and columns of the padded input that the outputs read (from -padding)."""
    geo = problem.geo
    return tuple((out - 1) * stride + kernel for out, stride, kernel
                 in zip(geo.out_size[1:], geo.stride[1:], geo.kernel[1:]))


def _channel_block_bytes(context: Context, problem: ConvProblem) -> int | None:
    """depthwise_conv2d_lanes' local memory (a vector register's worth of channels: padded
    input planes, weights, sums), where it takes the convolution: one output channel per input
    channel, vectors along the rows narrower than the table's `channel_lanes_rows` lanes
    (7x7 planes, strides), and that memory within its `channel_lanes_bytes` (which suits
    planes of 14x14 and 7x7) and the device's local memory; else None."""
    geo = problem.geo
    if _lanes(context, problem) >= context.params.get("channel_lanes_rows", 0):
        return None
    hp, wp = _read_extent(problem)
    _, oh, ow = geo.out_size
    nbytes = (hp * wp + geo.kernel[1] * geo.kernel[2] + oh * ow) * context.lanes(problem.dtype) \
        * problem.dtype.itemsize
    limit = min(context.params.get("channel_lanes_bytes", 0), context.profile.local_memory_bytes)
    return nbytes if geo.out_channels == geo.in_channels and nbytes <= limit else None


def _depthwise_params(context: Context, problem: ConvProblem) -> dict:
    if _channel_block_bytes(context, problem):
        return {"VW": context.lanes(problem.dtype), "kernel": problem.geo.kernel[1:],
                "walk": "channels"}
    strided = problem.geo.stride != (1, 1, 1)
    return {"VW": _lanes(context, problem), "kernel": problem.geo.kernel[1:],
            "walk": "rows" if strided else "columns"}


def _depthwise_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device = problem.geo, context.device
    block_bytes = _channel_block_bytes(context, problem)
    lanes = context.lanes(problem.dtype) if block_bytes else _lanes(context, problem)
    _, out_h, out_w = geo.out_size
    strided = geo.stride != (1, 1, 1)
    # The kernel's size as build options: one small build per size (taps in registers). Both
    # kernels come from one program: the stride-1 kernel ignores DEPTHWISE_SW, which is then
    # the common stride 2 (a build costs PoCL some 40 ms even from its cache).
    defines = dict(DEPTHWISE_KH=geo.kernel[1], DEPTHWISE_KW=geo.kernel[2], **epilogue.defines(),
                   DEPTHWISE_SW=geo.stride[2] if strided else 2,
                   **runtime.vector_defines(device, problem.dtype, lanes))
    if block_bytes:
        kernel = runtime.get_kernel(device, "conv_depthwise", "depthwise_conv2d_lanes",
                                    **defines)
        runtime.launch(device, kernel, (geo.batch * -(-geo.in_channels // lanes),), (1,),
                       buffer(x, device), buffer(w, device), buffer(b, device),
                       *i32(b is not None), *epilogue.args(problem.dtype), y.array.data,
                       *i32(geo.batch, geo.in_channels, *geo.in_size[1:], out_h, out_w,
                            *geo.stride[1:], *geo.padding[1:], *_read_extent(problem)),
                       runtime.local_memory(block_bytes))
        return
    if strided:
        kernel = runtime.get_kernel(device, "conv_depthwise", "depthwise_conv2d_strided",
                                    **defines)
        items, extra = geo.batch * geo.out_channels, (geo.stride[1],)  # (whole planes)
    else:
        kernel = runtime.get_kernel(device, "conv_depthwise", "depthwise_conv2d", **defines)
        items, extra = geo.batch * geo.out_channels * (out_w // lanes), ()
    runtime.launch(device, kernel, (items,), (1,),
                   buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
                   *epilogue.args(problem.dtype), y.array.data,
                   *i32(geo.batch, geo.in_channels, *geo.in_size[1:], geo.out_channels, out_h,
                        out_w, *extra, *geo.padding[1:]))


dispatch.register(Algorithm(
    "conv_forward", "depthwise", _depthwise_run, applies=_depthwise_applies,
    params=_depthwise_params, about="depthwise_conv2d: a vector of output columns per "
    "work-item walking down the rows (stride 1), depthwise_conv2d_strided: an output plane "
    "per work-item, row after row (strides); the input read in place; depthwise_conv2d_lanes "
    "(small planes): a vector of channels per work-item, their planes copied to local memory"))
