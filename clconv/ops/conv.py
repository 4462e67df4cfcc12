"""conv1d / conv2d / conv3d: argument checks, output geometry and the launch of `conv.cl`."""
from __future__ import annotations

import functools
import json
import os
import weakref
from dataclasses import dataclass, field, replace
from importlib import resources

import numpy as np
import pyopencl as cl

from .. import autograd, runtime
from ..shapes import conv_output_size
from ..tensors import _INT32_MAX, Tensor, empty
from . import conv_grad, elementwise
from ._args import as_3d, buffer, expect_shape, i32, non_negative, ntuple, pad3, positive, real, spatial_input, tensors


@dataclass(frozen=True)
class ConvGeometry:
    """Everything a launch needs to know about one convolution, in (D, H, W) order."""
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_size: tuple[int, int, int]
    kernel: tuple[int, int, int]
    out_size: tuple[int, int, int]
    stride: tuple[int, int, int]
    padding: tuple[int, int, int]  # before each dimension; 'same' may pad one more after
    dilation: tuple[int, int, int]

    @property
    def multiply_adds(self) -> int:
        d, h, w = self.out_size
        kd, kh, kw = self.kernel
        return (self.batch * self.out_channels * d * h * w
                * (self.in_channels // self.groups) * kd * kh * kw)


def conv_geometry(op: str, nd: int, x_shape, w_shape, stride, padding, dilation,
                  groups) -> ConvGeometry:
    """Validate a convolution's arguments (shapes already batched) and derive its output size."""
    if len(w_shape) != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}D (out_channels, in_channels/groups, "
                         f"*kernel), got weight of shape {w_shape}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    batch, in_channels, *spatial = x_shape
    out_channels, in_per_group, *kernel = w_shape
    if in_channels % groups:
        raise ValueError(f"{op}: in_channels ({in_channels}) must be divisible by groups ({groups})")
    if out_channels % groups:
        raise ValueError(f"{op}: out_channels ({out_channels}, weight {w_shape}) must be "
                         f"divisible by groups ({groups})")
    if in_per_group * groups != in_channels:
        raise ValueError(f"{op}: input of shape {x_shape} has {in_channels} channels but weight "
                         f"of shape {w_shape} expects {in_per_group * groups} (groups={groups})")
    if min(kernel) <= 0:
        raise ValueError(f"{op}: weight of shape {w_shape} has an empty kernel")
    stride = positive(ntuple(stride, nd, "stride", op), "stride", op)
    dilation = positive(ntuple(dilation, nd, "dilation", op), "dilation", op)
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            before = tuple(t // 2 for t in total)
            after = tuple(t - t // 2 for t in total)
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', "
                             f"got {padding!r}")
    else:
        before = after = non_negative(ntuple(padding, nd, "padding", op), "padding", op)
    out_size = tuple(conv_output_size(*args) for args in
                     zip(spatial, kernel, stride, before, after, dilation))
    if min(out_size) <= 0:
        dilated = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        padded = tuple(s + b + a for s, b, a in zip(spatial, before, after))
        raise ValueError(f"{op}: the (dilated) kernel {dilated} is larger than the padded input "
                         f"{padded} (input {x_shape}, weight {w_shape})")
    return ConvGeometry(batch, in_channels, out_channels, groups, as_3d(spatial), as_3d(kernel),
                        as_3d(out_size), pad3(stride, 1), pad3(before, 0), pad3(dilation, 1))


@dataclass(frozen=True)
class Epilogue:
    """What the convolution kernels apply to each output after the bias (common.h: activate)."""
    activation: int = 0   # ACTIVATION_NONE, _RELU (1) or _LEAKY_RELU (2)
    negative_slope: float = 0.0

    def args(self, dtype) -> tuple:
        return np.int32(self.activation), np.dtype(dtype).type(self.negative_slope)


NO_EPILOGUE = Epilogue()


def _tiles(device: runtime.Device, out_per_group: int) -> dict:
    """Register-tile sizes of the general kernel: no more output channels than a group has."""
    tile_k = 1 if out_per_group == 1 else 4 if out_per_group <= 4 else 8
    return {"TILE_K": tile_k, "TILE_P": 8}


def _conv(op: str, nd: int, input, weight, bias, stride, padding, dilation, groups,
          epilogue: Epilogue = NO_EPILOGUE) -> Tensor:
    args = tensors(op, ("bias",), input=input, weight=weight, bias=bias)
    x, batched = spatial_input(args["input"], nd, op)
    w, b = args["weight"], args["bias"]
    geo = conv_geometry(op, nd, x.shape, w.shape, stride, padding, dilation, groups)
    expect_shape(b, (geo.out_channels,), "bias", op, " (one value per output channel)")
    out_spatial = geo.out_size[3 - nd:]
    y = empty((geo.batch, geo.out_channels) + out_spatial, x.dtype, x.device)
    if y.size:
        _launch_forward(x, w, b, y, geo, epilogue)
    if autograd.needs_grad(x, w, b):
        y = _record_backward(op, x, w, b, y, geo, epilogue)
    return y if batched else y.reshape(y.shape[1:])


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


def conv_activation(nd: int, input, weight, bias, stride, padding, dilation, groups,
                    activation, negative_slope) -> Tensor:
    """activation(conv{nd}d(...)) with the activation in the convolution's epilogue (see
    clconv.fused)."""
    op = f"fused conv{nd}d"
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None, 'relu' or 'leaky_relu', "
                         f"got {activation!r}")
    slope = real(negative_slope, "negative_slope", op) if activation == "leaky_relu" else 0.0
    if not slope >= 0:  # the backward reads the sign of the input from the output
        raise ValueError(f"{op}: negative_slope must be non-negative, got {negative_slope}")
    return _conv(op, nd, input, weight, bias, stride, padding, dilation, groups,
                 Epilogue(_ACTIVATIONS[activation], slope))


def _launch_forward(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                    epilogue: Epilogue = NO_EPILOGUE) -> None:
    """Run the convolution: `conv_direct` on CPUs when it fits, else the general kernel; each
    output gets the bias and then `epilogue`'s activation.

    conv_direct works on a copy of the input (padded or packed). When that workspace would pass
    runtime.workspace_limit, the batch is split into runs whose copies stay under it; a single
    sample past the device's allocation limit takes the general kernel, which needs none.
    """
    device = x.device
    algorithm = _forced_algorithm or ("general" if device.is_gpu else "direct")
    if algorithm == "direct" and _depthwise_fits(geo):
        _launch_depthwise(x, w, b, y, geo, epilogue)
        return
    if algorithm == "direct" and _winograd_fits(device, geo, x.dtype):
        _launch_winograd(x, w, b, y, geo, epilogue)
        return
    plan = _cached_direct_plan(device, geo, x.dtype) if algorithm == "direct" else None
    if plan is None:
        _launch_general(x, w, b, y, geo, epilogue)
        return
    workspace = plan.copy_elements * np.dtype(x.dtype).itemsize
    limit = runtime.workspace_limit(device)
    if workspace > limit and geo.batch > 1:
        _launch_in_batches(x, w, b, y, geo, max(1, geo.batch * limit // workspace), epilogue)
    else:
        _launch_direct(x, w, b, y, geo, plan, epilogue)


def _depthwise_fits(geo: ConvGeometry) -> bool:
    """depthwise_conv2d: one input channel per group, 2D, stride 1, no dilation, input and
    output rows of at least 16 (the kernel's vector: its edge loads read 16 inside the row)."""
    return (geo.in_channels == geo.groups and geo.in_size[0] == 1 and geo.kernel[0] == 1
            and geo.padding[0] == 0 and geo.stride == (1, 1, 1) and geo.dilation == (1, 1, 1)
            and geo.in_size[2] >= 16 and geo.out_size[2] >= 16)


def _launch_depthwise(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                      epilogue: Epilogue) -> None:
    device = x.device
    _, out_h, out_w = geo.out_size
    # The kernel's size as build options: one small build per size (taps in registers).
    kernel = runtime.get_kernel(device, "conv", "depthwise_conv2d", DW_KH=geo.kernel[1],
                                DW_KW=geo.kernel[2], **runtime.dtype_defines(x.dtype))
    runtime.launch(device, kernel, (geo.batch * geo.out_channels * (out_w // 16),), (1,),
                   buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
                   *epilogue.args(x.dtype), y.array.data,
                   *i32(geo.batch, geo.in_channels, *geo.in_size[1:], geo.out_channels, out_h,
                        out_w, *geo.padding[1:]))


# Winograd F(2x2, 3x3) (conv.cl: winograd_conv2d): output channels per block, and tiles per
# work-item in vectors of 16 (2 where a row of tiles fills them).
_WINOGRAD_BK = 8
_WINOGRAD_MIN_CHANNELS = 16  # below, the transforms outweigh the multiplies they save


def _winograd_vectors(geo: ConvGeometry) -> int:
    return 2 if -(-geo.out_size[2] // 2) > 16 else 1


def _winograd_local_bytes(geo: ConvGeometry, dtype) -> tuple[int, int]:
    """The work-group's local memory: the transformed input, one block's products."""
    lanes, itemsize = 16 * _winograd_vectors(geo), np.dtype(dtype).itemsize
    return geo.in_channels * 16 * lanes * itemsize, 16 * _WINOGRAD_BK * lanes * itemsize


def _winograd_fits(device: runtime.Device, geo: ConvGeometry, dtype) -> bool:
    """winograd_conv2d: 3x3, stride 1, no dilation or groups, 2D, rows of at least 16 (its
    vectors), enough channels to pay for the transforms, and its tiles' transformed input in
    the device's local memory (CPUs: a cache-resident block per work-group)."""
    if _winograd_mode == "off" or device.is_gpu:
        return False
    shape_fits = (geo.kernel == (1, 3, 3) and geo.stride == (1, 1, 1)
                  and geo.dilation == (1, 1, 1) and geo.groups == 1 and geo.in_size[0] == 1
                  and geo.padding[0] == 0 and geo.in_size[2] >= 16 and geo.out_size[2] >= 2)
    if not shape_fits:
        return False
    if _winograd_mode != "always" and min(geo.in_channels, geo.out_channels) < _WINOGRAD_MIN_CHANNELS:
        return False
    return sum(_winograd_local_bytes(geo, dtype)) <= device.cl_device.local_mem_size


def _launch_winograd(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                     epilogue: Epilogue) -> None:
    device, dtype = x.device, x.dtype
    vectors = _winograd_vectors(geo)
    defines = dict(WG_BK=_WINOGRAD_BK, WG_TV=vectors, **runtime.dtype_defines(dtype))
    k_blocks = -(-geo.out_channels // _WINOGRAD_BK)
    packed = device.allocator(16 * k_blocks * geo.in_channels * _WINOGRAD_BK * dtype.itemsize)
    runtime.launch(device, runtime.get_kernel(device, "conv", "winograd_weights", **defines),
                   (k_blocks * _WINOGRAD_BK, geo.in_channels), (1, 1), w.array.data, packed,
                   *i32(geo.out_channels, geo.in_channels, k_blocks))
    _, height, width = geo.in_size
    _, out_h, out_w = geo.out_size
    tiles_per_row = -(-out_w // 2)  # 2x2 output tiles
    tile_rows, column_blocks = -(-out_h // 2), -(-tiles_per_row // (16 * vectors))
    v_bytes, m_bytes = _winograd_local_bytes(geo, dtype)
    runtime.launch(device, runtime.get_kernel(device, "conv", "winograd_conv2d", **defines),
                   (geo.batch * tile_rows * column_blocks,), (1,), x.array.data, packed,
                   buffer(b, device), *i32(b is not None), *epilogue.args(dtype), y.array.data,
                   cl.LocalMemory(v_bytes), cl.LocalMemory(m_bytes),
                   *i32(geo.batch, geo.in_channels, height, width, geo.out_channels, out_h, out_w,
                        *geo.padding[1:], tile_rows, column_blocks))


def _launch_in_batches(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                       per_run: int, epilogue: Epilogue) -> None:
    """The convolution as runs of `per_run` samples, each through copies of its rows."""
    device = x.device
    in_sample = x.size // geo.batch * x.dtype.itemsize
    out_sample = y.size // geo.batch * y.dtype.itemsize
    for first in range(0, geo.batch, per_run):
        count = min(per_run, geo.batch - first)
        rows = empty((count,) + x.shape[1:], x.dtype, device)
        cl.enqueue_copy(device.queue, rows.array.data, x.array.data, src_offset=first * in_sample,
                        byte_count=count * in_sample)
        out = empty((count,) + y.shape[1:], y.dtype, device)
        _launch_forward(rows, w, b, out, replace(geo, batch=count), epilogue)
        cl.enqueue_copy(device.queue, y.array.data, out.array.data, dst_offset=first * out_sample,
                        byte_count=count * out_sample)


def _launch_general(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                    epilogue: Epilogue) -> None:
    device = x.device
    tiles = _tiles(device, geo.out_channels // geo.groups)
    out_plane = geo.out_size[0] * geo.out_size[1] * geo.out_size[2]
    channel_tiles = geo.groups * -(-(geo.out_channels // geo.groups) // tiles["TILE_K"])
    global_size = (-(-out_plane // tiles["TILE_P"]), channel_tiles, geo.batch)
    local_size = (8, 4, 1) if device.is_gpu else (1, 1, 1)
    kernel = runtime.get_kernel(device, "conv", "conv_forward",
                                **runtime.dtype_defines(x.dtype), **tiles)
    runtime.launch(
        device, kernel, global_size, local_size,
        buffer(x, device), buffer(w, device), buffer(b, device), *i32(b is not None),
        *epilogue.args(x.dtype), y.array.data,
        *i32(geo.in_channels, *geo.in_size, geo.out_channels, *geo.out_size, *geo.kernel,
             *geo.stride, *geo.padding, *geo.dilation, geo.groups))


# --- conv_direct, the CPU path (kernels/conv.cl explains the layouts) --------------------------

# Overrides for tests and benchmarks: "general" or "direct" instead of the device's choice, and
# whether conv_direct is built per shape with its sizes as -D defines: "always", "never" or
# "auto" (the tuning table's `specialize` entry says for which problems).
_forced_algorithm: str | None = None
_specialize = "auto"
# Winograd for 3x3 stride-1 convolutions on CPUs (see _winograd_fits): "auto" (where it pays),
# "always" (any channel count: tests), "off" (CLCONV_WINOGRAD=0: conv_direct, the tighter
# tolerance).
_winograd_mode = "off" if os.environ.get("CLCONV_WINOGRAD") == "0" else "auto"

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


@functools.lru_cache(maxsize=None)
def _tuning_table() -> dict:
    """The shipped table, with the entries of the file CLCONV_TUNING names (written by
    `python -m clconv tune`) laid over it."""
    table = json.loads(resources.files("clconv").joinpath("tuning.json").read_text())
    user_file = os.environ.get("CLCONV_TUNING")
    if user_file and os.path.exists(user_file):
        with open(user_file) as stream:
            for platform, devices in json.load(stream).get("conv_direct", {}).items():
                table["conv_direct"].setdefault(platform, {}).update(devices)
    return table


def tuning_key(device: runtime.Device) -> str:
    """A device's entry in the table: its name and driver version."""
    return f"{device.name} | driver {device.cl_device.driver_version}"


_tuning_override: dict | None = None  # set by `clconv tune` while it tries a candidate


def _tuning(device: runtime.Device) -> dict:
    """conv_direct's tuning entry for `device`: by platform (vendor), then device and driver,
    then device, each level falling back to its 'default'."""
    if _tuning_override is not None:
        return _tuning_override
    table = _tuning_table()["conv_direct"]
    platform = table.get(device.platform_name, table["default"])
    return platform.get(tuning_key(device), platform.get(device.name, platform["default"]))


def forget_plans(device: runtime.Device) -> None:
    """Drop the prepared launches of `device` (after the tuning table changed)."""
    _direct_states.pop(device, None)


def _problem_class(geo: ConvGeometry) -> str:
    """The tuning table's classes: 1x1 kernels, one input channel per group, the rest."""
    if geo.kernel == (1, 1, 1):
        return "pointwise"
    return "depthwise" if geo.in_channels == geo.groups else "spatial"


def _direct_tiles(device: runtime.Device, geo: ConvGeometry, dtype) -> dict:
    """conv_direct's blocking for `geo` from the tuning table: BLOCK_K output channels of a
    group (evenly split), BLOCK_V vectors of VW positions, loop and work orders, layout."""
    entry = _tuning(device)
    tiles = dict(entry[_problem_class(geo)])
    out_per_group = geo.out_channels // geo.groups
    largest, single = tiles.pop("BLOCK_K"), tiles.pop("BLOCK_K_SINGLE")
    blocks = 1 if out_per_group <= single else -(-out_per_group // largest)
    block_k = -(-out_per_group // blocks)
    accumulators = largest * tiles["BLOCK_V"]
    tiles.update(VW=entry["vector_bytes"] // np.dtype(dtype).itemsize, BLOCK_K=block_k,
                 BLOCK_V=max(1, min(4, round(accumulators / block_k))))
    return tiles


def _direct_plan(device: runtime.Device, geo: ConvGeometry, dtype) -> _DirectPlan | None:
    """The conv_direct launch for `geo`, or None when its buffers exceed the device's limits."""
    tiles = _direct_tiles(device, geo, dtype)
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
    limit = min(_INT32_MAX, device.max_alloc_bytes // np.dtype(dtype).itemsize)
    if copy_elements > limit or packed > limit:
        return None
    defines = {**runtime.dtype_defines(dtype), **tiles}
    if tiles["TAPS_OUTER"] and _weights_in_place(geo):
        defines["WEIGHTS_IN_PLACE"] = 1
    if _specialized(device, geo, defines, sizes):
        defines.update(FIXED_SHAPE=1, **{f"CONV_{name}": value for name, value in sizes.items()})
    blocks = geo.groups * k_tiles
    work = (blocks, rows * row_tiles)
    global_size = (work if tiles["K_FASTEST"] else work[::-1]) + (geo.batch,)
    return _DirectPlan(defines, layout, sizes, copy_elements, blocks, global_size, local_size)


_WEIGHTS_IN_PLACE_CLASSES = ("pointwise",)


def _weights_in_place(geo: ConvGeometry) -> bool:
    return _problem_class(geo) in _WEIGHTS_IN_PLACE_CLASSES


def _specialized(device: runtime.Device, geo: ConvGeometry, defines: dict, sizes: dict) -> bool:
    """Whether to build conv_direct for this shape (sizes as -D defines): where the tuning table
    says that it pays, for at most its `max_shapes` shapes per device (one build each)."""
    if _specialize != "auto":
        return _specialize == "always"
    rule = _tuning(device)["specialize"]
    if _problem_class(geo) not in rule["classes"] or geo.multiply_adds < rule["min_multiply_adds"]:
        return False
    shapes = _direct_state(device)["specialized"]
    shape = (runtime.build_options(defines), tuple(sizes.values()))
    if shape not in shapes and len(shapes) >= rule["max_shapes"]:
        return False
    shapes.add(shape)
    return True


_direct_states: "weakref.WeakKeyDictionary[runtime.Device, dict]" = weakref.WeakKeyDictionary()


def _direct_state(device: runtime.Device) -> dict:
    """Per device: the plans of recent convolutions and the shapes built specialized."""
    state = _direct_states.get(device)
    if state is None:
        state = _direct_states[device] = {"plans": {}, "specialized": set()}
    return state


def _cached_direct_plan(device: runtime.Device, geo: ConvGeometry, dtype) -> _DirectPlan | None:
    """_direct_plan, remembered: a plan also holds its kernels and their integer arguments."""
    plans = _direct_state(device)["plans"]
    key = (geo, np.dtype(dtype), _specialize)
    if key not in plans:
        if len(plans) >= _PLANS_PER_DEVICE:
            del plans[next(iter(plans))]  # the oldest
        plans[key] = _direct_plan(device, geo, dtype)
    return plans[key]


def _launch_direct(x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, geo: ConvGeometry,
                   plan: _DirectPlan, epilogue: Epilogue) -> None:
    device = x.device
    itemsize = np.dtype(x.dtype).itemsize
    kernels = plan.kernels or _direct_kernels(device, geo, plan)
    packed = buffer(w, device)  # (read as given: WEIGHTS_IN_PLACE)
    if not plan.defines.get("WEIGHTS_IN_PLACE"):
        pack = kernels["conv_pack_weights"]
        packed = device.allocator(itemsize * max(1, pack.elements))
        runtime.launch(device, pack.kernel, pack.global_size, pack.local_size, buffer(w, device),
                       packed, *pack.sizes)
    source = buffer(x, device)
    if plan.layout != "in_place":
        copy = kernels["conv_pad_input" if plan.layout == "planes" else "conv_pack_input"]
        source = device.allocator(itemsize * max(1, copy.elements))
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
        (cg, sizes["KG"], sizes["K_TILES"], plan.blocks, taps),
        plan.blocks * cg * taps * defines["BLOCK_K"])}
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


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1D convolution over (N, C, L); PyTorch's `conv1d` signature and semantics."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2D convolution over (N, C, H, W); PyTorch's `conv2d` signature and semantics."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3D convolution over (N, C, D, H, W); PyTorch's `conv3d` signature and semantics."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)
