"""Random arguments thrown at every public op (run by test_robustness.py in a child process, so
that a crash or hang fails a test instead of killing the run).

Each call must either match clconv.reference or raise ValueError / TypeError / MemoryError whose
message names the op (argument errors) or the sizes (allocation errors). Arguments are drawn
from both sides of validity: wrong types, negative and huge sizes, zero-size dimensions,
mismatched shapes, NaN/Inf data, non-contiguous views, other dtypes.
"""
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clconv
from clconv.optable import FUNCTIONAL, OPS
from clconv.testing import mismatch

ALLOWED = (ValueError, TypeError, MemoryError)
# The same examples every run (CI must not turn red by chance); CLCONV_FUZZ_EXPLORE=1 draws new
# ones each run to look for more (what they find goes into the fixed sequence's code paths).
SETTINGS = settings(max_examples=300, deadline=None,
                    derandomize=not clconv.config.current().test_fuzz_explore,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

DTYPES = st.sampled_from([np.float32] * 6 + [np.float64] * 2 + [np.float16, np.int32, np.int64, np.bool_, np.complex64])


@st.composite
def arrays(draw, min_ndim=0, max_ndim=5, max_side=5, dtype=None):
    """A NumPy array: odd shapes (zero-size included), special values, sometimes a strided view."""
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=min_ndim, max_size=max_ndim)))
    dtype = dtype or draw(DTYPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal(shape) * draw(st.sampled_from([1.0, 1e-3, 1e3]))
    if values.size and draw(st.booleans()):
        specials = rng.choice([np.nan, np.inf, -np.inf], size=values.size)
        mask = rng.random(values.size) < 0.1
        values.reshape(-1)[mask] = specials[mask]
    if np.dtype(dtype).kind in "iub":
        values = np.nan_to_num(values).clip(-100, 100)
    array = values.astype(dtype)
    if array.ndim and draw(st.booleans()):  # a non-contiguous view of a larger array
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    return array


def odd_values():
    return st.one_of(st.none(), st.text(max_size=3), st.floats(allow_nan=True), st.just([[1.0, 2.0]]),
                     st.just(object()))


def maybe_array(**kwargs):
    return st.one_of(arrays(**kwargs), arrays(**kwargs), arrays(**kwargs), odd_values())


def int_params(n, huge_but_valid=True):
    """Sizes: small ones, negative ones, ones past 32 bits, and (where a large value only makes
    the output smaller) the largest 32-bit value."""
    one = st.one_of(st.integers(-2, 6), st.integers(-2, 6), st.just(10**12),
                    *([st.just(2**31 - 1)] if huge_but_valid else []))
    return st.one_of(one, st.lists(one, min_size=0, max_size=n + 1).map(tuple), odd_values())


def _host(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def check(op, *args, **kwargs):
    host_args = [_host(a) for a in args]
    host_kwargs = {k: _host(v) for k, v in kwargs.items()}
    try:
        got = OPS[op].function(*args, **kwargs)
    except ALLOWED as err:
        message = str(err)
        assert message.startswith(f"{op}:") or (isinstance(err, MemoryError) and "bytes" in message) \
            or "negative dimensions" in message, f"{op} raised {type(err).__name__} without naming the op: {message}"
        return
    want = OPS[op].reference(*host_args, **host_kwargs)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        problem = mismatch(g.numpy(), np.asarray(w))
        assert problem is None, f"{op}{tuple(np.shape(a) for a in args)} {kwargs}: {problem}"


@SETTINGS
@given(nd=st.integers(1, 3), x=maybe_array(min_ndim=1), w=maybe_array(min_ndim=1),
       b=st.one_of(st.none(), arrays(max_ndim=2)), stride=int_params(3),
       padding=st.one_of(int_params(3), st.sampled_from(["same", "valid", "full"])),
       dilation=int_params(3), groups=st.one_of(st.integers(-1, 4), odd_values()))
def test_conv(device, nd, x, w, b, stride, padding, dilation, groups):
    check(f"conv{nd}d", x, w, b, stride, padding, dilation, groups)
    check(f"conv_transpose{nd}d", x, w, b, stride, padding, dilation, groups)


@SETTINGS
@given(nd=st.integers(1, 3), x=maybe_array(min_ndim=1), kernel=int_params(3), stride=st.one_of(st.none(), int_params(3)),
       padding=int_params(3), dilation=int_params(3), ceil_mode=st.booleans(), indices=st.booleans())
def test_max_pool(device, nd, x, kernel, stride, padding, dilation, ceil_mode, indices):
    check(f"max_pool{nd}d", x, kernel, stride, padding, dilation, ceil_mode, indices)


@SETTINGS
@given(nd=st.integers(2, 3), x=maybe_array(min_ndim=1), kernel=int_params(3), stride=st.one_of(st.none(), int_params(3)),
       padding=int_params(3), ceil_mode=st.booleans(), include_pad=st.booleans(),
       divisor=st.one_of(st.none(), st.integers(-2, 3)))
def test_avg_pool(device, nd, x, kernel, stride, padding, ceil_mode, include_pad, divisor):
    check(f"avg_pool{nd}d", x, kernel, stride, padding, ceil_mode, include_pad, divisor)


@SETTINGS
@given(nd=st.integers(1, 3), x=maybe_array(min_ndim=1), size=int_params(3, huge_but_valid=False))
def test_adaptive_avg_pool(device, nd, x, size):
    check(f"adaptive_avg_pool{nd}d", x, size)


@SETTINGS
@given(x=maybe_array(), stats=st.one_of(st.none(), arrays(max_ndim=2)), params=st.one_of(st.none(), arrays(max_ndim=2)),
       training=st.booleans(), momentum=st.one_of(st.floats(0, 1), odd_values()), eps=st.floats(1e-6, 1e-2))
def test_batch_norm(device, x, stats, params, training, momentum, eps):
    var = None if stats is None else np.abs(stats) + 0.5 if stats.dtype.kind == "f" else stats
    check("batch_norm", x, stats, var, params, params, training, momentum, eps)


@SETTINGS
@given(x=maybe_array(), shape=st.one_of(st.integers(-1, 5), st.lists(st.integers(0, 5), max_size=3).map(tuple), odd_values()),
       weight=st.one_of(st.none(), arrays(max_ndim=3)))
def test_layer_norm(device, x, shape, weight):
    check("layer_norm", x, shape, weight, weight)


@SETTINGS
@given(x=maybe_array(), groups=st.one_of(st.integers(-1, 6), odd_values()), weight=st.one_of(st.none(), arrays(max_ndim=2)))
def test_group_norm(device, x, groups, weight):
    check("group_norm", x, groups, weight, weight)


@SETTINGS
@given(x=maybe_array(), stats=st.one_of(st.none(), arrays(max_ndim=2)), use_input_stats=st.booleans())
def test_instance_norm(device, x, stats, use_input_stats):
    var = None if stats is None else np.abs(stats) + 0.5 if stats.dtype.kind == "f" else stats
    check("instance_norm", x, stats, var, None, None, use_input_stats)


@SETTINGS
@given(x=maybe_array(), slope=st.one_of(st.floats(-1, 1), odd_values()))
def test_activations(device, x, slope):
    check("relu", x)
    check("leaky_relu", x, slope)
    check("sigmoid", x)
    check("tanh", x)
    check("silu", x)
    check("hardsigmoid", x)
    check("hardswish", x)
    check("relu6", x)
    check("hardtanh", x, -abs(slope) if isinstance(slope, float) else slope, 1.0)
    check("elu", x, slope)
    check("clamp", x, None if slope is None else slope, 0.5)
    check("gelu", x)
    check("gelu", x, "tanh")
    check("erf", x)
    check("exp", x)
    check("log", x)
    check("sqrt", x)
    check("abs", x)
    check("floor", x)
    check("ceil", x)
    check("dropout", x, 0.3, False)  # (training's mask is random: test_elementwise)
    check("dropout", x, 1.0)


@SETTINGS
@given(x=maybe_array(), y=maybe_array())
def test_add(device, x, y):
    check("add", x, y)
    check("sub", x, y)
    check("mul", x, y)
    check("div", x, y)
    check("matmul", x, y)
    check("maximum", x, y)
    check("minimum", x, y)


def dims():
    """Dimension arguments: in range, out of range, tuples (repeats included), odd values."""
    return st.one_of(st.integers(-6, 6), st.lists(st.integers(-6, 6), max_size=5).map(tuple),
                     st.none(), odd_values())


@SETTINGS
@given(x=maybe_array(), dim=dims(), other=dims(), keepdim=st.one_of(st.booleans(), odd_values()))
def test_shapes_and_reductions(device, x, dim, other, keepdim):
    check("reshape", x, (-1,) if dim is None else dim)
    check("flatten", x, *(d for d in (dim, other) if isinstance(d, int)))
    check("squeeze", x, dim)
    check("unsqueeze", x, dim)
    check("broadcast_to", x, dim)
    check("permute", x, dim)
    check("transpose", x, dim, other)
    check("sum", x, dim, keepdim)
    check("mean", x, dim, keepdim)
    check("softmax", x, dim)
    check("log_softmax", x, dim)


@SETTINGS
@given(parts=st.one_of(st.lists(maybe_array(), max_size=4), maybe_array()), dim=dims())
def test_cat(device, parts, dim):
    check("cat", parts, dim)
    if not isinstance(parts, list):
        check("narrow", parts, dim, 1, 2)


@SETTINGS
@given(x=maybe_array(min_ndim=3), size=st.one_of(st.none(), int_params(3, huge_but_valid=False)),
       factor=st.one_of(st.none(), st.floats(0.1, 4), st.just(-1.0), st.just(float("nan"))),
       mode=st.sampled_from(["nearest", "linear", "bilinear", "trilinear", "area", "bicubic"]),
       align=st.one_of(st.none(), st.booleans()))
def test_interpolate(device, x, size, factor, mode, align):
    check("interpolate", x, size, factor, mode, align)
    check("adaptive_max_pool2d", x, size, bool(align))
    check("local_response_norm", x, size if isinstance(size, int) else 3)


@SETTINGS
@given(x=maybe_array(), pad=int_params(6, huge_but_valid=False),
       mode=st.sampled_from(["constant", "reflect", "replicate", "circular", "wrap"]),
       value=st.one_of(st.none(), st.floats(-2, 2)))
def test_pad(device, x, pad, mode, value):
    check("pad", x, pad, mode, value if mode == "constant" else None)


@SETTINGS
@given(x=maybe_array(min_ndim=1), w=maybe_array(), b=st.one_of(st.none(), arrays(max_ndim=2)))
def test_linear(device, x, w, b):
    check("linear", x, w, b)


@SETTINGS
@given(x=maybe_array(), target=st.one_of(arrays(max_ndim=2, dtype=np.int64), maybe_array()),
       reduction=st.sampled_from(["mean", "sum", "none", "avg"]))
def test_losses(device, x, target, reduction):
    check("cross_entropy", x, target, None, -100, reduction)
    check("mse_loss", x, target, reduction)


def test_every_op_of_the_table_is_fuzzed():
    source = Path(__file__).read_text()
    called = set(re.findall(r'check\(f?"([a-z_0-9]+?)(?:\{nd\}d)?"', source))
    names = set(FUNCTIONAL)
    covered = {name for name in names if name in called or name[:-2] in called}
    assert covered == names, f"not fuzzed: {sorted(names - covered)}"
