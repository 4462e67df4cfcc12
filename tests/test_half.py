"""float16 storage: conversions, every op on float16 tensors (forward and backward) against
the reference on the same float16 values, in-place updates, modules and optimizers.

The PoCL device CI runs on has no cl_khr_fp16: these tests are the proof that float16 storage
needs none."""
import inspect

import numpy as np
import pytest

import clconv
import clconv.functional as F
import clconv.nn
import clconv.optim
import clconv.reference as R
from clconv.optable import OPS
from clconv.testing import assert_close
from helpers import check_op, conv_weight, randn

HALF = np.float16


def _special_values(rng, n):
    """Random normals of several magnitudes with the cases rounding must get right: ties,
    subnormals, overflow to inf, infinities and NaN."""
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-9, 6, n)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 1e5, 6e-8, 3e-8, 1e-8,
                1 + 2.0**-11, 1 + 3 * 2.0**-11, 2.0**-24, -2.0**-25]
    values[:len(specials)] = specials[:n]
    return values


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 4099])
def test_cast_to_half_rounds_like_numpy(device, rng, n):
    values = _special_values(rng, n).astype(np.float32)
    got = clconv.tensor(values, device=device).half()
    assert got.dtype == HALF
    _assert_same_halves(got.numpy(), values)


def _assert_same_halves(got, values):
    """got is values rounded to float16 bit for bit (any NaN for a NaN: payloads may differ)."""
    with np.errstate(over="ignore"):
        want = values.astype(HALF)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_array_equal(got[finite].view(np.uint16), want[finite].view(np.uint16))


@pytest.mark.parametrize("n", [1, 16, 33, 4099])
def test_cast_from_half_is_exact(device, rng, n):
    with np.errstate(over="ignore"):
        values = _special_values(rng, n).astype(HALF)
    got = clconv.tensor(values, device=device).float()
    np.testing.assert_array_equal(got.numpy(), values.astype(np.float32))
    if np.dtype(np.float64) in device.dtypes():
        np.testing.assert_array_equal(clconv.tensor(values, device=device).double().numpy(),
                                      values.astype(np.float64))
        doubles = _special_values(rng, n)
        _assert_same_halves(clconv.tensor(doubles, device=device).half().numpy(), doubles)
        np.testing.assert_array_equal(clconv.tensor(doubles, device=device).float().numpy(),
                                      doubles.astype(np.float32))


def test_cast_is_differentiable(device, rng):
    x = clconv.tensor(randn(rng, (3, 5), HALF), requires_grad=True)
    y = x.float()
    grad = randn(rng, (3, 5), np.float32)
    y.backward(grad)
    assert x.grad.dtype == HALF
    np.testing.assert_array_equal(x.grad.numpy(), grad.astype(HALF))


def test_to_rejects_other_dtypes(device, rng):
    with pytest.raises(TypeError, match="int32"):
        clconv.tensor(randn(rng, (3,), np.float32)).to(np.int32)


# Each op on float16 arguments: (name, arguments builder, keyword arguments).
def _ops(rng):
    x4 = randn(rng, (2, 3, 9, 20), HALF)
    return [
        ("conv2d", (x4, conv_weight(rng, (4, 3, 3, 3), HALF), randn(rng, (4,), HALF)), dict(padding=1)),
        ("conv2d", (x4, conv_weight(rng, (6, 3, 3, 3), HALF)), dict(stride=2, padding=1)),
        ("conv2d", (randn(rng, (2, 8, 5, 7), HALF), conv_weight(rng, (8, 1, 3, 3), HALF)), dict(groups=8)),
        ("conv1d", (randn(rng, (2, 3, 30), HALF), conv_weight(rng, (5, 3, 5), HALF)), dict(padding=2)),
        ("conv3d", (randn(rng, (1, 2, 4, 5, 6), HALF), conv_weight(rng, (3, 2, 3, 3, 3), HALF)), {}),
        ("max_pool2d", (x4, 2), dict(return_indices=True)),
        ("max_pool2d", (x4, 3, 2, 1), {}),
        ("avg_pool2d", (x4, 3, 1, 1), dict(count_include_pad=False)),
        ("adaptive_avg_pool2d", (x4, (3, 4)), {}),
        ("batch_norm", (x4, None, None, randn(rng, (3,), HALF), randn(rng, (3,), HALF), True), {}),
        ("layer_norm", (x4, (9, 20)), {}),
        ("instance_norm", (x4,), {}),
        ("group_norm", (randn(rng, (2, 6, 5, 5), HALF), 3), {}),
        ("relu", (x4,), {}),
        ("leaky_relu", (x4, 0.1), {}),
        ("add", (x4, randn(rng, (3, 1, 20), HALF)), {}),
        ("linear", (randn(rng, (7, 20), HALF), conv_weight(rng, (5, 20), HALF), randn(rng, (5,), HALF)), {}),
        ("cross_entropy", (randn(rng, (6, 5), HALF), np.array([0, 4, 2, 1, 3, 3])), {}),
        ("mse_loss", (randn(rng, (6, 5), HALF), randn(rng, (6, 5), HALF)), {}),
    ]


# (readable ids: the op's name and its place in the list)
_NAMES = [name for name, _, _ in _ops(np.random.default_rng(0))]
_INDEX = dict(argnames="index", argvalues=range(len(_NAMES)), ids=lambda i: f"{_NAMES[i]}-{i}")


@pytest.mark.parametrize(**_INDEX)
def test_ops_on_half_tensors(device, rng, index):
    name, args, kwargs = _ops(rng)[index]
    check_op(name, *args, case="float16", **kwargs)  # (float16 results, float16 tolerance)


@pytest.mark.parametrize(**_INDEX)
def test_gradients_of_half_tensors(device, rng, index):
    name, args, kwargs = _ops(rng)[index]
    kwargs = {k: v for k, v in kwargs.items() if k != "return_indices"}
    entry = OPS[name]
    bound = inspect.signature(entry.reference).bind(*args, **kwargs).arguments
    leaves = {k: clconv.tensor(v, requires_grad=True)
              for k, v in entry.gradient_arguments(*args, **kwargs).items()
              if isinstance(v, np.ndarray) and v.dtype == HALF}
    out = entry.function(**dict(bound, **leaves))
    grad = randn(rng, out.shape, HALF)
    out.backward(grad)
    want = entry.backward(grad, *args, **kwargs)
    want = want if isinstance(want, tuple) else (want,)
    for argument, expected in zip(entry.differentiable, want):
        if argument not in leaves:
            continue
        got = leaves[argument].grad
        assert got.dtype == HALF, f"{name}: gradient of {argument} is {got.dtype}"
        assert_close(got.numpy(), expected, what=f"{name} float16 gradient of {argument}")


def test_in_place_updates_reach_half_originals(device, rng):
    x = randn(rng, (4, 3, 5, 5), HALF)
    running_mean, running_var = randn(rng, (3,), HALF), rng.uniform(0.5, 2, 3).astype(HALF)
    rm, rv = clconv.tensor(running_mean), clconv.tensor(running_var)
    want_mean, want_var = running_mean.copy(), running_var.copy()
    F.batch_norm(x, rm, rv, training=True, momentum=0.3)
    R.batch_norm(x, want_mean, want_var, training=True, momentum=0.3)
    assert rm.dtype == HALF and rm._version == 1
    assert_close(rm.numpy(), want_mean, what="running_mean")
    assert_close(rv.numpy(), want_var, what="running_var")
    host_mean = running_mean.copy()  # NumPy float16 running statistics change in place too
    F.batch_norm(x, host_mean, running_var.copy(), training=True)
    assert not np.array_equal(host_mean, running_mean)
    t = clconv.tensor(x)
    assert F.relu(t, inplace=True) is t
    np.testing.assert_array_equal(t.numpy(), np.maximum(x, 0))


def test_mixed_dtypes_are_an_error(device, rng):
    with pytest.raises(TypeError, match="weight has dtype float32 but input has float16; convert"):
        F.conv2d(randn(rng, (1, 2, 5, 5), HALF), randn(rng, (3, 2, 3, 3), np.float32))


@pytest.mark.parametrize("make", [lambda ps: clconv.optim.SGD(ps, lr=1.0, momentum=0.5),
                                  lambda ps: clconv.optim.Adam(ps, lr=1e-4)], ids=["SGD", "Adam"])
def test_optimizers_keep_float32_masters_for_half_parameters(device, make):
    # Steps of 1e-4 at 1.0 are below half a float16 step (2^-12): rounding each update back
    # to float16 would lose every one of them; the float32 master accumulates them.
    p = clconv.tensor(np.ones(20, HALF), requires_grad=True)
    optimizer = make([p])
    master = np.ones(20, np.float32)  # the reference's float32 master
    buffer, moments = None, (np.zeros(20, np.float32), np.zeros(20, np.float32))
    for step in range(1, 11):
        p.grad = clconv.tensor(np.full(20, 1e-4, HALF))
        optimizer.step()
        grad = np.full(20, HALF(1e-4), np.float32)
        if isinstance(optimizer, clconv.optim.SGD):
            master, buffer = R.sgd_step(master, grad, buffer, lr=1.0, momentum=0.5)
        else:
            master, *moments = R.adam_step(master, grad, *moments, step, lr=1e-4)
    assert p.dtype == HALF and p.grad.dtype == HALF
    assert p.numpy()[0] < 1, "the updates were lost to float16 rounding"
    assert_close(p.numpy(), master.astype(HALF), what="float16 parameter after 10 steps")


def test_module_half_trains(device, rng):
    nn = clconv.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5)).half()
    assert {p.dtype for p in model.parameters()} == {np.dtype(HALF)}
    assert {b.dtype for _, b in model.named_buffers()} == {np.dtype(HALF)}
    optimizer = clconv.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, labels = clconv.tensor(randn(rng, (8, 3, 8, 8), HALF)), np.arange(8) % 5
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    model.float()
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
