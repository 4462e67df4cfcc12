r"""Max, average and adaptive average pooling (1D, 2D, 3D) and their gradients.

For a window of K, stride S (default K), padding P and dilation D, in each spatial dimension:

    output size   H' = floor((H + 2P - D*(K - 1) - 1) / S) + 1   (ceil with ceil_mode, as long as
                  the last window starts inside the input or its left padding)
    parameters    none; pooling keeps the channel count

Adaptive pooling to n outputs: output o averages input[floor(o*H/n) : ceil((o+1)*H/n)].
"""
from __future__ import annotations

import math
from itertools import product

import numpy as np

from ..shapes import ntuple, pool_output_size
from ._common import with_batch, f64


def _pool_windows(nd, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = ntuple(kernel_size, nd, "kernel_size", "ref")
    empty = stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)
    stride = kernel if empty else ntuple(stride, nd, "stride", "ref")  # PyTorch: [] = kernel
    padding = ntuple(padding, nd, "padding", "ref")
    dilation = ntuple(dilation, nd, "dilation", "ref")
    out = [pool_output_size(s, k, st, p, d, ceil_mode)
           for s, k, st, p, d in zip(x_shape[2:], kernel, stride, padding, dilation)]
    return kernel, stride, padding, dilation, out


def _window_index(o, t, stride, pad, dilation):
    """Input coordinate read by output o at kernel tap t (may fall in the padding)."""
    return o * stride - pad + t * dilation


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """y = max over the window of x (padding never wins); NaN wins over any number.

    indices hold the position of the maximum in the flattened spatial plane of its (n, c): the
    first maximum in scan order, or the last NaN; -1 (with y = -inf) for a window that lies wholly
    in the padding, which dilation makes possible.
    """
    dtype = np.asarray(input).dtype
    x, batched = with_batch(f64(input), nd)
    kernel, stride, padding, dilation, out = _pool_windows(
        nd, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    spatial = x.shape[2:]
    grids = np.meshgrid(*(np.arange(o) for o in out), indexing="ij")
    best = np.full(x.shape[:2] + tuple(out), -np.inf)
    best_index = np.full(best.shape, -1, dtype=np.int64)
    for tap in product(*(range(k) for k in kernel)):
        coords = [_window_index(g, t, st, p, d)
                  for g, t, st, p, d in zip(grids, tap, stride, padding, dilation)]
        inside = np.logical_and.reduce([(c >= 0) & (c < s) for c, s in zip(coords, spatial)])
        clipped = [np.clip(c, 0, s - 1) for c, s in zip(coords, spatial)]
        values = x[(slice(None), slice(None)) + tuple(clipped)]
        flat = np.ravel_multi_index(clipped, spatial)
        take = inside & ((best_index < 0) | (values > best) | np.isnan(values))
        best = np.where(take, values, best)
        best_index = np.where(take, flat, best_index)
    y = best if batched else best[0]
    indices = best_index if batched else best_index[0]
    return (y.astype(dtype), indices) if return_indices else y.astype(dtype)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool_backward(nd, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode):
    """Each output's gradient goes to the input element its maximum came from."""
    dtype = np.asarray(input).dtype
    _, indices = _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    x = np.asarray(input)
    planes = int(np.prod(x.shape[:-nd]))
    dx = np.zeros((planes, int(np.prod(x.shape[-nd:]))))
    rows = np.repeat(np.arange(planes), indices.size // planes)
    # A window that lies wholly in the padding (possible with dilation) has index -1: it
    # sends its gradient nowhere.
    found = indices.reshape(-1) >= 0
    np.add.at(dx, (rows[found], indices.reshape(-1)[found]), f64(grad_output).reshape(-1)[found])
    return dx.reshape(x.shape).astype(dtype)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_backward(1, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_backward(2, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_backward(3, grad_output, input, kernel_size, stride, padding, dilation, ceil_mode)


def _avg_pool_taps(spatial, kernel, stride, padding, out):
    """For each kernel tap: the input coordinates each output reads, and where they are inside
    the input and inside the padded input."""
    grids = np.meshgrid(*(np.arange(o) for o in out), indexing="ij")
    for tap in product(*(range(k) for k in kernel)):
        coords = [_window_index(g, t, st, p, 1) for g, t, st, p in zip(grids, tap, stride, padding)]
        inside = np.logical_and.reduce([(c >= 0) & (c < s) for c, s in zip(coords, spatial)])
        in_padded = np.logical_and.reduce(
            [(c >= -p) & (c < s + p) for c, s, p in zip(coords, spatial, padding)])
        yield coords, inside, in_padded


def _avg_pool_divisor(spatial, kernel, stride, padding, out, count_include_pad, divisor_override):
    """Per output: divisor_override if given, else the window's size clipped to the padded input
    (count_include_pad=True) or to the input itself (False)."""
    if divisor_override:
        return np.full(tuple(out), float(divisor_override))
    taps = list(_avg_pool_taps(spatial, kernel, stride, padding, out))
    return sum((in_padded if count_include_pad else inside) for _, inside, in_padded in taps).astype(float)


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    """y = (sum of the window's input values) / divisor (see _avg_pool_divisor)."""
    dtype = np.asarray(input).dtype
    x, batched = with_batch(f64(input), nd)
    kernel, stride, padding, _, out = _pool_windows(
        nd, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    spatial = x.shape[2:]
    total = np.zeros(x.shape[:2] + tuple(out))
    for coords, inside, _ in _avg_pool_taps(spatial, kernel, stride, padding, out):
        clipped = [np.clip(c, 0, s - 1) for c, s in zip(coords, spatial)]
        total += np.where(inside, x[(slice(None), slice(None)) + tuple(clipped)], 0.0)
    y = total / _avg_pool_divisor(spatial, kernel, stride, padding, out, count_include_pad,
                                  divisor_override)
    return (y if batched else y[0]).astype(dtype)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _avg_pool_backward(nd, grad_output, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    """Each output's gradient, divided by its divisor, goes to every input element it averaged."""
    dtype = np.asarray(input).dtype
    x, batched = with_batch(f64(input), nd)
    g = f64(grad_output) if batched else f64(grad_output)[None]
    kernel, stride, padding, _, out = _pool_windows(nd, x.shape, kernel_size, stride, padding, 1,
                                                    ceil_mode)
    spatial = x.shape[2:]
    share = g / _avg_pool_divisor(spatial, kernel, stride, padding, out, count_include_pad,
                                  divisor_override)
    dx = np.zeros((x.shape[0] * x.shape[1],) + spatial)
    planes = share.reshape((-1,) + tuple(out))
    for coords, inside, _ in _avg_pool_taps(spatial, kernel, stride, padding, out):
        targets = tuple(c[inside] for c in coords)
        for plane in range(len(planes)):
            np.add.at(dx[plane], targets, planes[plane][inside])
    dx = dx.reshape(x.shape)
    return (dx if batched else dx[0]).astype(dtype)


def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    return _avg_pool_backward(1, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, None)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward(2, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)


def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward(3, grad_output, input, kernel_size, stride, padding, ceil_mode,
                              count_include_pad, divisor_override)


def _adaptive_avg_pool(nd, input, output_size):
    """Output o averages input[floor(o*size/out) : ceil((o+1)*size/out)] in each dimension."""
    dtype = np.asarray(input).dtype
    x, batched = with_batch(f64(input), nd)
    if isinstance(output_size, (tuple, list)):  # a 1-tuple stands for every dimension
        sizes = list(output_size) * (nd if len(output_size) == 1 else 1)
    else:
        sizes = [output_size] * nd
    sizes = [s if s is not None else x.shape[2 + i] for i, s in enumerate(sizes)]
    y = np.empty(x.shape[:2] + tuple(sizes))
    for out_index in product(*(range(o) for o in sizes)):
        window = tuple(slice(o * s // n, math.ceil((o + 1) * s / n))
                       for o, s, n in zip(out_index, x.shape[2:], sizes))
        y[(Ellipsis,) + out_index] = x[(slice(None), slice(None)) + window].mean(
            axis=tuple(range(2, 2 + nd)))
    return (y if batched else y[0]).astype(dtype)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool(3, input, output_size)


def _adaptive_avg_pool_backward(nd, grad_output, input, output_size):
    dtype = np.asarray(input).dtype
    x, batched = with_batch(f64(input), nd)
    g = f64(grad_output) if batched else f64(grad_output)[None]
    sizes = g.shape[2:]
    dx = np.zeros_like(x)
    for out_index in product(*(range(o) for o in sizes)):
        window = tuple(slice(o * s // n, math.ceil((o + 1) * s / n))
                       for o, s, n in zip(out_index, x.shape[2:], sizes))
        count = np.prod([w.stop - w.start for w in window])
        region = (slice(None), slice(None)) + window
        dx[region] += g[(Ellipsis,) + out_index].reshape(g.shape[:2] + (1,) * nd) / count
    return (dx if batched else dx[0]).astype(dtype)


def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward(1, grad_output, input, output_size)


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward(2, grad_output, input, output_size)


def adaptive_avg_pool3d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward(3, grad_output, input, output_size)


# --- interpolate: a linear map per spatial dimension ------------------------------------------

def _interpolation_matrix(mode, n_in, n_out, scale, align_corners, dtype):
    """The (n_out, n_in) weights along one dimension: row o holds where output o reads, the
    coordinates computed in the tensor's dtype (as the device and PyTorch compute them)."""
    t = np.dtype(dtype).type
    matrix = np.zeros((n_out, n_in))
    scale = t(scale)
    for o in range(n_out):
        if mode == "nearest":
            matrix[o, min(int(np.floor(t(o) * scale)), n_in - 1)] = 1.0
            continue
        source = t(o) * scale if align_corners else max(t(0), (t(o) + t(0.5)) * scale - t(0.5))
        i0 = min(int(source), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = float(source) - i0
        matrix[o, i0] += 1 - lam
        matrix[o, i1] += lam
    return matrix


def _matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor):
    nd = x.ndim - 2
    if size is not None:
        out = (size,) * nd if np.isscalar(size) else tuple(size)
        factors = None
    else:
        factors = (scale_factor,) * nd if np.isscalar(scale_factor) else tuple(scale_factor)
        out = tuple(int(np.floor(n * float(f))) for n, f in zip(x.shape[2:], factors))
    if recompute_scale_factor:
        factors = None
    matrices = []
    for d, (n_in, n_out) in enumerate(zip(x.shape[2:], out)):
        if mode != "nearest" and align_corners:
            scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            scale = 1.0 / float(factors[d]) if factors is not None else n_in / n_out
        matrices.append(_interpolation_matrix(mode, n_in, n_out, scale, align_corners, x.dtype))
    return matrices


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Each spatial dimension resampled by its matrix: nearest reads input floor(o * scale);
    linear reads inputs floor(s) and floor(s) + 1 with weights 1 - frac(s) and frac(s), at
    s = o * scale (align_corners) or max(0, (o + 1/2) * scale - 1/2); scale =
    (n_in - 1) / (n_out - 1) with align_corners, else 1 / scale_factor or n_in / n_out. 'area'
    is adaptive average pooling."""
    x = np.asarray(input)
    if mode == "area":
        nd = x.ndim - 2
        out = _matrices(x, size, scale_factor, "nearest", None, recompute_scale_factor)
        return globals()[f"adaptive_avg_pool{nd}d"](x, tuple(m.shape[0] for m in out))
    y = f64(x)
    for d, matrix in enumerate(_matrices(x, size, scale_factor, mode, align_corners,
                                         recompute_scale_factor)):
        y = np.moveaxis(np.tensordot(matrix, np.moveaxis(y, d + 2, 0), axes=1), 0, d + 2)
    return y.astype(x.dtype)


def interpolate_backward(grad_output, input, size=None, scale_factor=None, mode="nearest",
                         align_corners=None, recompute_scale_factor=None, antialias=False):
    """The transposed matrices applied to the gradient."""
    x = np.asarray(input)
    if mode == "area":
        nd = x.ndim - 2
        out = _matrices(x, size, scale_factor, "nearest", None, recompute_scale_factor)
        return globals()[f"adaptive_avg_pool{nd}d_backward"](grad_output, x,
                                                             tuple(m.shape[0] for m in out))
    g = f64(grad_output)
    for d, matrix in enumerate(_matrices(x, size, scale_factor, mode, align_corners,
                                         recompute_scale_factor)):
        g = np.moveaxis(np.tensordot(matrix.T, np.moveaxis(g, d + 2, 0), axes=1), 0, d + 2)
    return g.astype(x.dtype)


def _adaptive_windows(n_in, n_out):
    return [(o * n_in // n_out, -(-(o + 1) * n_in // n_out)) for o in range(n_out)]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The maximum of each adaptive window (adaptive_avg_pool2d's: [floor(o*n/out),
    ceil((o+1)*n/out))), the first one where several are equal, NaN winning; with
    return_indices its position flat in the plane."""
    x, batched = with_batch(np.asarray(input), 2)
    sizes = (output_size,) * 2 if np.isscalar(output_size) else tuple(
        x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    h, w = x.shape[2:]
    y = np.empty(x.shape[:2] + sizes, x.dtype)
    where = np.empty(y.shape, np.int64)
    for i, (h0, h1) in enumerate(_adaptive_windows(h, sizes[0]) if x.size else ()):
        for j, (w0, w1) in enumerate(_adaptive_windows(w, sizes[1])):
            window = x[:, :, h0:h1, w0:w1].reshape(x.shape[0], x.shape[1], -1)
            nan = np.isnan(window)
            pick = np.where(nan.any(-1), nan.argmax(-1), np.nan_to_num(window, nan=0).argmax(-1))
            y[:, :, i, j] = np.take_along_axis(window, pick[..., None], -1)[..., 0]
            where[:, :, i, j] = (h0 + pick // (w1 - w0)) * w + w0 + pick % (w1 - w0)
    if not batched:
        y, where = y[0], where[0]
    return (y, where) if return_indices else y


def adaptive_max_pool2d_backward(grad_output, input, output_size, return_indices=False):
    """The gradient to each window's maximum."""
    x = np.asarray(input)
    _, where = adaptive_max_pool2d(x, output_size, True)
    xb, batched = with_batch(x, 2)
    g = with_batch(f64(grad_output), 2)[0]
    wb = with_batch(where, 2)[0]
    dx = np.zeros((xb.shape[0] * xb.shape[1], xb.shape[2] * xb.shape[3]))
    rows = np.repeat(np.arange(dx.shape[0]), wb[0, 0].size)
    np.add.at(dx, (rows, wb.reshape(-1)), g.reshape(-1))
    dx = dx.reshape(xb.shape)
    return (dx if batched else dx[0]).astype(x.dtype)
