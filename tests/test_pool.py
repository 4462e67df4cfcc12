"""max/avg/adaptive pooling against the reference over every option."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clconv.functional as F
from clconv import config, runtime
from helpers import check_grad, check_op, expect_path, randn
from clconv.shapes import pool_output_size

SPATIAL_2D = [(1, 1), (7, 9), (10, 5), (5, 19)]  # (5, 19): the 16-wide vector paths
KERNELS_2D = [1, 2, 3, (3, 2)]
STRIDES_2D = [None, 1, 2, (3, 1), 4]  # 4: stride larger than every kernel
PADDINGS_2D = [0, 1]
CEIL = [False, True]


def _valid_window(spatial, kernel, stride, padding, dilation=1):
    nd = len(spatial)
    kernel = (kernel,) * nd if isinstance(kernel, int) else kernel
    stride = kernel if stride is None else (stride,) * nd if isinstance(stride, int) else stride
    padding = (padding,) * nd if isinstance(padding, int) else padding
    dilation = (dilation,) * nd if isinstance(dilation, int) else dilation
    if any(p > (d * (k - 1) + 1) // 2 for p, d, k in zip(padding, dilation, kernel)):
        return False
    return all(pool_output_size(s, k, st_, p, d, False) > 0
               for s, k, st_, p, d in zip(spatial, kernel, stride, padding, dilation))


def _grid(dilations):
    for spatial, kernel, stride, padding, ceil, dilation in itertools.product(
            SPATIAL_2D, KERNELS_2D, STRIDES_2D, PADDINGS_2D, CEIL, dilations):
        if _valid_window(spatial, kernel, stride, padding, dilation):
            yield pytest.param(spatial, kernel, stride, padding, ceil, dilation,
                               id=f"s{spatial}-k{kernel}-st{stride}-p{padding}-ceil{ceil}-d{dilation}")


@pytest.mark.parametrize("spatial,kernel,stride,padding,ceil_mode,dilation", list(_grid([1, 2])))
def test_max_pool2d_grid(device, rng, spatial, kernel, stride, padding, ceil_mode, dilation):
    x = randn(rng, (2, 3) + spatial, np.float32)
    check_op("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode, return_indices=True)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("spatial,kernel,stride,padding,ceil_mode,dilation", list(_grid([1])))
def test_avg_pool2d_grid(device, rng, spatial, kernel, stride, padding, ceil_mode, dilation,
                         count_include_pad, divisor_override):
    x = randn(rng, (2, 3) + spatial, np.float32)
    check_op("avg_pool2d", x, kernel, stride, padding, ceil_mode, count_include_pad,
             divisor_override)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pools_in_every_dimension(device, rng, dtype, nd):
    x = randn(rng, (2, 3) + (7, 6, 5)[:nd], dtype)
    check_op(f"max_pool{nd}d", x, 3, 2, 1, 1, True, True)
    check_op(f"max_pool{nd}d", x, 2, dilation=2)
    check_op(f"avg_pool{nd}d", x, 3, 2, 1, True, False)
    check_op(f"avg_pool{nd}d", x, 2)
    check_op(f"adaptive_avg_pool{nd}d", x, 3)
    check_op(f"max_pool{nd}d", x[0], 2)  # unbatched


@pytest.mark.parametrize("output_size", [1, 2, 3, (4, 1), (5, 7), (None, 2), (9, 11)])
def test_adaptive_avg_pool2d(device, rng, output_size):
    check_op("adaptive_avg_pool2d", randn(rng, (2, 3, 9, 7), np.float32), output_size)


def test_global_average_pooling(device, rng):
    x = randn(rng, (4, 8, 7, 7), np.float32)
    y = check_op("adaptive_avg_pool2d", x, 1)
    assert y.shape == (4, 8, 1, 1)


def test_max_pool_nan_propagates(device, rng):
    x = randn(rng, (1, 2, 6, 6), np.float32)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 4, 5] = np.nan
    y, indices = check_op("max_pool2d", x, 2, return_indices=True)
    assert np.isnan(y.numpy()[0, 0, 0, 0]) and indices.numpy()[0, 0, 0, 0] == 7
    assert np.isnan(y.numpy()[0, 1, 2, 2]) and indices.numpy()[0, 1, 2, 2] == 29


def test_max_pool_infinities_and_padding(device, rng):
    # A window of -inf values (and padding, which never wins) still reports an input element.
    x = np.full((1, 1, 3, 3), -np.inf, np.float32)
    x[0, 0, 2, 2] = 5
    check_op("max_pool2d", x, 3, 1, 1, return_indices=True)


def test_max_pool_indices_dtype(device, rng):
    _, indices = F.max_pool2d(randn(rng, (1, 1, 4, 4), np.float32), 2, return_indices=True)
    assert indices.dtype == np.int64


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nd=st.integers(1, 3), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_pool_random_shapes(device, nd, data, seed):
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(data.draw(st.integers(k, 9)) for k in kernel)
    ceil_mode = data.draw(st.booleans())
    x = randn(np.random.default_rng(seed), (data.draw(st.integers(1, 3)), 2) + spatial, np.float32)
    case = f"k{kernel} s{stride} p{padding} ceil{ceil_mode} x{x.shape}"
    check_op(f"max_pool{nd}d", x, kernel, stride, padding, 1, ceil_mode, True, case=case)
    check_op(f"avg_pool{nd}d", x, kernel, stride, padding, ceil_mode,
             data.draw(st.booleans()), case=case)


# The vector backward kernels (max_pool2d 2x2/2, avg_pool2d 3x3/1/1) over widths around their
# 16-lane steps, odd heights, a single row, in both dtypes.
VECTOR_SPATIAL = [(1, 16), (5, 19), (2, 35), (7, 32), (4, 33), (3, 48)]


@pytest.mark.parametrize("spatial", VECTOR_SPATIAL, ids=str)
@pytest.mark.parametrize("count_include_pad,divisor_override", [(True, None), (False, None), (True, 5)])
def test_avg_pool2d_3x3_backward_vector_path(device, rng, dtype, spatial, count_include_pad,
                                             divisor_override):
    x = randn(rng, (2, 3) + spatial, dtype)
    with expect_path(device, "avg_pool_backward", ("k3s1p1",)):
        check_grad(rng, "avg_pool2d", x, 3, 1, 1, False, count_include_pad, divisor_override,
                   case=f"{spatial} {count_include_pad} {divisor_override}")


@pytest.mark.parametrize("spatial,ceil_mode",  # (one row holds a 2x2 window only with ceil_mode)
                         [(s, c) for s in VECTOR_SPATIAL for c in (False, True) if s[0] > 1 or c],
                         ids=str)
def test_max_pool2d_2x2_backward_vector_path(device, rng, dtype, spatial, ceil_mode):
    x = randn(rng, (2, 3) + spatial, dtype)
    with expect_path(device, "max_pool_backward", ("k2s2",)):
        check_grad(rng, "max_pool2d", x, 2, 2, 0, 1, ceil_mode, case=f"{spatial} {ceil_mode}")


# max_pool2d_rows: any window at stride 1 or 2 along rows and any padding (ResNet's 3x3 / 2 / 1
# stem), vectors of outputs inside a row and single ones at its edges; NaNs and ties inside.
@pytest.mark.parametrize("spatial", [(5, 40), (6, 37), (3, 64)], ids=str)
@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", [
    (3, 2, 1, False), (3, 2, 1, True), ((2, 5), (3, 1), (1, 2), True), (3, 1, 1, False),
    (4, 2, 0, True), ((1, 3), (1, 2), 0, False)], ids=str)
def test_max_pool2d_rows_vector_path(device, rng, dtype, spatial, kernel, stride, padding,
                                     ceil_mode):
    x = randn(rng, (2, 3) + spatial, dtype)
    case = f"{spatial} {kernel} {stride} {padding} {ceil_mode}"
    with expect_path(device, "max_pool_forward", ("rows",)):
        check_grad(rng, "max_pool2d", x, kernel, stride, padding, 1, ceil_mode, case=case)
        x[0, 1, 1, ::7] = np.nan
        x[1, 2, 2, :] = 0.5  # ties: the first of the window wins
        check_op("max_pool2d", x, kernel, stride, padding, 1, ceil_mode, return_indices=True,
                 case=case)


# global_avg_pool (CPUs): a work-item per plane summing vectors of it, planes shorter than a
# vector, of whole vectors, of two and with tails, in 1, 2 and 3 dimensions.
@pytest.mark.parametrize("spatial", [(1,), (7, 7), (4, 8), (32,), (14, 14), (3, 5, 7), (56, 57)],
                         ids=str)
def test_global_average_pooling_kernel(device, rng, dtype, spatial):
    nd = len(spatial)
    x = randn(rng, (2, 3) + spatial, dtype)
    with config.override(profile="cpu"), runtime.record_launches(device) as made:
        check_op(f"adaptive_avg_pool{nd}d", x, 1, case=str(spatial))
        check_grad(rng, f"adaptive_avg_pool{nd}d", x, 1, case=str(spatial))
    assert "global_avg_pool" in {k.function_name for k, *_ in made.launches}
