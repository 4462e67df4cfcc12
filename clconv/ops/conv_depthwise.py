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
    shortest = max(2, min(geo.in_size[2] if geo.stride == (1, 1, 1) else geo.out_size[2],
                          geo.out_size[2]))
    return min(context.lanes(problem.dtype), 1 << (shortest.bit_length() - 1))


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


def _depthwise_params(context: Context, problem: ConvProblem) -> dict:
    strided = problem.geo.stride != (1, 1, 1)
    return {"VW": _lanes(context, problem), "kernel": problem.geo.kernel[1:],
            "walk": "rows" if strided else "columns"}


def _depthwise_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device = problem.geo, context.device
    lanes = _lanes(context, problem)
    _, out_h, out_w = geo.out_size
    strided = geo.stride != (1, 1, 1)
    # The kernel's size as build options: one small build per size (taps in registers). Both
    # kernels come from one program: the stride-1 kernel ignores DEPTHWISE_SW, which is then
    # the common stride 2 (a build costs PoCL some 40 ms even from its cache).
    defines = dict(DEPTHWISE_KH=geo.kernel[1], DEPTHWISE_KW=geo.kernel[2], **epilogue.defines(),
                   DEPTHWISE_SW=geo.stride[2] if strided else 2,
                   **runtime.vector_defines(device, problem.dtype, lanes))
    if strided:
        kernel = runtime.get_kernel(device, "conv_depthwise", "depthwise_conv2d_strided",
                                    **defines)
        items, extra = geo.batch * geo.out_channels * (out_w // lanes), (geo.stride[1],)
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
    "work-item walking down the rows (stride 1), depthwise_conv2d_strided: a vector of an "
    "output row per work-item (strides); the input read in place"))
