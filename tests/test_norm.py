"""batch/layer/instance/group norm against the reference, running statistics included."""
import numpy as np
import pytest

import clconv
from helpers import check_op, randn

SHAPES = [(2, 3), (4, 3, 5), (2, 4, 7, 9), (3, 2, 3, 4, 5), (1, 5, 1, 1, 2), (2, 3, 67, 3)]


def _stats(rng, channels, dtype):
    return randn(rng, (channels,), dtype), rng.uniform(0.5, 2.0, channels).astype(dtype)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm(device, rng, shape, training, affine, dtype):
    x = randn(rng, shape, dtype, 3.0) + 1.5  # off-centre: a one-pass variance would lose digits
    running_mean, running_var = _stats(rng, shape[1], dtype)
    weight, bias = _stats(rng, shape[1], dtype) if affine else (None, None)
    # The running statistics live on the device and must be updated there, in place.
    rm, rv = clconv.tensor(running_mean), clconv.tensor(running_var)
    expected_mean, expected_var = running_mean.copy(), running_var.copy()
    y = clconv.functional.batch_norm(x, rm, rv, weight, bias, training, 0.3, 1e-3)
    want = clconv.reference.batch_norm(x, expected_mean, expected_var, weight, bias, training,
                                       0.3, 1e-3)
    clconv.testing.assert_close(y.numpy(), want, what="batch_norm output")
    clconv.testing.assert_close(rm.numpy(), expected_mean, what="running_mean")
    clconv.testing.assert_close(rv.numpy(), expected_var, what="running_var")


def test_batch_norm_numpy_running_stats_are_updated_in_place(device, rng):
    x = randn(rng, (4, 3, 5, 5), np.float32)
    running_mean, running_var = _stats(rng, 3, np.float32)
    before = running_mean.copy()
    check_op("batch_norm", x, running_mean, running_var, training=True)
    assert not np.allclose(before, running_mean)


def test_batch_norm_training_without_running_stats(device, rng):
    check_op("batch_norm", randn(rng, (4, 3, 5, 5), np.float32), None, None, training=True)


@pytest.mark.parametrize("shape,normalized", [
    ((2, 3), 3), ((4, 3, 5), (5,)), ((4, 3, 5), (3, 5)), ((2, 4, 7, 9), (4, 7, 9)),
    ((2, 4, 7, 9), (9,)), ((1, 1000), 1000), ((3, 1), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(device, rng, shape, normalized, affine, dtype):
    norm_shape = (normalized,) if isinstance(normalized, int) else normalized
    weight = randn(rng, norm_shape, dtype) if affine else None
    bias = randn(rng, norm_shape, dtype) if affine else None
    check_op("layer_norm", randn(rng, shape, dtype, 2.0) - 1, normalized, weight, bias, 1e-5)


# use_input_stats=False without running statistics must raise: see test_errors.
@pytest.mark.parametrize("use_input_stats,running", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 4, 6, 7), (2, 2, 3, 4, 5), (1, 3, 2, 1)], ids=str)
def test_instance_norm(device, rng, shape, use_input_stats, running):
    running_mean, running_var = _stats(rng, shape[1], np.float32) if running else (None, None)
    weight, bias = _stats(rng, shape[1], np.float32)
    check_op("instance_norm", randn(rng, shape, np.float32), running_mean, running_var, weight,
             bias, use_input_stats, 0.2, 1e-5)


@pytest.mark.parametrize("shape,groups", [((2, 6, 5, 5), 3), ((2, 6, 5, 5), 1), ((2, 6, 5, 5), 6),
                                          ((3, 4, 9), 2), ((2, 8), 4), ((1, 4, 2, 3, 2), 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(device, rng, shape, groups, affine):
    weight, bias = _stats(rng, shape[1], np.float32) if affine else (None, None)
    check_op("group_norm", randn(rng, shape, np.float32), groups, weight, bias, 1e-5)


def test_norm_of_constant_input_is_zero_not_nan(device):
    x = np.full((2, 3, 4, 4), 7.0, np.float32)
    check_op("batch_norm", x, None, None, training=True)
    check_op("layer_norm", x, (3, 4, 4))
    check_op("group_norm", x, 3)
    check_op("instance_norm", x)


@pytest.mark.parametrize("op,shape", [("layer_norm", (1, 262160)), ("batch_norm", (2, 3, 1, 360000)),
                                      ("group_norm", (2, 4, 270000))], ids=str)
def test_norms_on_inputs_past_the_one_pass_path(device, rng, op, shape):
    # Over 8 MiB (or a row over 1 MiB) CPU devices take the chunked statistics path.
    x = randn(rng, shape, np.float32) + 3
    if op == "layer_norm":
        check_op(op, x, shape[1:])
    elif op == "batch_norm":
        check_op(op, x, None, None, training=True)
    else:
        check_op(op, x, 2)


# Backward on the CPU path (row_normalize_backward, column_sums) and the GPU one alike: runs
# long enough for the vector steps and their tails, and each subset of the gradients (dx alone
# skips the parameter sums, the parameters alone skip dx).
NORM_BACKWARD_CASES = [  # op, input shape, the op's arguments after input (weight, bias marked)
    ("batch_norm", (3, 5, 7, 11), lambda w, b: (None, None, w, b, True, 0.1, 1e-3)),
    ("batch_norm", (37, 20), lambda w, b: (None, None, w, b, True, 0.1, 1e-3)),
    ("batch_norm", (2, 3, 40), lambda w, b: ("running", "running", w, b, False, 0.1, 1e-3)),
    ("layer_norm", (3, 4, 37), lambda w, b: ((4, 37), w, b, 1e-5)),
    ("instance_norm", (2, 3, 9, 8), lambda w, b: ("running", "running", w, b, True, 0.1, 1e-5)),
    ("instance_norm", (2, 3, 50), lambda w, b: ("running", "running", w, b, False, 0.1, 1e-5)),
    ("group_norm", (2, 6, 5, 7), lambda w, b: (3, w, b, 1e-5)),
]
_PARAM_SHAPE = {"layer_norm": lambda shape: shape[1:]}
_PARAM_POSITIONS = {"batch_norm": (3, 4), "layer_norm": (2, 3), "instance_norm": (3, 4),
                    "group_norm": (2, 3)}


@pytest.mark.parametrize("wanted", ["all", "input", "params", "weight"])
@pytest.mark.parametrize("case", NORM_BACKWARD_CASES, ids=lambda c: f"{c[0]}{c[1]}")
def test_norm_backward_subsets(device, rng, dtype, case, wanted):
    name, shape, make_args = case
    param_shape = _PARAM_SHAPE.get(name, lambda s: (s[1],))(shape)
    x = randn(rng, shape, dtype, 2.0) + 1
    w, b = randn(rng, param_shape, dtype), randn(rng, param_shape, dtype)
    running_mean, running_var = _stats(rng, shape[1], dtype)
    args = [{0: running_mean, 1: running_var}[i] if isinstance(a, str) else a
            for i, a in enumerate(make_args(w, b))]
    grad_x = wanted in ("all", "input")
    grad_w, grad_b = wanted in ("all", "params", "weight"), wanted in ("all", "params")
    xt = clconv.tensor(x, requires_grad=grad_x)
    device_args = [clconv.tensor(a.copy(), requires_grad=(a is w and grad_w) or (a is b and grad_b))
                   if isinstance(a, np.ndarray) else a for a in args]
    w_position, b_position = (p - 1 for p in _PARAM_POSITIONS[name])
    out = getattr(clconv.functional, name)(xt, *device_args)
    grad_output = randn(rng, shape, dtype)
    out.backward(grad_output)
    want_dx, want_dw, want_db = getattr(clconv.reference, f"{name}_backward")(
        grad_output, x, *[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    for flag, tensor, want, what in ((grad_x, xt, want_dx, "input"),
                                     (grad_w, device_args[w_position], want_dw, "weight"),
                                     (grad_b, device_args[b_position], want_db, "bias")):
        if flag:
            clconv.testing.assert_close(tensor.grad.numpy(), want, what=f"{name} d{what}")
        else:
            assert tensor.grad is None, f"{name}: {what} got a gradient it did not ask for"


@pytest.mark.parametrize("op,shape,extra", [
    ("batch_norm", (6, 3, 9, 11), dict(training=True)),
    ("group_norm", (4, 6, 7, 9), dict(num_groups=2)),
    ("instance_norm", (2, 3, 12, 13), {}),
])
def test_gpu_norm_backward_splits_rows_across_work_groups(device, rng, op, shape, extra):
    """The GPU backward's sums (of g and g * xhat per statistics row, of the parameters'
    gradients per parameter) over several work-groups per row, the shares added in order by
    sum_slices: against the reference, and bit-identical on a rerun."""
    import clconv.functional as F
    from helpers import check_grad
    table = {"norm_backward": {"general": {"groups_per_unit": 64, "min_share": 64}}}
    x = randn(rng, shape, np.float32)
    c = shape[1]
    weight, bias = randn(rng, (c,), np.float32), randn(rng, (c,), np.float32)
    args = {"batch_norm": (x, None, None, weight, bias), "group_norm": (x, extra.get("num_groups"), weight, bias),
            "instance_norm": (x, None, None, weight, bias)}[op]
    kwargs = {k: v for k, v in extra.items() if k != "num_groups"}
    with clconv.config.override(profile="gpu", tuning=table):
        with clconv.runtime.record_launches(device) as made:
            check_grad(rng, op, *args, case="rows split", **kwargs)
        assert "sum_slices" in {k.function_name for k, *_ in made.launches}
        grads = []
        for _ in range(2):
            xt = clconv.tensor(x, requires_grad=True)
            wt = clconv.tensor(weight, requires_grad=True)
            call = {"batch_norm": lambda: F.batch_norm(xt, None, None, wt, clconv.tensor(bias), True),
                    "group_norm": lambda: F.group_norm(xt, 2, wt, clconv.tensor(bias)),
                    "instance_norm": lambda: F.instance_norm(xt, None, None, wt, clconv.tensor(bias))}[op]
            call().backward(np.ones(shape, np.float32) * 0.5 + x)
            grads.append((xt.grad.numpy(), wt.grad.numpy()))
    assert all(np.array_equal(a, b) for a, b in zip(*grads))
