"""summary(model, input_shape): per layer output shape, learnable parameters, multiply-adds and
receptive field, by the classic CNN lecture's formulas:

- output size per dimension: floor((W - dilation*(K-1) - 1 + 2P) / S) + 1
- parameters of a convolution: out_channels * (in_channels/groups * prod(K) + 1 with bias)
- multiply-adds of a convolution: prod(output) * in_channels/groups * prod(K) per sample
  (10 filters of 3x5x5 on 3x32x32, stride 1, pad 2: 10*32*32*75 = 768k); of a linear layer
  in_features * out_features. Other layers are counted as 0 multiply-adds.
- receptive field: r_out = r_in + (dilation*(K-1)) * j_in and jump j_out = j_in * S per conv or
  pool layer; after global pooling, flattening or a linear layer every output sees the whole input.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..ops.conv import conv_geometry
from ..shapes import ntuple, pool_output_size
from . import conv_layers, layers
from .module import Module


@dataclass
class Row:
    name: str
    layer: str
    output_shape: tuple
    parameters: int
    multiply_adds: int
    receptive_field: str


def _pool_output(module, shape, dilation):
    nd = module.nd
    kernel = ntuple(module.kernel_size, nd, "kernel_size", "summary")
    stride = kernel if module.stride is None else ntuple(module.stride, nd, "stride", "summary")
    padding = ntuple(module.padding, nd, "padding", "summary")
    dilation = ntuple(dilation, nd, "dilation", "summary")
    out = tuple(pool_output_size(s, k, st, p, d, module.ceil_mode)
                for s, k, st, p, d in zip(shape[1:], kernel, stride, padding, dilation))
    return (shape[0],) + out, kernel, stride, dilation


def _layer(module: Module, shape: tuple):
    """(output shape without batch, multiply-adds, (kernel, stride, dilation) or 'global' or None)."""
    if isinstance(module, conv_layers._ConvNd):
        geo = conv_geometry("summary", module.nd, (1,) + shape, tuple(module.weight.shape),
                            module.stride, module.padding, module.dilation, module.groups)
        out = (module.out_channels,) + geo.out_size[3 - module.nd:]
        return out, geo.multiply_adds, (module.kernel_size, module.stride, module.dilation)
    if isinstance(module, conv_layers._MaxPoolNd):
        out, kernel, stride, dilation = _pool_output(module, shape, module.dilation)
        return out, 0, (kernel, stride, dilation)
    if isinstance(module, conv_layers._AvgPoolNd):
        out, kernel, stride, dilation = _pool_output(module, shape, 1)
        return out, 0, (kernel, stride, dilation)
    if isinstance(module, conv_layers._AdaptiveAvgPoolNd):
        size = ntuple(module.output_size, module.nd, "output_size", "summary") \
            if not isinstance(module.output_size, (tuple, list)) else tuple(
                s if o is None else o for s, o in zip(shape[1:], module.output_size))
        return (shape[0],) + tuple(size), 0, "global"
    if isinstance(module, layers.Flatten):
        full = (1,) + shape
        return module._shape(full)[1:], 0, "global"
    if isinstance(module, layers.Linear):
        return shape[:-1] + (module.out_features,), prod(shape[:-1]) * module.in_features * module.out_features, "global"
    return shape, 0, None  # elementwise and normalization layers keep the shape


def summary(model: Module, input_shape, print_fn=print) -> list[Row]:
    """Print (and return) one row per layer for an input of `input_shape` (without the batch)."""
    shape = tuple(input_shape)
    spatial = len(shape) - 1
    field, jump, is_global = [1] * spatial, [1] * spatial, False
    rows = []
    leaves = [(name, m) for name, m in model.named_modules() if not m._modules]
    for name, module in leaves:
        shape, multiply_adds, window = _layer(module, shape)
        if window == "global":
            is_global = True
        elif window is not None and not is_global:
            kernel, stride, dilation = (ntuple(v, spatial, "window", "summary") for v in window)
            field = [r + d * (k - 1) * j for r, k, d, j in zip(field, kernel, dilation, jump)]
            jump = [j * s for j, s in zip(jump, stride)]
        params = sum(p.size for p in module.parameters())
        receptive = "whole input" if is_global else "x".join(map(str, field))
        rows.append(Row(name, type(module).__name__, shape, params, multiply_adds, receptive))
    header = f"{'layer':<22}{'output shape':<20}{'params':>10}{'mult-adds':>14}  receptive field"
    print_fn(header)
    print_fn("-" * len(header))
    for row in rows:
        print_fn(f"{row.name + ' ' + row.layer:<22}{str(row.output_shape):<20}{row.parameters:>10,}"
                 f"{row.multiply_adds:>14,}  {row.receptive_field}")
    print_fn("-" * len(header))
    print_fn(f"total: {sum(r.parameters for r in rows):,} parameters, "
             f"{sum(r.multiply_adds for r in rows):,} multiply-adds per sample")
    return rows
