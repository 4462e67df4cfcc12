"""conv1d / conv2d / conv3d: argument checks, output geometry, the autograd record, and the
forward algorithms, chosen by the dispatcher (family "conv_forward"), one module (and one
kernels/<module>.cl) each:

- dot (conv_dot): `gemm_dot`, CPUs: 1x1 convolutions of 1x1 planes, as linear's product.
- depthwise (conv_depthwise): `depthwise_conv2d`, CPUs: one input channel per group, stride 1.
- winograd (conv_winograd): `winograd_conv2d`, CPUs: F(2x2, 3x3) for 3x3 stride-1 convolutions.
- pointwise (conv_pointwise): `conv_pointwise`, CPUs: 1x1 at stride 1 on planes of 160+
  positions, spans of each plane read in place.
- rows (conv_rows): `conv_rows`, CPUs: up to 4 input channels (a first layer) read in place, an
  output row of a block of output channels per work-item.
- direct (conv_direct): `conv_direct`, CPUs: wide-vector register blocking over a laid-out copy.
- local (conv_local): `conv_local`, GPUs: an implicit GEMM with slices of weights and gathered
  patches in local memory, 64 x 64 blocks per work-group.
- depthwise_local (conv_depthwise_local): `depthwise_conv2d_local`, GPUs: depthwise 2D, a tile
  of the output plane per work-group from its input patch in local memory.
- winograd_local (conv_winograd_local): Winograd F(2x2, 3x3) for GPUs, transforms around 16
  batched products through gemm, for 3x3 stride-1 convolutions of 64+ channels, where the
  tuning table's order names it (no default does until a GPU has measured it).
- general (conv_general): `conv_forward`, any device (GPUs): a register-tiled implicit GEMM.

Their parameters come from the tuning table (clconv.tuning; the defaults below derive them from
the device's profile: vector width and registers).
"""
from __future__ import annotations

import numpy as np

from .. import autograd, dispatch, tuning
from ..tensors import Tensor, empty
from . import activation as activations, conv_grad, elementwise
# The forward algorithms register themselves with the dispatcher when imported.
from . import (conv_depthwise, conv_depthwise_local, conv_direct, conv_dot,  # noqa: F401
               conv_general, conv_local, conv_pointwise, conv_rows, conv_winograd,
               conv_winograd_local)
from .arguments import expect_shape, real, spatial_input, tensors
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
    # With an activation (relu or leaky_relu: conv_activation records the others as a
    # convolution and an activation), its gradient comes first, read from the output's sign (as
    # the activations' own backward does); the closure holds the output's buffer, not the
    # output (whose node holds the closure).
    y_array, device = (y.array if epilogue.activation else None), y.device

    def backward(grad):
        if y_array is not None:
            grad = elementwise.activation_backward(Tensor(y_array, device), grad, epilogue.a)
        return (conv_grad.input_grad(grad, w, geo, x.shape) if x.requires_grad else None,
                conv_grad.weight_grad(x, grad, geo, w.shape) if w.requires_grad else None,
                conv_grad.bias_grad(grad) if b is not None and b.requires_grad else None)

    saved = (x, w, y) if epilogue.activation else (x, w)
    return autograd.record(op, y, (x, w, b), backward, saved=saved)


# clconv.fused's activations: name -> the epilogue (common.h: ACTIVATION_* and parameters).
_ACTIVATIONS = {None: Epilogue(0), "relu": Epilogue(1), "leaky_relu": Epilogue(2),
                "relu6": Epilogue(3, 0.0, 6.0), "sigmoid": Epilogue(4), "silu": Epilogue(5),
                "hardswish": Epilogue(6), "hardsigmoid": Epilogue(7)}
# Those whose gradient the backward reads from the output's sign; the others' needs the
# pre-activation, so with autograd recording they run as a convolution and then the activation.
_GRADIENT_FROM_OUTPUT = (None, "relu", "leaky_relu")


def _epilogue(op: str, activation, negative_slope) -> Epilogue:
    if not isinstance(activation, (str, type(None))) or activation not in _ACTIVATIONS:
        raise ValueError(f"{op}: activation must be None or one of "
                         f"{', '.join(repr(a) for a in _ACTIVATIONS if a)}, got {activation!r}")
    if activation != "leaky_relu":
        return _ACTIVATIONS[activation]
    slope = real(negative_slope, "negative_slope", op)
    if not slope >= 0:  # the backward reads the sign of the input from the output
        raise ValueError(f"{op}: negative_slope must be non-negative, got {negative_slope}")
    return Epilogue(_ACTIVATIONS[activation].activation, slope)


def conv_activation(nd: int, input, weight, bias, stride, padding, dilation, groups,
                    activation, negative_slope) -> Tensor:
    """activation(conv{nd}d(...)) with the activation in the convolution's epilogue (see
    clconv.fused)."""
    op = f"fused conv{nd}d"
    epilogue = _epilogue(op, activation, negative_slope)
    if activation not in _GRADIENT_FROM_OUTPUT and autograd.needs_grad(
            *(t for t in (input, weight, bias) if isinstance(t, Tensor))):
        y = _conv(op, nd, input, weight, bias, stride, padding, dilation, groups)
        return getattr(activations, activation)(y)
    return _conv(op, nd, input, weight, bias, stride, padding, dilation, groups, epilogue)


def scaled_conv(nd: int, input, scale, weight, bias=None, stride=1, padding=0, dilation=1,
                groups=1, activation=None, negative_slope=0.01) -> Tensor:
    """activation(conv{nd}d(input * scale, ...)) where `scale` (N, C, 1, ...) holds a factor
    per image and input channel: fused_conv with a scale."""
    return fused_conv(nd, input, weight, bias, stride, padding, dilation, groups, activation,
                      negative_slope, scale=scale)


def _activate(y: Tensor, activation, negative_slope) -> Tensor:
    """activation(y), by clconv.fused's names (None: y)."""
    if activation is None:
        return y
    if activation in ("relu", "leaky_relu"):
        return (elementwise.relu(y) if activation == "relu"
                else elementwise.leaky_relu(y, negative_slope))
    return getattr(activations, activation)(y)


def fused_conv(nd: int, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               activation=None, negative_slope=0.01, scale=None, residual=None) -> Tensor:
    """activation(conv{nd}d(input * scale, ...) + residual), what the ONNX importer makes of a
    convolution that reads a squeeze-excitation's product (`scale`, (N, C, 1, ...): a factor per
    image and input channel) and whose output a residual connection adds to (`residual`, of
    the output's shape), each optional. conv_direct and conv_pointwise multiply each input
    channel as they read it and add the residual as they store, winograd_conv2d adds the
    residual: neither the product nor the convolution's own output goes to memory. Where the
    convolution takes another algorithm, a factor or the residual has another shape (a
    broadcast), or autograd records, the product comes first and the sum after the
    convolution."""
    op = f"conv{nd}d"
    epilogue = _epilogue(f"fused {op}", activation, negative_slope)
    t = tensors(op, ("scale", "residual"), input=input, scale=scale, residual=residual)
    x_in, s, r = t["input"], t["scale"], t["residual"]

    def unfused():
        product = x_in if s is None else elementwise.mul(x_in, s)
        if r is None:
            return (_conv(op, nd, product, weight, bias, stride, padding, dilation, groups)
                    if activation is None else
                    conv_activation(nd, product, weight, bias, stride, padding, dilation,
                                    groups, activation, negative_slope))
        y = _conv(op, nd, product, weight, bias, stride, padding, dilation, groups)
        return _activate(elementwise.add(y, r), activation, negative_slope)

    x, w, b, geo, batched = _arguments(op, nd, x_in, weight, bias, stride, padding, dilation,
                                       groups)
    out_shape = (geo.batch, geo.out_channels) + geo.out_size[3 - nd:]
    if (not batched or (s is None and r is None)
            or (s is not None and s.shape != (geo.batch, geo.in_channels) + (1,) * nd)
            or (r is not None and r.shape != out_shape)
            or autograd.needs_grad(x, w, b, s, r)):
        return unfused()
    problem = ConvProblem(geo, np.dtype(x.dtype))
    y = empty(out_shape, x.dtype, x.device)
    choice = dispatch.choose("conv_forward", x.device, problem)
    if y.size and not any(module.run_fused(choice, problem, x, s, r, w, b, y, epilogue)
                          for module in (conv_direct, conv_pointwise, conv_winograd)):
        return unfused()
    dispatch.ran(choice)
    return y


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
        "order": ["dot", "depthwise", "winograd", "pointwise", "rows", "direct", "general"]
        if profile.kind == "cpu" else ["local", "depthwise_local", "general"],
        "direct": {
            "vector_bytes": profile.vector_bytes,
            "specialize": {"classes": [], "min_multiply_adds": 10_000_000, "max_shapes": 16},
            # 1x1: a work-item whose tile's inputs (one cache-line stream per input channel)
            # fit in 24 KiB, a first-level cache's share, computes up to 32 output channels
            # over them, block after block: the inputs come from memory once (conv_direct.py)
            "pointwise": dict(blocking, ALIGN=1, ITEM_INPUT_BYTES=24576, ITEM_CHANNELS=32),
            "spatial": dict(blocking, ALIGN=lanes),
            "depthwise": {"BLOCK_K": 1, "BLOCK_K_SINGLE": 1, "BLOCK_V": 4, "K_FASTEST": 0,
                          "TAPS_OUTER": 0, "ALIGN": lanes, "ALLOW_FLAT": 0},
        },
        "dot": {"vector_bytes": profile.vector_bytes, "accumulators": 16},  # as gemm's
        # conv_rows: up to 4 input channels (a network's first layer), kernels up to 3x3 (at
        # stride 2, 3 -> 32 channels at 224x224: 0.80x conv_direct's time at batch 8 and 0.67x
        # at batch 1 on a Xeon, 0.65x held to AVX2; 7x7, ResNet's first layer: 1.4-1.6x); 8
        # accumulators (one per output channel of the block; 16 measured no faster with
        # AVX-512, 4 and 6 slower with AVX2), at most half the vector registers
        "rows": {"vector_bytes": profile.vector_bytes,
                 "accumulators": max(2, min(8, registers // 2)), "max_channels": 4,
                 "max_taps": 9},
        # conv_pointwise: 1 KiB of each plane and 32 output channels per work-item, 64 input
        # channels a pass (16 took 1.15-1.35x the time on MobileNetV2's 1x1 layers at 28x28 to
        # 112x112, AVX-512; 1.02-1.15x held to AVX2: each pass reads and writes the partial
        # sums); planes of 160 positions and more (14x14 and larger: MobileNetV2 batch 8 took
        # 0.94 of its time with 14x14 here rather than through conv_direct, EfficientNet-B0
        # 0.97, AVX2 0.98; 7x7 took 1.1-1.25x), 8 work-items per compute unit
        "pointwise": {"vector_bytes": profile.vector_bytes, "BLOCK_K": block_k, "BLOCK_V": 2,
                      "CHUNK": 64, "ITEM_CHANNELS": 32, "SPAN_BYTES": 1024,
                      "min_positions": 160, "items_per_unit": 8},
        "winograd": {"vector_bytes": profile.vector_bytes, "BK": max(2, registers // 4),
                     "min_channels": 16},
        # depthwise_conv2d_lanes where vectors along the rows would have fewer than 8 lanes
        # and its local block fits in 32 KiB (7x7 planes, 14x14 at stride 2)
        "depthwise": {"vector_bytes": profile.vector_bytes, "channel_lanes_rows": 8,
                      "channel_lanes_bytes": 32768},
        "general": {"TILE_K": 8, "TILE_P": 8, "local": [multiple, max(1, 64 // multiple), 1]},
        # conv_local (GPUs): gemm_local's blocking (see linear.py); fewer than 16 output
        # channels per group (the first layer's gradient, depthwise) or positions in the batch
        # keep the general kernel. Derived, not measured.
        # vector: the widest weight loads of its interior path (4: 16 bytes; 1: scalar)
        "local": {"WG": [16, 16], "RM": 4, "RN": 4, "BK": 16, "min_channels": 16, "vector": 4},
        # depthwise_conv2d_local (GPUs): output tiles of 16 x 8 (8 x 8 on 7x7 planes), the input
        # patch in local memory where it takes at most 16 KiB. Derived, not measured.
        "depthwise_local": {"width": 16, "items": 128, "max_patch_bytes": 16384},
        # winograd_local (GPUs, where a table's order names it: not measured on a GPU yet):
        # its transforms one work-item per element in groups of 64; 64+ input and output
        # channels, where the multiplies saved outweigh the transforms' traffic (16 values per
        # tile and channel through global memory).
        "winograd_local": {"items": 64, "min_channels": 64},
    }


tuning.register_defaults("conv_forward", _defaults)


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
