"""conv1d / conv2d / conv3d: argument checks, output geometry, and the forward algorithms of
`conv.cl`, chosen by the dispatcher (family "conv_forward"):

- depthwise: `depthwise_conv2d`, CPUs: one input channel per group, stride 1, read in place.
- winograd: `winograd_conv2d`, CPUs: F(2x2, 3x3) for 3x3 stride-1 convolutions.
- direct: `conv_direct`, CPUs: wide-vector register blocking over a laid-out copy of the input.
- general: `conv_forward`, any device (GPUs): a register-tiled implicit GEMM, no workspace.

Their parameters come from the tuning table (clconv.tuning; the defaults below derive them from
the device's profile: vector width and registers).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import autograd, config, dispatch, runtime, tuning
from ..dispatch import Algorithm, Context, first_reason, loop_reason
from ..runtime import INT32_MAX
from ..tensors import Tensor, empty
from . import conv_grad, elementwise
from .arguments import buffer, expect_shape, i32, real, spatial_input, tensors
from .conv_geometry import (NO_EPILOGUE, ConvGeometry, ConvProblem, Epilogue,  # noqa: F401
                            conv_geometry, double_halved, is_2d)






def forward(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
            epilogue: Epilogue = NO_EPILOGUE) -> None:
    """y = activation(conv(x, w) + b), written into y by the algorithm the dispatcher chooses
    (the gradients' convolutions run through here too)."""
    dispatch.run("conv_forward", x.device, ConvProblem(geo, np.dtype(x.dtype)), x, w, b, y,
                 epilogue)


def _conv(op: str, nd: int, input, weight, bias, stride, padding, dilation, groups,
          epilogue: Epilogue = NO_EPILOGUE) -> Tensor:
    x, w, b, geo, batched = _arguments(op, nd, input, weight, bias, stride, padding, dilation,
                                       groups)
    out_spatial = geo.out_size[3 - nd:]
    y = empty((geo.batch, geo.out_channels) + out_spatial, x.dtype, x.device)
    if y.size:
        forward(x, w, b, y, geo, epilogue)
    if autograd.needs_grad(x, w, b):
        y = _record_backward(op, x, w, b, y, geo, epilogue)
    return y if batched else y.reshape(y.shape[1:])


def _arguments(op, nd, input, weight, bias, stride, padding, dilation, groups):
    """The checked tensors (input batched), the geometry, and whether the input was batched."""
    args = tensors(op, ("bias",), input=input, weight=weight, bias=bias)
    x, batched = spatial_input(args["input"], nd, op)
    w, b = args["weight"], args["bias"]
    geo = conv_geometry(op, nd, x.shape, w.shape, stride, padding, dilation, groups)
    expect_shape(b, (geo.out_channels,), "bias", op, " (one value per output channel)")
    return x, w, b, geo, batched


def _record_backward(op: str, x: Tensor, w: Tensor, b: Tensor | None, y: Tensor,
                     geo: ConvGeometry, epilogue: Epilogue) -> Tensor:
    # With an activation, its gradient comes first, read from the output's sign (as the
    # activations' own backward does); the closure holds the output's buffer, not the output
    # (whose node holds the closure).
    y_array, device = (y.array if epilogue.activation else None), y.device

    def backward(grad):
        if y_array is not None:
            grad = elementwise.activation_backward(Tensor(y_array, device), grad,
                                                   epilogue.negative_slope)
        return (conv_grad.input_grad(grad, w, geo, x.shape) if x.requires_grad else None,
                conv_grad.weight_grad(x, grad, geo, w.shape) if w.requires_grad else None,
                conv_grad.bias_grad(grad) if b is not None and b.requires_grad else None)

    saved = (x, w, y) if epilogue.activation else (x, w)
    return autograd.record(op, y, (x, w, b), backward, saved=saved)


_ACTIVATIONS = {None: 0, "relu": 1, "leaky_relu": 2}  # (common.h: ACTIVATION_*)


def _epilogue(op: str, activation, negative_slope) -> Epilogue:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None, 'relu' or 'leaky_relu', "
                         f"got {activation!r}")
    slope = real(negative_slope, "negative_slope", op) if activation == "leaky_relu" else 0.0
    if not slope >= 0:  # the backward reads the sign of the input from the output
        raise ValueError(f"{op}: negative_slope must be non-negative, got {negative_slope}")
    return Epilogue(_ACTIVATIONS[activation], slope)


def conv_activation(nd: int, input, weight, bias, stride, padding, dilation, groups,
                    activation, negative_slope) -> Tensor:
    """activation(conv{nd}d(...)) with the activation in the convolution's epilogue (see
    clconv.fused)."""
    op = f"fused conv{nd}d"
    return _conv(op, nd, input, weight, bias, stride, padding, dilation, groups,
                 _epilogue(op, activation, negative_slope))


def explain_conv(nd: int, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation=None, negative_slope=0.01) -> list:
    """The choices of a convolution's forward and of both its gradients (clconv.explain)."""
    op = f"conv{nd}d"
    _epilogue(op, activation, negative_slope)
    x, w, _, geo, _ = _arguments(op, nd, input, weight, bias, stride, padding, dilation, groups)
    device, dtype = x.device, np.dtype(x.dtype)
    return [dispatch.choose("conv_forward", device, ConvProblem(geo, dtype)),
            *conv_grad.explain(device, geo, dtype)]


# --- parameters: derived from the profile, laid over by the tuning table ---------------------

def _defaults(profile) -> dict:
    """conv_forward's parameters for a device the table has no entry for: register blocking
    that fills half the vector registers with accumulators (the rest hold the loaded inputs,
    a broadcast weight and addresses), vectors one register wide."""
    registers, lanes = profile.vector_registers, profile.vector_bytes // 4
    block_k = max(2, registers // 4)  # x 2 vectors: half the registers
    blocking = {"BLOCK_K": block_k, "BLOCK_K_SINGLE": max(block_k, 3 * registers // 8),
                "BLOCK_V": 2, "K_FASTEST": 1, "TAPS_OUTER": 1, "ALLOW_FLAT": 1}
    multiple = max(1, min(profile.preferred_multiple, 64))
    return {
        "order": ["depthwise", "winograd", "direct", "general"] if profile.kind == "cpu"
        else ["general"],
        "direct": {
            "vector_bytes": profile.vector_bytes,
            "specialize": {"classes": [], "min_multiply_adds": 10_000_000, "max_shapes": 16},
            "pointwise": dict(blocking, ALIGN=1),
            "spatial": dict(blocking, ALIGN=lanes),
            "depthwise": {"BLOCK_K": 1, "BLOCK_K_SINGLE": 1, "BLOCK_V": 4, "K_FASTEST": 0,
                          "TAPS_OUTER": 0, "ALIGN": lanes, "ALLOW_FLAT": 0},
        },
        "winograd": {"vector_bytes": profile.vector_bytes, "BK": max(2, registers // 4),
                     "min_channels": 16},
        "depthwise": {"vector_bytes": profile.vector_bytes},
        "general": {"TILE_K": 8, "TILE_P": 8, "local": [multiple, max(1, 64 // multiple), 1]},
    }


tuning.register_defaults("conv_forward", _defaults)


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
    kernel = runtime.get_kernel(device, "conv", "depthwise_conv2d", DW_KH=geo.kernel[1],
                                DW_KW=geo.kernel[2],
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


# --- winograd_conv2d: F(2x2, 3x3) ------------------------------------------------------------

def _winograd_vectors(geo: ConvGeometry, lanes: int) -> int:
    """Vectors of tiles per work-item: 2 where a row of tiles fills them, else 1."""
    return 2 if -(-geo.out_size[2] // 2) > lanes else 1


def _winograd_layout(context: Context, problem: ConvProblem) -> dict:
    lanes = context.lanes(problem.dtype)
    vectors = _winograd_vectors(problem.geo, lanes)
    tiles, itemsize = lanes * vectors, problem.dtype.itemsize
    block = int(context.params["BK"])
    return {"VW": lanes, "TV": vectors, "BK": block,
            "v_bytes": problem.geo.in_channels * 16 * tiles * itemsize,
            "m_bytes": 16 * block * tiles * itemsize}


def _winograd_applies(context: Context, problem: ConvProblem) -> str | None:
    """3x3, stride 1, no dilation or groups, 2D, rows of at least a vector, and its tiles'
    transformed input within the device's local memory (CPUs: a cache-resident block per
    work-group)."""
    geo = problem.geo
    layout = _winograd_layout(context, problem)
    local = layout["v_bytes"] + layout["m_bytes"]
    return first_reason(
        (geo.kernel == (1, 3, 3), f"kernel {geo.kernel[1:] if is_2d(geo) else geo.kernel}"
                                  " is not 3x3"),
        (is_2d(geo), "not a 2D convolution"),
        (geo.stride == (1, 1, 1), f"stride {geo.stride[1:]}"),
        (geo.dilation == (1, 1, 1), f"dilation {geo.dilation[1:]}"),
        (geo.groups == 1, f"{geo.groups} groups"),
        (geo.in_size[2] >= layout["VW"] and geo.out_size[2] >= 2,
         f"rows of {geo.in_size[2]} are shorter than a vector ({layout['VW']})"),
        (local <= context.profile.local_memory_bytes,
         f"its tiles need {local:,} bytes of local memory, the device has "
         f"{context.profile.local_memory_bytes:,}")) or loop_reason(
            context, 16 * -(-geo.out_channels // layout["BK"]) * geo.in_channels,
            "each work-item's products")


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
    geo, device, dtype = problem.geo, context.device, problem.dtype
    layout = _winograd_layout(context, problem)
    block = layout["BK"]
    defines = dict(WG_BK=block, WG_TV=layout["TV"],
                   **runtime.vector_defines(device, dtype, layout["VW"]))
    k_blocks = -(-geo.out_channels // block)
    packed = runtime.scratch(device, _winograd_packed_bytes(context, problem))
    runtime.launch(device, runtime.get_kernel(device, "conv", "winograd_weights", **defines),
                   (k_blocks * block, geo.in_channels), (1, 1), w.array.data, packed,
                   *i32(geo.out_channels, geo.in_channels, k_blocks))
    _, height, width = geo.in_size
    _, out_h, out_w = geo.out_size
    tiles_per_row = -(-out_w // 2)  # 2x2 output tiles
    tile_rows = -(-out_h // 2)
    column_blocks = -(-tiles_per_row // (layout["VW"] * layout["TV"]))
    runtime.launch(device, runtime.get_kernel(device, "conv", "winograd_conv2d", **defines),
                   (geo.batch * tile_rows * column_blocks,), (1,), x.array.data, packed,
                   buffer(b, device), *i32(b is not None), *epilogue.args(dtype), y.array.data,
                   runtime.local_memory(layout["v_bytes"]), runtime.local_memory(layout["m_bytes"]),
                   *i32(geo.batch, geo.in_channels, height, width, geo.out_channels, out_h, out_w,
                        *geo.padding[1:], tile_rows, column_blocks))


dispatch.register(Algorithm(
    "conv_forward", "winograd", _winograd_run, applies=_winograd_applies,
    prefers=_winograd_prefers, params=_winograd_params, workspace=_winograd_packed_bytes,
    about="winograd_conv2d: F(2x2, 3x3), the transformed input of a row of tiles in local "
    "memory for every output channel"))


# --- conv_direct, the CPU path (kernels/conv.cl explains the layouts) --------------------------

_PLANS_PER_DEVICE = 64  # conv_direct plans remembered per device (the oldest goes first)


@dataclass(frozen=True)
class _DirectPlan:
    """One convolution as conv_direct runs it."""
    defines: dict        # the build options: element type, blocking, and sizes when specialized
    layout: str          # how conv_direct reads x: "planes" (padded copy), "panels", "in_place"
    sizes: dict          # conv_direct's size arguments in order (CONV_* defines if specialized)
    copy_elements: int   # the size of the copy of x
    blocks: int          # blocks of BLOCK_K output channels, over all groups
    global_size: tuple   # conv_direct's work: (blocks, position tiles, batch), maybe swapped
    local_size: tuple
    kernels: dict = field(default_factory=dict, compare=False)  # name -> _Launch, once built

    def packed_elements(self, geo: ConvGeometry) -> int:
        """Elements of the packed weights (none where conv_direct reads them in place)."""
        if self.defines.get("WEIGHTS_IN_PLACE"):
            return 0
        taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
        return self.blocks * (geo.in_channels // geo.groups) * taps * self.defines["BLOCK_K"]


def _problem_class(geo: ConvGeometry) -> str:
    """The tuning table's classes: 1x1 kernels, one input channel per group, the rest."""
    if geo.kernel == (1, 1, 1):
        return "pointwise"
    return "depthwise" if geo.in_channels == geo.groups else "spatial"


def _direct_tiles(params: dict, lanes: int, geo: ConvGeometry) -> dict:
    """conv_direct's blocking for `geo` from its parameters: BLOCK_K output channels of a group
    (evenly split), BLOCK_V vectors of VW positions, loop and work orders, layout."""
    tiles = dict(params[_problem_class(geo)])
    out_per_group = geo.out_channels // geo.groups
    largest, single = tiles.pop("BLOCK_K"), tiles.pop("BLOCK_K_SINGLE")
    blocks = 1 if out_per_group <= single else -(-out_per_group // largest)
    block_k = -(-out_per_group // blocks)
    accumulators = largest * tiles["BLOCK_V"]
    tiles.update(VW=lanes, BLOCK_K=block_k,
                 BLOCK_V=max(1, min(4, round(accumulators / block_k))))
    return tiles


def _direct_plan(context: Context, geo: ConvGeometry, dtype) -> _DirectPlan | None:
    """The conv_direct launch for `geo`, or None when its buffers exceed the device's limits."""
    tiles = _direct_tiles(context.params, context.lanes(dtype), geo)
    local_size = (tiles.pop("LOCAL", 1), 1, 1)
    align = tiles.pop("ALIGN", 1)  # the padded planes' stride is a multiple of this
    allow_flat = tiles.pop("ALLOW_FLAT", 1)
    vw = tiles["VW"]
    (od, oh, ow), (kd, kh, kw) = geo.out_size, geo.kernel
    (sd, sh, sw), (dd, dh, dw) = geo.stride, geo.dilation
    # The padded grid: just the rows and columns that valid outputs read.
    dp, hp = (od - 1) * sd + (kd - 1) * dd + 1, (oh - 1) * sh + (kh - 1) * dh + 1
    wq = ow + (kw - 1) * dw // sw
    positions = ((od - 1) * hp + oh - 1) * wq + ow  # numbered over the grid (FLAT)
    block_p = vw * tiles["BLOCK_V"]
    flat = (allow_flat and geo.stride == (1, 1, 1)
            and -(-positions // block_p) <= od * oh * -(-ow // block_p))
    if not flat:  # no more vectors than a row needs
        tiles["BLOCK_V"] = min(tiles["BLOCK_V"], -(-ow // vw))
        block_p = vw * tiles["BLOCK_V"]
    rows, row_tiles = (1, -(-positions // block_p)) if flat else (od * oh, -(-ow // block_p))
    # Without padding or strides x has the grid's layout; reading it in place needs one whole
    # tile per plane (the last one moves back) and aligned planes. (A grid of x's size may still
    # be padded: the gradients' convolutions choose their output sizes.)
    plane = dp * hp * sw * wq
    in_place = (flat and positions >= block_p and (dp, hp, wq) == geo.in_size
                and geo.padding == (0, 0, 0) and plane % align == 0)
    in_per_group, out_per_group = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    k_tiles = -(-out_per_group // tiles["BLOCK_K"])
    sizes = {"GROUPS": geo.groups, "CG": in_per_group, "KG": out_per_group, "K_TILES": k_tiles,
             "OD": od, "OH": oh, "OW": ow}
    if geo.kernel == (1, 1, 1) and not in_place:
        # Panels of the positions' inputs, gathered (strides, padding) by the copy.
        vectors = -(-(od * oh * ow) // block_p) * tiles["BLOCK_V"]
        rows, row_tiles = 1, vectors // tiles["BLOCK_V"]
        sizes.update(DP=od, HP=oh, WQ=ow, KD=1, KH=1, KW=1, SD=1, SH=1, SW=1, DD=1, DH=1, DW=1,
                     X_IMAGE=vectors * geo.in_channels * vw, X_CHANNEL=vw,
                     X_VECTOR=geo.in_channels * vw, FLAT=1, IN_PLACE=0)
        layout, copy_elements = "panels", geo.batch * sizes["X_IMAGE"]
    else:
        plane = plane if in_place else -(-plane // align) * align
        sizes.update(DP=dp, HP=hp, WQ=wq, KD=kd, KH=kh, KW=kw, SD=sd, SH=sh, SW=sw,
                     DD=dd, DH=dh, DW=dw, X_IMAGE=geo.in_channels * plane, X_CHANNEL=plane,
                     X_VECTOR=vw, FLAT=int(flat), IN_PLACE=int(in_place))
        layout = "in_place" if in_place else "planes"
        # A copy ends with one tile's worth of zeros, which tail tiles may read.
        copy_elements = 0 if in_place else geo.batch * sizes["X_IMAGE"] + block_p
    sizes.update(ROWS=rows, ROW_TILES=row_tiles)
    packed = geo.groups * k_tiles * in_per_group * kd * kh * kw * tiles["BLOCK_K"]
    limit = min(INT32_MAX, context.profile.max_alloc_bytes // np.dtype(dtype).itemsize)
    per_sample = copy_elements // max(1, geo.batch)
    if per_sample > limit or packed > limit:
        return None
    defines = {**runtime.dtype_defines(dtype), **tiles}
    if tiles["TAPS_OUTER"] and _problem_class(geo) == "pointwise":
        defines["WEIGHTS_IN_PLACE"] = 1
    if _specialized(context, geo, defines, sizes):
        defines.update(FIXED_SHAPE=1, **{f"CONV_{name}": value for name, value in sizes.items()})
    blocks = geo.groups * k_tiles
    work = (blocks, rows * row_tiles)
    global_size = (work if tiles["K_FASTEST"] else work[::-1]) + (geo.batch,)
    return _DirectPlan(defines, layout, sizes, copy_elements, blocks, global_size, local_size)


def _specialized(context: Context, geo: ConvGeometry, defines: dict, sizes: dict) -> bool:
    """Whether to build conv_direct for this shape (sizes as -D defines): where the tuning table
    says that it pays, for at most its `max_shapes` shapes per device (one build each)."""
    mode = config.current().specialize
    if mode != "auto":
        return mode == "always"
    rule = context.params["specialize"]
    if _problem_class(geo) not in rule["classes"] or geo.multiply_adds < rule["min_multiply_adds"]:
        return False
    shapes = _direct_state(context.device)["specialized"]
    shape = (runtime.build_options(defines), tuple(sizes.values()))
    if shape not in shapes and len(shapes) >= rule["max_shapes"]:
        return False
    shapes.add(shape)
    return True


_direct_states: dict = {}  # device -> state (clear_caches empties it)


def _direct_state(device: runtime.Device) -> dict:
    """Per device: the plans of recent convolutions (for the settings in force) and the shapes
    built specialized."""
    state = _direct_states.get(device)
    if state is None or state["generation"] != config.generation():
        specialized = state["specialized"] if state else set()
        state = _direct_states[device] = {"plans": {}, "specialized": specialized,
                                          "generation": config.generation()}
    return state


runtime.on_clear_caches(_direct_states.clear)


def _cached_direct_plan(context: Context, geo: ConvGeometry, dtype) -> _DirectPlan | None:
    """_direct_plan, remembered: a plan also holds its kernels and their integer arguments."""
    plans = _direct_state(context.device)["plans"]
    key = (geo, np.dtype(dtype))
    if key not in plans:
        if len(plans) >= _PLANS_PER_DEVICE:
            del plans[next(iter(plans))]  # the oldest
        plans[key] = _direct_plan(context, geo, dtype)
    return plans[key]


def _direct_applies(context: Context, problem: ConvProblem) -> str | None:
    plan = _cached_direct_plan(context, problem.geo, problem.dtype)
    if plan is None:
        return "one sample's copy or the packed weights pass the device's largest allocation"
    sizes = plan.sizes
    return loop_reason(context, sizes["HP"] * sizes["SW"] * sizes["WQ"], "the padded copy")


def _direct_params(context: Context, problem: ConvProblem) -> dict:
    plan = _cached_direct_plan(context, problem.geo, problem.dtype)
    shown = ("VW", "BLOCK_K", "BLOCK_V", "K_FASTEST", "TAPS_OUTER", "WEIGHTS_IN_PLACE",
             "FIXED_SHAPE")
    return {"layout": plan.layout, **{k: plan.defines[k] for k in shown if k in plan.defines}}


def _direct_workspace(context: Context, problem: ConvProblem) -> int:
    plan = _cached_direct_plan(context, problem.geo, problem.dtype)
    return (plan.copy_elements + plan.packed_elements(problem.geo)) * problem.dtype.itemsize


def _direct_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    """conv_direct works on a copy of the input (padded or packed). When that workspace would
    pass runtime.workspace_limit, the batch is split into runs whose copies stay under it."""
    geo, device = problem.geo, context.device
    plan = _cached_direct_plan(context, geo, problem.dtype)
    workspace = plan.copy_elements * problem.dtype.itemsize
    limit = runtime.workspace_limit(device)
    if workspace > limit and geo.batch > 1:
        _forward_in_batches(x, w, b, y, geo, max(1, geo.batch * limit // workspace), epilogue)
    else:
        _launch_direct(x, w, b, y, geo, plan, epilogue)


def _forward_in_batches(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                        per_run: int, epilogue: Epilogue) -> None:
    """The convolution as runs of `per_run` samples, each through copies of its rows."""
    device = x.device
    in_sample = x.size // geo.batch * x.dtype.itemsize
    out_sample = y.size // geo.batch * y.dtype.itemsize
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        rows = empty((count,) + x.shape[1:], x.dtype, device)
        runtime.copy(device, rows.array.data, x.array.data, count * in_sample,
                     src_offset=first * in_sample)
        out = empty((count,) + y.shape[1:], y.dtype, device)
        forward(rows, w, b, out, replace(geo, batch=count), epilogue)
        runtime.copy(device, y.array.data, out.array.data, count * out_sample,
                     dest_offset=first * out_sample)


def _launch_direct(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                   plan: _DirectPlan, epilogue: Epilogue) -> None:
    device = x.device
    itemsize = np.dtype(x.dtype).itemsize
    kernels = plan.kernels or _direct_kernels(device, geo, plan)
    packed = buffer(w, device)  # (read as given: WEIGHTS_IN_PLACE)
    if not plan.defines.get("WEIGHTS_IN_PLACE"):
        pack = kernels["conv_pack_weights"]
        packed = runtime.scratch(device, itemsize * pack.elements)
        runtime.launch(device, pack.kernel, pack.global_size, pack.local_size, buffer(w, device),
                       packed, *pack.sizes)
    source = buffer(x, device)
    if plan.layout != "in_place":
        copy = kernels["conv_pad_input" if plan.layout == "planes" else "conv_pack_input"]
        source = runtime.scratch(device, itemsize * copy.elements)
        runtime.launch(device, copy.kernel, copy.global_size, copy.local_size, buffer(x, device),
                       source, *copy.sizes)
    direct = kernels["conv_direct"]
    runtime.launch(device, direct.kernel, direct.global_size, direct.local_size, source, packed,
                   buffer(b, device), *i32(b is not None), *epilogue.args(x.dtype), y.array.data,
                   *direct.sizes)


@dataclass(frozen=True)
class _Launch:
    """One kernel of a plan, ready to go: its integer arguments after the buffers."""
    kernel: object  # pyopencl.Kernel
    global_size: tuple
    local_size: tuple
    sizes: tuple
    elements: int   # of the buffer it fills (pack, copy)


def _direct_kernels(device: runtime.Device, geo: ConvGeometry, plan: _DirectPlan) -> dict:
    """The kernels of `plan` with their arguments, built (or found) once per plan."""
    sizes, defines = plan.sizes, plan.defines
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    cg, planes = sizes["CG"], geo.batch * geo.in_channels

    def prepared(name, global_size, local_size, ints, elements=0):
        kernel = runtime.get_kernel(device, "conv", name, **defines)
        return _Launch(kernel, global_size, local_size, tuple(i32(*ints)), elements)

    kernels = {"conv_pack_weights": prepared(
        "conv_pack_weights", (cg, plan.blocks), (1, 1),
        (cg, sizes["KG"], sizes["K_TILES"], plan.blocks, taps), plan.packed_elements(geo))}
    if plan.layout == "planes":
        kernels["conv_pad_input"] = prepared(
            "conv_pad_input", (sizes["DP"], planes), (1, 1),
            (sizes["X_CHANNEL"], plan.copy_elements - planes * sizes["X_CHANNEL"], planes,
             *geo.in_size, sizes["DP"], sizes["HP"], sizes["SW"], sizes["WQ"], *geo.padding),
            plan.copy_elements)
    elif plan.layout == "panels":
        vectors = sizes["ROW_TILES"] * defines["BLOCK_V"]
        kernels["conv_pack_input"] = prepared(
            "conv_pack_input", (vectors, geo.batch), (1, 1),
            (geo.batch, geo.in_channels, *geo.in_size, *geo.out_size, vectors, *geo.stride,
             *geo.padding), plan.copy_elements)
    kernels["conv_direct"] = prepared("conv_direct", plan.global_size, plan.local_size,
                                      tuple(sizes.values()))
    plan.kernels.update(kernels)
    return kernels


dispatch.register(Algorithm(
    "conv_forward", "direct", _direct_run, applies=_direct_applies, params=_direct_params,
    workspace=_direct_workspace, about="conv_direct: BLOCK_K output channels x BLOCK_V "
    "vectors of positions per work-item over a padded (or packed) copy of the input"))


# --- conv_forward, the general kernel ---------------------------------------------------------

def general_tiles(params: dict, out_per_group: int, dtype) -> dict:
    """Register-tile sizes of conv_forward: no more output channels than a group has; half the
    positions in float64, whose values take two 32-bit registers each."""
    tile_k = int(params["TILE_K"])
    tile_k = 1 if out_per_group == 1 else min(tile_k, 4) if out_per_group <= 4 else tile_k
    return {"TILE_K": tile_k, "TILE_P": double_halved(int(params["TILE_P"]), dtype)}


def _general_params(context: Context, problem: ConvProblem) -> dict:
    geo = problem.geo
    return {**general_tiles(context.params, geo.out_channels // geo.groups, problem.dtype),
            "local": tuple(context.params["local"])}


def _general_run(context: Context, problem: ConvProblem, x, w, b, y, epilogue) -> None:
    geo, device = problem.geo, context.device
    tiles = general_tiles(context.params, geo.out_channels // geo.groups, problem.dtype)
    out_plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    channel_tiles = geo.groups * -(-(geo.out_channels // geo.groups) // tiles["TILE_K"])
    global_size = (-(-out_plane // tiles["TILE_P"]), channel_tiles, geo.batch)
    kernel = runtime.get_kernel(device, "conv", "conv_forward",
                                **runtime.dtype_defines(problem.dtype), **tiles)
    runtime.launch(
        device, kernel, global_size, tuple(context.params["local"]),
        buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
        *epilogue.args(problem.dtype), y.array.data,
        *i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
             *geo.stride, *geo.padding, *geo.dilation, geo.groups))


def _general_applies(context: Context, problem: ConvProblem) -> str | None:
    geo = problem.geo
    return loop_reason(context, geo.in_channels // geo.groups * int(np.prod(geo.kernel)),
                       "the reduction over input channels and taps")


dispatch.register(Algorithm(
    "conv_forward", "general", _general_run, applies=_general_applies, params=_general_params,
    about="conv_forward: a register-tiled implicit GEMM, any option, no workspace"))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1D convolution over (N, C, L); PyTorch's `conv1d` signature and semantics."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2D convolution over (N, C, H, W); PyTorch's `conv2d` signature and semantics."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3D convolution over (N, C, D, H, W); PyTorch's `conv3d` signature and semantics."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def fused_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01) -> Tensor:
    """activation(conv1d(...)) in one kernel (clconv.fused.conv1d)."""
    return conv_activation(1, input, weight, bias, stride, padding, dilation, groups,
                           activation, negative_slope)


def fused_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01) -> Tensor:
    """activation(conv2d(...)) in one kernel (clconv.fused.conv2d)."""
    return conv_activation(2, input, weight, bias, stride, padding, dilation, groups,
                           activation, negative_slope)


def fused_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01) -> Tensor:
    """activation(conv3d(...)) in one kernel (clconv.fused.conv3d)."""
    return conv_activation(3, input, weight, bias, stride, padding, dilation, groups,
                           activation, negative_slope)


for _nd, _op in ((1, conv1d), (2, conv2d), (3, conv3d), (1, fused_conv1d), (2, fused_conv2d),
                 (3, fused_conv3d)):
    dispatch.explains(_op)(lambda *args, _nd=_nd, **kwargs: explain_conv(_nd, *args, **kwargs))
del _nd, _op
