"""clconv.fused: convolutions with the activation in their epilogue, forward and backward,
against reference.fused_conv*d, on both conv kernels; and nn.Sequential's use of them."""
import numpy as np
import pytest

import clconv
import clconv.functional as F
import clconv.nn as nn
import clconv.reference as R
from clconv import runtime
from clconv.ops import conv
from clconv.testing import assert_close
from helpers import conv_weight, randn

CASES = [  # nd, input shape, weight shape, bias, options
    (2, (2, 3, 9, 20), (5, 3, 3, 3), True, dict(padding=1)),
    (2, (2, 4, 11, 9), (6, 2, 3, 3), False, dict(stride=2, padding=1, groups=2)),
    (2, (1, 8, 7, 7), (8, 8, 1, 1), True, {}),
    (2, (9, 37, 1, 1), (19, 37, 1, 1), True, {}),  # 1x1 planes: gemm_dot (CPUs)
    (2, (2, 4, 6, 20), (8, 1, 3, 3), True, dict(padding=1, groups=4)),  # depthwise_conv2d
    (1, (2, 3, 40), (4, 3, 5), True, dict(padding=2, dilation=2)),
    (3, (1, 2, 4, 5, 6), (3, 2, 3, 3, 3), True, dict(padding=1)),
]
ACTIVATIONS = [("relu", 0.01), ("leaky_relu", 0.2), ("leaky_relu", 0.0), (None, 0.01)]


@pytest.fixture(params=[None, "direct", "general"], ids=["chosen", "direct", "general"])
def algorithm(request):
    """The profile's choice (depthwise_conv2d for the depthwise case on CPUs), the CPU's direct
    kernel and the general (GPU) one: each has its own epilogue."""
    with clconv.config.override(conv_forward=request.param):
        yield request.param


@pytest.mark.parametrize("activation,slope", ACTIVATIONS, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}d{c[1]}{c[4]}")
def test_fused_conv_forward_and_backward(device, rng, algorithm, dtype, case, activation, slope):
    nd, x_shape, w_shape, has_bias, options = case
    x, w = randn(rng, x_shape, dtype), conv_weight(rng, w_shape, dtype)
    b = randn(rng, (w_shape[0],), dtype) if has_bias else None
    leaves = [clconv.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    y = getattr(clconv.fused, f"conv{nd}d")(*leaves, **options, activation=activation,
                                            negative_slope=slope)
    want = getattr(R, f"fused_conv{nd}d")(x, w, b, **options, activation=activation,
                                          negative_slope=slope)
    assert y.dtype == want.dtype and y.shape == want.shape
    assert_close(y.numpy(), want, what=f"fused conv{nd}d {activation}")
    if activation is not None:  # (the case is not vacuous: the activation changes something)
        assert (want < 0).any() == (activation == "leaky_relu" and slope > 0)
    grad = randn(rng, y.shape, dtype)
    y.backward(grad)
    expected = getattr(R, f"fused_conv{nd}d_backward")(grad, x, w, b, **options,
                                                       activation=activation,
                                                       negative_slope=slope)
    for name, leaf, want_grad in zip(("input", "weight", "bias"), leaves, expected):
        if leaf is not None:
            assert_close(leaf.grad.numpy(), want_grad, what=f"fused conv{nd}d d{name}")


# The activations whose gradient needs the pre-activation: fused where nothing requires grad.
PRE_ACTIVATION = ["relu6", "sigmoid", "silu", "hardswish", "hardsigmoid"]


@pytest.mark.parametrize("activation", PRE_ACTIVATION)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}d{c[1]}{c[4]}")
def test_fused_epilogue_activations_in_inference(device, rng, algorithm, dtype, case,
                                                 activation):
    """The epilogue applies the activation: one convolution, no activation kernel."""
    nd, x_shape, w_shape, has_bias, options = case
    # Inputs scaled so that outputs reach past hardswish's and relu6's kinks (-3, 3, 6).
    x, w = 6 * randn(rng, x_shape, dtype), conv_weight(rng, w_shape, dtype)
    b = randn(rng, (w_shape[0],), dtype) if has_bias else None
    with runtime.record_launches(device) as made:
        y = getattr(clconv.fused, f"conv{nd}d")(x, w, b, **options, activation=activation)
    names = [kernel.function_name for kernel, *_ in made.launches]
    assert names and not [n for n in names if n.startswith("activation")], names
    want = getattr(R, f"fused_conv{nd}d")(x, w, b, **options, activation=activation)
    assert_close(y.numpy(), want, what=f"fused conv{nd}d {activation}")
    z = getattr(R, f"conv{nd}d")(x, w, b, **options)
    assert (z < -3).any() and (z > 6).any()  # (every piece of the activations is reached)


@pytest.mark.parametrize("activation", PRE_ACTIVATION)
def test_fused_pre_activation_gradients_run_unfused(device, rng, activation):
    """With autograd recording, these run as the convolution and then the activation, whose
    backward reads the convolution's output."""
    x, w = 6 * randn(rng, (1, 2, 5, 18), np.float32), conv_weight(rng, (3, 2, 3, 3), np.float32)
    xt, wt = clconv.tensor(x, requires_grad=True), clconv.tensor(w, requires_grad=True)
    with runtime.record_launches(device) as made:
        y = clconv.fused.conv2d(xt, wt, padding=1, activation=activation)
    names = [kernel.function_name for kernel, *_ in made.launches]
    assert names[-1] == "activation_forward", names
    grad = randn(rng, y.shape, np.float32)
    y.backward(grad)
    want_dx, want_dw, _ = R.fused_conv2d_backward(grad, x, w, padding=1, activation=activation)
    assert_close(xt.grad.numpy(), want_dx, what=f"fused conv2d {activation} dinput")
    assert_close(wt.grad.numpy(), want_dw, what=f"fused conv2d {activation} dweight")


def test_relu_passes_nan_as_the_separate_ops_do(device, rng):
    x = randn(rng, (1, 2, 5, 18), np.float32)
    x[0, 1, 2, 3] = np.nan
    w = conv_weight(rng, (3, 2, 3, 3), np.float32)
    fused = clconv.fused.conv2d(x, w, padding=1, activation="relu").numpy()
    separate = F.relu(F.conv2d(x, w, padding=1)).numpy()
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(separate))
    assert np.isnan(fused).any()


def test_bad_activation_arguments(device, rng):
    x, w = randn(rng, (1, 2, 5, 5), np.float32), randn(rng, (3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="activation must be None or one of 'relu', 'leaky_relu', "
                                         "'relu6', 'sigmoid', 'silu', 'hardswish', "
                                         "'hardsigmoid', got 'gelu'"):
        clconv.fused.conv2d(x, w, activation="gelu")
    with pytest.raises(ValueError, match="negative_slope must be non-negative, got -0.5"):
        clconv.fused.conv2d(x, w, activation="leaky_relu", negative_slope=-0.5)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        clconv.fused.conv2d(x, w, activation="leaky_relu", negative_slope="0.1")


def test_sequential_fuses_a_convolution_and_its_activation(device, rng, monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3), nn.LeakyReLU(0.1), nn.Flatten(), nn.Linear(24, 3),
                          nn.ReLU())
    calls = []
    fused_conv = conv.conv_activation
    monkeypatch.setattr(conv, "conv_activation",
                        lambda *args: calls.append(args[8]) or fused_conv(*args))
    x = randn(rng, (2, 3, 8, 8), np.float32)
    xt = clconv.tensor(x, requires_grad=True)
    y = model(xt)
    assert calls == ["relu", "leaky_relu"]  # (Linear + ReLU stays two ops)
    assert_close(y.numpy(), model.reference_forward(x), what="fused Sequential output")
    grad = randn(rng, y.shape, np.float32)
    y.backward(grad)
    want_dx, want_params = model.reference_backward(grad, x)
    assert_close(xt.grad.numpy(), want_dx, what="fused Sequential input gradient")
    for name, p in model.named_parameters():
        assert_close(p.grad.numpy(), want_params[name], what=f"fused Sequential d{name}")
