"""conv_forward's depthwise algorithm (kernels/conv_depthwise.cl), CPUs: one input channel per
group, stride 1, read in place."""
from __future__ import annotations



from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason
from .arguments import buffer, i32
from .conv_geometry import ConvProblem, is_2d


# --- depthwise_conv2d ------------------------------------------------------------------------

def _depthwise_applies(context: Context, problem: ConvProblem) -> str | None:
    """One input channel per group, 2D, stride 1, no dilation, input and output rows of at
    least a vector (its edge loads read a vector inside the row)."""
    geo, lanes = problem.geo, context.lanes(problem.dtype)
    return first_reason(
        (geo.in_channels == geo.groups,
         f"{geo.in_channels} input channels in {geo.groups} groups (not one per group)"),
        (is_2d(geo), "not a 2D convolution"),
        (geo.stride == (1, 1, 1), f"stride {geo.stride[1:]}"),
        (geo.dilation == (1, 1, 1), f"dilation {geo.dilation[1:]}"),
        (min(geo.in_size[2], geo.out_size[2]) >= lanes,
         f"rows of {min(geo.in_size[2], geo.out_size[2])} are shorter than a vector ({lanes})"))


def _depthwise_params(context: Context, problem: ConvProblem) -> dict:
    return {"VW": context.lanes(problem.dtype),
            "kernel": problem.geo.kernel[1:]}


def _depthwise_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device = problem.geo, context.device
    lanes = context.lanes(problem.dtype)
    _, out_h, out_w = geo.out_size
    # The kernel's size as build options: one small build per size (taps in registers).
    kernel = runtime.get_kernel(device, "conv_depthwise", "depthwise_conv2d", DEPTHWISE_KH=geo.kernel[1],
                                DEPTHWISE_KW=geo.kernel[2], **epilogue.defines(),
                                **runtime.vector_defines(device, problem.dtype, lanes))
    runtime.launch(device, kernel, (geo.batch * geo.out_channels * (out_w // lanes),), (1,),
                   buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
                   *epilogue.args(problem.dtype), y.array.data,
                   *i32(geo.batch, geo.in_channels, *geo.in_size[1:], geo.out_channels, out_h,
                        out_w, *geo.padding[1:]))


dispatch.register(Algorithm(
    "conv_forward", "depthwise", _depthwise_run, applies=_depthwise_applies,
    params=_depthwise_params, about="depthwise_conv2d: a vector of output columns per "
    "work-item walking down the rows, the input read in place"))
