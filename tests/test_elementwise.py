"""relu, leaky_relu, add and linear against the reference."""
import numpy as np
import pytest

import clconv
import clconv.functional as F
from helpers import check_op, conv_weight, randn

SHAPES = [(1,), (7,), (3, 5), (2, 3, 4, 5), (1, 1, 1, 1, 1), (1031,)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu_and_leaky_relu(device, rng, shape, dtype):
    x = randn(rng, shape, dtype)
    check_op("relu", x)
    check_op("leaky_relu", x)
    check_op("leaky_relu", x, 0.3)


def test_relu_keeps_nan_and_inf(device):
    x = np.array([np.nan, -np.inf, np.inf, -1, 0, 2], np.float32)
    y = check_op("relu", x).numpy()
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == np.inf
    assert np.isnan(check_op("leaky_relu", x).numpy()[0])


def test_inplace(device, rng):
    x = randn(rng, (4, 5), np.float32)
    t = clconv.tensor(x)
    out = F.relu(t, inplace=True)
    assert out is t
    np.testing.assert_array_equal(t.numpy(), np.maximum(x, 0))
    host = x.copy()
    F.leaky_relu(host, 0.5, inplace=True)
    np.testing.assert_allclose(host, np.where(x < 0, 0.5 * x, x), rtol=1e-6)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3, 4), (3, 4)), ((2, 3, 4, 5), (3, 1, 1)), ((2, 3, 4, 5), (5,)), ((4, 1), (1, 6)),
    ((1,), (2, 3)), ((2, 1, 4), (3, 1))])
def test_add(device, rng, a_shape, b_shape):
    check_op("add", randn(rng, a_shape, np.float32), randn(rng, b_shape, np.float32))


def test_tensor_plus_tensor(device, rng):
    a, b = randn(rng, (3, 4), np.float32), randn(rng, (3, 4), np.float32)
    np.testing.assert_allclose((clconv.tensor(a) + clconv.tensor(b)).numpy(), a + b, rtol=1e-6)


@pytest.mark.parametrize("x_shape,out_features", [
    ((1, 1), 1), ((7, 5), 9), ((4, 64), 10), ((2, 3, 17), 33), ((5,), 3), ((65, 130), 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(device, rng, x_shape, out_features, bias, dtype):
    w = conv_weight(rng, (out_features, x_shape[-1]), dtype)
    b = randn(rng, (out_features,), dtype) if bias else None
    check_op("linear", randn(rng, x_shape, dtype), w, b)


def test_outputs_are_poisoned_before_kernels_run(device):
    # The guard every other test relies on: a fresh tensor holds NaN, not stale or zero memory.
    assert np.isnan(clconv.empty((5, 3)).numpy()).all()
