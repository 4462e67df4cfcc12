"""conv_forward's direct algorithm (kernels/conv_direct.cl explains the layouts), CPUs:
wide-vector register blocking over a laid-out copy of the input."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import config, dispatch, runtime
from ..dispatch import Algorithm, Context, loop_reason
from ..runtime import INT32_MAX
from ..tensors import Tensor, empty
from .arguments import buffer, i32
from .conv_geometry import ConvGeometry, ConvProblem, Epilogue
from .prepared import prepared


# --- conv_direct, the CPU path (kernels/conv_direct.cl explains the layouts) -------------------

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
    # (epilogue activation, input scaled, residual) -> {kernel name -> _Launch}: the plan's
    # kernels once built, all from one program (that build's: a model's convolution has one
    # activation, and each program costs PoCL some 40 ms to build even from its cache)
    kernels: dict = field(default_factory=dict, compare=False)

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


def _panels(geo: ConvGeometry, sizes: dict, vw: int, block_v: int) -> tuple:
    """A 1x1 convolution's input as panels of the positions' inputs, gathered (strides,
    padding) by the copy: (layout, copy elements, rows, tiles per row), `sizes` completed."""
    od, oh, ow = geo.out_size
    vectors = -(-(od * oh * ow) // (vw * block_v)) * block_v
    sizes.update(DP=od, HP=oh, WQ=ow, KD=1, KH=1, KW=1, SD=1, SH=1, SW=1, DD=1, DH=1, DW=1,
                 X_IMAGE=vectors * geo.in_channels * vw, X_CHANNEL=vw,
                 X_VECTOR=geo.in_channels * vw, FLAT=1, IN_PLACE=0)
    return "panels", geo.batch * sizes["X_IMAGE"], 1, vectors // block_v


def _direct_plan(context: Context, geo: ConvGeometry, dtype) -> _DirectPlan | None:
    """The conv_direct launch for `geo`, or None when its buffers exceed the device's limits."""
    tiles = _direct_tiles(context.params, context.lanes(dtype), geo)
    local_size = (tiles.pop("LOCAL", 1), 1, 1)
    align = tiles.pop("ALIGN", 1)  # the padded planes' stride is a multiple of this
    allow_flat = tiles.pop("ALLOW_FLAT", 1)
    # Several blocks of output channels per work-item (_blocks_per_item), up to ITEM_CHANNELS,
    # where its tile's inputs fit in ITEM_INPUT_BYTES (they stay in the cache from one block to
    # the next)
    input_bytes, item_channels = tiles.pop("ITEM_INPUT_BYTES", 0), tiles.pop("ITEM_CHANNELS", 0)
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
        layout, copy_elements, rows, row_tiles = _panels(geo, sizes, vw, tiles["BLOCK_V"])
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
    fits = in_per_group * block_p * np.dtype(dtype).itemsize <= input_bytes
    per_item = _blocks_per_item(context, item_channels // tiles["BLOCK_K"] if fits else 1,
                                blocks, rows * row_tiles * geo.batch)
    if per_item > 1:
        defines["BLOCKS_PER_ITEM"] = per_item
    work = (-(-blocks // per_item), rows * row_tiles)
    global_size = (work if tiles["K_FASTEST"] else work[::-1]) + (geo.batch,)
    return _DirectPlan(defines, layout, sizes, copy_elements, blocks, global_size, local_size)


_ITEMS_PER_UNIT = 8  # work-items per compute unit below which blocks are not merged


def _blocks_per_item(context: Context, most: int, blocks: int, tiles: int) -> int:
    """How many blocks of output channels (`most` at most) one work-item computes for its tile
    (`tiles` over the batch), one after another, so that the tile's inputs are read from
    memory once and then from the cache: as many as leave at least _ITEMS_PER_UNIT work-items
    per compute unit, spread evenly over the blocks. (More channels per work-item than the
    table's ITEM_CHANNELS measured slower: each writes to its own output plane.)"""
    per_item = max(1, min(blocks, most))
    wanted = _ITEMS_PER_UNIT * context.profile.compute_units
    while per_item > 1 and -(-blocks // per_item) * tiles < wanted:
        per_item -= 1
    return -(-blocks // -(-blocks // per_item))


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
    sizes, defines, geo = plan.sizes, plan.defines, problem.geo
    block_k, block_v = defines["BLOCK_K"], defines["BLOCK_V"]
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    return loop_reason(context, sizes["HP"] * sizes["SW"] * sizes["WQ"], "the padded copy") \
        or loop_reason(
        context, sizes["CG"] * taps * defines.get("BLOCKS_PER_ITEM", 1),
        "a work-item over its input channels and taps",
        body=block_k * block_v + block_k + block_v + 1)


def _direct_params(context: Context, problem: ConvProblem) -> dict:
    plan = _cached_direct_plan(context, problem.geo, problem.dtype)
    shown = ("VW", "BLOCK_K", "BLOCK_V", "BLOCKS_PER_ITEM", "K_FASTEST", "TAPS_OUTER",
             "WEIGHTS_IN_PLACE", "FIXED_SHAPE")
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
        part = ConvProblem(replace(geo, batch=count), np.dtype(x.dtype))
        dispatch.run("conv_forward", device, part, rows, w, b, out, epilogue)
        runtime.copy(device, y.array.data, out.array.data, count * out_sample,
                     dest_offset=first * out_sample)


def _launch_direct(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                   plan: _DirectPlan, epilogue: Epilogue, scale: Tensor | None = None,
                   residual: Tensor | None = None) -> None:
    """conv_direct's launches; with `scale` (N x C), input channel c of image n multiplied by
    scale[n, c] as it is read (INPUT_SCALE); with `residual` (y's shape), that added to the sums
    before the activation (RESIDUAL)."""
    device = x.device
    itemsize = np.dtype(x.dtype).itemsize
    key = (epilogue.activation, scale is not None, residual is not None)
    kernels = plan.kernels.get(key) or _direct_kernels(device, geo, plan, epilogue, *key[1:])
    packed = buffer(w, device)  # (read as given: WEIGHTS_IN_PLACE)
    if not plan.defines.get("WEIGHTS_IN_PLACE"):
        pack = kernels["conv_pack_weights"]
        packed = prepared(w, ("conv_pack_weights", runtime.build_options(plan.defines),
                              pack.sizes), itemsize * pack.elements,
                          lambda out: runtime.launch(device, pack.kernel, pack.global_size,
                                                     pack.local_size, buffer(w, device), out,
                                                     *pack.sizes))
    source = buffer(x, device)
    if plan.layout != "in_place":
        copy = kernels["conv_pad_input" if plan.layout == "planes" else "conv_pack_input"]
        source = runtime.scratch(device, itemsize * copy.elements)
        runtime.launch(device, copy.kernel, copy.global_size, copy.local_size, buffer(x, device),
                       source, *copy.sizes)
    direct = kernels["conv_direct"]
    runtime.launch(device, direct.kernel, direct.global_size, direct.local_size, source, packed,
                   buffer(b, device), *i32(b is not None), *epilogue.args(x.dtype), y.array.data,
                   *direct.sizes, buffer(scale, device), buffer(residual, device))


def run_fused(choice, problem: ConvProblem, x: Tensor, scale: Tensor | None,
              residual: Tensor | None, w: Tensor, b: Tensor | None, y: Tensor,
              epilogue: Epilogue) -> bool:
    """y = activation(conv(x * scale) + b + residual): `scale` (N x C, per image and input
    channel, or None) applied by conv_direct as it reads x (INPUT_SCALE), `residual` (y's shape,
    or None) added as it stores (RESIDUAL): where `choice` (the dispatcher's for `problem`) is
    conv_direct and its copy of x needs no splitting of the batch. False (nothing run)
    elsewhere: the caller multiplies and adds apart."""
    if choice.algorithm != "direct":
        return False
    plan = _cached_direct_plan(choice.context, problem.geo, problem.dtype)
    if plan.copy_elements * problem.dtype.itemsize > runtime.workspace_limit(x.device):
        return False
    _launch_direct(x, w, b, y, problem.geo, plan, epilogue, scale, residual)
    return True


@dataclass(frozen=True)
class _Launch:
    """One kernel of a plan, ready to go: its integer arguments after the buffers."""
    kernel: object  # pyopencl.Kernel
    global_size: tuple
    local_size: tuple
    sizes: tuple
    elements: int   # of the buffer it fills (pack, copy)


def _direct_kernels(device: runtime.Device, geo: ConvGeometry, plan: _DirectPlan,
                    epilogue: Epilogue, scaled: bool = False, residual: bool = False) -> dict:
    """The kernels `plan` launches with `epilogue` (and the input scaled: INPUT_SCALE; a
    residual added: RESIDUAL), with their arguments, built (or found) once per plan, epilogue,
    scaling and residual, from one program."""
    sizes, defines = plan.sizes, {**plan.defines, **epilogue.defines()}
    if scaled:
        defines["INPUT_SCALE"] = 1
    if residual:
        defines["RESIDUAL"] = 1
    taps = geo.kernel[0] * geo.kernel[1] * geo.kernel[2]
    cg, planes = sizes["CG"], geo.batch * geo.in_channels

    def prepared(name, global_size, local_size, ints, elements=0):
        kernel = runtime.get_kernel(device, "conv_direct", name, **defines)
        return _Launch(kernel, global_size, local_size, tuple(i32(*ints)), elements)

    kernels = {}
    if not plan.defines.get("WEIGHTS_IN_PLACE"):
        kernels["conv_pack_weights"] = prepared(
            "conv_pack_weights", (cg, plan.blocks), (1, 1),
            (cg, sizes["KG"], sizes["K_TILES"], plan.blocks, taps), plan.packed_elements(geo))
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
    plan.kernels[(epilogue.activation, scaled, residual)] = kernels
    return kernels


dispatch.register(Algorithm(
    "conv_forward", "direct", _direct_run, applies=_direct_applies, params=_direct_params,
    workspace=_direct_workspace, about="conv_direct: BLOCK_K output channels x BLOCK_V "
    "vectors of positions per work-item over a padded (or packed) copy of the input"))
