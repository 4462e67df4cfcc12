r"""Convolution (1D, 2D, 3D, grouped, strided, dilated, padded) and its gradients, and the fused
convolution + activation of `clconv.fused`.

For an input of C_in x H x W, C_out filters of C_in/groups x K_H x K_W, padding P, stride S and
dilation D, in each spatial dimension:

    output size        H' = floor((H + 2P - D*(K - 1) - 1) / S) + 1     ('same': H' = H, S = 1)
    parameters         C_out * (C_in/groups) * K_H * K_W  weights  +  C_out  biases
    multiply-adds      C_out * H' * W' * (C_in/groups) * K_H * K_W  per sample
    receptive field    L stacked K x K convolutions of stride 1 see 1 + L*(K - 1) inputs

(The lecture notes' example: a 3 x 32 x 32 input, 10 filters of 3 x 5 x 5, stride 1, pad 2 gives
10 x 32 x 32 outputs, 10 * 76 = 760 parameters and 10*32*32*75 = 768k multiply-adds.)
"""
from __future__ import annotations

from itertools import product

import numpy as np

from ..shapes import conv_padding, ntuple
from ._common import with_batch, cast, f64
from . import elementwise


def _padded(nd, input, weight, stride, padding, dilation):
    """(x padded, in float64 with a batch dimension; whether it had one; the weight in float64;
    its kernel size; stride; dilation; the padding (before, after) per dimension)."""
    x, batched = with_batch(f64(input), nd)
    w = f64(weight)
    kernel = w.shape[2:]
    stride, dilation = ntuple(stride, nd, "stride", "ref"), ntuple(dilation, nd, "dilation", "ref")
    pads = list(zip(*conv_padding(padding, kernel, dilation, "ref")))
    return np.pad(x, [(0, 0), (0, 0)] + pads), batched, w, kernel, stride, dilation, pads


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    r"""y[n, k, o] = bias[k] + sum_{c in group(k), t} w[k, c, t] * x_pad[n, c, o*stride + t*dilation]

    Output size per dimension: floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1.
    """
    dtype = np.asarray(input).dtype
    x, batched, w, kernel, stride, dilation, pads = _padded(nd, input, weight, stride, padding,
                                                            dilation)
    spatial = x.shape[2:]
    out_size = [(s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(spatial, kernel, stride, dilation)]
    n_batch, out_channels = x.shape[0], w.shape[0]
    in_per_group, out_per_group = w.shape[1], out_channels // groups
    y = np.zeros((n_batch, out_channels, *out_size))
    for tap in product(*(range(k) for k in kernel)):
        # The input values that kernel tap `tap` multiplies, for every output position.
        window = tuple(slice(t * d, t * d + (o - 1) * st + 1, st)
                       for t, d, o, st in zip(tap, dilation, out_size, stride))
        for g in range(groups):
            xs = x[(slice(None), slice(g * in_per_group, (g + 1) * in_per_group)) + window]
            ws = w[(slice(g * out_per_group, (g + 1) * out_per_group), slice(None)) + tap]
            y[:, g * out_per_group:(g + 1) * out_per_group] += np.einsum("nc...,kc->nk...", xs, ws)
    if bias is not None:
        y += f64(bias).reshape((1, -1) + (1,) * nd)
    return (y if batched else y[0]).astype(dtype)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_backward(nd, grad_output, input, weight, bias, stride, padding, dilation, groups):
    r"""The forward's sum y[n,k,o] += w[k,c,t] * x_pad[n,c,o*stride+t*dilation], transposed:
    dx_pad[n,c,o*stride+t*dilation] += w[k,c,t] * dy[n,k,o] and dw[k,c,t] += x_pad[...] * dy."""
    dtype = np.asarray(input).dtype
    xp, batched, w, kernel, stride, dilation, pads = _padded(nd, input, weight, stride, padding,
                                                             dilation)
    x_size = [s - b - a for s, (b, a) in zip(xp.shape[2:], pads)]  # the unpadded input's
    g = f64(grad_output) if batched else f64(grad_output)[None]
    out_size = g.shape[2:]
    in_per_group, out_per_group = w.shape[1], w.shape[0] // groups
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for tap in product(*(range(k) for k in kernel)):
        window = tuple(slice(t * d, t * d + (o - 1) * st + 1, st)
                       for t, d, o, st in zip(tap, dilation, out_size, stride))
        for grp in range(groups):
            cs = slice(grp * in_per_group, (grp + 1) * in_per_group)
            ks = slice(grp * out_per_group, (grp + 1) * out_per_group)
            gs = g[:, ks]
            dxp[(slice(None), cs) + window] += np.einsum("nk...,kc->nc...", gs, w[(ks, slice(None)) + tap])
            summed = [0] + list(range(2, 2 + nd))  # batch and output positions
            dw[(ks, slice(None)) + tap] += np.tensordot(gs, xp[(slice(None), cs) + window],
                                                        axes=(summed, summed))
    crop = tuple(slice(b, b + s) for (b, _), s in zip(pads, x_size))
    dx = dxp[(slice(None), slice(None)) + crop]
    db = None if bias is None else g.sum(axis=(0,) + tuple(range(2, 2 + nd)))
    return cast(dtype, dx if batched else dx[0], dw, db)


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_backward(1, grad_output, input, weight, bias, stride, padding, dilation, groups)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_backward(2, grad_output, input, weight, bias, stride, padding, dilation, groups)


def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_backward(3, grad_output, input, weight, bias, stride, padding, dilation, groups)


# clconv.fused's activations: name -> (forward, backward) of the pre-activation z.
_FUSED_ACTIVATIONS = {
    None: (lambda z, slope: z, lambda grad, z, slope: grad),
    "relu": (lambda z, slope: elementwise.relu(z),
             lambda grad, z, slope: elementwise.relu_backward(grad, z)),
    "leaky_relu": (elementwise.leaky_relu, elementwise.leaky_relu_backward),
    **{name: (lambda z, slope, f=getattr(elementwise, name): f(z),
              lambda grad, z, slope, f=getattr(elementwise, f"{name}_backward"): f(grad, z))
       for name in ("relu6", "sigmoid", "silu", "hardswish", "hardsigmoid")},
}


def _fused_conv(nd, input, weight, bias, stride, padding, dilation, groups, activation,
                negative_slope):
    y = _conv(nd, input, weight, bias, stride, padding, dilation, groups)
    return _FUSED_ACTIVATIONS[activation][0](y, negative_slope)


def fused_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01):
    """activation(conv1d(...)): activation None, "relu", "leaky_relu" (negative_slope),
    "relu6", "sigmoid", "silu", "hardswish" or "hardsigmoid"."""
    return _fused_conv(1, input, weight, bias, stride, padding, dilation, groups, activation,
                       negative_slope)


def fused_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01):
    return _fused_conv(2, input, weight, bias, stride, padding, dilation, groups, activation,
                       negative_slope)


def fused_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 activation="relu", negative_slope=0.01):
    return _fused_conv(3, input, weight, bias, stride, padding, dilation, groups, activation,
                       negative_slope)


def _fused_conv_backward(nd, grad_output, input, weight, bias, stride, padding, dilation,
                         groups, activation, negative_slope):
    """The activation's gradient at the convolution's output, then the convolution's."""
    z = _conv(nd, input, weight, bias, stride, padding, dilation, groups)
    grad_output = _FUSED_ACTIVATIONS[activation][1](grad_output, z, negative_slope)
    return _conv_backward(nd, grad_output, input, weight, bias, stride, padding, dilation,
                          groups)


def fused_conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                          dilation=1, groups=1, activation="relu", negative_slope=0.01):
    return _fused_conv_backward(1, grad_output, input, weight, bias, stride, padding, dilation,
                                groups, activation, negative_slope)


def fused_conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                          dilation=1, groups=1, activation="relu", negative_slope=0.01):
    return _fused_conv_backward(2, grad_output, input, weight, bias, stride, padding, dilation,
                                groups, activation, negative_slope)


def fused_conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                          dilation=1, groups=1, activation="relu", negative_slope=0.01):
    return _fused_conv_backward(3, grad_output, input, weight, bias, stride, padding, dilation,
                                groups, activation, negative_slope)


# --- transposed convolution: the adjoint of conv -------------------------------------------------

def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    r"""y[n, g*C_out/g + k, o] += x[n, c, i] * w[c, k, t] for o = i*stride - padding +
    t*dilation (c in group g): every input element scattered through the kernel.

    Output size per dimension: (size - 1)*stride - 2*padding + dilation*(kernel - 1) +
    output_padding + 1."""
    x, batched = with_batch(np.asarray(input), nd)
    dtype = x.dtype
    x, w = f64(x), f64(weight)
    n = lambda v: (v,) * nd if np.isscalar(v) else tuple(v)  # noqa: E731
    stride, padding, output_padding, dilation = map(n, (stride, padding, output_padding,
                                                        dilation))
    c_in, c_per_group, *kernel = w.shape
    c_out = c_per_group * groups
    size = x.shape[2:]
    full = tuple((s - 1) * st + d * (k - 1) + 1 + o for s, st, d, k, o in
                 zip(size, stride, dilation, kernel, output_padding))
    y = np.zeros((x.shape[0], c_out) + full)
    per_in = c_in // groups
    for tap in product(*(range(k) for k in kernel)):
        where = tuple(slice(t * d, t * d + (s - 1) * st + 1, st) for t, d, s, st in
                      zip(tap, dilation, size, stride))
        for g in range(groups):
            xs = x[:, g * per_in:(g + 1) * per_in]
            ws = w[(slice(g * per_in, (g + 1) * per_in), slice(None)) + tap]
            y[(slice(None), slice(g * c_per_group, (g + 1) * c_per_group)) + where] += \
                np.einsum("nc...,ck->nk...", xs, ws)
    crop = tuple(slice(p, f - p) for p, f in zip(padding, full))
    y = y[(slice(None), slice(None)) + crop]
    if bias is not None:
        y = y + f64(bias).reshape((-1,) + (1,) * nd)
    return (y if batched else y[0]).astype(dtype)


def _conv_transpose_backward(nd, grad_output, input, weight, bias, stride, padding,
                             output_padding, groups, dilation):
    """The adjoint's gradients: dx = conv(dy, w) (the convolution it is the transpose of), dw
    that convolution's weight gradient with x as its output gradient, db = sum of dy."""
    x = np.asarray(input)
    g, batched = with_batch(f64(grad_output), nd)
    xb = with_batch(f64(x), nd)[0]
    conv = globals()[f"conv{nd}d"]
    dx = conv(g, f64(weight), None, stride, padding, dilation, groups)
    _, dw, _ = _conv_backward(nd, xb, g, f64(weight), None, stride, padding, dilation, groups)
    db = None if bias is None else g.sum(axis=(0,) + tuple(range(2, g.ndim)))
    return cast(x.dtype, dx if batched else dx[0], dw, db)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv_transpose_backward(1, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation)


def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv_transpose_backward(2, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation)


def conv_transpose3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv_transpose_backward(3, grad_output, input, weight, bias, stride, padding,
                                    output_padding, groups, dilation)
