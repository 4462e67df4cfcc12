"""Every bad input gets a clear exception that names the op, the argument and the shapes."""
import numpy as np
import pytest

import clconv
import clconv.functional as F
from clconv import runtime

X4 = np.ones((2, 4, 8, 8), np.float32)
W = np.ones((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("call,error,pattern", [
    # wrong ndim
    (lambda: F.conv2d(np.ones((8, 8), np.float32), W), ValueError, r"conv2d: expected a 4D .* got input of shape \(8, 8\)"),
    (lambda: F.conv2d(X4, np.ones((6, 4, 3), np.float32)), ValueError, r"conv2d: weight must be 4D"),
    (lambda: F.conv1d(X4, W), ValueError, r"conv1d: expected a 3D"),
    (lambda: F.max_pool2d(np.ones((8,), np.float32), 2), ValueError, r"max_pool2d: expected a 4D"),
    (lambda: F.batch_norm(np.ones((3,), np.float32), None, None, training=True), ValueError, r"batch_norm: expected input of shape \(N, C, \.\.\.\)"),
    (lambda: F.instance_norm(np.ones((2, 3), np.float32)), ValueError, r"instance_norm: expected input"),
    # channels
    (lambda: F.conv2d(X4, np.ones((6, 3, 3, 3), np.float32)), ValueError, r"conv2d: input of shape \(2, 4, 8, 8\) has 4 channels but weight of shape \(6, 3, 3, 3\) expects 3"),
    (lambda: F.conv2d(X4, np.ones((6, 4, 3, 3), np.float32), groups=3), ValueError, r"in_channels \(4\) must be divisible by groups \(3\)"),
    (lambda: F.conv2d(X4, np.ones((5, 2, 3, 3), np.float32), groups=2), ValueError, r"out_channels \(5, weight \(5, 2, 3, 3\)\) must be divisible by groups \(2\)"),
    (lambda: F.conv2d(X4, W, groups=0), ValueError, r"groups must be a positive integer"),
    (lambda: F.conv2d(X4, W, bias=np.ones(5, np.float32)), ValueError, r"conv2d: bias must have shape \(6,\)"),
    (lambda: F.linear(np.ones((3, 5), np.float32), np.ones((4, 6), np.float32)), ValueError, r"linear: input of shape \(3, 5\) has 5 features but weight of shape \(4, 6\) expects 6"),
    (lambda: F.group_norm(X4, 3), ValueError, r"group_norm: num_groups \(3\) must be a positive divisor of the number of channels \(4"),
    # kernel too large, strides, dilations, padding
    (lambda: F.conv2d(np.ones((1, 4, 2, 2), np.float32), W), ValueError, r"conv2d: the \(dilated\) kernel \(3, 3\) is larger than the padded input \(2, 2\)"),
    (lambda: F.conv2d(X4, W, dilation=5), ValueError, r"kernel \(11, 11\) is larger than the padded input \(8, 8\)"),
    (lambda: F.conv2d(X4, W, stride=0), ValueError, r"conv2d: stride must be positive, got \(0, 0\)"),
    (lambda: F.conv2d(X4, W, stride=(1, -1)), ValueError, r"stride must be positive, got \(1, -1\)"),
    (lambda: F.conv2d(X4, W, dilation=0), ValueError, r"conv2d: dilation must be positive"),
    (lambda: F.conv2d(X4, W, padding=-1), ValueError, r"conv2d: padding must be non-negative, got \(-1, -1\)"),
    (lambda: F.conv2d(X4, W, padding="full"), ValueError, r"padding must be an int, a tuple, 'valid' or 'same'"),
    (lambda: F.conv2d(X4, W, padding=(1, 2, 3)), ValueError, r"padding must be an int or a tuple of 2 ints"),
    (lambda: F.conv2d(X4, W, stride=1.5), TypeError, r"stride must be an int or a tuple of 2 ints"),
    (lambda: F.conv2d(X4, W, stride=2, padding="same"), ValueError, r"padding='same' is not supported for strided convolutions"),
    (lambda: F.max_pool2d(X4, 0), ValueError, r"max_pool2d: kernel_size must be positive"),
    (lambda: F.max_pool2d(X4, 2, padding=2), ValueError, r"max_pool2d: padding \(2, 2\) must be at most half"),
    (lambda: F.max_pool2d(X4, 9), ValueError, r"max_pool2d: input of shape \(2, 4, 8, 8\) is too small"),
    (lambda: F.avg_pool2d(X4, 2, stride=-1), ValueError, r"avg_pool2d: stride must be positive"),
    (lambda: F.avg_pool2d(X4, 2, divisor_override=0), ValueError, r"divisor_override must be a non-zero int"),
    (lambda: F.adaptive_avg_pool2d(X4, 0), ValueError, r"adaptive_avg_pool2d: output_size must be positive"),
    # normalization arguments
    (lambda: F.batch_norm(X4, np.zeros(3, np.float32), np.ones(4, np.float32)), ValueError, r"batch_norm: running_mean must have shape \(4,\) .* got \(3,\)"),
    (lambda: F.batch_norm(X4, np.zeros(4, np.float32), np.ones((4, 1), np.float32)), ValueError, r"batch_norm: running_var must have shape \(4,\)"),
    (lambda: F.batch_norm(X4, None, None, weight=np.ones(2, np.float32)), ValueError, r"batch_norm: weight must have shape \(4,\)"),
    (lambda: F.batch_norm(X4, None, None), ValueError, r"running_mean and running_var are required when training=False"),
    (lambda: F.batch_norm(np.ones((1, 3), np.float32), None, None, training=True), ValueError, r"expected more than 1 value per channel when training"),
    (lambda: F.instance_norm(X4, use_input_stats=False), ValueError, r"running_mean and running_var are required when use_input_stats=False"),
    (lambda: F.layer_norm(X4, (8, 7)), ValueError, r"layer_norm: normalized_shape \(8, 7\) must be a non-empty suffix of the input's shape \(2, 4, 8, 8\)"),
    (lambda: F.layer_norm(X4, 8, weight=np.ones(7, np.float32)), ValueError, r"layer_norm: weight must have shape \(8,\)"),
    (lambda: F.add(np.ones((2, 3), np.float32), np.ones((4,), np.float32)), ValueError, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    # dtypes and types
    (lambda: F.conv2d(X4.astype(np.float16), W), TypeError, r"conv2d: weight has dtype float32 but input has float16"),
    (lambda: F.conv2d(X4.astype(np.complex64), W), TypeError, r"conv2d: input has dtype complex64"),
    (lambda: F.relu(np.ones(3, np.int32)), TypeError, r"relu: input has dtype int32"),
    (lambda: F.conv2d(X4, W.astype(np.float64)), TypeError, r"conv2d: weight has dtype float64 but input has float32"),
    (lambda: F.conv2d("image", W), TypeError, r"conv2d: input must be a clconv.Tensor or a NumPy array, got str"),
    (lambda: F.batch_norm(X4, None, None, training=True, momentum=None), TypeError, r"batch_norm: momentum must be a real number, got None"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_raises(device, call, error, pattern):
    if "float64" in pattern and not device.has_fp64:
        pytest.skip(f"{device.name} has no cl_khr_fp64: float64 is refused before it is mixed")
    with pytest.raises(error, match=pattern):
        call()


def test_tensors_on_different_contexts(device):
    other = runtime.Device(device.cl_device)  # same hardware, another context
    a = clconv.tensor(X4)
    b = clconv.tensor(W, device=other)
    with pytest.raises(ValueError, match=r"conv2d: weight is on .* but input is on .*share a device"):
        F.conv2d(a, b)


def test_allocation_larger_than_device_allows(device):
    too_many = device.max_alloc_bytes // 4 + 1
    with pytest.raises(MemoryError, match=rf"needs {too_many * 4:,} bytes, more than .* allows"):
        clconv.empty((too_many,))


def test_negative_dimensions(device):
    with pytest.raises(ValueError, match=r"negative dimensions are not allowed: \(3, -1\)"):
        clconv.empty((3, -1))


def test_float64_on_a_device_without_fp64(device, monkeypatch):
    monkeypatch.setattr(device, "has_fp64", False)
    with pytest.raises(TypeError, match="float64 is not supported on .* lacks cl_khr_fp64"):
        clconv.tensor(np.ones(3))
