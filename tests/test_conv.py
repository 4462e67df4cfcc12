"""conv1d/2d/3d against the reference over every option, plus random shapes."""
import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clconv
import clconv.functional as F
from helpers import check_op, conv_weight, expect_path, randn

# (in_channels, out_channels, groups): plain, grouped, depthwise, depthwise with multiplier,
# more outputs than a register tile (and no multiple of it; 16+ channels both ways, for the GPU
# profile's blocks in local memory in all three directions), single channel.
CHANNELS = [(3, 5, 1), (4, 6, 2), (6, 6, 6), (3, 6, 3), (17, 19, 1), (1, 1, 1)]
SPATIAL_2D = [(1, 1), (7, 9), (12, 5)]
KERNELS_2D = [1, 3, (2, 3)]
STRIDES_2D = [1, 2, (3, 1)]
PADDINGS_2D = [0, 1, (0, 2), "same", "valid"]
DILATIONS_2D = [1, (2, 1)]


def _grid_2d():
    for values in itertools.product(CHANNELS, SPATIAL_2D, KERNELS_2D, STRIDES_2D, PADDINGS_2D,
                                    DILATIONS_2D):
        channels, spatial, kernel, stride, padding, dilation = values
        if padding == "same" and stride != 1:
            continue  # rejected by design; tested in test_errors
        yield pytest.param(*values, id=f"c{channels}-s{spatial}-k{kernel}-st{stride}"
                                       f"-p{padding}-d{dilation}")


def _conv_case(rng, dtype, nd, batch, channels, spatial, kernel, bias=True):
    c_in, c_out, groups = channels
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    x = randn(rng, (batch, c_in) + tuple(spatial), dtype)
    w = conv_weight(rng, (c_out, c_in // groups) + tuple(kernel), dtype)
    b = randn(rng, (c_out,), dtype) if bias else None
    return x, w, b, groups


def _fits(spatial, kernel, padding, dilation, nd):
    """Whether the dilated kernel fits the padded input (else the op must raise)."""
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    dilation = (dilation,) * nd if isinstance(dilation, int) else dilation
    if padding == "same":
        return True
    pad = (0,) * nd if padding == "valid" else (padding,) * nd if isinstance(padding, int) else padding
    return all(s + 2 * p >= d * (k - 1) + 1 for s, p, d, k in zip(spatial, pad, dilation, kernel))


@pytest.mark.parametrize("channels,spatial,kernel,stride,padding,dilation", list(_grid_2d()))
def test_conv2d_grid(device, rng, channels, spatial, kernel, stride, padding, dilation):
    x, w, b, groups = _conv_case(rng, np.float32, 2, 2, channels, spatial, kernel)
    if not _fits(spatial, kernel, padding, dilation, 2):
        with pytest.raises(ValueError, match="larger than the padded input"):
            check_op("conv2d", x, w, b, stride, padding, dilation, groups)
        return
    check_op("conv2d", x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("channels", CHANNELS)
def test_conv2d_dtype_batch_bias(device, rng, dtype, batch, bias, channels):
    x, w, b, groups = _conv_case(rng, dtype, 2, batch, channels, (6, 7), 3, bias)
    check_op("conv2d", x, w, b, padding=1, groups=groups)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("length,kernel,stride,padding,dilation", [
    (1, 1, 1, 0, 1), (17, 3, 1, 1, 1), (17, 5, 2, 2, 1), (20, 4, 1, "same", 1),
    (20, 3, 1, "same", 3), (9, 2, 4, 0, 2), (31, 7, 3, "valid", 1), (5, 1, 6, 0, 1),
])
def test_conv1d(device, rng, channels, length, kernel, stride, padding, dilation):
    x, w, b, groups = _conv_case(rng, np.float32, 1, 2, channels, (length,), kernel)
    check_op("conv1d", x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("channels", [(3, 5, 1), (4, 6, 2), (4, 4, 4)])
@pytest.mark.parametrize("spatial,kernel,stride,padding,dilation", [
    ((1, 1, 1), 1, 1, 0, 1), ((5, 6, 7), 3, 1, 1, 1), ((5, 6, 7), (1, 2, 3), (2, 1, 2), (0, 1, 1), 1),
    ((6, 5, 8), 2, 1, "same", (1, 2, 1)), ((7, 7, 7), 3, 3, 0, 2), ((4, 4, 4), 2, 5, 1, 1),
])
def test_conv3d(device, rng, channels, spatial, kernel, stride, padding, dilation):
    x, w, b, groups = _conv_case(rng, np.float32, 3, 2, channels, spatial, kernel)
    check_op("conv3d", x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_unbatched_input(device, rng, nd):
    x, w, b, groups = _conv_case(rng, np.float32, nd, 1, (3, 4, 1), (5,) * nd, 3)
    check_op(f"conv{nd}d", x[0], w, b, padding=1)


@pytest.mark.parametrize("dtype", [pytest.param(np.float64, id="f64")], indirect=True)
def test_float64_tensors_stay_float64(device, rng, dtype):
    x, w, b, _ = _conv_case(rng, dtype, 2, 2, (3, 4, 1), (9, 9), 3)
    y = check_op("conv2d", x, w, b, padding=1)
    assert y.dtype == np.float64


@st.composite
def conv_problems(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 4 if nd == 3 else 7))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 3)) for _ in range(nd))
    max_side = 8 if nd == 3 else 14
    spatial = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max(max_side, d * (k - 1) + 1)))
                    for k, d, p in zip(kernel, dilation, padding))
    batch = draw(st.integers(1, 3))
    return nd, batch, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=conv_problems(), seed=st.integers(0, 2**32 - 1))
def test_conv_random_shapes(device, problem, seed):
    nd, batch, channels, spatial, kernel, stride, padding, dilation = problem
    rng = np.random.default_rng(seed)
    x, w, b, groups = _conv_case(rng, np.float32, nd, batch, channels, spatial, kernel)
    check_op(f"conv{nd}d", x, w, b, stride=stride, padding=padding, dilation=dilation,
             groups=groups, case=str(problem))


# Edges of the CPU direct path (conv_direct) that the grid above does not reach.
DIRECT_EDGES = [
    ((2, 3, 8, 16), (5, 3, 3, 3), dict()),                              # input read in place; the last tile steps back
    ((2, 4, 5, 40), (6, 4, 3, 3), dict(stride=(1, 2), padding=1)),      # a row's last vector steps back
    ((2, 3, 4, 20), (3, 1, 3, 3), dict(padding=1, groups=3)),           # depthwise
    ((2, 16, 5, 7), (20, 16, 1, 1), dict()),                            # 1x1: packed panels, in place
    ((2, 16, 9, 7), (20, 16, 1, 1), dict(stride=2, padding=1)),         # 1x1 with stride and padding
]


@pytest.mark.parametrize("x_shape,w_shape,options", DIRECT_EDGES, ids=str)
def test_conv2d_direct_path_edges(device, rng, x_shape, w_shape, options, dtype):
    x, w = randn(rng, x_shape, dtype), conv_weight(rng, w_shape, dtype)
    # The direct kernel's edges (the depthwise case would otherwise run depthwise_conv2d).
    forced = clconv.config.override(conv_forward="direct") if device.profile.kind == "cpu" \
        else contextlib.nullcontext()
    with forced, expect_path(device, "conv_forward", ("direct",)):
        check_op("conv2d", x, w, randn(rng, (w_shape[0],), dtype), **options)


# conv_rows (CPUs: up to 4 input channels read in place): a partial block of output channels,
# rows not a multiple of the vector (the last vector steps back), rows shorter than a register
# (narrower vectors), strides 1 and 2 along rows and 3 down columns, padding past a vector's
# edge by 1 to 3, a 1x5 kernel, 1x1, an epilogue. (Kernels of more than 9 taps build for
# seconds: 5x5 in 5 s, 7x7 in 20 s; the table stops at 3x3.)
ROWS = [((2, 3, 9, 40), (20, 3, 3, 3), dict(stride=2, padding=1)),
        ((1, 2, 7, 13), (5, 2, 3, 3), dict(padding=1)),
        ((2, 3, 11, 37), (17, 3, 3, 3), dict(stride=(3, 2), padding=2)),
        ((1, 3, 12, 30), (4, 3, 3, 3), dict(stride=2, padding=3)),
        ((2, 3, 6, 37), (9, 3, 1, 5), dict(stride=(1, 2), padding=(0, 2))),
        ((2, 2, 5, 4), (3, 2, 2, 3), dict(padding=(1, 0))),
        ((2, 4, 9, 8), (6, 4, 1, 1), dict(stride=2))]


@pytest.mark.parametrize("x_shape,w_shape,options", ROWS, ids=str)
def test_conv_rows_path(device, rng, dtype, x_shape, w_shape, options):
    from clconv import reference as R
    from clconv.testing import assert_close
    if device.profile.kind != "cpu":
        pytest.skip("conv_rows is a CPU path (a GPU profile runs conv_local or conv_general)")
    x, w = randn(rng, x_shape, dtype), conv_weight(rng, w_shape, dtype)
    b = randn(rng, (w_shape[0],), dtype)
    with expect_path(device, "conv_forward", ("rows",)):
        check_op("conv2d", x, w, b, **options)
    with clconv.runtime.record_launches(device) as made:
        y = clconv.fused.conv2d(x, w, None, activation="relu6", **options)
    assert "conv_rows" in {k.function_name for k, *_ in made.launches}
    assert_close(y.numpy(), R.fused_conv2d(x, w, None, activation="relu6", **options),
                 what="conv_rows with an epilogue")


@pytest.mark.parametrize("per_item", [3, 0], ids=["3-blocks", "all-blocks"])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_pointwise_blocks_per_item(device, rng, dtype, groups, per_item):
    # conv_direct's 1x1 kernel with several blocks of output channels per work-item: 7 blocks
    # (one group of 52 channels) run as 3 + 3 + 1, 8 blocks (two groups of 26, blocks of 7) as
    # 3 + 3 + 2, the middle item crossing into the second group; or every block in one item.
    if device.profile.kind != "cpu":
        pytest.skip("conv_direct is the CPU path (a GPU profile runs conv_general)")
    in_per_group, out_per_group = 12, 52 // groups
    blocks, block_k = (7, 8) if groups == 1 else (8, 7)
    x = randn(rng, (2, in_per_group * groups, 12, 40), dtype)
    w = conv_weight(rng, (out_per_group * groups, in_per_group, 1, 1), dtype)
    blocking = {"BLOCK_K": 8, "BLOCK_K_SINGLE": 8, "BLOCK_V": 1,
                "ITEM_CHANNELS": (per_item or blocks) * block_k}
    tuning = {"conv_forward": {"direct": {"pointwise": blocking}}}
    with clconv.config.override(conv_forward="direct", tuning=tuning), \
            clconv.dispatch.recording() as made:
        check_op("conv2d", x, w, randn(rng, (w.shape[0],), dtype), groups=groups)
    assert made[0].algorithm == "direct" and made[0].params["layout"] == "in_place"
    assert made[0].params["BLOCKS_PER_ITEM"] == (per_item or blocks)


@pytest.mark.parametrize("setting", [{"conv_forward": "general"},
                                     {"conv_forward": "direct", "specialize": "always"}],
                         ids=["general", "direct-specialized"])
@pytest.mark.parametrize("x_shape,w_shape,options", DIRECT_EDGES[:3] + [
    ((1, 5, 6, 7), (4, 5, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ((2, 4, 9), (6, 2, 3), dict(groups=2, padding="same"))], ids=str)
def test_conv_other_algorithms(device, rng, setting, x_shape, w_shape, options):
    # The GPU kernel (general) and the shape-specialized builds of conv_direct, on any device.
    nd = len(x_shape) - 2
    x, w = randn(rng, x_shape, np.float32), conv_weight(rng, w_shape, np.float32)
    with clconv.config.override(**setting), clconv.dispatch.recording() as made:
        check_op(f"conv{nd}d", x, w, randn(rng, (w_shape[0],), np.float32), **options)
    assert made[0].algorithm == setting["conv_forward"]
    if "specialize" in setting:
        assert made[0].params["FIXED_SHAPE"] == 1


# depthwise_conv2d (CPUs: one input channel per group, stride 1, no dilation) and
# depthwise_conv2d_strided (strides, 1 or 2 along rows): rows around the 16-lane steps and
# shorter ones (7x7, 14x14: narrower vectors), kernels odd, even and non-square, paddings that
# move lanes (up to 3) or fall back to lane-by-lane loads (4), 'same' with an even kernel
# (asymmetric), channel multipliers, with and without bias, both dtypes.
DEPTHWISE = [  # (channels, multiplier), (H, W), kernel, padding[, stride]
    ((3, 1), (5, 16), 3, 1), ((2, 1), (1, 17), 1, 0), ((3, 2), (9, 31), (3, 5), (1, 2)),
    ((4, 1), (6, 56), 3, 1), ((2, 1), (7, 40), 5, 2), ((2, 3), (4, 23), (4, 4), "same"),
    ((3, 1), (8, 20), 7, 3), ((2, 1), (3, 18), 3, 4), ((2, 1), (12, 33), 2, 0),
    ((1, 1), (2, 19), (1, 3), (0, 1)), ((3, 1), (7, 7), 3, 1), ((2, 2), (14, 14), 5, 2),
    ((2, 1), (3, 3), 3, 4),
    ((3, 1), (14, 14), 3, 1, 2), ((2, 1), (64, 64), 5, 2, 2), ((2, 2), (15, 15), 5, 2, 2),
    ((3, 1), (9, 37), 3, 1, (2, 1)), ((2, 1), (11, 9), (3, 5), (1, 2), (1, 2)),
    ((2, 1), (33, 66), 3, 0, 2), ((2, 1), (5, 5), 3, 0, 2),
]


def test_depthwise_on_rows_of_one_takes_another_path(device, rng):
    x, w, b, groups = _conv_case(rng, np.float32, 2, 2, (3, 3, 3), (4, 1), (3, 1))
    choice = clconv.explain(F.conv2d, x, w, b, padding=(1, 0), groups=groups)["conv_forward"]
    assert choice.algorithm != "depthwise"
    if device.profile.kind == "cpu":
        assert dict(choice.passed_over)["depthwise"] == "rows of 1"
    with clconv.dispatch.recording() as made:
        check_op("conv2d", x, w, b, padding=(1, 0), groups=groups)
    assert made[0].algorithm == choice.algorithm


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", DEPTHWISE, ids=str)
def test_depthwise_conv2d_vector_path(device, rng, dtype, bias, case):
    (channels, multiplier), spatial, kernel, padding, *stride = case
    stride = stride[0] if stride else 1
    x, w, b, groups = _conv_case(rng, dtype, 2, 2, (channels, channels * multiplier, channels),
                                 spatial, kernel, bias)
    rows_only = {"conv_forward": {"depthwise": {"channel_lanes_rows": 0}}}  # (not the lanes)
    with clconv.config.override(conv_forward="depthwise", tuning=rows_only), \
            clconv.dispatch.recording() as made, \
            clconv.runtime.record_launches(device) as launched:
        check_op("conv2d", x, w, b, stride, padding, groups=groups, case=str(case))
    assert made[0].algorithm == "depthwise"
    kernel_name = "depthwise_conv2d" + ("" if stride == 1 else "_strided")
    assert kernel_name in {k.function_name for k, *_ in launched.launches}


# depthwise_conv2d_lanes (CPUs: one output channel per input channel, planes small enough for
# a register's worth of channels in local memory): channel counts past a vector's (lanes
# without a channel), one channel, kernels odd, even and non-square, paddings 0 to 3 and
# 'same', strides 1 to 3 along either axis, rows of one, with and without bias, both dtypes.
DEPTHWISE_LANES = [  # channels, (H, W), kernel, padding, stride
    (20, (7, 7), 3, 1, 1), (1, (7, 7), 5, 2, 1), (18, (14, 14), 5, 2, 2), (17, (9, 11), 3, 1, 2),
    (5, (6, 5), (2, 3), (1, 0), 1), (9, (8, 8), 4, "same", 1), (3, (10, 7), 3, 3, (3, 1)),
    (4, (1, 6), (1, 3), (0, 1), (1, 2)), (33, (4, 4), 1, 0, 1),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", DEPTHWISE_LANES, ids=str)
def test_depthwise_conv2d_lanes(device, rng, dtype, bias, case):
    channels, spatial, kernel, padding, stride = case
    x, w, b, groups = _conv_case(rng, dtype, 2, 2, (channels, channels, channels), spatial,
                                 kernel, bias)
    lanes_always = {"conv_forward": {"depthwise": {"channel_lanes_rows": 1 << 20}}}
    with clconv.config.override(conv_forward="depthwise", tuning=lanes_always), \
            clconv.dispatch.recording() as made, \
            clconv.runtime.record_launches(device) as launched:
        check_op("conv2d", x, w, b, stride, padding, groups=groups, case=str(case))
    assert made[0].algorithm == "depthwise" and made[0].params["walk"] == "channels"
    assert "depthwise_conv2d_lanes" in {k.function_name for k, *_ in launched.launches}


# winograd_conv2d (CPUs: 3x3, stride 1, no dilation or groups, rows of 16 or more): tile rows
# cut by odd heights, rows of tiles filling one or two vectors partly, several column blocks,
# paddings 0-2 and 'same', channel counts below a register block (forced on: by default it
# needs 16 or more), with and without bias, both dtypes, the fused epilogue. Its error is held
# to the dtype's usual tolerance (it measures below conv_direct's: README).
WINOGRAD = [  # (in, out channels), (H, W), padding
    ((1, 1), (1, 16), 1), ((3, 5), (5, 16), 1), ((2, 9), (6, 33), 0), ((17, 9), (9, 40), 2),
    ((4, 3), (2, 70), "same"), ((5, 12), (7, 31), (0, 1)), ((16, 16), (8, 18), 1),
]


# winograd_local (GPUs, where the tuning table's order names it) over the same grid: its
# transforms around gemm's 16 batched products (gemm_local under a GPU profile).
@pytest.mark.parametrize("algorithm", ["winograd", "winograd_local"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", WINOGRAD, ids=str)
def test_winograd_conv2d(device, rng, dtype, bias, case, algorithm):
    channels, spatial, padding = case
    x, w, b, _ = _conv_case(rng, dtype, 2, 2, channels + (1,), spatial, 3, bias)
    with clconv.config.override(conv_forward=algorithm):  # (whatever the channel count)
        try:
            clconv.explain(F.conv2d, x, w, b, padding=padding)
        except ValueError as err:  # its tiles do not fit this device's local memory
            assert "local memory" in str(err)
            pytest.skip(str(err))
        with clconv.dispatch.recording() as made:
            check_op("conv2d", x, w, b, padding=padding, case=str(case))
            if bias:  # the epilogue: bias, then the activation, on Winograd's outputs
                check_op("fused_conv2d", x, w, b, padding=padding, activation="leaky_relu",
                         negative_slope=0.1, case=str(case))
    assert {c.algorithm for c in made if c.family == "conv_forward"} == {algorithm}


def test_clconv_winograd_0_turns_winograd_off(device):
    import os
    import subprocess
    import sys
    code = ("import numpy as np, clconv, clconv.functional as F; "
            "x = np.ones((1, 32, 20, 20), np.float32); w = np.ones((32, 32, 3, 3), np.float32); "
            "print(clconv.config.current().winograd, "
            "dict(clconv.explain(F.conv2d, x, w, padding=1)['conv_forward'].passed_over)"
            ".get('winograd'))")
    env = dict(os.environ, CLCONV_WINOGRAD="0", CLCONV_PROFILE="cpu")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "False turned off (CLCONV_WINOGRAD=0)", done.stderr


# scaled_conv (the ONNX importer's squeeze-excitation fusion): conv_direct multiplies each input
# channel of each image by its factor as it reads it (INPUT_SCALE): in place (1x1), through its
# copies (3x3 with groups, 1x1 strided), with an epilogue; where the dispatcher takes another
# algorithm (a GPU profile), a scale of another shape, or autograd records: the product first.
SCALED = [((2, 12, 7, 9), (10, 12, 1, 1), {}),
          ((3, 8, 6, 20), (6, 4, 3, 3), dict(padding=1, groups=2)),
          ((2, 5, 9, 8), (4, 5, 1, 1), dict(stride=2)),
          ((2, 20, 24, 32), (12, 20, 1, 1), {})]  # (conv_pointwise on 1-2 compute units)


@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("x_shape,w_shape,options", SCALED, ids=str)
def test_scaled_conv_multiplies_as_it_reads(device, rng, dtype, x_shape, w_shape, options,
                                            activation):
    from clconv import reference as R
    from clconv.ops import conv
    from clconv.testing import assert_close
    x, w = randn(rng, x_shape, dtype), conv_weight(rng, w_shape, dtype)
    b = randn(rng, (w_shape[0],), dtype)
    scale = randn(rng, x_shape[:2] + (1, 1), dtype)
    with clconv.runtime.record_launches(device) as made:
        y = conv.scaled_conv(2, x, scale, w, b, activation=activation, **options)
    want = R.fused_conv2d(R.mul(x, scale), w, b, activation=activation, **options)
    assert_close(y.numpy(), want, what="scaled conv")
    names = {kernel.function_name for kernel, *_ in made.launches}
    algorithm = clconv.explain(F.conv2d, x, w, b, **options)["conv_forward"].algorithm
    fused = algorithm in ("direct", "pointwise")
    assert fused == (device.profile.kind == "cpu")
    assert fused == (not any(name.startswith("binary") for name in names)), names
    # Another shape of scale, and autograd recording: the product first, the same result.
    half = randn(rng, (1, x_shape[1], 1, 1), dtype)
    assert_close(conv.scaled_conv(2, x, half, w, b, activation=activation, **options).numpy(),
                 R.fused_conv2d(R.mul(x, half), w, b, activation=activation, **options),
                 what="scale for every image")
    xt = clconv.tensor(x, requires_grad=True)
    with clconv.runtime.record_launches(device) as made:
        y = conv.scaled_conv(2, xt, scale, w, b, activation=activation, **options)
    assert any(k.function_name.startswith("binary") for k, *_ in made.launches)
    y.backward(np.ones(y.shape, dtype))
    grad = R.fused_conv2d_backward(np.ones(y.shape), R.mul(x, scale), w, b,
                                   activation=activation, **options)[0] * scale
    assert_close(xt.grad.numpy(), grad, what="scaled conv input gradient")



# fused_conv's residual (the ONNX importer's Add after a convolution): conv_direct (in place,
# through a copy), conv_pointwise and winograd_conv2d (partial tiles) add it to the sums as they
# store them, before the activation, with or without a scale as the input is read (winograd:
# the product first); a residual that broadcasts, and autograd recording: the sum after.
# (x shape, weight shape, options, the CPU profile's algorithm, with the table's pointwise rules
# laid over)
RESIDUAL = [((2, 12, 7, 9), (10, 12, 1, 1), {}, "direct", {}),
            ((3, 8, 6, 20), (6, 4, 3, 3), dict(padding=1, groups=2), "direct", {}),
            ((2, 20, 24, 31), (12, 20, 1, 1), {}, "pointwise", {"items_per_unit": 0}),
            ((2, 16, 11, 13), (16, 16, 3, 3), dict(padding=1), "winograd", {})]


@pytest.mark.parametrize("scaled", [False, True], ids=["", "scaled"])
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("x_shape,w_shape,options,cpu_algorithm,pointwise", RESIDUAL, ids=str)
def test_fused_conv_adds_the_residual_as_it_stores(device, rng, dtype, x_shape, w_shape,
                                                   options, cpu_algorithm, pointwise,
                                                   activation, scaled):
    with clconv.config.override(tuning={"conv_forward": {"pointwise": pointwise}}):
        _residual_conv(device, rng, dtype, x_shape, w_shape, options, cpu_algorithm,
                       activation, scaled)


def _residual_conv(device, rng, dtype, x_shape, w_shape, options, cpu_algorithm, activation,
                   scaled):
    from clconv import reference as R
    from clconv.ops import conv
    from clconv.testing import assert_close
    x, w = randn(rng, x_shape, dtype), conv_weight(rng, w_shape, dtype)
    b = randn(rng, (w_shape[0],), dtype)
    scale = randn(rng, x_shape[:2] + (1, 1), dtype) if scaled else None
    product = R.mul(x, scale) if scaled else x
    z = R.conv2d(product, w, b, **options)
    r = randn(rng, z.shape, dtype)

    def act(v):
        return R.relu(v) if activation else v

    with clconv.runtime.record_launches(device) as made:
        y = conv.fused_conv(2, x, w, b, activation=activation, scale=scale, residual=r,
                            **options)
    assert_close(y.numpy(), act(R.add(z, r)), what="conv with a residual")
    names = {kernel.function_name for kernel, *_ in made.launches}
    algorithm = clconv.explain(F.conv2d, x, w, b, **options)["conv_forward"].algorithm
    # (a CPU profile's choice, where loops run to the end: llvmpipe's limit passes over some)
    assert algorithm == cpu_algorithm or device.profile.kind != "cpu" or device.profile.loop_limit
    fused = algorithm in ("direct", "pointwise") or (algorithm == "winograd" and not scaled)
    assert fused == (not any(name.startswith("binary") for name in names)), names
    # A residual for every image alike (broadcast), and autograd recording: the sum after.
    shared = randn(rng, (1,) + z.shape[1:], dtype)
    assert_close(conv.fused_conv(2, x, w, b, activation=activation, scale=scale,
                                 residual=shared, **options).numpy(),
                 act(R.add(z, shared)), what="broadcast residual")
    xt = clconv.tensor(x, requires_grad=True)
    with clconv.runtime.record_launches(device) as made:
        y = conv.fused_conv(2, xt, w, b, scale=scale, residual=r, **options)
    assert "binary_same_shape" in {k.function_name for k, *_ in made.launches}
    y.backward(np.ones(y.shape, dtype))
    grad = R.conv2d_backward(np.ones(y.shape), product, w, b, **options)[0]
    assert_close(xt.grad.numpy(), R.mul(grad, scale) if scaled else grad,
                 what="input gradient through a residual")

# conv_pointwise (CPUs: 1x1 at stride 1, planes of 160+ positions): spans cut by the plane's
# end, positions past the last whole vector as the last lanes of the plane's last vector
# (planes of 575, 510, 600, 640, 49 and 65: its last span has no whole vector), or one by one
# in a plane shorter than a vector (5),
# output channels in partial blocks and items, input channels in partial chunks, 3D planes, an
# epilogue, both dtypes; forced (small spans) where the table would leave small shapes to
# conv_direct.
POINTWISE = [((2, 12, 23, 25), 10, None), ((1, 37, 16, 40), 70, "silu"),
             ((3, 16, 30, 17), 5, "relu"), ((2, 8, 1, 600), 9, None),
             ((2, 9, 1, 5), 11, "relu"), ((3, 20, 7, 7), 13, None), ((2, 6, 5, 13), 7, None)]


@pytest.mark.parametrize("x_shape,out_channels,activation", POINTWISE, ids=str)
def test_conv_pointwise_path(device, rng, dtype, x_shape, out_channels, activation):
    from clconv import reference as R
    from clconv.testing import assert_close
    x = randn(rng, x_shape, dtype)
    w = conv_weight(rng, (out_channels, x_shape[1], 1, 1), dtype)
    b = randn(rng, (out_channels,), dtype)
    # (16 input channels a pass: 37 channels in three, the last partial)
    small = {"conv_forward": {"pointwise": {"SPAN_BYTES": 256, "min_positions": 1,
                                            "items_per_unit": 0, "CHUNK": 16}}}
    with clconv.config.override(conv_forward="pointwise", tuning=small), \
            clconv.runtime.record_launches(device) as made:
        y = clconv.fused.conv2d(x, w, b, activation=activation)
        check_op("conv2d", x, w, b)
    assert "conv_pointwise" in {k.function_name for k, *_ in made.launches}
    assert_close(y.numpy(), R.fused_conv2d(x, w, b, activation=activation), what="pointwise")
    # The squeeze-excitation fusion through it (INPUT_SCALE): no product kernel
    from clconv.ops import conv
    scale = randn(rng, x_shape[:2] + (1, 1), dtype)
    with clconv.config.override(conv_forward="pointwise", tuning=small), \
            clconv.runtime.record_launches(device) as made:
        y = conv.scaled_conv(2, x, scale, w, b, activation=activation)
    names = {k.function_name for k, *_ in made.launches}
    assert "conv_pointwise" in names and not any(n.startswith("binary") for n in names), names
    assert_close(y.numpy(), R.fused_conv2d(R.mul(x, scale), w, b, activation=activation),
                 what="scaled pointwise")
    x3 = randn(rng, (2, 6, 4, 9, 16), dtype)
    with clconv.config.override(conv_forward="pointwise", tuning=small):
        check_op("conv3d", x3, conv_weight(rng, (7, 6, 1, 1, 1), dtype))
