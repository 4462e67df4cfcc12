"""conv_forward's winograd algorithm (kernels/conv_winograd.cl), CPUs: F(2x2, 3x3) for 3x3
stride-1 convolutions."""
from __future__ import annotations

from .. import config, dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..tensors import Tensor
from .arguments import buffer, i32
from .conv_geometry import ConvGeometry, ConvProblem, Epilogue, is_2d
from .prepared import prepared


# --- winograd_conv2d: F(2x2, 3x3) ------------------------------------------------------------

def _winograd_vectors(geo: ConvGeometry, lanes: int) -> int:
    """Vectors of tiles per work-item: 2 where a row of tiles fills them, else 1."""
    return 2 if -(-geo.out_size[2] // 2) > lanes else 1


# Vectors narrower than this lose to conv_direct (measured on 7x7 planes with 4 lanes).
_MIN_LANES = 8


def _winograd_layout(context: Context, problem: ConvProblem) -> dict:
    # A register's lanes, or as many as a row holds (ResNet's 14x14 planes: 8, measured 25 %
    # faster than conv_direct there)
    lanes = max(min(_MIN_LANES, context.lanes(problem.dtype)),
                context.row_lanes(problem.dtype, problem.geo.in_size[2]))
    vectors = _winograd_vectors(problem.geo, lanes)
    tiles, itemsize = lanes * vectors, problem.dtype.itemsize
    block = int(context.params["BK"])
    return {"VW": lanes, "TV": vectors, "BK": block,
            "v_bytes": problem.geo.in_channels * 16 * tiles * itemsize,
            "m_bytes": 16 * block * tiles * itemsize}


def f23_reason(geo: ConvGeometry) -> str | None:
    """Why F(2x2, 3x3) cannot run `geo` (None: 3x3, stride 1, no dilation or groups, 2D);
    winograd_local's too."""
    return first_reason(
        (geo.kernel == (1, 3, 3), f"kernel {geo.kernel[1:] if is_2d(geo) else geo.kernel}"
                                  " is not 3x3"),
        (is_2d(geo), "not a 2D convolution"),
        (geo.stride == (1, 1, 1), f"stride {geo.stride[1:]}"),
        (geo.dilation == (1, 1, 1), f"dilation {geo.dilation[1:]}"),
        (geo.groups == 1, f"{geo.groups} groups"))


def _winograd_applies(context: Context, problem: ConvProblem) -> str | None:
    """3x3, stride 1, no dilation or groups, 2D, rows of at least a vector, and its tiles'
    transformed input within the device's local memory (CPUs: a cache-resident block per
    work-group)."""
    geo = problem.geo
    layout = _winograd_layout(context, problem)
    local = layout["v_bytes"] + layout["m_bytes"]
    return f23_reason(geo) or first_reason(
        (geo.in_size[2] >= layout["VW"] and geo.out_size[2] >= 2,
         f"rows of {geo.in_size[2]} are shorter than a vector ({layout['VW']})"),
        (local <= context.profile.local_memory_bytes,
         f"its tiles need {local:,} bytes of local memory, the device has "
         f"{context.profile.local_memory_bytes:,}")) or loop_reason(
            context, 16 * -(-geo.out_channels // layout["BK"]) * geo.in_channels,
            "each work-item's products",
            body=layout["BK"] * layout["TV"] + layout["BK"] + layout["TV"] + 1)


def _winograd_prefers(context: Context, problem: ConvProblem) -> str | None:
    geo, least = problem.geo, int(context.params["min_channels"])
    return first_reason(
        (config.current().winograd, "turned off (CLCONV_WINOGRAD=0)"),
        (min(geo.in_channels, geo.out_channels) >= least,
         f"fewer than {least} channels: the transforms would outweigh the multiplies saved"))


def _winograd_params(context: Context, problem: ConvProblem) -> dict:
    layout = _winograd_layout(context, problem)
    return {k: layout[k] for k in ("BK", "TV", "VW")}


def _winograd_packed_bytes(context: Context, problem: ConvProblem) -> int:
    block = int(context.params["BK"])
    k_blocks = -(-problem.geo.out_channels // block)
    return 16 * k_blocks * problem.geo.in_channels * block * problem.dtype.itemsize


def _winograd_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    _launch(context, problem, x, w, b, y, epilogue)


def run_fused(choice, problem: ConvProblem, x: Tensor, scale: Tensor | None,
              residual: Tensor | None, w: Tensor, b: Tensor | None, y: Tensor,
              epilogue: Epilogue) -> bool:
    """y = activation(conv(x) + b + residual), `residual` (y's shape) added as the outputs are
    stored (RESIDUAL), where `choice` (the dispatcher's for `problem`) is this algorithm and
    there is no scale; else False (nothing run)."""
    if choice.algorithm != "winograd" or scale is not None:
        return False
    _launch(choice.context, problem, x, w, b, y, epilogue, residual)
    return True


def _launch(context: Context, problem: ConvProblem, x: Tensor, w: Tensor, b: Tensor | None,
            y: Tensor, epilogue: Epilogue, residual: Tensor | None = None) -> None:
    geo, device, dtype = problem.geo, context.device, problem.dtype
    layout = _winograd_layout(context, problem)
    block = layout["BK"]
    defines = dict(WINO_BK=block, WINO_TV=layout["TV"],
                   **runtime.vector_defines(device, dtype, layout["VW"]))
    if residual is not None:
        defines["RESIDUAL"] = 1
    k_blocks = -(-geo.out_channels // block)
    sizes = i32(geo.out_channels, geo.in_channels, k_blocks)
    # (from the convolution's program: one build, not two)
    transform = runtime.get_kernel(device, "conv_winograd", "winograd_weights", **defines,
                                   **epilogue.defines())
    packed = prepared(w, ("winograd_weights", runtime.build_options(defines), tuple(sizes)),
                      _winograd_packed_bytes(context, problem),
                      lambda out: runtime.launch(device, transform, (k_blocks * block,
                                                                     geo.in_channels), (1, 1),
                                                 w.array.data, out, *sizes))
    _, height, width = geo.in_size
    _, out_h, out_w = geo.out_size
    tiles_per_row = -(-out_w // 2)  # 2x2 output tiles
    tile_rows = -(-out_h // 2)
    column_blocks = -(-tiles_per_row // (layout["VW"] * layout["TV"]))
    runtime.launch(device, runtime.get_kernel(device, "conv_winograd", "winograd_conv2d", **defines,
                                              **epilogue.defines()),
                   (geo.batch * tile_rows * column_blocks,), (1,), x.array.data, packed,
                   buffer(b, device), *i32(b is not None), *epilogue.args(dtype), y.array.data,
                   buffer(residual, device),
                   runtime.local_memory(layout["v_bytes"]), runtime.local_memory(layout["m_bytes"]),
                   *i32(geo.batch, geo.in_channels, height, width, geo.out_channels, out_h, out_w,
                        *geo.padding[1:], tile_rows, column_blocks))


dispatch.register(Algorithm(
    "conv_forward", "winograd", _winograd_run, applies=_winograd_applies,
    prefers=_winograd_prefers, params=_winograd_params, workspace=_winograd_packed_bytes,
    about="winograd_conv2d: F(2x2, 3x3), the transformed input of a row of tiles in local "
    "memory for every output channel"))
