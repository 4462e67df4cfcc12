"""What every op test does: run the op on the device, run clconv.reference, compare."""
import inspect
from contextlib import contextmanager

import numpy as np

import clconv
from clconv.optable import OPS
from clconv.testing import assert_close


def randn(rng, shape, dtype, scale=1.0):
    """Normal random values (never all zeros) of the given dtype."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def conv_weight(rng, shape, dtype):
    """Weights scaled like Kaiming initialization, so outputs are O(1) whatever the fan-in."""
    fan_in = int(np.prod(shape[1:])) or 1
    return randn(rng, shape, dtype, 1 / np.sqrt(fan_in))


def check_op(name, *args, case="", **kwargs):
    """The op table's <name> (F.<name>, or clconv.fused's for fused_<name>) against its reference
    on the same arguments; returns the device result."""
    host_args = _copies(args)
    host_kwargs = {k: _copy(v) for k, v in kwargs.items()}
    got = OPS[name].function(*args, **kwargs)
    want = OPS[name].reference(*host_args, **host_kwargs)
    got_list = list(got) if isinstance(got, tuple) else [got]
    want_list = list(want) if isinstance(want, tuple) else [want]
    assert len(got_list) == len(want_list)
    for i, (g, w) in enumerate(zip(got_list, want_list)):
        assert isinstance(g, clconv.Tensor), f"{name}: output {i} is {type(g).__name__}"
        assert g.shape == w.shape, f"{name} {case}: shape {g.shape} != reference {w.shape}"
        assert g.dtype == w.dtype, f"{name} {case}: dtype {g.dtype} != reference {w.dtype}"
        assert_close(g.numpy(), w, what=f"{name} {case} output {i}")
    return got


def _copy(value):
    if isinstance(value, list):  # (cat's tensors)
        return [_copy(v) for v in value]
    return value.copy() if isinstance(value, np.ndarray) else value


def _copies(args):
    return [_copy(a) for a in args]


def _leaf(value):
    """A tensor that requires grad (a list of them for a list argument, as cat's)."""
    if isinstance(value, list):
        return [clconv.tensor(v, requires_grad=True) for v in value]
    return clconv.tensor(value, requires_grad=True)


def check_grad(rng, name, *args, finite_differences=None, case="", **kwargs):
    """Run F.<name> (clconv.fused.<rest> for fused_<rest>) with gradients on its differentiable
    arguments (the op table's), backpropagate a random gradient and compare every .grad with
    reference.<name>_backward (and, where asked, finite differences of the reference)."""
    entry = OPS[name]
    signature = inspect.signature(entry.reference)
    bound = signature.bind(*_copies(args), **kwargs)
    wanted = {k: v for k, v in entry.gradient_arguments(*args, **kwargs).items() if v is not None}
    leaves = {k: _leaf(v) for k, v in wanted.items()}
    device_arguments = dict(bound.arguments, **leaves)
    out = entry.function(**device_arguments)
    out = out[0] if isinstance(out, tuple) else out
    grad_output = rng.standard_normal(out.shape).astype(out.dtype)
    out.backward(grad_output)
    host = signature.bind(*_copies(args), **kwargs).arguments
    expected = entry.backward(grad_output, **host)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(expected) == len(entry.differentiable)
    for argument, want in zip(entry.differentiable, expected):
        if argument not in wanted:
            assert want is None, f"{name} {case}: {argument} is absent but has a gradient"
            continue
        if isinstance(wanted[argument], list):
            pairs = [(f"{argument}[{i}]", leaf, original, part) for i, (leaf, original, part)
                     in enumerate(zip(leaves[argument], wanted[argument], want))]
        else:
            pairs = [(argument, leaves[argument], wanted[argument], want)]
        for what, leaf, original, target in pairs:
            got = leaf.grad
            assert got is not None, f"{name} {case}: {what} got no gradient"
            assert got.shape == original.shape and got.dtype == original.dtype
            assert_close(got.numpy(), target, what=f"{name} {case} gradient of {what}")
        if finite_differences:
            _check_finite_differences(rng, entry, host, argument, got.numpy(), grad_output,
                                      finite_differences, case)


def _check_finite_differences(rng, entry, arguments, argument, analytic, grad_output, samples,
                              case):
    """Central differences of sum(reference(arguments) * grad_output) at a few random elements."""
    flat = arguments[argument].reshape(-1)
    step = 1e-6
    for index in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
        values = []
        for sign in (1, -1):
            shifted = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in arguments.items()}
            shifted[argument].reshape(-1)[index] += sign * step
            out = entry.reference(**shifted)
            out = out[0] if isinstance(out, tuple) else out
            values.append(float(np.sum(out * grad_output)))
        numeric = (values[0] - values[1]) / (2 * step)
        got = analytic.reshape(-1)[index]
        assert abs(got - numeric) <= 1e-5 * max(1.0, abs(numeric)), (
            f"{entry.name} {case}: d/d {argument}[{index}] = {got}, finite differences {numeric}")


def _short(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(_short(v) for v in value)
    return {True: "yes", False: "no", None: "none"}.get(value, str(value)) \
        if isinstance(value, (bool, type(None))) else str(value)


def labelled(*fields):
    """A pytest ids function for positional case tuples: each value after its field's name,
    `nd2-ch3x5x1-in7x8-k3-st1-pad1-dil1-biasyes` for (2, (3, 5, 1), (7, 8), 3, 1, 1, 1, True)."""
    def case_id(case) -> str:
        return "-".join(f"{name}{_short(value)}" for name, value in zip(fields, case))
    return case_id


CONV_FIELDS = ("nd", "ch", "in", "k", "st", "pad", "dil", "bias")  # ch: (c_in, c_out, groups)
POOL_FIELDS = ("in", "k", "st", "pad", "dil", "ceil")


@contextmanager
def expect_path(device, family, algorithms):
    """Record what the dispatcher runs within the block; where the device has a CPU profile
    (whose choice the named CPU path is), assert that `family` ran one of `algorithms`. (Under
    a GPU profile the same cases check the GPU algorithms against the reference.)"""
    with clconv.dispatch.recording() as made:
        yield made
    if device.profile.kind == "cpu":
        ran = {choice.algorithm for choice in made if choice.family == family}
        assert ran & set(algorithms), f"{family}: ran {sorted(ran)}, expected one of {algorithms}"
