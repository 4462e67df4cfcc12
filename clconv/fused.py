"""Fused ops: a convolution and its activation in one kernel.

    y = clconv.fused.conv2d(x, w, b, padding=1, activation="relu")

equals F.relu(F.conv2d(x, w, b, padding=1)), with the activation applied in the convolution's
epilogue (after the bias, as each output is stored) instead of a second pass over y; the
backward applies the activation's gradient (from y's sign) before the convolution's. The
arguments are conv{1,2,3}d's plus `activation` (None, "relu" or "leaky_relu") and
`negative_slope` (leaky_relu's, non-negative). `nn.Sequential` calls these for a ConvNd module
followed by ReLU or LeakyReLU. Check mode and float16 storage work as for clconv.functional.
"""
from . import reference as R
from .check_mode import checked
from .ops import conv as _conv
from .ops.storage import half_storage

__all__ = ["conv1d", "conv2d", "conv3d"]


def _fused(nd: int):
    def run(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
            activation="relu", negative_slope=0.01):
        return _conv.conv_activation(nd, input, weight, bias, stride, padding, dilation, groups,
                               activation, negative_slope)
    run.__name__ = run.__qualname__ = f"conv{nd}d"
    run.__doc__ = (f"activation(conv{nd}d(input, weight, bias, stride, padding, dilation, "
                   "groups)), the activation fused into the convolution (see clconv.fused).")
    return checked(half_storage(run), getattr(R, f"fused_conv{nd}d"))


conv1d, conv2d, conv3d = _fused(1), _fused(2), _fused(3)
