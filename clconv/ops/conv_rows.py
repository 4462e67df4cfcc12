"""conv_forward's rows algorithm (kernels/conv_rows.cl), CPUs: convolutions with few input
channels (a network's first layer: 3 colour channels, stride 2) read in place, a work-item per
output row and block of output channels, where conv_direct's padded copy of the input would
cost as much as the convolution."""
from __future__ import annotations

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from .arguments import buffer, i32
from .conv_geometry import ConvProblem, is_2d


def _lanes(context: Context, problem: ConvProblem) -> int:
    """The vectors' lanes: one register's, fewer where the output rows are shorter (a power of
    two from 2)."""
    return context.row_lanes(problem.dtype, problem.geo.out_size[2])


def _block(context: Context) -> int:
    """Output channels per work-item: the table's accumulator vectors."""
    return int(context.params["accumulators"])


def _applies(context: Context, problem: ConvProblem) -> str | None:
    geo, most = problem.geo, int(context.params["max_channels"])
    (_, kh, kw), taps = geo.kernel, int(context.params["max_taps"])
    vectors = -(-geo.out_size[2] // _lanes(context, problem)) + 1
    return first_reason(
        (is_2d(geo), "not a 2D convolution"),
        (geo.groups == 1, f"{geo.groups} groups"),
        (geo.in_channels <= most, f"{geo.in_channels} input channels (more than {most}: "
                                  "conv_direct's copy of the input pays)"),
        (kh * kw <= taps, f"a {kh}x{kw} kernel (more than {taps} taps)"),
        (geo.stride[2] in (1, 2), f"stride {geo.stride[1:]}"),
        (geo.dilation == (1, 1, 1), f"dilation {geo.dilation[1:]}"),
        (geo.out_size[2] >= 2, f"output rows of {geo.out_size[2]}")) or loop_reason(
            context, vectors * geo.in_channels * kh,
            "a work-item over its row's vectors, input channels and kernel rows",
            body=kw * (_block(context) + 1))


def _params(context: Context, problem: ConvProblem) -> dict:
    return {"VW": _lanes(context, problem), "ROWS_K": _block(context)}


def _run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device = problem.geo, context.device
    block = _block(context)
    _, out_h, out_w = geo.out_size
    kernel = runtime.get_kernel(
        device, "conv_rows", "conv_rows", ROWS_K=block, ROWS_KH=geo.kernel[1],
        ROWS_KW=geo.kernel[2], ROW_STEP=geo.stride[2], **epilogue.defines(),
        **runtime.vector_defines(device, problem.dtype, _lanes(context, problem)))
    runtime.launch(device, kernel, (out_h, -(-geo.out_channels // block), geo.batch), (1, 1, 1),
                   buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
                   *epilogue.args(problem.dtype), y.array.data,
                   *i32(geo.batch, geo.in_channels, *geo.in_size[1:], geo.out_channels, out_h,
                        out_w, geo.stride[1], *geo.padding[1:]))


dispatch.register(Algorithm(
    "conv_forward", "rows", _run, applies=_applies, params=_params,
    about="conv_rows: few input channels read in place (no padded copy), an output row of "
    "ROWS_K output channels per work-item, every input channel and tap a vector of the tap's "
    "row (every other input at stride 2) times ROWS_K weights"))
