"""The autograd engine: accumulation, graph walking, no_grad, in-place safety."""
import numpy as np
import pytest

import clconv
import clconv.functional as F
import clconv.reference as R
from clconv.testing import assert_close
from helpers import randn


def test_gradients_accumulate_across_backward_calls(device, rng):
    x = clconv.tensor(randn(rng, (3, 4), np.float32), requires_grad=True)
    g = randn(rng, (3, 4), np.float32)
    F.leaky_relu(x, 0.5).backward(g)
    first = x.grad.numpy()
    F.leaky_relu(x, 0.5).backward(g)
    assert_close(x.grad.numpy(), 2 * first)


def test_a_tensor_used_twice_gets_both_gradients(device, rng):
    a = randn(rng, (2, 5), np.float32)
    x = clconv.tensor(a, requires_grad=True)
    y = F.add(F.relu(x), x)  # d/dx = relu'(x) + 1
    y.backward(np.ones((2, 5), np.float32))
    assert_close(x.grad.numpy(), (a > 0) + 1.0)


def test_chain_through_reshape_and_flatten(device, rng):
    a = randn(rng, (2, 3, 4, 4), np.float32)
    w = randn(rng, (5, 12), np.float32)
    x = clconv.tensor(a, requires_grad=True)
    pooled = F.max_pool2d(x, 2)                      # (2, 3, 2, 2)
    out = F.linear(pooled.flatten(1), w)             # (2, 5)
    loss = F.mse_loss(out, np.zeros((2, 5), np.float32))
    loss.backward()
    # The same chain through the reference backward functions.
    p = R.max_pool2d(a, 2)
    o = R.linear(p.reshape(2, -1), w)
    g_o = R.mse_loss_backward(np.float32(1), o, np.zeros((2, 5), np.float32))[0]
    g_p = R.linear_backward(g_o, p.reshape(2, -1), w)[0].reshape(p.shape)
    assert_close(x.grad.numpy(), R.max_pool2d_backward(g_p, a, 2))


def test_scalar_backward_needs_no_grad_but_others_do(device, rng):
    x = clconv.tensor(randn(rng, (3,), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"grad must be given for a non-scalar output \(shape \(3,\)\)"):
        F.relu(x).backward()
    with pytest.raises(ValueError, match=r"grad of shape \(2,\) does not match the tensor's shape \(3,\)"):
        F.relu(x).backward(np.ones(2, np.float32))
    F.mse_loss(x, np.zeros(3, np.float32)).backward()
    assert x.grad.shape == (3,)


def test_no_grad_records_nothing(device, rng):
    x = clconv.tensor(randn(rng, (3,), np.float32), requires_grad=True)
    with clconv.no_grad():
        y = F.relu(x)
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward(np.ones(3, np.float32))


def test_only_inputs_that_require_grad_get_gradients(device, rng):
    x = randn(rng, (2, 3, 5, 5), np.float32)
    w = clconv.tensor(randn(rng, (4, 3, 3, 3), np.float32), requires_grad=True)
    y = F.conv2d(x, w)
    y.backward(np.ones(y.shape, np.float32))
    assert w.grad is not None and w.grad.shape == (4, 3, 3, 3)


def test_inplace_change_of_a_saved_tensor_is_caught(device, rng):
    x = clconv.tensor(randn(rng, (2, 3, 5, 5), np.float32))  # no grad, but saved for dweight
    w = clconv.tensor(randn(rng, (4, 3, 3, 3), np.float32), requires_grad=True)
    y = F.conv2d(x, w)
    F.relu(x, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward(np.ones(y.shape, np.float32))


def test_inplace_on_a_tensor_that_requires_grad_is_refused(device, rng):
    x = clconv.tensor(randn(rng, (3,), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="inplace=True on a tensor that requires grad"):
        F.relu(x, inplace=True)


def test_detach_and_leaf_grads_do_not_alias(device, rng):
    x = clconv.tensor(randn(rng, (4,), np.float32), requires_grad=True)
    y = clconv.tensor(randn(rng, (4,), np.float32), requires_grad=True)
    F.add(x, y).backward(np.ones(4, np.float32))
    assert x.grad.array.data != y.grad.array.data  # each leaf owns its gradient buffer
    assert not x.detach().requires_grad and x.detach().grad_fn is None
