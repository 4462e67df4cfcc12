"""The shape ops (views and copies that move elements without arithmetic) and their gradients:
each gradient moves the output gradient back to where its element came from."""
from __future__ import annotations

import numpy as np


def _dim(dim, ndim):
    return dim % max(ndim, 1)


def reshape(input, shape):
    """The elements in row-major order under another shape (one entry may be -1)."""
    return np.asarray(input).reshape(shape).copy()


def reshape_backward(grad_output, input, shape):
    return np.asarray(grad_output).reshape(np.shape(input)).astype(np.asarray(input).dtype)


def flatten(input, start_dim=0, end_dim=-1):
    """Dimensions start_dim .. end_dim merged into one."""
    x = np.asarray(input)
    if x.ndim == 0:
        return x.reshape(1).copy()
    start, end = _dim(start_dim, x.ndim), _dim(end_dim, x.ndim)
    merged = int(np.prod(x.shape[start:end + 1]))
    return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:]).copy()


def flatten_backward(grad_output, input, start_dim=0, end_dim=-1):
    return reshape_backward(grad_output, input, None)


def squeeze(input, dim=None):
    """Without the size-1 dimensions (all, or those among dim)."""
    x = np.asarray(input)
    dims = range(x.ndim) if dim is None else [dim] if np.isscalar(dim) else dim
    chosen = {_dim(d, x.ndim) for d in dims}
    return x.reshape(tuple(s for d, s in enumerate(x.shape)
                           if not (d in chosen and s == 1))).copy()


def squeeze_backward(grad_output, input, dim=None):
    return reshape_backward(grad_output, input, None)


def unsqueeze(input, dim):
    """With a size-1 dimension inserted at dim (in [-ndim - 1, ndim])."""
    x = np.asarray(input)
    return np.expand_dims(x, _dim(dim, x.ndim + 1)).copy()


def unsqueeze_backward(grad_output, input, dim):
    return reshape_backward(grad_output, input, None)


def permute(input, dims):
    """Output dimension i is input dimension dims[i]."""
    return np.ascontiguousarray(np.transpose(np.asarray(input), dims))


def permute_backward(grad_output, input, dims):
    """The inverse permutation of the gradient."""
    x = np.asarray(input)
    order = [_dim(d, x.ndim) for d in dims]
    return np.ascontiguousarray(np.transpose(np.asarray(grad_output),
                                             np.argsort(order))).astype(x.dtype)


def transpose(input, dim0, dim1):
    """Dimensions dim0 and dim1 swapped."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(input), dim0, dim1))


def transpose_backward(grad_output, input, dim0, dim1):
    return np.ascontiguousarray(np.swapaxes(np.asarray(grad_output), dim0, dim1)).astype(
        np.asarray(input).dtype)


def cat(tensors, dim=0):
    """The tensors joined along dim (1-D empty ones skipped, as in PyTorch)."""
    arrays = [np.asarray(t) for t in tensors]
    joined = [a for a in arrays if a.shape != (0,)] or arrays[:1]
    return np.concatenate(joined, axis=dim)


def cat_backward(grad_output, tensors, dim=0):
    """One slice of the gradient per tensor (a list: cat's differentiable argument is a list)."""
    arrays = [np.asarray(t) for t in tensors]
    joined = [a for a in arrays if a.shape != (0,)] or arrays[:1]
    axis = _dim(dim, joined[0].ndim)
    out, at = [], 0
    for a in arrays:
        if a.shape == (0,) and a is not joined[0]:
            out.append(np.zeros_like(a))
            continue
        index = [slice(None)] * joined[0].ndim
        index[axis] = slice(at, at + a.shape[axis])
        out.append(np.asarray(grad_output)[tuple(index)].astype(a.dtype))
        at += a.shape[axis]
    return (out,)


def narrow(input, dim, start, length):
    """Elements start .. start + length - 1 of dimension dim."""
    x = np.asarray(input)
    axis = _dim(dim, x.ndim)
    start = start % x.shape[axis] if start < 0 else start
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, start + length)
    return x[tuple(index)].copy()


def narrow_backward(grad_output, input, dim, start, length):
    """The gradient in the narrowed positions, zero elsewhere."""
    x = np.asarray(input)
    axis = _dim(dim, x.ndim)
    start = start % x.shape[axis] if start < 0 else start
    out = np.zeros(x.shape, x.dtype)
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, start + length)
    out[tuple(index)] = grad_output
    return out


def broadcast_to(input, size):
    """input repeated along its size-1 (and missing leading) dimensions; -1 keeps a size."""
    x = np.asarray(input)
    size = (size,) if np.isscalar(size) else tuple(size)
    lead = len(size) - x.ndim
    target = tuple(x.shape[d - lead] if s == -1 and d >= lead else s for d, s in enumerate(size))
    return np.ascontiguousarray(np.broadcast_to(x, target))


def broadcast_to_backward(grad_output, input, size):
    """The gradient summed over the repeated dimensions."""
    x = np.asarray(input)
    g = np.asarray(grad_output, np.float64)
    g = g.sum(axis=tuple(range(g.ndim - x.ndim)))
    return g.sum(axis=tuple(i for i, s in enumerate(x.shape) if s == 1),
                 keepdims=True).astype(x.dtype)


def _pad_pairs(x, pad):
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pairs


def _pad_indices(x, pad, mode):
    """For each output element, the flat index of the input element it shows (-1: the
    constant)."""
    pairs = _pad_pairs(x, pad)
    index = np.arange(x.size).reshape(x.shape)
    crop = tuple(slice(max(0, -b), n - max(0, -a)) for n, (b, a) in zip(x.shape, pairs))
    index = index[crop]
    grow = [(max(0, b), max(0, a)) for b, a in pairs]
    numpy_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                  "circular": "wrap"}[mode]
    if numpy_mode == "constant":
        return np.pad(index, grow, mode="constant", constant_values=-1)
    return np.pad(index, grow, mode=numpy_mode)


def pad(input, pad, mode="constant", value=None):
    """Padded by (before, after) pairs from the last dimension: constant (negative pads crop),
    reflect (the edge not repeated), replicate (the edge repeated), circular (wrapped)."""
    x = np.asarray(input)
    index = _pad_indices(x, pad, mode)
    fill = 0.0 if value is None else float(value)
    flat = x.reshape(-1)
    return np.where(index >= 0, flat[np.maximum(index, 0)] if x.size else fill,
                    fill).astype(x.dtype)


def pad_backward(grad_output, input, pad, mode="constant", value=None):
    """Each input element gets the sum of the output elements that show it."""
    x = np.asarray(input)
    index = _pad_indices(x, pad, mode).reshape(-1)
    g = np.asarray(grad_output, np.float64).reshape(-1)
    shown = index >= 0
    return np.bincount(index[shown], weights=g[shown], minlength=x.size).reshape(
        x.shape).astype(x.dtype)
