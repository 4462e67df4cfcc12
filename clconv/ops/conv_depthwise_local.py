"""conv_forward's depthwise_local algorithm (kernels/conv_depthwise_local.cl), GPUs: depthwise
2D convolutions (one input channel per group, any multiplier, stride, padding, dilation), a
tile of the output plane per work-group from the input patch it reads, copied to local memory
once. Depthwise input gradients (transposed, phases) run through it too."""
from __future__ import annotations

from .. import dispatch, runtime
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from .arguments import buffer, i32
from .conv_general import general_run
from .conv_geometry import ConvProblem, is_2d


def _tile(context: Context, problem: ConvProblem) -> dict:
    """The work-group's output tile: `width` columns (half of it on rows shorter than that)
    by `items` / width rows (fewer where the plane has fewer), within the device's limits;
    the geometry's build options."""
    geo, profile = problem.geo, context.profile
    width = int(context.params["width"])
    if geo.out_size[2] < width:
        width //= 2
    items = min(int(context.params["items"]), profile.max_work_group_size)
    width = max(1, min(width, items, profile.max_work_item_sizes[0]))
    height = max(1, min(items // width, profile.max_work_item_sizes[1]))
    # (short planes: fewer idle rows, down to 64 items: two warps, a wavefront)
    while height > 1 and height // 2 >= geo.out_size[1] and width * (height // 2) >= 64:
        height //= 2
    _, kh, kw = geo.kernel
    return {"TILE_W": width, "TILE_H": height, "KH": kh, "KW": kw, "SH": geo.stride[1],
            "SW": geo.stride[2], "DH": geo.dilation[1], "DW": geo.dilation[2]}


def _patch_bytes(tile: dict, dtype) -> int:
    in_w = (tile["TILE_W"] - 1) * tile["SW"] + (tile["KW"] - 1) * tile["DW"] + 1
    in_h = (tile["TILE_H"] - 1) * tile["SH"] + (tile["KH"] - 1) * tile["DH"] + 1
    return in_w * in_h * dtype.itemsize


def _applies(context: Context, problem: ConvProblem) -> str | None:
    geo = problem.geo
    tile = _tile(context, problem)
    patch = _patch_bytes(tile, problem.dtype)
    limit = min(int(context.params["max_patch_bytes"]), context.profile.local_memory_bytes)
    return first_reason(
        (geo.in_channels == geo.groups, f"{geo.in_channels // geo.groups} input channels per "
                                        "group (not depthwise)"),
        (is_2d(geo), "a 3D convolution"),
        (patch <= limit, f"an input patch of {patch:,} bytes per work-group (more than "
                         f"{limit:,})")) or loop_reason(
        context, tile["KH"] * tile["KW"] + -(-patch // problem.dtype.itemsize
                                             // (tile["TILE_W"] * tile["TILE_H"])),
        "a work-item's taps and loads")


def _run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device, tile = problem.geo, context.device, _tile(context, problem)
    kernel = runtime.get_kernel(device, "conv_depthwise_local", "depthwise_conv2d_local", **tile,
                                **runtime.dtype_defines(problem.dtype), **epilogue.defines())
    if runtime.kernel_limits(device, kernel).work_group_size < tile["TILE_W"] * tile["TILE_H"]:
        # (registers can lower a kernel's limit below the device's): the general kernel
        return general_run(context.sibling("general"), problem, x, w, b, y, epilogue)
    _, oh, ow = geo.out_size
    global_size = (-(-ow // tile["TILE_W"]) * tile["TILE_W"],
                   -(-oh // tile["TILE_H"]) * tile["TILE_H"], geo.batch * geo.out_channels)
    runtime.launch(device, kernel, global_size, (tile["TILE_W"], tile["TILE_H"], 1),
                   buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
                   *epilogue.args(problem.dtype), y.array.data,
                   *i32(geo.in_channels, geo.in_size[1], geo.in_size[2], geo.out_channels, oh, ow,
                        geo.padding[1], geo.padding[2]))


dispatch.register(Algorithm(
    "conv_forward", "depthwise_local", _run, applies=_applies, params=_tile,
    about="depthwise_conv2d_local: a tile of an output plane per work-group, its input patch "
          "in local memory, all taps per work-item"))
