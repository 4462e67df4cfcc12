"""The ops, with the names, signatures and semantics of `torch.nn.functional`.

    import clconv.functional as F
    y = F.conv2d(x, w, b, padding=1)

Each accepts Tensors or NumPy arrays (copied to the device of the first Tensor argument, else to
the default device) and returns Tensors. float16 arguments are stored as float16 and computed on
in float32 (clconv.ops.storage). In check mode (`clconv.checking()`) each also runs its
`clconv.reference` twin and raises on a mismatch. Each def below calls its entry of the op table
(clconv.optable), which holds the device implementation (clconv.ops) and the reference.
"""
from . import tensors
from .optable import FUNCTIONAL, OPS


def _op(function):
    """Marks `function` as the public face of its op table entry (clconv.explain and
    inspect.unwrap follow __wrapped__ to the implementation)."""
    function.__wrapped__ = OPS[function.__name__].function
    return function


# --- convolution ---------------------------------------------------------------------------

@_op
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1D convolution of input (N, C_in, L) or (C_in, L) with weight (C_out, C_in/groups, K).

    padding is an int, a tuple, 'valid' or 'same' (stride 1 only); output length
    floor((L + 2*padding - dilation*(K - 1) - 1) / stride) + 1."""
    return OPS["conv1d"].function(input, weight, bias, stride, padding, dilation, groups)


@_op
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2D convolution of input (N, C_in, H, W) or (C_in, H, W) with weight
    (C_out, C_in/groups, K_H, K_W) and an optional bias (C_out,).

    stride, padding and dilation are ints or pairs; padding may be 'valid' or 'same' (stride 1
    only). Output size per dimension: floor((H + 2*padding - dilation*(K - 1) - 1) / stride) + 1.
    """
    return OPS["conv2d"].function(input, weight, bias, stride, padding, dilation, groups)


@_op
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3D convolution of input (N, C_in, D, H, W) or (C_in, D, H, W) with weight
    (C_out, C_in/groups, K_D, K_H, K_W); options as conv2d's, per dimension."""
    return OPS["conv3d"].function(input, weight, bias, stride, padding, dilation, groups)


@_op
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transposed 1D convolution (the adjoint of conv1d) of (N, C_in, L) with weight
    (C_in, C_out/groups, K). Output length (L - 1)*stride - 2*padding + dilation*(K - 1) +
    output_padding + 1; output_padding below stride."""
    return OPS["conv_transpose1d"].function(input, weight, bias, stride, padding,
                                            output_padding, groups, dilation)


@_op
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transposed 2D convolution of (N, C_in, H, W) with weight
    (C_in, C_out/groups, K_H, K_W); options per dimension as conv_transpose1d's."""
    return OPS["conv_transpose2d"].function(input, weight, bias, stride, padding,
                                            output_padding, groups, dilation)


@_op
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transposed 3D convolution of (N, C_in, D, H, W) with weight
    (C_in, C_out/groups, K_D, K_H, K_W)."""
    return OPS["conv_transpose3d"].function(input, weight, bias, stride, padding,
                                            output_padding, groups, dilation)


# --- pooling -------------------------------------------------------------------------------

@_op
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Maximum over windows of (N, C, L) or (C, L); stride defaults to kernel_size. With
    return_indices, also the int64 position of each maximum in its (n, c) row."""
    return OPS["max_pool1d"].function(input, kernel_size, stride, padding, dilation, ceil_mode,
                                      return_indices)


@_op
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Maximum over windows of (N, C, H, W) or (C, H, W); padding never wins and NaN wins over
    any number. With return_indices, also the int64 position of each maximum in its flattened
    (n, c) plane (as max_unpool2d takes it)."""
    return OPS["max_pool2d"].function(input, kernel_size, stride, padding, dilation, ceil_mode,
                                      return_indices)


@_op
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Maximum over windows of (N, C, D, H, W) or (C, D, H, W); as max_pool2d per dimension."""
    return OPS["max_pool3d"].function(input, kernel_size, stride, padding, dilation, ceil_mode,
                                      return_indices)


@_op
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of (N, C, L) or (C, L); count_include_pad counts zero padding in the
    divisor."""
    return OPS["avg_pool1d"].function(input, kernel_size, stride, padding, ceil_mode,
                                      count_include_pad)


@_op
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over windows of (N, C, H, W) or (C, H, W): the window's sum divided by
    divisor_override, else by its size within the padded input (count_include_pad) or within
    the input."""
    return OPS["avg_pool2d"].function(input, kernel_size, stride, padding, ceil_mode,
                                      count_include_pad, divisor_override)


@_op
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over windows of (N, C, D, H, W) or (C, D, H, W); as avg_pool2d per dimension."""
    return OPS["avg_pool3d"].function(input, kernel_size, stride, padding, ceil_mode,
                                      count_include_pad, divisor_override)


@_op
def adaptive_avg_pool1d(input, output_size):
    """Mean pooling to output_size: output o averages input[floor(o*L/n) : ceil((o+1)*L/n)]."""
    return OPS["adaptive_avg_pool1d"].function(input, output_size)


@_op
def adaptive_avg_pool2d(input, output_size):
    """Mean pooling to output_size (an int, or a pair whose None entries keep the input's
    size), each output averaging the windows adaptive_avg_pool1d's rule gives per dimension."""
    return OPS["adaptive_avg_pool2d"].function(input, output_size)


@_op
def adaptive_avg_pool3d(input, output_size):
    """Mean pooling to output_size (an int or a triple); as adaptive_avg_pool2d."""
    return OPS["adaptive_avg_pool3d"].function(input, output_size)


@_op
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The maximum over adaptive windows to output_size (None entries keep the input's size; 1
    is global max pooling); with return_indices also each maximum's int64 position in its
    plane."""
    return OPS["adaptive_max_pool2d"].function(input, output_size, return_indices)


@_op
def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels)^beta (AlexNet's)."""
    return OPS["local_response_norm"].function(input, size, alpha, beta, k)


@_op
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resampling of (N, C, *spatial) to size or by scale_factor: mode 'nearest', 'linear',
    'bilinear', 'trilinear' (align_corners as in PyTorch) or 'area'."""
    return OPS["interpolate"].function(input, size, scale_factor, mode, align_corners,
                                       recompute_scale_factor, antialias)


# --- normalization -------------------------------------------------------------------------

@_op
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """(x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c over channel axis 1. In training the
    statistics come from the batch and the running ones are updated in place (unbiased
    variance); in evaluation the running statistics are used."""
    return OPS["batch_norm"].function(input, running_mean, running_var, weight, bias, training,
                                      momentum, eps)


@_op
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Each sample normalized over its trailing normalized_shape dimensions; weight and bias
    have that shape."""
    return OPS["layer_norm"].function(input, normalized_shape, weight, bias, eps)


@_op
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Each (sample, channel) plane normalized by its own statistics (use_input_stats) or by
    the running ones; running buffers, where given, move towards the batch's average."""
    return OPS["instance_norm"].function(input, running_mean, running_var, weight, bias,
                                         use_input_stats, momentum, eps)


@_op
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Each sample's channels in num_groups groups, each group normalized by its own
    statistics, then the per-channel weight and bias."""
    return OPS["group_norm"].function(input, num_groups, weight, bias, eps)


# --- activations, linear, losses ------------------------------------------------------------

@_op
def relu(input, inplace=False):
    """max(x, 0) elementwise; NaN stays NaN. inplace writes the result into input."""
    return OPS["relu"].function(input, inplace)


@_op
def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x >= 0, negative_slope * x elsewhere; inplace writes the result into input."""
    return OPS["leaky_relu"].function(input, negative_slope, inplace)


@_op
def sigmoid(input):
    """1 / (1 + exp(-x)) elementwise."""
    return OPS["sigmoid"].function(input)


@_op
def tanh(input):
    """tanh(x) elementwise."""
    return OPS["tanh"].function(input)


@_op
def silu(input, inplace=False):
    """x * sigmoid(x) elementwise (the swish); inplace writes the result into input."""
    return OPS["silu"].function(input, inplace)


@_op
def hardsigmoid(input, inplace=False):
    """0 for x <= -3, 1 for x >= 3, x / 6 + 1/2 between; inplace writes into input."""
    return OPS["hardsigmoid"].function(input, inplace)


@_op
def hardswish(input, inplace=False):
    """x * hardsigmoid(x): 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between."""
    return OPS["hardswish"].function(input, inplace)


@_op
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val]; NaN stays NaN."""
    return OPS["hardtanh"].function(input, min_val, max_val, inplace)


@_op
def relu6(input, inplace=False):
    """min(max(x, 0), 6) elementwise: hardtanh(x, 0, 6)."""
    return OPS["relu6"].function(input, inplace)


@_op
def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha * (exp(x) - 1) elsewhere."""
    return OPS["elu"].function(input, alpha, inplace)


@_op
def clamp(input, min=None, max=None):
    """x clamped to [min, max] elementwise; either bound may be None, not both (min > max gives
    max). The gradient passes where min <= x <= max."""
    return OPS["clamp"].function(input, min, max)


@_op
def gelu(input, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF; approximate='tanh' gives
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return OPS["gelu"].function(input, approximate)


@_op
def dropout(input, p=0.5, training=True, inplace=False):
    """Each element zeroed with probability p and the rest scaled by 1 / (1 - p) when training,
    the identity otherwise; the mask is seeded by clconv.manual_seed and the same on every
    device."""
    return OPS["dropout"].function(input, p, training, inplace)


# --- pointwise math ------------------------------------------------------------------------

@_op
def erf(input):
    """The error function."""
    return OPS["erf"].function(input)


@_op
def exp(input):
    """e^x elementwise."""
    return OPS["exp"].function(input)


@_op
def log(input):
    """The natural logarithm elementwise."""
    return OPS["log"].function(input)


@_op
def sqrt(input):
    """The square root elementwise."""
    return OPS["sqrt"].function(input)


@_op
def abs(input):  # noqa: A001 (PyTorch's name)
    """|x| elementwise (gradient sign(x), 0 at 0)."""
    return OPS["abs"].function(input)


@_op
def floor(input):
    """Rounded down elementwise (zero gradient)."""
    return OPS["floor"].function(input)


@_op
def ceil(input):
    """Rounded up elementwise (zero gradient)."""
    return OPS["ceil"].function(input)


# --- arithmetic (NumPy/PyTorch broadcasting; a Python number takes the tensor's dtype) ----------

@_op
def add(input, other):
    """input + other with NumPy/PyTorch broadcasting."""
    return OPS["add"].function(input, other)


@_op
def sub(input, other):
    """input - other with broadcasting."""
    return OPS["sub"].function(input, other)


@_op
def mul(input, other):
    """input * other with broadcasting."""
    return OPS["mul"].function(input, other)


@_op
def div(input, other):
    """input / other with broadcasting (true division; IEEE results for x / 0)."""
    return OPS["div"].function(input, other)


@_op
def maximum(input, other):
    """The larger of the two elementwise with broadcasting (NaN where either is NaN)."""
    return OPS["maximum"].function(input, other)


@_op
def minimum(input, other):
    """The smaller of the two elementwise with broadcasting (NaN where either is NaN)."""
    return OPS["minimum"].function(input, other)


@_op
def matmul(input, other):
    """The matrix product with torch.matmul's rules: 1-D operands are vectors; the dimensions
    before the last two are batch dimensions and broadcast."""
    return OPS["matmul"].function(input, other)


# --- shapes (reshape, flatten, squeeze, unsqueeze are views; the others copy) -------------------

@_op
def reshape(input, shape):
    """The elements in row-major order under another shape; one entry may be -1."""
    return OPS["reshape"].function(input, shape)


@_op
def flatten(input, start_dim=0, end_dim=-1):
    """Dimensions start_dim .. end_dim merged into one."""
    return OPS["flatten"].function(input, start_dim, end_dim)


@_op
def squeeze(input, dim=None):
    """Without its size-1 dimensions: all of them, or those among dim (an int or a tuple)."""
    return OPS["squeeze"].function(input, dim)


@_op
def unsqueeze(input, dim):
    """With a size-1 dimension inserted at dim (-ndim - 1 <= dim <= ndim)."""
    return OPS["unsqueeze"].function(input, dim)


@_op
def permute(input, dims):
    """The dimensions reordered: output dimension i is input dimension dims[i]."""
    return OPS["permute"].function(input, dims)


@_op
def transpose(input, dim0, dim1):
    """Dimensions dim0 and dim1 swapped."""
    return OPS["transpose"].function(input, dim0, dim1)


@_op
def cat(tensors, dim=0):
    """The tensors joined along dim; every other dimension must agree (1-D empty tensors are
    skipped)."""
    return OPS["cat"].function(tensors, dim)


concat = cat


@_op
def pad(input, pad, mode="constant", value=None):
    """input padded by pad = (before, after) pairs, the last dimension first. mode 'constant'
    (value, 0 by default; negative pads crop), 'reflect', 'replicate' or 'circular' (those
    three on the last one to three dimensions)."""
    return OPS["pad"].function(input, pad, mode, value)


@_op
def broadcast_to(input, size):
    """input repeated along its size-1 (and missing leading) dimensions to size (-1 keeps a
    dimension); a copy."""
    return OPS["broadcast_to"].function(input, size)


@_op
def narrow(input, dim, start, length):
    """Elements start .. start + length - 1 of dimension dim (start may be negative), a copy."""
    return OPS["narrow"].function(input, dim, start, length)


# --- reductions -----------------------------------------------------------------------------

@_op
def sum(input, dim=None, keepdim=False):  # noqa: A001 (PyTorch's name)
    """The sum over dim (an int, a tuple, or None for every dimension)."""
    return OPS["sum"].function(input, dim, keepdim)


@_op
def mean(input, dim=None, keepdim=False):
    """The mean over dim (an int, a tuple, or None for every dimension)."""
    return OPS["mean"].function(input, dim, keepdim)


@_op
def softmax(input, dim=None):
    """exp(x) / sum(exp(x)) over dim (PyTorch's legacy choice of dim when None)."""
    return OPS["softmax"].function(input, dim)


@_op
def log_softmax(input, dim=None):
    """x - log(sum(exp(x))) over dim."""
    return OPS["log_softmax"].function(input, dim)


@_op
def linear(input, weight, bias=None):
    """input @ weight.T + bias over input's last dimension; weight is (out, in)."""
    return OPS["linear"].function(input, weight, bias)


@_op
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy between logits (N, C) and int64 class indices (N,), with optional class
    weights, ignore_index and reduction 'mean', 'sum' or 'none', as PyTorch's."""
    return OPS["cross_entropy"].function(input, target, weight, ignore_index, reduction,
                                         label_smoothing)


@_op
def mse_loss(input, target, reduction="mean"):
    """Mean squared error between input and target (same shape); reduction 'mean', 'sum' or
    'none'."""
    return OPS["mse_loss"].function(input, target, reduction)


__all__ = list(FUNCTIONAL)
tensors.provide("add", add)  # Tensor's +
