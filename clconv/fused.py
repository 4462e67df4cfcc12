"""Fused ops: a convolution and its activation in one kernel.

    y = clconv.fused.conv2d(x, w, b, padding=1, activation="relu")

equals F.relu(F.conv2d(x, w, b, padding=1)), with the activation applied in the convolution's
epilogue (after the bias, as each output is stored) instead of a second pass over y; the
backward applies the activation's gradient before the convolution's. The arguments are
conv{1,2,3}d's plus `activation` and `negative_slope` (leaky_relu's, non-negative). The
activations: None, "relu", "leaky_relu", "relu6", "sigmoid", "silu", "hardswish",
"hardsigmoid" (PyTorch's functions of those names). relu's and leaky_relu's gradients are read
from y's sign; the others' need the convolution's output before the activation, so where autograd
records (an argument requires grad) they run as a convolution and then the activation: fused
speed is for inference. `nn.Sequential` calls these for a ConvNd module followed by ReLU,
LeakyReLU, ReLU6, Sigmoid, SiLU, Hardswish or Hardsigmoid. Check mode and float16 storage work as for clconv.functional;
the op table's entries are fused_conv1d/2d/3d.
"""
from .optable import OPS

__all__ = ["conv1d", "conv2d", "conv3d"]


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           activation="relu", negative_slope=0.01):
    """activation(conv1d(input, weight, bias, stride, padding, dilation, groups)) in one kernel."""
    return OPS["fused_conv1d"].function(input, weight, bias, stride, padding, dilation, groups,
                                        activation, negative_slope)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           activation="relu", negative_slope=0.01):
    """activation(conv2d(input, weight, bias, stride, padding, dilation, groups)) in one kernel."""
    return OPS["fused_conv2d"].function(input, weight, bias, stride, padding, dilation, groups,
                                        activation, negative_slope)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           activation="relu", negative_slope=0.01):
    """activation(conv3d(input, weight, bias, stride, padding, dilation, groups)) in one kernel."""
    return OPS["fused_conv3d"].function(input, weight, bias, stride, padding, dilation, groups,
                                        activation, negative_slope)


for _function in (conv1d, conv2d, conv3d):
    _function.__wrapped__ = OPS[f"fused_{_function.__name__}"].function
del _function
