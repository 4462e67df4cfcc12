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


# binary_grid takes broadcasts that merge into at most three dimensions (a squeeze-excitation's
# (N, C, H, W) * (N, C, 1, 1) is (N*C, H*W) * (N*C, 1)); binary_broadcast the rest.
@pytest.mark.parametrize("a_shape,b_shape,kernel", [
    ((2, 3, 4, 5), (2, 3, 1, 1), "binary_grid"), ((2, 3, 4, 5), (1, 3, 1, 1), "binary_grid"),
    ((3, 1, 5), (1, 4, 1), "binary_grid"), ((7, 1, 1), (1, 1, 9), "binary_grid"),
    ((2, 3, 70), (), "binary_grid"), ((1,), (7, 3), "binary_grid"),
    ((2, 3, 4, 5), (2, 1, 4, 1), "binary_broadcast"),
    ((2, 1, 3, 1, 2), (1, 2, 1, 3, 1), "binary_broadcast")], ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_broadcast_kernels(device, rng, dtype, a_shape, b_shape, kernel, op):
    a, b = randn(rng, a_shape, dtype), randn(rng, b_shape, dtype)
    with clconv.runtime.record_launches(device) as made:
        check_op(op, a, b, case=f"{a_shape} {b_shape}")
        check_op(op, b, a, case=f"{b_shape} {a_shape}")
    names = {k.function_name for k, *_ in made.launches}
    assert kernel in names, names


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


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_is_the_seeded_hash_and_its_gradient_uses_it(device, rng, dtype, p):
    from clconv import reference as R
    from clconv.testing import assert_close
    x = randn(rng, (4, 7, 33), dtype)
    clconv.manual_seed(1234)
    key = np.random.default_rng(1234).integers(0, 2**32)  # the key stream's first
    leaf = clconv.tensor(x, requires_grad=True)
    y = F.dropout(leaf, p)
    assert_close(y.numpy(), R.dropout_keyed(x, p, key), what="dropout's kept elements")
    mask = R.dropout_mask(x.shape, p, key)
    kept = mask.mean()
    spread = 4 * np.sqrt(p * (1 - p) / x.size)  # four standard deviations of the keep rate
    assert abs(kept - (1 - p)) < spread, f"kept {kept:.3f} of the elements, expected {1 - p}"
    grad = randn(rng, x.shape, dtype)
    y.backward(grad)
    assert_close(leaf.grad.numpy(), R.dropout_keyed(grad, p, key), what="dropout's gradient")
    # The next call takes the next key: another mask; reseeding repeats the first.
    again = F.dropout(x, p).numpy()
    assert not np.array_equal(again != 0, y.numpy() != 0)
    clconv.manual_seed(1234)
    assert np.array_equal(F.dropout(x, p).numpy(), y.numpy())


def test_dropout_is_the_identity_in_eval_and_checks_its_arguments(device, rng):
    x = randn(rng, (3, 5), np.float32)
    assert np.array_equal(F.dropout(x, 0.5, training=False).numpy(), x)
    with pytest.raises(ValueError, match="dropout: p must be in"):
        F.dropout(x, 1.5)
    with pytest.raises(TypeError, match="dropout: training"):
        F.dropout(x, 0.5, training="yes")
    from clconv import nn
    layer = nn.Dropout(0.5)
    assert np.array_equal(layer.eval()(x).numpy(), x)
    assert (layer.train()(x).numpy() == 0).any()


@pytest.mark.parametrize("x_shape,shape,kernel", [
    ((8, 16, 9, 9), (16, 1, 1), "row_sum"),      # a bias's broadcast: before and after the kept
    ((8, 16, 9, 9), (8, 16, 1, 1), "row_sum"),   # a gate's: trailing dimensions
    ((100, 70), (70,), "row_sum"),               # leading dimensions
    ((5, 70), (), "row_sum"),                    # everything
    ((8, 16, 9, 9), (8, 1, 9, 9), "sum_to_shape"),  # kept blocks on both sides
    ((2, 3, 64), (3, 64), "sum_to_shape"),       # 2 elements per result: a work-item each
])
def test_broadcast_gradient_sums(device, rng, x_shape, shape, kernel):
    """add's backward sums the gradient over the broadcast dimensions: a work-group per result
    (row_sum) where the summed dimensions surround one kept block and each result sums a
    group's worth, else a work-item per result (sum_to_shape); both against NumPy in float64."""
    from clconv.ops.elementwise import sum_to_shape
    from clconv.testing import assert_close
    x = randn(rng, x_shape, np.float32)
    with clconv.runtime.record_launches(device) as made:
        out = sum_to_shape(clconv.tensor(x), shape)
    assert kernel in {k.function_name for k, *_ in made.launches}
    padded = (1,) * (len(x_shape) - len(shape)) + shape
    axes = tuple(i for i, (a, b) in enumerate(zip(x_shape, padded)) if a != 1 and b == 1)
    want = x.astype(np.float64).sum(axis=axes, keepdims=True).reshape(shape)
    assert out.shape == shape
    assert_close(out.numpy(), want.astype(np.float32), what=f"sum of {x_shape} to {shape}")
