"""interpolate: nearest and (bi/tri)linear resampling with PyTorch's size, scale_factor,
align_corners and recompute_scale_factor rules, forward and backward (`interpolate.cl`); 'area'
is adaptive average pooling, as in PyTorch."""
from __future__ import annotations

import math

import numpy as np

from .. import autograd, runtime
from ..shapes import INT32_LIMIT
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32, scalar, tensors
from .pool import adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}  # spatial dimensions each mode takes


def _spatial_sizes(op, x, size, scale_factor, nd):
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        if not isinstance(size, (int, np.integer, tuple, list)) or isinstance(size, bool):
            raise TypeError(f"{op}: size must be an int or a tuple of ints, got {size!r}")
        sizes = (size,) * nd if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != nd or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                       and s > 0 for s in sizes):
            raise ValueError(f"{op}: size must be a positive int or {nd} positive ints for input "
                             f"of shape {x.shape}, got {size!r}")
        _within_range(op, sizes, x)
        return tuple(int(s) for s in sizes), None
    if not isinstance(scale_factor, (int, float, np.number, tuple, list)) or \
            isinstance(scale_factor, bool):
        raise TypeError(f"{op}: scale_factor must be a number or a tuple of numbers, got "
                        f"{scale_factor!r}")
    factors = (scale_factor,) * nd if isinstance(scale_factor, (int, float, np.number)) \
        else tuple(scale_factor)
    if len(factors) != nd or not all(isinstance(f, (int, float, np.number)) and
                                     not isinstance(f, bool) and f > 0 and math.isfinite(f)
                                     for f in factors):
        raise ValueError(f"{op}: scale_factor must be a positive number or {nd} of them for "
                         f"input of shape {x.shape}, got {scale_factor!r}")
    sizes = tuple(int(math.floor(n * float(f))) for n, f in zip(x.shape[2:], factors))
    if any(s <= 0 for s in sizes):
        raise ValueError(f"{op}: scale_factor {scale_factor} leaves no output for input of "
                         f"shape {x.shape}")
    _within_range(op, sizes, x)
    return sizes, tuple(float(f) for f in factors)


def _within_range(op: str, sizes: tuple, x) -> None:
    if any(s > INT32_LIMIT for s in sizes):
        raise ValueError(f"{op}: output size {sizes} for input of shape {x.shape} is out of "
                         f"range (at most {INT32_LIMIT:,} a dimension)")


def coordinate_scales(mode, in_sizes, out_sizes, factors, align_corners):
    """PyTorch's per-dimension map from output to input coordinates (its
    area_pixel_compute_scale): align_corners (n_in - 1) / (n_out - 1); otherwise 1 / the given
    scale factor, or n_in / n_out."""
    scales = []
    for d, (n_in, n_out) in enumerate(zip(in_sizes, out_sizes)):
        if mode != "nearest" and align_corners:
            scales.append((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        elif factors is not None:
            scales.append(1.0 / factors[d])
        else:
            scales.append(n_in / n_out)
    return scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False) -> Tensor:
    """input (N, C, *spatial) resampled to `size` or by `scale_factor` along its 1 to 3 spatial
    dimensions: mode 'nearest' (the input at floor(o * scale)), 'linear' / 'bilinear' /
    'trilinear' (3-D, 4-D, 5-D inputs; align_corners False samples pixel centres) or 'area'."""
    op = "interpolate"
    x = tensors(op, input=input)["input"]
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"{op}: input must be 3-D to 5-D (N, C, *spatial), got shape {x.shape}")
    modes = ("nearest", "area", *_LINEAR)
    if mode not in modes:
        raise ValueError(f"{op}: mode must be one of {', '.join(modes)}, got {mode!r}")
    if any(n <= 0 for n in x.shape[2:]):
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dimension")
    if mode in _LINEAR and _LINEAR[mode] != nd:
        raise ValueError(f"{op}: mode {mode!r} takes a {_LINEAR[mode] + 2}-D input, got shape "
                         f"{x.shape}")
    if mode not in _LINEAR and align_corners is not None:
        raise ValueError(f"{op}: align_corners applies to the linear modes only, got "
                         f"align_corners={align_corners!r} with mode {mode!r}")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported")
    out_sizes, factors = _spatial_sizes(op, x, size, scale_factor, nd)
    if recompute_scale_factor:
        factors = None
    if mode == "area":
        pool = (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[nd - 1]
        return pool(x, out_sizes)
    scales = coordinate_scales(mode, x.shape[2:], out_sizes, factors, bool(align_corners))
    pad = 3 - nd
    in3 = (1,) * pad + tuple(x.shape[2:])
    out3 = (1,) * pad + out_sizes
    scales3 = [1.0] * pad + scales
    y = empty(x.shape[:2] + out_sizes, x.dtype, x.device)
    defines = dict(MODE=1 if mode == "nearest" else 2, ALIGN=int(bool(align_corners)),
                   **runtime.dtype_defines(x.dtype))

    def launch(name, source, target):
        if target.size:
            kernel = runtime.get_kernel(x.device, "interpolate", name, **defines)
            runtime.launch(x.device, kernel, (target.size,), (launch_sizes.items(x.device),),
                           source.array.data, target.array.data, *i32(target.size, *in3, *out3),
                           *(scalar(x.dtype, s) for s in scales3))

    launch("interpolate_forward", x, y)
    in_shape, dtype, device = x.shape, x.dtype, x.device

    def backward(grad):
        dx = empty(in_shape, dtype, device)
        launch("interpolate_backward", grad, dx)
        return (dx,)

    return autograd.record(op, y, (x,), backward)
