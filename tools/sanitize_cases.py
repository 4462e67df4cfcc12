"""The sanitizer's cases (tools/sanitize.py): every public op over a small grid of options that
reaches each kernel's edges. Imported by the sanitizer after it has pointed OpenCL at Oclgrind
(importing clconv loads pyopencl). rand()/labels() arguments become random arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clconv.optable import labels, rand


HALF = np.dtype(np.float16)


@dataclass(frozen=True)
class Case:
    """One call of clconv.functional.<op> with keyword arguments; forward, then backward. In
    each dtype the device computes in, or in float16 storage only (`half`); `forced`: the
    algorithms it forces (config.override), on every profile; `shipped_blocks`: under the GPU
    profile, the local-memory kernels keep the shipped blocking (the others get small blocks,
    see sanitize.GPU_SMALL_BLOCKS); `cpu_only`: a CPU kernel's edges, run under the CPU profiles
    only (under the GPU profile it would repeat what other cases cover, at length)."""
    op: str
    arguments: dict
    backward: bool = True
    half: bool = False
    forced: dict = field(default_factory=dict)
    shipped_blocks: bool = False
    cpu_only: bool = False

    def runs_in(self, dtype) -> bool:
        return (dtype == HALF) == self.half

    def __str__(self):
        forced = f" [{', '.join(f'{k}={v}' for k, v in self.forced.items())}]" if self.forced else ""
        shipped = " [shipped blocks]" if self.shipped_blocks else ""
        return (f"{self.op}({', '.join(f'{k}={v}' for k, v in self.arguments.items())})"
                f"{forced}{shipped}")


# conv_pointwise forced onto small shapes: spans of 64 float32 positions, 16 input channels a
# pass, any number of work-items
POINTWISE_SMALL = {"conv_forward": {"pointwise": {"SPAN_BYTES": 256, "min_positions": 1,
                                                  "items_per_unit": 0, "CHUNK": 16}}}


def case(op, *, backward=True, half=False, forced=None, shipped_blocks=False, cpu_only=False,
         **arguments) -> Case:
    return Case(op, arguments, backward, half, forced or {}, shipped_blocks, cpu_only)


# conv_general.cl tiles TILE_K = 1, 4 or 8 output channels (by channels per group) by TILE_P = 8 output
# positions, so channel counts like 10, 3 and 12 and position counts that are not multiples of 8
# leave partial tiles; linear's gemm.cl tiles 4 rows by 8 features. Norm rows shorter and longer
# than the 64 work-items reducing them; element counts that are not multiples of the work-group.
CASES = [
    case("conv1d", input=rand(2, 3, 13), weight=rand(10, 3, 3), bias=rand(10), stride=2, padding=1),
    case("conv1d", input=rand(2, 4, 9), weight=rand(6, 2, 4), padding="same", dilation=2,
         groups=2),
    case("conv1d", input=rand(3, 7), weight=rand(5, 3, 1), bias=rand(5)),  # unbatched
    case("conv2d", input=rand(2, 4, 7, 9), weight=rand(12, 4, 3, 3), bias=rand(12),
         stride=(2, 1), padding=(1, 2)),
    case("conv2d", input=rand(1, 4, 9, 8), weight=rand(6, 2, 3, 2), stride=2, padding=1,
         dilation=(2, 3), groups=2),
    case("conv2d", input=rand(2, 5, 6, 7), weight=rand(5, 1, 3, 3), bias=rand(5),
         padding="same", groups=5),  # depthwise: one output channel per group (TILE_K 1)
    case("conv2d", input=rand(1, 3, 5, 6), weight=rand(6, 1, 2, 2), padding="same",
         groups=3),  # depth multiplier 2: an even kernel pads one more after
    case("conv2d", input=rand(2, 3, 4, 5), weight=rand(9, 3, 1, 1), bias=rand(9),
         padding="valid"),
    case("conv2d", input=rand(3, 6, 6), weight=rand(4, 3, 3, 3), padding=1),  # unbatched
    # Edges of the CPU direct path: in-place input with a stepped-back last tile, a row's last
    # vector stepping back, depthwise, 1x1 panels with stride and padding.
    case("conv2d", input=rand(2, 5, 8, 16), weight=rand(5, 5, 3, 3)),
    case("conv2d", input=rand(2, 5, 5, 40), weight=rand(6, 5, 3, 3), stride=(1, 2), padding=1),
    case("conv2d", input=rand(2, 3, 4, 20), weight=rand(3, 1, 3, 3), padding=1, groups=3),
    case("conv2d", input=rand(2, 16, 9, 7), weight=rand(20, 16, 1, 1), stride=2, padding=1),
    # conv_rows (CPU profiles; up to 4 input channels read in place): a first layer (stride 2,
    # a partial block of output channels, a row's last vector stepping back), padding past a
    # vector's edge by 3, stride 1 on rows shorter than a register.
    case("conv2d", input=rand(2, 3, 9, 40), weight=rand(20, 3, 3, 3), bias=rand(20), stride=2,
         padding=1, cpu_only=True),
    case("conv2d", input=rand(1, 3, 12, 30), weight=rand(4, 3, 3, 3), stride=2, padding=3,
         cpu_only=True),
    case("conv2d", input=rand(1, 2, 7, 13), weight=rand(5, 2, 3, 3), padding=1, cpu_only=True),
    # The ONNX importer's squeeze-excitation fusion: conv_direct scaling each input channel of
    # each image as it reads it (INPUT_SCALE), in place (1x1), with a copy (3x3), and groups.
    case("scaled_conv2d", input=rand(2, 6, 5, 16), scale=rand(2, 6, 1, 1),
         weight=rand(20, 6, 1, 1), bias=rand(20), backward=False),
    case("scaled_conv2d", input=rand(2, 4, 5, 9), scale=rand(2, 4, 1, 1),
         weight=rand(6, 2, 3, 3), padding=1, groups=2, backward=False),
    # The importer's residual connections (clconv.ops.conv.fused_conv): the residual added as
    # conv_direct stores (in place: a last tile moved back, stored lane by lane; through a copy,
    # with a scale), as conv_pointwise stores (its plane's last vector in part) and as
    # winograd_conv2d stores (partial tiles; where its local memory fits).
    case("residual_conv2d", input=rand(2, 6, 5, 9), weight=rand(7, 6, 1, 1), bias=rand(7),
         residual=rand(2, 7, 5, 9), backward=False),
    case("residual_conv2d", input=rand(2, 4, 5, 9), scale=rand(2, 4, 1, 1),
         weight=rand(6, 2, 3, 3), padding=1, groups=2, residual=rand(2, 6, 5, 9),
         backward=False),
    case("residual_conv2d", input=rand(2, 6, 5, 13), weight=rand(7, 6, 1, 1),
         residual=rand(2, 7, 5, 13), backward=False, forced=dict(tuning=POINTWISE_SMALL),
         cpu_only=True),
    case("residual_conv2d", input=rand(1, 16, 5, 19), weight=rand(16, 16, 3, 3), bias=rand(16),
         padding=1, residual=rand(1, 16, 5, 19), backward=False, cpu_only=True),
    # conv_pointwise (CPU profiles; spans of 64 positions, 16 input channels a pass): spans cut
    # by the plane's end, positions past the last whole vector as the last lanes of the plane's
    # last vector (a plane of 65: its last span has no whole vector) or one by one (a plane of
    # 5), partial blocks of output and chunks of input channels.
    case("conv2d", input=rand(2, 18, 23, 25), weight=rand(10, 18, 1, 1), bias=rand(10),
         forced=dict(tuning=POINTWISE_SMALL), cpu_only=True),
    case("conv2d", input=rand(2, 20, 5, 13), weight=rand(7, 20, 1, 1),
         forced=dict(tuning=POINTWISE_SMALL), cpu_only=True),
    case("conv2d", input=rand(2, 9, 1, 5), weight=rand(11, 9, 1, 1), bias=rand(11),
         forced=dict(tuning=POINTWISE_SMALL), cpu_only=True),
    case("scaled_conv2d", input=rand(2, 6, 32, 40), scale=rand(2, 6, 1, 1),
         weight=rand(9, 6, 1, 1), backward=False, forced=dict(tuning=POINTWISE_SMALL),
         cpu_only=True),
    # 1x1 on 1x1 planes (a squeeze-excitation's): gemm_dot, with its epilogue
    case("conv2d", input=rand(9, 37, 1, 1), weight=rand(19, 37, 1, 1), bias=rand(19)),
    case("fused_conv2d", input=rand(3, 20, 1, 1), weight=rand(6, 20, 1, 1), activation="silu",
         backward=False),
    # 1x1 in place, several blocks of output channels per work-item, across the two groups
    case("conv2d", input=rand(2, 8, 16, 16), weight=rand(40, 4, 1, 1), bias=rand(40), groups=2,
         cpu_only=True),
    case("conv3d", input=rand(1, 2, 4, 5, 6), weight=rand(9, 2, 2, 3, 3), bias=rand(9),
         stride=(1, 2, 2), padding=(1, 1, 0), dilation=(1, 1, 2)),
    case("conv3d", input=rand(2, 4, 3, 4, 5), weight=rand(4, 2, 3, 3, 3), padding="same",
         groups=2),
    # Strided gradients (conv_grad.py): phase planes of x for the weight gradient, the input
    # gradient phase by phase (phases without taps, shifted phases, unequal phase lengths).
    case("conv2d", input=rand(2, 4, 9, 11), weight=rand(6, 2, 3, 3), stride=2, padding=1,
         groups=2),
    case("conv2d", input=rand(1, 3, 7, 8), weight=rand(4, 3, 1, 1), stride=3, padding=1),
    case("conv2d", input=rand(1, 3, 10, 9), weight=rand(4, 3, 3, 2), stride=(3, 2),
         padding=(2, 0), dilation=(1, 2)),
    case("conv1d", input=rand(2, 3, 16), weight=rand(4, 3, 4), stride=2, padding=3),
    case("conv2d", input=rand(1, 2, 4, 5), weight=rand(3, 2, 2, 2), padding=2),  # gather kernel
    # conv_local (GPU profile, 16+ output channels per group): blocks past the channels and the
    # columns, a reduction ending mid-slice, columns across images, groups with dilation and
    # stride, the input gradient through it (transposed, phases), 3D taps, a fused activation.
    # Under the GPU profile in small blocks (sanitize.GPU_SMALL_BLOCKS); the grouped case (its
    # weight gradient through conv_weight_grad_local too) in the shipped ones.
    case("conv2d", input=rand(2, 17, 3, 4), weight=rand(18, 17, 3, 3), bias=rand(18), padding=1),
    case("conv2d", input=rand(1, 32, 7, 6), weight=rand(34, 16, 3, 3), stride=2, padding=2,
         dilation=2, groups=2, shipped_blocks=True),
    case("conv3d", input=rand(1, 16, 3, 4, 3), weight=rand(16, 16, 2, 3, 1), bias=rand(16),
         padding=(1, 1, 0)),
    case("fused_conv2d", input=rand(2, 5, 4, 9), weight=rand(20, 5, 1, 1), bias=rand(20),
         activation="relu6", backward=False),

    case("max_pool1d", input=rand(2, 3, 10), kernel_size=3, stride=2, padding=1, ceil_mode=True,
         return_indices=True),
    case("max_pool1d", input=rand(3, 11), kernel_size=2),  # unbatched, stride = kernel
    # The vector paths (max_pool2d_k2s2, avg_pool2d_k3s1p1) need rows of 16 or more.
    case("max_pool2d", input=rand(1, 2, 5, 19), kernel_size=2, ceil_mode=True, return_indices=True),
    case("avg_pool2d", input=rand(1, 2, 5, 19), kernel_size=3, stride=1, padding=1,
         count_include_pad=False),
    case("avg_pool2d", input=rand(1, 1, 2, 35), kernel_size=3, stride=1, padding=1,
         divisor_override=4),
    case("avg_pool2d", input=rand(2, 1, 1, 16), kernel_size=3, stride=1, padding=1),
    case("max_pool2d", input=rand(1, 2, 5, 35), kernel_size=2),  # rows, columns no window covers
    case("max_pool2d", input=rand(2, 3, 7, 6), kernel_size=(3, 2), stride=(2, 1),
         padding=(1, 0), dilation=(2, 1), ceil_mode=True, return_indices=True),
    case("max_pool2d", input=rand(1, 2, 5, 5), kernel_size=2, ceil_mode=True),
    # max_pool2d_rows (CPUs): stride 2 and 1 along rows, windows cut by the edges, ceil_mode.
    case("max_pool2d", input=rand(1, 2, 5, 37), kernel_size=3, stride=2, padding=1,
         ceil_mode=True, return_indices=True),
    case("max_pool2d", input=rand(1, 2, 4, 40), kernel_size=(2, 5), stride=(2, 1),
         padding=(1, 2)),
    case("max_pool3d", input=rand(1, 2, 5, 4, 5), kernel_size=2, stride=2, padding=1,
         ceil_mode=True, return_indices=True),
    case("max_pool3d", input=rand(1, 2, 6, 5, 7), kernel_size=(2, 3, 2), stride=(1, 2, 3),
         dilation=(2, 1, 1)),
    case("avg_pool1d", input=rand(2, 3, 10), kernel_size=4, stride=3, padding=2, ceil_mode=True,
         count_include_pad=False),
    case("avg_pool2d", input=rand(2, 3, 7, 6), kernel_size=3, stride=2, padding=1, ceil_mode=True),
    case("avg_pool2d", input=rand(1, 2, 5, 7), kernel_size=(2, 3), padding=(1, 1),
         count_include_pad=False, divisor_override=5),
    case("avg_pool3d", input=rand(1, 2, 5, 4, 6), kernel_size=3, stride=2, padding=1,
         ceil_mode=True, count_include_pad=False),
    case("avg_pool3d", input=rand(1, 2, 4, 4, 5), kernel_size=2, divisor_override=3),
    case("adaptive_avg_pool1d", input=rand(2, 3, 10), output_size=4),
    case("adaptive_avg_pool2d", input=rand(2, 3, 7, 5), output_size=(3, None)),
    case("adaptive_avg_pool2d", input=rand(2, 3, 4), output_size=(5, 6)),  # unbatched, upsampling
    case("adaptive_avg_pool3d", input=rand(1, 2, 5, 4, 7), output_size=(2, 3, 2)),
    # global_avg_pool (CPUs): planes of two vectors and more with a tail, and shorter.
    case("adaptive_avg_pool2d", input=rand(2, 3, 7, 9), output_size=1),
    case("adaptive_avg_pool1d", input=rand(2, 3, 5), output_size=1),

    case("batch_norm", input=rand(3, 5, 4, 3), running_mean=rand(5),
         running_var=rand(5, positive=True), weight=rand(5), bias=rand(5), training=True,
         momentum=0.2),
    case("batch_norm", input=rand(4, 3, 5, 6), running_mean=None, running_var=None,
         training=True),  # rows of 120 > 64 work-items
    case("batch_norm", input=rand(6, 5), running_mean=rand(5), running_var=rand(5, positive=True),
         training=True),
    case("batch_norm", input=rand(2, 4, 3, 5), running_mean=rand(4),
         running_var=rand(4, positive=True), weight=rand(4), training=False),
    case("layer_norm", input=rand(3, 2, 4, 5), normalized_shape=(4, 5), weight=rand(4, 5),
         bias=rand(4, 5)),
    case("layer_norm", input=rand(2, 70), normalized_shape=70),
    case("instance_norm", input=rand(2, 3, 4, 5), running_mean=rand(3),
         running_var=rand(3, positive=True), weight=rand(3), bias=rand(3), momentum=0.3),
    case("instance_norm", input=rand(2, 3, 9, 9)),
    case("instance_norm", input=rand(2, 3, 4), running_mean=rand(3),
         running_var=rand(3, positive=True), use_input_stats=False),
    case("group_norm", input=rand(2, 6, 5, 3), num_groups=2, weight=rand(6), bias=rand(6)),
    case("group_norm", input=rand(3, 4, 7), num_groups=1),
    # Runs long enough for the backward's 32- and 16-element steps, with tails; parameter
    # gradients from per-block sums (CPU) and column sums over 16 columns and a remainder.
    case("batch_norm", input=rand(2, 3, 37), running_mean=None, running_var=None, weight=rand(3),
         bias=rand(3), training=True),
    case("layer_norm", input=rand(3, 37), normalized_shape=37, weight=rand(37), bias=rand(37)),
    case("group_norm", input=rand(2, 4, 19), num_groups=2, weight=rand(4)),
    case("batch_norm", input=rand(2, 17, 3), running_mean=None, running_var=None,
         weight=rand(17), bias=rand(17), training=True),

    # depthwise_conv2d: lanes moved in at both edges (padding 1 to 3), lane by lane (4), a
    # channel multiplier, an even kernel with 'same' padding; its epilogue.
    case("conv2d", input=rand(2, 3, 5, 19), weight=rand(3, 1, 3, 3), bias=rand(3), padding=1,
         groups=3),
    case("conv2d", input=rand(1, 2, 4, 21), weight=rand(4, 1, 7, 5), padding=(3, 2), groups=2),
    case("conv2d", input=rand(1, 2, 3, 18), weight=rand(2, 1, 3, 3), padding=4, groups=2),
    case("conv2d", input=rand(1, 2, 4, 17), weight=rand(2, 1, 4, 4), padding="same", groups=2),
    # Output rows of 16+ from input rows of 14: depthwise_conv2d with vectors of 8 (its edge
    # loads read a vector inside the row); 7x7 planes with vectors of 4.
    case("conv2d", input=rand(1, 2, 3, 14), weight=rand(2, 1, 3, 3), padding=3, groups=2),
    case("conv2d", input=rand(2, 3, 7, 7), weight=rand(3, 1, 3, 3), bias=rand(3), padding=1,
         groups=3, forced=dict(tuning={"conv_forward": {"depthwise": {"channel_lanes_rows": 0}}})),
    # depthwise_conv2d_lanes (small planes): channels past a vector's, strides, an even kernel
    # with 'same' padding (one more after), rows the strides leave unread; its epilogue.
    case("conv2d", input=rand(2, 20, 7, 7), weight=rand(20, 1, 3, 3), bias=rand(20), padding=1,
         groups=20),
    case("conv2d", input=rand(1, 9, 10, 11), weight=rand(9, 1, 5, 5), stride=2, padding=2,
         groups=9),
    case("conv2d", input=rand(1, 3, 6, 6), weight=rand(3, 1, 4, 4), padding="same", groups=3),
    case("fused_conv2d", input=rand(1, 5, 8, 7), weight=rand(5, 1, 3, 3), bias=rand(5),
         stride=(3, 2), groups=5, activation="relu6", backward=False),
    # depthwise_conv2d_strided: stride 2 with one and two columns of padding (lanes moved in at
    # the left, the right edge's step-back load, lane by lane), strides down columns only.
    case("conv2d", input=rand(1, 2, 9, 37), weight=rand(2, 1, 3, 3), bias=rand(2), stride=2,
         padding=1, groups=2),
    case("conv2d", input=rand(1, 2, 6, 40), weight=rand(4, 1, 5, 5), stride=2, padding=2,
         groups=2),
    case("conv2d", input=rand(1, 2, 7, 20), weight=rand(2, 1, 3, 3), stride=(2, 1), padding=1,
         groups=2),
    case("fused_conv2d", input=rand(1, 2, 9, 37), weight=rand(2, 1, 3, 3), stride=2,
         padding=1, groups=2, activation="relu6", backward=False),
    case("fused_conv2d", input=rand(1, 2, 3, 16), weight=rand(2, 1, 3, 3), padding=1, groups=2,
         activation="leaky_relu", negative_slope=0.3),
    # winograd_conv2d (cpu-launch; 16+ channels): a partial block of output channels, a row of
    # tiles in one vector and in two, odd sizes, padding 0 and 1; its epilogue.
    case("conv2d", input=rand(1, 16, 3, 17), weight=rand(17, 16, 3, 3), bias=rand(17),
         padding=1),
    case("fused_conv2d", input=rand(1, 16, 3, 35), weight=rand(16, 16, 3, 3), padding=0,
         activation="relu"),
    # Activations in the convolution's epilogue (clconv.fused), both kernels' store paths.
    case("fused_conv2d", input=rand(2, 3, 5, 19), weight=rand(5, 3, 3, 3), bias=rand(5),
         padding=1, activation="relu"),
    case("fused_conv1d", input=rand(2, 4, 21), weight=rand(6, 2, 3), stride=2, groups=2,
         activation="leaky_relu", negative_slope=0.1),
    case("fused_conv3d", input=rand(1, 2, 3, 4, 5), weight=rand(3, 2, 2, 2, 2), bias=rand(3),
         activation=None),
    # Epilogue activations that are fused only without autograd: the direct, depthwise and
    # winograd kernels' builds of them.
    case("fused_conv2d", input=rand(2, 3, 5, 19), weight=rand(5, 3, 3, 3), bias=rand(5),
         padding=1, activation="silu", backward=False),
    case("fused_conv2d", input=rand(1, 2, 3, 16), weight=rand(2, 1, 3, 3), padding=1, groups=2,
         activation="hardswish", backward=False),
    case("fused_conv2d", input=rand(1, 16, 3, 35), weight=rand(16, 16, 3, 3), padding=0,
         activation="relu6", backward=False),
    # float16 storage: the conversions in and out (vector steps and tails), in-place updates
    # of float16 running statistics.
    case("conv2d", input=rand(2, 3, 5, 20), weight=rand(4, 3, 3, 3), bias=rand(4), padding=1,
         half=True),
    case("batch_norm", input=rand(3, 4, 5, 7), running_mean=rand(4),
         running_var=rand(4, positive=True), weight=rand(4), bias=rand(4), training=True,
         half=True),
    case("max_pool2d", input=rand(1, 2, 6, 35), kernel_size=2, return_indices=True, half=True),

    case("relu", input=rand(3, 50)),
    # activation.cl: each activation's build, forward and backward, a tail past the work-group.
    case("sigmoid", input=rand(3, 50)),
    case("tanh", input=rand(70)),
    case("silu", input=rand(2, 3, 5)),
    case("hardsigmoid", input=rand(3, 50, scale=4)),
    case("hardswish", input=rand(3, 50, scale=4)),
    case("relu6", input=rand(3, 50, scale=6)),
    case("hardtanh", input=rand(4, 5), min_val=-0.5, max_val=2.0, inplace=True, backward=False),
    case("elu", input=rand(3, 50), alpha=0.5),
    case("relu", input=rand(2, 3, 5), inplace=True, backward=False),
    case("leaky_relu", input=rand(70), negative_slope=0.2),
    case("leaky_relu", input=rand(4, 5), negative_slope=0.1, inplace=True, backward=False),
    case("clamp", input=rand(3, 50), min=-0.5, max=0.5),
    case("gelu", input=rand(3, 50, scale=3)),
    case("gelu", input=rand(70, scale=3), approximate="tanh"),
    case("add", input=rand(3, 4, 5), other=rand(3, 4, 5)),
    case("sub", input=rand(2, 3, 5), other=rand(3, 1)),
    case("mul", input=rand(2, 3, 4, 5), other=rand(2, 3, 1, 1)),
    case("mul", input=rand(2, 3, 4, 5), other=rand(2, 1, 4, 1)),  # binary_broadcast: 4-D
    case("div", input=rand(70), other=rand(70, positive=True)),
    case("conv_transpose2d", input=rand(2, 4, 5, 6), weight=rand(4, 3, 3, 3), bias=rand(3),
         stride=2, padding=1, output_padding=1),
    case("conv_transpose1d", input=rand(2, 4, 9), weight=rand(4, 2, 3), groups=2, dilation=2),
    case("maximum", input=rand(2, 3, 5), other=rand(3, 1)),
    case("minimum", input=rand(70), other=rand(70)),
    case("adaptive_max_pool2d", input=rand(2, 3, 7, 5), output_size=(3, 4), return_indices=True),
    case("local_response_norm", input=rand(2, 5, 3, 4), size=3, alpha=0.1),
    case("interpolate", input=rand(2, 3, 4, 5), scale_factor=2.5),
    case("interpolate", input=rand(2, 3, 4, 5), size=(7, 3), mode="bilinear",
         align_corners=False),
    case("interpolate", input=rand(1, 2, 3, 4, 3), size=(2, 7, 5), mode="trilinear",
         align_corners=True),
    case("erf", input=rand(3, 50)),
    case("dropout", input=rand(3, 50), p=1.0),
    case("sqrt", input=rand(70, positive=True)),
    case("broadcast_to", input=rand(3, 1, 5), size=(2, 3, 4, 5)),
    case("pad", input=rand(2, 3, 4, 5), pad=(1, -1, 2, 0), value=0.25),
    case("pad", input=rand(2, 3, 4, 5), pad=(3, 2, 1, 3), mode="reflect"),
    case("pad", input=rand(2, 2, 3, 4, 5), pad=(1, 2, 3, 0, 1, 1), mode="replicate"),
    case("pad", input=rand(3, 7), pad=(7, 2), mode="circular"),
    case("matmul", input=rand(2, 5, 9), other=rand(9, 7)),
    case("matmul", input=rand(3, 1, 4, 6), other=rand(2, 6, 5)),
    case("permute", input=rand(2, 3, 4, 5), dims=(0, 2, 3, 1)),
    case("cat", tensors=[rand(2, 3, 4), rand(2, 5, 4)], dim=1),
    case("narrow", input=rand(2, 7, 3), dim=1, start=2, length=4),
    case("sum", input=rand(2, 3, 4, 5), dim=(0, 2)),
    case("mean", input=rand(2, 3, 4, 5), dim=(2, 3), keepdim=True),
    case("softmax", input=rand(3, 70), dim=1),
    case("softmax", input=rand(2, 5, 3), dim=1),
    case("log_softmax", input=rand(4, 9), dim=0),
    case("add", input=rand(2, 3, 4, 5), other=rand(3, 1, 5)),
    case("add", input=rand(4, 1), other=rand(1, 6)),
    case("add", input=rand(1), other=rand(2, 3)),
    case("linear", input=rand(5, 7), weight=rand(10, 7), bias=rand(10)),
    case("linear", input=rand(2, 3, 9), weight=rand(3, 9)),
    case("linear", input=rand(7), weight=rand(17, 7), bias=rand(17)),
    # gemm_dot (CPUs): whole vectors along k and a tail, rows and columns past a tile's edge
    case("linear", input=rand(11, 37), weight=rand(19, 37), bias=rand(19)),
    case("linear", input=rand(1, 40), weight=rand(9, 40)),
    # gemm_local (GPU profile, 16+ rows and columns): partial blocks and slices, k shorter
    # than a slice, both operand orientations (the gradients), batched with a shared operand
    case("linear", input=rand(70, 37), weight=rand(20, 37), bias=rand(20)),
    case("matmul", input=rand(2, 17, 5), other=rand(5, 19), shipped_blocks=True),

    case("cross_entropy", input=rand(6, 5), target=labels(6, classes=5)),
    case("cross_entropy", input=rand(70, 3), target=labels(70, classes=3),
         weight=rand(3, positive=True), ignore_index=1, reduction="sum"),
    case("cross_entropy", input=rand(5, 9), target=labels(5, classes=9), reduction="none"),
    case("mse_loss", input=rand(3, 4, 5), target=rand(3, 4, 5)),
    case("mse_loss", input=rand(70), target=rand(70), reduction="sum"),
    case("mse_loss", input=rand(2, 7), target=rand(2, 7), reduction="none"),
    # several first-stage work-groups, then loss_finish
    case("mse_loss", input=rand(8300), target=rand(8300)),
    case("cross_entropy", input=rand(8300, 2), target=labels(8300, classes=2)),
    # Optimizer updates (clconv.optim), against reference.sgd_step / adam_step.
    case("SGD", backward=False, param=rand(37), grad=rand(37), lr=0.1, momentum=0.9,
         nesterov=True, weight_decay=0.01),
    case("SGD", backward=False, param=rand(3, 5), grad=rand(3, 5), lr=0.1),
    case("Adam", backward=False, param=rand(5, 7), grad=rand(5, 7), lr=0.01, weight_decay=0.1),
    # Weight gradients on CPUs (conv_grad.py): depthwise work-items padding their own planes
    # (vector row copies with a stepped-back last vector, phases, two blocks of 7x7 taps, 3D),
    # and the flat path over padded volumes (depth phases, groups, dilation).
    case("conv2d", input=rand(2, 3, 5, 19), weight=rand(6, 1, 3, 3), padding=1, groups=3),
    case("conv2d", input=rand(1, 2, 9, 8), weight=rand(2, 1, 3, 3), stride=2, padding=2,
         dilation=2, groups=2),
    case("conv2d", input=rand(1, 2, 8, 9), weight=rand(2, 1, 7, 7), padding=3, groups=2),
    case("conv3d", input=rand(1, 2, 3, 4, 5), weight=rand(4, 1, 2, 3, 3), padding=(1, 0, 1),
         groups=2),
    case("conv3d", input=rand(2, 4, 3, 5, 6), weight=rand(6, 2, 3, 2, 3), stride=(2, 1, 2),
         padding=(1, 1, 0), dilation=(1, 2, 1), groups=2),
    # Weight gradients (float32): 1x1 in place (conv_backward_weight_pointwise: a masked last
    # vector, partial channel tiles, groups) and rows of taps (conv_backward_weight_rows:
    # blocks of a 7-wide row, the last repeating a tap; partial tiles; strides).
    case("conv2d", input=rand(2, 7, 5, 7), weight=rand(11, 7, 1, 1)),
    case("conv2d", input=rand(1, 6, 4, 8), weight=rand(9, 2, 1, 1), groups=3),
    case("conv2d", input=rand(1, 4, 4, 5), weight=rand(94, 2, 1, 1), groups=2),  # bands
    case("conv2d", input=rand(1, 3, 6, 9), weight=rand(5, 3, 3, 7), padding=(1, 3)),
    case("conv2d", input=rand(2, 5, 7, 8), weight=rand(7, 5, 3, 3), stride=2, padding=1,
         dilation=(1, 2)),
    # The CPU weight gradients with their reduction in runs (parts of a plane, partial tiles
    # summed in order): rows of taps, and the flat kernel (a 1-wide kernel, strided).
    case("conv2d", input=rand(2, 3, 6, 9), weight=rand(4, 3, 3, 3), padding=1,
         forced={"tuning": {"conv_weight_grad": {"rows": {"run_bytes": 64, "min_run": 16}}}}),
    case("conv2d", input=rand(2, 3, 8, 7), weight=rand(5, 3, 3, 1), stride=2,
         forced={"tuning": {"conv_weight_grad": {"flat": {"run_bytes": 64, "min_run": 16}}}}),
    # The GPU weight gradient split into runs of 7 (sample, position) pairs (its last run
    # shorter), the partial tiles summed by sum_slices; partial channel tiles, a stride.
    case("conv2d", input=rand(3, 5, 6, 7), weight=rand(10, 5, 3, 3), stride=(2, 1), padding=1,
         forced={"conv_weight_grad": "general",
                 "tuning": {"conv_weight_grad": {"general": {"chunk": 7}}}}),
    # the transposed input gradient of a strided convolution (forced: the phases take every
    # stride), its gradient spread out by zero_upsample
    case("conv3d", input=rand(1, 2, 4, 5, 6), weight=rand(3, 2, 3, 2, 3), stride=(2, 1, 2),
         padding=1, forced={"conv_input_grad": "transposed"}),
    # conv_weight_grad_local split into runs of two 8-deep slices (16 in the shipped blocks;
    # the last run part-filled), blocks past the channels and the (channel, tap) columns, a
    # stride, on every profile
    case("conv2d", input=rand(2, 17, 5, 6), weight=rand(16, 17, 3, 3), stride=2, padding=1,
         forced={"conv_weight_grad": "local",
                 "tuning": {"conv_weight_grad": {"local": {"groups_per_unit": 32,
                                                           "min_chunk": 16}}}}),
    # Winograd for GPUs (forced; the input gradient's transposed convolution too): tiles half
    # past the output's odd sizes, padding 1, the batched products in gemm's tiles (4 rows)
    case("conv2d", input=rand(2, 3, 5, 7), weight=rand(4, 3, 3, 3), bias=rand(4), padding=1,
         forced={"conv_forward": "winograd_local"}),
    # ... and through gemm_local (16+ rows and tiles), with an activation in its epilogue
    case("fused_conv2d", input=rand(1, 16, 9, 9), weight=rand(16, 16, 3, 3), padding=0,
         activation="relu6", backward=False, forced={"conv_forward": "winograd_local"}),
]
