"""clconv.reference, the oracle, checked against PyTorch where PyTorch is installed.

PyTorch is an optional comparison, never a dependency: without it these tests are skipped (and
say so); the reference's own formulas are then the specification.
"""
import numpy as np
import pytest

import clconv.reference as R
from clconv.testing import assert_close

torch = pytest.importorskip("torch", reason="PyTorch not installed: reference not cross-checked")
TF = torch.nn.functional


def _torch_call(name, args, kwargs):
    def to_torch(v):
        return torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v
    out = getattr(TF, name)(*[to_torch(a) for a in args], **{k: to_torch(v) for k, v in kwargs.items()})
    return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()


def _compare(name, *args, **kwargs):
    want = _torch_call(name, args, kwargs)
    got = getattr(R, name)(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kwargs)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert g.shape == w.shape
        assert_close(g, w, what=f"reference.{name} vs torch")


@pytest.fixture
def x(rng):
    return rng.standard_normal((2, 4, 9, 10))


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, dilation=2, groups=2),
                                    dict(padding="same", dilation=(1, 2)), dict(padding="valid"),
                                    dict(padding=(0, 2), stride=(3, 1))], ids=str)
def test_conv(rng, x, kwargs):
    w = rng.standard_normal((6, 4 // kwargs.get("groups", 1), 3, 2))
    _compare("conv2d", x, w, rng.standard_normal(6), **kwargs)
    _compare("conv1d", x[:, :, 0], w[..., 0], None, **{k: (v if isinstance(v, (int, str)) else v[0]) for k, v in kwargs.items()})
    _compare("conv3d", x[:, :, None], w[:, :, None], None, **{k: (v if isinstance(v, (int, str)) else (1,) + v) for k, v in kwargs.items()})


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=2, dilation=2), dict(kernel_size=(3, 2), stride=1),
                                    dict(kernel_size=3, stride=3, ceil_mode=True)], ids=str)
def test_max_pool_with_nan_and_indices(rng, x, kwargs):
    x[0, 0, 2, 3] = x[1, 2, 5, 5] = x[1, 2, 5, 6] = np.nan
    _compare("max_pool2d", x, return_indices=True, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                    dict(kernel_size=2, padding=1, divisor_override=3),
                                    dict(kernel_size=(3, 2), stride=1)], ids=str)
def test_avg_pool(x, kwargs):
    _compare("avg_pool2d", x, **kwargs)
    _compare("avg_pool3d", x[:, None], **{k: v if k != "kernel_size" else 2 for k, v in kwargs.items()})


@pytest.mark.parametrize("size", [1, 3, (4, 7), (None, 2)], ids=str)
def test_adaptive_avg_pool(x, size):
    _compare("adaptive_avg_pool2d", x, size)


def test_norms(rng, x):
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    for training in (True, False):
        want_m, want_v = torch.tensor(rm), torch.tensor(rv)
        want = TF.batch_norm(torch.tensor(x), want_m, want_v, torch.tensor(w), torch.tensor(b),
                             training, 0.2, 1e-4).numpy()
        got_m, got_v = rm.copy(), rv.copy()
        assert_close(R.batch_norm(x, got_m, got_v, w, b, training, 0.2, 1e-4), want)
        assert_close(got_m, want_m.numpy())
        assert_close(got_v, want_v.numpy())
    want_m, want_v = torch.tensor(rm), torch.tensor(rv)
    want = TF.instance_norm(torch.tensor(x), want_m, want_v, torch.tensor(w), torch.tensor(b)).numpy()
    got_m, got_v = rm.copy(), rv.copy()
    assert_close(R.instance_norm(x, got_m, got_v, w, b), want)
    assert_close(got_m, want_m.numpy())
    assert_close(got_v, want_v.numpy())
    _compare("layer_norm", x, (9, 10), rng.standard_normal((9, 10)), rng.standard_normal((9, 10)))
    _compare("group_norm", x, 2, w, b)


def test_elementwise_and_linear(rng, x):
    x[0, 0, 0, :3] = [np.nan, -np.inf, np.inf]
    _compare("relu", x)
    _compare("leaky_relu", x, 0.2)
    _compare("linear", x, rng.standard_normal((5, 10)), rng.standard_normal(5))


def _torch_function(name):
    return getattr(TF, name, None) or getattr(torch, name)


def _to_torch(value, grad_names=(), name=None):
    if isinstance(value, list):
        return [_to_torch(v, grad_names, name) for v in value]
    if isinstance(value, np.ndarray):
        t = torch.from_numpy(value.copy())
        return t.requires_grad_(name in grad_names and t.dtype.is_floating_point)
    return value


CASES = [c for c in __import__("clconv.optable", fromlist=["cases"]).cases()
         if not c.op.startswith("fused_")]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_op_table_case_matches_torch_forward_and_backward(rng, case):
    """Each op's reference, forward and backward, against PyTorch on its op-table cases (in
    float64, compared at float32's tolerance: some of PyTorch's float64 kernels use float32
    constants, hardsigmoid's 1/6 among them): the specification agrees with the semantics it
    promises."""
    from clconv.optable import OPS
    entry = OPS[case.op]
    arguments = case.make(rng, np.float64)
    arguments.pop("return_indices", None)
    grads = set(entry.differentiable)
    torch_arguments = {k: _to_torch(v, grads, k) for k, v in arguments.items()}
    out = _torch_function(case.op)(**torch_arguments)
    out = out[0] if isinstance(out, tuple) else out
    want = getattr(R, case.op)(**{k: [a.copy() for a in v] if isinstance(v, list) else
                                  v.copy() if isinstance(v, np.ndarray) else v
                                  for k, v in arguments.items()})
    want = want[0] if isinstance(want, tuple) else want
    assert_close(want, out.detach().numpy(), np.float32, what=f"reference.{case.op} vs torch")
    grad = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(grad))
    expected = entry.backward(grad, **arguments)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for name, mine in zip(entry.differentiable, expected):
        theirs = torch_arguments.get(name)
        if theirs is None or mine is None:
            continue
        pairs = zip(theirs, mine) if isinstance(theirs, list) else [(theirs, mine)]
        for t, m in pairs:
            if t.requires_grad:
                assert_close(m, t.grad.numpy(), np.float32,
                             what=f"reference.{case.op}_backward {name}")
