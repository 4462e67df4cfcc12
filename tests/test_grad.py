"""Every backward against clconv.reference's backward, and (in float64) against central finite
differences of the reference forward, over option grids like the forward tests'."""

import numpy as np
import pytest

import clconv
import clconv.functional as F
import clconv.reference as R
from clconv.testing import assert_close
from helpers import (CONV_FIELDS, POOL_FIELDS, check_grad, conv_weight, expect_path, labelled,
                     randn)

def _fd(dtype):
    return 4 if dtype == np.float64 else None


CONV_CASES = [
    # nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation, bias
    (2, (3, 5, 1), (7, 8), 3, 1, 1, 1, True), (2, (4, 6, 2), (9, 7), 3, 2, 1, 1, True),
    (2, (6, 6, 6), (8, 8), 3, 1, "same", 1, False), (2, (3, 6, 3), (9, 9), (2, 3), (3, 1), 0, (2, 1), True),
    (2, (2, 19, 1), (5, 6), 1, 1, 0, 1, True), (2, (1, 1, 1), (1, 1), 1, 1, 0, 1, True),
    (2, (3, 4, 1), (10, 11), 4, 1, "same", 2, True), (2, (2, 3, 1), (6, 6), 2, 4, 1, 1, True),
    (2, (9, 10, 1), (7, 6), 3, 2, 2, 2, True), (2, (3, 3, 1), (5, 5), 3, 1, "valid", 1, False),
    (1, (3, 5, 1), (17,), 5, 2, 2, 1, True), (1, (4, 4, 2), (12,), 4, 1, "same", 1, True),
    (1, (2, 3, 1), (9,), 2, 3, 0, 3, True),
    (3, (2, 3, 1), (4, 5, 6), 3, 1, 1, 1, True), (3, (4, 4, 4), (5, 4, 3), (1, 2, 3), (2, 1, 1), (0, 1, 1), 1, True),
    (3, (2, 2, 1), (5, 5, 5), 2, 1, "same", (1, 2, 1), False),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=labelled(*CONV_FIELDS))
def test_conv_backward(device, rng, dtype, case):
    nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation, bias = case
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    x = randn(rng, (2, c_in) + spatial, dtype)
    w = conv_weight(rng, (c_out, c_in // groups) + kernel, dtype)
    b = randn(rng, (c_out,), dtype) if bias else None
    check_grad(rng, f"conv{nd}d", x, w, b, stride, padding, dilation, groups, finite_differences=_fd(dtype), case=str(case))


def test_conv_backward_unbatched(device, rng, dtype):
    x = randn(rng, (3, 6, 7), dtype)
    check_grad(rng, "conv2d", x, conv_weight(rng, (4, 3, 3, 3), dtype), randn(rng, (4,), dtype), 1, 1, case="unbatched")


POOL_CASES = [  # spatial, kernel, stride, padding, dilation, ceil_mode
    ((7, 9), 2, None, 0, 1, False), ((7, 9), 3, 2, 1, 1, True), ((8, 8), 3, 1, 1, 1, False),
    ((9, 7), (3, 2), (1, 2), (1, 0), 1, True), ((10, 10), 2, 3, 1, 2, True), ((5, 6), 1, 2, 0, 1, False),
    ((4, 4), 3, 3, 1, 1, True),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=labelled(*POOL_FIELDS))
def test_max_pool_backward(device, rng, dtype, case):
    spatial, kernel, stride, padding, dilation, ceil_mode = case
    x = randn(rng, (2, 3) + spatial, dtype)
    check_grad(rng, "max_pool2d", x, kernel, stride, padding, dilation, ceil_mode, finite_differences=_fd(dtype), case=str(case))


@pytest.mark.parametrize("count_include_pad,divisor_override", [(True, None), (False, None), (True, 5)])
@pytest.mark.parametrize("case", [c for c in POOL_CASES if c[4] == 1], ids=labelled(*POOL_FIELDS))
def test_avg_pool_backward(device, rng, dtype, case, count_include_pad, divisor_override):
    spatial, kernel, stride, padding, _, ceil_mode = case
    x = randn(rng, (2, 3) + spatial, dtype)
    check_grad(rng, "avg_pool2d", x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override,
               finite_differences=_fd(dtype), case=str(case))


@pytest.mark.parametrize("nd", [1, 3])
def test_pool_backward_1d_3d(device, rng, dtype, nd):
    x = randn(rng, (2, 2) + (7, 6, 5)[:nd], dtype)
    check_grad(rng, f"max_pool{nd}d", x, 3, 2, 1, 1, True, finite_differences=_fd(dtype), case=f"max{nd}")
    check_grad(rng, f"avg_pool{nd}d", x, 3, 2, 1, True, False, finite_differences=_fd(dtype), case=f"avg{nd}")
    check_grad(rng, f"adaptive_avg_pool{nd}d", x, 4, finite_differences=_fd(dtype), case=f"adaptive{nd}")


@pytest.mark.parametrize("output_size", [1, 3, (4, 2), (7, 9)], ids=str)
def test_adaptive_avg_pool_backward(device, rng, dtype, output_size):
    check_grad(rng, "adaptive_avg_pool2d", randn(rng, (2, 3, 7, 5), dtype), output_size,
               finite_differences=_fd(dtype), case=str(output_size))


NORM_SHAPES = [(4, 3), (3, 4, 5), (2, 3, 5, 6), (2, 2, 3, 3, 4)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", NORM_SHAPES, ids=str)
def test_batch_norm_backward(device, rng, dtype, shape, affine, training):
    c = shape[1]
    x = randn(rng, shape, dtype, 2.0) + 1
    rm, rv = randn(rng, (c,), dtype), rng.uniform(0.5, 2, c).astype(dtype)
    w, b = (randn(rng, (c,), dtype), randn(rng, (c,), dtype)) if affine else (None, None)
    check_grad(rng, "batch_norm", x, rm, rv, w, b, training, 0.1, 1e-3, finite_differences=_fd(dtype),
               case=f"{shape} {affine} {training}")


@pytest.mark.parametrize("shape,normalized", [((4, 6), 6), ((2, 3, 5), (3, 5)), ((2, 3, 4, 5), (5,)), ((3, 70), 70)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_backward(device, rng, dtype, shape, normalized, affine):
    norm_shape = (normalized,) if isinstance(normalized, int) else normalized
    w, b = (randn(rng, norm_shape, dtype), randn(rng, norm_shape, dtype)) if affine else (None, None)
    check_grad(rng, "layer_norm", randn(rng, shape, dtype), normalized, w, b, 1e-5,
               finite_differences=_fd(dtype), case=f"{shape} {normalized} {affine}")


@pytest.mark.parametrize("use_input_stats", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 2, 4, 5)], ids=str)
def test_instance_norm_backward(device, rng, dtype, shape, use_input_stats):
    c = shape[1]
    rm, rv = randn(rng, (c,), dtype), rng.uniform(0.5, 2, c).astype(dtype)
    check_grad(rng, "instance_norm", randn(rng, shape, dtype), rm, rv, randn(rng, (c,), dtype),
               randn(rng, (c,), dtype), use_input_stats, 0.1, 1e-5,
               finite_differences=_fd(dtype), case=f"{shape} {use_input_stats}")


@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((3, 4, 7), 1), ((2, 4, 3), 4)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_backward(device, rng, dtype, shape, groups, affine):
    c = shape[1]
    w, b = (randn(rng, (c,), dtype), randn(rng, (c,), dtype)) if affine else (None, None)
    check_grad(rng, "group_norm", randn(rng, shape, dtype), groups, w, b, 1e-5,
               finite_differences=_fd(dtype), case=f"{shape} {groups} {affine}")


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4, 5)], ids=str)
def test_activation_backward(device, rng, dtype, shape):
    x = randn(rng, shape, dtype)
    check_grad(rng, "relu", x, finite_differences=_fd(dtype), case=f"relu{shape}")
    check_grad(rng, "leaky_relu", x, 0.2, finite_differences=_fd(dtype), case=f"leaky{shape}")


@pytest.mark.parametrize("x_shape,out_features,bias", [((5, 7), 9, True), ((2, 3, 6), 4, False), ((1, 1), 1, True), ((9, 33), 17, True)], ids=str)
def test_linear_backward(device, rng, dtype, x_shape, out_features, bias):
    w = conv_weight(rng, (out_features, x_shape[-1]), dtype)
    check_grad(rng, "linear", randn(rng, x_shape, dtype), w, randn(rng, (out_features,), dtype) if bias else None,
               finite_differences=_fd(dtype), case=f"{x_shape} {out_features}")


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (3, 4)), ((2, 3, 4, 5), (3, 1, 1)), ((4, 1), (1, 6)), ((1,), (2, 3))], ids=str)
def test_add_backward(device, rng, dtype, a_shape, b_shape):
    check_grad(rng, "add", randn(rng, a_shape, dtype), randn(rng, b_shape, dtype),
               finite_differences=_fd(dtype), case=f"{a_shape}+{b_shape}")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy(device, rng, dtype, reduction, weighted, ignore):
    n, c = 9, 5
    x = randn(rng, (n, c), dtype, 3.0)
    target = rng.integers(0, c, n)
    if ignore:
        target[[1, 4]] = -100
    weight = rng.uniform(0.5, 2, c).astype(dtype) if weighted else None
    loss = F.cross_entropy(x, target, weight, reduction=reduction)
    assert_close(loss.numpy(), R.cross_entropy(x, target, weight, reduction=reduction), what="cross_entropy")
    check_grad(rng, "cross_entropy", x, target, weight, -100, reduction, finite_differences=_fd(dtype),
               case=f"{reduction} {weighted} {ignore}")


def test_cross_entropy_is_stable_for_large_logits(device):
    x = np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]], np.float32)
    loss = F.cross_entropy(x, np.array([0, 2]))
    assert np.isfinite(loss.item())
    assert_close(loss.numpy(), R.cross_entropy(x, np.array([0, 2])))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(device, rng, dtype, reduction):
    x, y = randn(rng, (4, 5), dtype), randn(rng, (4, 5), dtype)
    assert_close(F.mse_loss(x, y, reduction).numpy(), R.mse_loss(x, y, reduction), what="mse_loss")
    check_grad(rng, "mse_loss", x, y, reduction, finite_differences=_fd(dtype), case=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_over_several_work_groups(device, rng, reduction):
    # Rows or elements for several first-stage work-groups (64 per work-item each): the
    # groups' partial sums, then loss_finish's (the total weight too, for the weighted mean).
    x, y = randn(rng, (3, 6000), np.float32), randn(rng, (3, 6000), np.float32)
    with clconv.runtime.record_launches(device) as made:
        loss = F.mse_loss(x, y, reduction)
    assert_close(loss.numpy(), R.mse_loss(x, y, reduction), what="mse_loss")
    finished = {k.function_name for k, *_ in made.launches} & {"loss_finish"}
    assert bool(finished) == (reduction != "none"), made.launches
    check_grad(rng, "mse_loss", x, y, reduction, case=f"several groups {reduction}")
    n, c = 9000, 3
    logits = randn(rng, (n, c), np.float32, 3.0)
    target = rng.integers(0, c, n)
    target[::7] = -100
    weight = rng.uniform(0.5, 2, c).astype(np.float32)
    with clconv.runtime.record_launches(device) as made:
        loss = F.cross_entropy(logits, target, weight, reduction=reduction)
    assert "loss_finish" in {k.function_name for k, *_ in made.launches}
    assert_close(loss.numpy(), R.cross_entropy(logits, target, weight, reduction=reduction),
                 what="cross_entropy")
    check_grad(rng, "cross_entropy", logits, target, weight, -100, reduction,
               case=f"several groups {reduction}")
    # reruns are bit-identical (fixed-order sums)
    again = F.cross_entropy(logits, target, weight, reduction=reduction).numpy()
    assert np.array_equal(again, loss.numpy())


@pytest.mark.parametrize("nd,x_shape,w_shape,stride,padding", [
    (2, (2, 3, 9, 11), (4, 3, 3, 3), 2, 1),
    (3, (1, 2, 5, 6, 7), (3, 2, 3, 2, 3), (2, 1, 3), 1),
])
def test_strided_input_gradient_through_the_spread_out_gradient(device, rng, nd, x_shape,
                                                                 w_shape, stride, padding):
    """The transposed input gradient of a strided convolution, forced (the dispatcher takes the
    phases for every stride now): the gradient spread out by zero_upsample, then a stride-1
    convolution with the flipped weights; against the reference."""
    x, w = randn(rng, x_shape, np.float32), conv_weight(rng, w_shape, np.float32)
    with clconv.config.override(conv_input_grad="transposed"), \
            clconv.runtime.record_launches(device) as made:
        check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, case="spread out")
    assert "zero_upsample" in {k.function_name for k, *_ in made.launches}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_weight_grad_local_splits_across_work_groups(device, rng, dtype):
    """The GPU weight gradient's reduction over batch x positions, split across work-groups
    (as many as 32 per compute unit asks for, runs of one 16-deep slice), the partial blocks
    summed in order: against the reference, and bit-identical on a rerun."""
    if dtype == np.float64 and not device.profile.has_fp64:
        pytest.skip(f"{device.name} has no float64")
    x = randn(rng, (3, 20, 7, 9), dtype)
    w = conv_weight(rng, (18, 20, 3, 3), dtype)
    table = {"conv_weight_grad": {"local": {"groups_per_unit": 32, "min_chunk": 16}}}
    with clconv.config.override(profile="gpu", tuning=table):
        choice = clconv.explain(F.conv2d, x, w, None, 2, 1)["conv_weight_grad"]
        assert choice.algorithm == "local" and choice.params["chunk"] == 16, str(choice)
        assert choice.params["splits"] == -(-3 * 4 * 5 // 16), str(choice)
        g = randn(rng, (3, 18, 4, 5), dtype)
        grads = []
        for _ in range(2):
            wt = clconv.tensor(w, requires_grad=True)
            F.conv2d(clconv.tensor(x), wt, None, 2, 1).backward(g)
            grads.append(wt.grad.numpy())
    want = R.conv2d_backward(g, x, w, None, 2, 1)[1]
    assert_close(grads[0], want, what="conv2d weight gradient, split across work-groups")
    assert np.array_equal(grads[0], grads[1])


# --- the forward tests' full option grids, backward (float32 against the reference) ----------------

import test_conv  # noqa: E402  (the grids are defined once, with the forward tests)
import test_pool  # noqa: E402


# Cases whose kernel does not fit the padded input raise in the forward (test_conv checks that).
@pytest.mark.parametrize("channels,spatial,kernel,stride,padding,dilation", [
    case for case in test_conv._grid_2d() if test_conv._fits(*case.values[1:3], *case.values[4:], 2)])
def test_conv2d_backward_grid(device, rng, channels, spatial, kernel, stride, padding, dilation):
    x, w, b, groups = test_conv._conv_case(rng, np.float32, 2, 2, channels, spatial, kernel)
    check_grad(rng, "conv2d", x, w, b, stride, padding, dilation, groups,
               case=f"{channels} {spatial} {kernel} {stride} {padding} {dilation}")


@pytest.mark.parametrize("spatial,kernel,stride,padding,ceil_mode,dilation", list(test_pool._grid([1, 2])))
def test_max_pool2d_backward_grid(device, rng, spatial, kernel, stride, padding, ceil_mode, dilation):
    x = randn(rng, (2, 3) + spatial, np.float32)
    check_grad(rng, "max_pool2d", x, kernel, stride, padding, dilation, ceil_mode, case=str(spatial))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("spatial,kernel,stride,padding,ceil_mode,dilation", list(test_pool._grid([1])))
def test_avg_pool2d_backward_grid(device, rng, spatial, kernel, stride, padding, ceil_mode, dilation,
                                  count_include_pad):
    x = randn(rng, (2, 3) + spatial, np.float32)
    check_grad(rng, "avg_pool2d", x, kernel, stride, padding, ceil_mode, count_include_pad, None,
               case=str(spatial))


# --- strided convolutions: the phase-split input gradient and the phase-plane weight gradient ----

STRIDED_CASES = [
    # nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation
    (2, (3, 4, 1), (9, 11), 3, 2, 1, 1),          # odd sizes: phases of unequal length
    (2, (4, 6, 2), (10, 7), 3, 3, 0, 1),          # stride 3, groups
    (2, (3, 5, 1), (8, 9), 2, 2, 0, 1),           # each phase one tap per dimension
    (2, (2, 3, 1), (7, 7), 1, 2, 0, 1),           # 1x1: three phases without taps
    (2, (2, 3, 1), (9, 8), 1, 3, 1, 1),           # 1x1, padded: the phase with the tap moves
    (2, (3, 4, 1), (11, 10), 5, 2, 2, 1),         # 3 and 2 taps per phase
    (2, (3, 3, 1), (9, 9), 3, 2, 2, 1),           # padding past the kernel's reach
    (2, (2, 2, 1), (8, 9), 2, 3, 2, 1),           # padding past the reach, phases without taps
    (2, (4, 4, 4), (9, 10), 3, 2, 1, 1),          # depthwise
    (2, (3, 4, 1), (12, 13), 3, (2, 3), (1, 2), 1),
    (2, (3, 4, 1), (5, 6), 3, 4, 1, 1),           # stride larger than the kernel
    (2, (3, 4, 1), (3, 3), 3, 2, 0, 1),           # one output
    (2, (2, 3, 1), (11, 12), 3, 2, 1, 2),         # dilation 2, stride 2: every other tap
    (2, (2, 3, 1), (13, 13), 3, 3, 2, 2),         # dilation 2, stride 3
    (2, (2, 3, 1), (12, 12), 2, 2, 1, (2, 3)),
    (2, (2, 5, 1), (6, 20), (1, 3), (1, 2), (0, 1), 1),  # strided along one dimension only
    (1, (3, 5, 1), (17,), 3, 2, 1, 1), (1, (4, 6, 2), (20,), 5, 3, 2, 1),
    (1, (2, 2, 1), (9,), 1, 2, 0, 1), (1, (2, 3, 1), (16,), 4, 2, 3, 1),
    (3, (2, 3, 1), (5, 6, 7), 3, 2, 1, 1),        # 3D: the zero-spread path
    (3, (2, 3, 1), (4, 5, 6), (1, 3, 3), 1, (0, 1, 1), 1),  # 3D with a 1-deep kernel
    (3, (2, 3, 1), (3, 7, 6), (1, 2, 3), (1, 2, 2), (0, 1, 0), 1),
]


@pytest.mark.parametrize("case", STRIDED_CASES, ids=labelled(*CONV_FIELDS))
def test_strided_conv_backward(device, rng, dtype, case):
    nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation = case
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    x = randn(rng, (3, c_in) + spatial, dtype)
    w = conv_weight(rng, (c_out, c_in // groups) + kernel, dtype)
    check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, dilation, groups,
               finite_differences=_fd(dtype), case=str(case))


@pytest.mark.parametrize("case", [STRIDED_CASES[1], STRIDED_CASES[3], STRIDED_CASES[7]],
                         ids=labelled(*CONV_FIELDS))
def test_strided_conv_backward_past_the_workspace_limit(device, rng, case):
    # The phase-split input gradient's scratch tensors exceed the limit: sample by sample.
    nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation = case
    x = randn(rng, (3, c_in) + spatial, np.float32)
    w = conv_weight(rng, (c_out, c_in // groups) + (kernel,) * nd, np.float32)
    with clconv.config.override(workspace_mb=0.0001):
        check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, dilation, groups, case=str(case))


# --- weight gradients on CPUs: depthwise work-items over all taps, the flat path in 3D ---------

DEPTHWISE_CASES = [
    # nd, (c_in, c_out), spatial, kernel, stride, padding, dilation
    (2, (4, 4), (9, 11), 3, 1, 1, 1),            # depthwise, odd sizes
    (2, (3, 3), (7, 5), 3, 1, 0, 1),             # no padding
    (2, (5, 5), (6, 7), 3, 1, 2, 1),             # padding past the kernel's reach
    (2, (3, 6), (8, 9), 2, 1, 1, 1),             # channel multiplier 2, even kernel
    (2, (2, 6), (10, 9), 5, 1, 2, 1),            # multiplier 3, 5x5: all 25 taps in one item
    (2, (3, 3), (12, 13), 7, 1, 3, 1),           # 7x7: two blocks of taps
    (2, (4, 4), (5, 6), 1, 1, 0, 1),             # 1x1
    (2, (4, 4), (20, 19), 3, 1, 1, 1),           # rows longer than a vector
    (2, (3, 3), (9, 10), 3, 2, 1, 1),            # stride 2: phases
    (2, (2, 4), (11, 12), 3, (3, 2), (1, 0), (2, 1)),  # strides, dilation
    (2, (3, 3), (13, 17), 3, 1, 2, 2),           # dilation 2
    (1, (4, 8), (23,), 3, 1, 1, 1), (1, (3, 3), (19,), 4, 2, 1, 1),
    (3, (3, 3), (4, 5, 6), 3, 1, 1, 1),          # 3D depthwise
    (3, (2, 4), (3, 4, 5), (2, 3, 3), (2, 1, 2), (1, 1, 0), (1, 2, 1)),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=labelled(*CONV_FIELDS))
def test_depthwise_conv_backward(device, rng, dtype, case):
    nd, (c_in, c_out), spatial, kernel, stride, padding, dilation = case
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    x = randn(rng, (3, c_in) + spatial, dtype)
    w = conv_weight(rng, (c_out, 1) + kernel, dtype)
    with expect_path(device, "conv_weight_grad", ("depthwise",)):
        check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, dilation, c_in,
                   finite_differences=_fd(dtype), case=str(case))


CONV3D_CASES = [
    # (c_in, c_out, groups), spatial, kernel, stride, padding, dilation
    ((3, 4, 1), (5, 6, 7), 3, 1, 1, 1),
    ((2, 3, 1), (1, 5, 6), (1, 3, 3), 1, (0, 1, 1), 1),   # depth 1
    ((2, 3, 1), (4, 5, 6), (1, 3, 3), 1, 0, 1),           # kernel depth 1
    ((4, 6, 2), (5, 4, 6), 3, 1, 2, 1),                   # groups, padding past the reach
    ((3, 2, 1), (6, 5, 7), 2, 1, 0, (2, 1, 2)),           # dilation, even kernel
    ((2, 3, 1), (5, 6, 7), 3, 2, 1, 1),                   # strides: phase volumes
    ((3, 5, 1), (7, 6, 5), (3, 2, 3), (2, 1, 3), (1, 0, 2), (1, 2, 1)),
    ((16, 12, 1), (3, 5, 9), 3, 1, 1, 1),                 # tiles of 4 channels, partial ones
    ((2, 2, 1), (3, 3, 3), 5, 1, 2, 1),                   # kernel as large as the padded input
]


@pytest.mark.parametrize("case", CONV3D_CASES, ids=labelled(*CONV_FIELDS[1:]))
def test_conv3d_weight_backward(device, rng, dtype, case):
    (c_in, c_out, groups), spatial, kernel, stride, padding, dilation = case
    kernel = (kernel,) * 3 if isinstance(kernel, int) else kernel
    x = randn(rng, (2, c_in) + spatial, dtype)
    w = conv_weight(rng, (c_out, c_in // groups) + kernel, dtype)
    check_grad(rng, "conv3d", x, w, None, stride, padding, dilation, groups,
               finite_differences=_fd(dtype), case=str(case))


POINTWISE_CASES = [
    # nd, (c_in, c_out, groups), spatial, stride, padding: 1x1 weight gradients
    (2, (7, 11, 1), (5, 7), 1, 0),      # conv_backward_weight_pointwise: plane 35, a masked tail
    (2, (6, 9, 3), (4, 8), 1, 0),       # groups, plane of exactly two vectors
    (2, (13, 6, 1), (16, 1), 1, 0),     # one vector per plane, partial channel tiles
    (1, (3, 4, 1), (40,), 1, 0),
    (3, (5, 7, 1), (2, 3, 4), 1, 0),
    (2, (9, 47, 1), (4, 5), 1, 0),      # 10 output tiles: a band of 8, then a band of 2
    (2, (6, 90, 2), (4, 4), 1, 0),      # bands within each group
    (2, (5, 3, 1), (3, 5), 1, 0),       # plane under a vector: the flat kernel
    (2, (8, 6, 2), (9, 9), 2, 0),       # strided: the flat kernel
    (2, (4, 5, 1), (6, 5), 1, 1),       # padded: the flat kernel
]


@pytest.mark.parametrize("case", POINTWISE_CASES, ids=labelled("nd", "ch", "in", "st", "pad"))
def test_pointwise_conv_weight_backward(device, rng, dtype, case):
    nd, (c_in, c_out, groups), spatial, stride, padding = case
    x = randn(rng, (3, c_in) + spatial, dtype)
    w = conv_weight(rng, (c_out, c_in // groups) + (1,) * nd, dtype)
    # Strided, padded, or planes under a vector take the flat kernel (see POINTWISE_CASES).
    lanes = device.profile.vector_lanes(np.dtype(dtype).itemsize)
    flat = stride != 1 or padding != 0 or np.prod(spatial) < lanes
    with expect_path(device, "conv_weight_grad", ("flat",) if flat else ("pointwise",)):
        check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, 1, groups,
                   finite_differences=_fd(dtype), case=str(case))


ROW_CASES = [
    # nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation:
    # conv_backward_weight_rows (float32; float64 takes the flat kernel)
    (2, (3, 10, 1), (9, 11), 5, 1, 2, 1),          # 5 taps x 1 x 5 channels, as conv2d-A
    (2, (5, 7, 1), (8, 9), 3, 1, 1, 1),            # partial tiles of 2 x 4 channels
    (2, (4, 6, 2), (10, 12), 7, 1, 3, 1),          # rows of 7: blocks of 4, the last repeats
    (2, (3, 5, 1), (9, 10), (3, 2), 2, 1, (1, 2)), # strided, dilated, rows of 2
    (2, (6, 6, 3), (11, 13), (2, 4), (1, 3), 0, 1),
    (1, (3, 4, 1), (23,), 6, 2, 2, 1),             # two blocks of 3
    (3, (5, 3, 1), (4, 6, 7), 3, 1, 1, 1),
]


@pytest.mark.parametrize("case", ROW_CASES, ids=labelled(*CONV_FIELDS))
def test_row_conv_weight_backward(device, rng, dtype, case):
    nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation = case
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    x = randn(rng, (2, c_in) + spatial, dtype)
    w = conv_weight(rng, (c_out, c_in // groups) + kernel, dtype)
    expected = ("rows",) if dtype == np.float32 else ("rows", "flat")  # (see ROW_CASES)
    with expect_path(device, "conv_weight_grad", expected):
        check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, dilation, groups,
                   finite_differences=_fd(dtype), case=str(case))


@pytest.mark.parametrize("case", [
    (2, (3, 5, 1), (7, 9), 3, 1, 1, 1),    # rows: one run per piece of a sample's plane
    (2, (4, 6, 1), (8, 7), 1, 2, 0, 1),    # flat (1-wide kernel), strided
    (3, (2, 3, 1), (3, 4, 5), 3, 1, 1, 1),  # rows in 3D
], ids=labelled(*CONV_FIELDS))
def test_weight_gradient_in_runs(device, rng, case):
    # conv_backward_weight_rows / _flat with the reduction split into runs (partial tiles summed
    # in order): forced here with runs far smaller than a sample's plane.
    nd, (c_in, c_out, groups), spatial, kernel, stride, padding, dilation = case
    x = randn(rng, (3, c_in) + spatial, np.float32)
    w = conv_weight(rng, (c_out, c_in // groups) + (kernel,) * nd, np.float32)
    small = {"run_bytes": 64, "min_run": 16}
    with clconv.config.override(profile="cpu", tuning={"conv_weight_grad": {"rows": small,
                                                                            "flat": small}}):
        with clconv.dispatch.recording() as made:
            check_grad(rng, f"conv{nd}d", x, w, None, stride, padding, dilation, groups, case=str(case))
    weight = [c for c in made if c.family == "conv_weight_grad"]
    assert weight and weight[0].algorithm in ("rows", "flat") and weight[0].params["runs"] >= 3
