"""clconv's specification: every op in plain NumPy, computed in float64.

Each function has the name, signature and semantics of its `clconv.functional` twin (and of
PyTorch's `torch.nn.functional`), takes and returns NumPy arrays, and returns results in the
input's dtype. Each `<op>_backward(grad_output, *forward arguments)` returns the gradients of the
op's differentiable arguments (None for an absent bias), in the order the op takes them. The code
favours being read over being fast: it is the oracle the kernels are tested against.

One module per op family, each forward beside its backward, each with its textbook formulas:

    conv         conv1d/2d/3d, fused_conv1d/2d/3d,    output size, parameters, multiply-adds
                 conv_transpose1d/2d/3d
    pool         max/avg/adaptive_avg_pool1d/2d/3d,   window output size
                 adaptive_max_pool2d, interpolate
    norm         batch/layer/instance/group_norm,     the statistics each normalizes by
                 local_response_norm
    elementwise  relu, leaky_relu, add, sub, mul, div, maximum, minimum, sigmoid, tanh, silu,
                 hardsigmoid, hardswish, hardtanh, relu6, elu, clamp, gelu, erf, exp, log,
                 sqrt, abs, floor, ceil, dropout (its mask: dropout_mask)
    linear       linear, matmul                       parameters, multiply-adds
    shape        reshape, flatten, squeeze, unsqueeze, permute, transpose, cat, narrow,
                 broadcast_to, pad
    reduction    sum, mean, softmax, log_softmax
    loss         cross_entropy, mse_loss
    optim        sgd_step, adam_step                  clconv.optim's updates

It imports nothing from clconv but the shape rules (clconv.shapes) the device ops share.
"""
from .conv import (conv1d, conv1d_backward, conv2d, conv2d_backward, conv3d, conv3d_backward,
                   conv_transpose1d, conv_transpose1d_backward, conv_transpose2d,
                   conv_transpose2d_backward, conv_transpose3d, conv_transpose3d_backward,
                   fused_conv1d, fused_conv1d_backward, fused_conv2d, fused_conv2d_backward,
                   fused_conv3d, fused_conv3d_backward)
from .elementwise import (abs, abs_backward, add, add_backward, ceil, ceil_backward, clamp,
                          clamp_backward, div, div_backward, dropout, dropout_backward,
                          dropout_keyed, dropout_mask, erf, erf_backward, exp, exp_backward,
                          floor, floor_backward, gelu, gelu_backward, log, log_backward, maximum,
                          maximum_backward, minimum, minimum_backward, mul, mul_backward, sqrt,
                          sqrt_backward, sub, sub_backward, elu, elu_backward, hardsigmoid, hardsigmoid_backward,
                          hardswish, hardswish_backward, hardtanh, hardtanh_backward,
                          leaky_relu, leaky_relu_backward, relu, relu6, relu6_backward,
                          relu_backward, sigmoid, sigmoid_backward, silu, silu_backward, tanh,
                          tanh_backward)
from .linear import linear, linear_backward, matmul, matmul_backward
from .reduction import (log_softmax, log_softmax_backward, mean, mean_backward, softmax,
                        softmax_backward, sum, sum_backward)
from .shape import (broadcast_to, broadcast_to_backward, cat, cat_backward, pad, pad_backward, flatten, flatten_backward, narrow, narrow_backward,
                    permute, permute_backward,
                    reshape, reshape_backward, squeeze, squeeze_backward, transpose,
                    transpose_backward, unsqueeze, unsqueeze_backward)
from .loss import cross_entropy, cross_entropy_backward, mse_loss, mse_loss_backward
from .norm import (local_response_norm, local_response_norm_backward,
                   batch_norm, batch_norm_backward, group_norm, group_norm_backward,
                   instance_norm, instance_norm_backward, layer_norm, layer_norm_backward)
from .optim import adam_step, sgd_step
from .pool import (interpolate, interpolate_backward, adaptive_max_pool2d,
                   adaptive_max_pool2d_backward, adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_avg_pool2d,
                   adaptive_avg_pool2d_backward, adaptive_avg_pool3d, adaptive_avg_pool3d_backward,
                   avg_pool1d, avg_pool1d_backward, avg_pool2d, avg_pool2d_backward, avg_pool3d,
                   avg_pool3d_backward, max_pool1d, max_pool1d_backward, max_pool2d,
                   max_pool2d_backward, max_pool3d, max_pool3d_backward)

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "adaptive_max_pool2d", "interpolate", "batch_norm",
    "local_response_norm", "layer_norm", "instance_norm", "group_norm", "relu",
    "leaky_relu", "linear", "add", "cross_entropy", "mse_loss", "sigmoid", "tanh", "silu",
    "hardsigmoid", "hardswish", "hardtanh", "relu6", "elu", "clamp", "gelu", "sub", "mul", "div",
    "matmul", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "cat", "narrow", "broadcast_to", "pad", "maximum", "minimum", "erf",
    "exp", "log", "sqrt", "abs", "floor", "ceil", "dropout",
    "sum", "mean", "softmax", "log_softmax",
    "fused_conv1d", "fused_conv2d", "fused_conv3d",
]
__all__ += [f"{name}_backward" for name in __all__] + ["sgd_step", "adam_step", "dropout_mask",
                                                      "dropout_keyed"]
