"""dropout: a seeded, device-independent mask (`dropout.cl`; keys from clconv.random)."""
from __future__ import annotations

import numpy as np

from .. import autograd, random, runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import real, scalar, tensors


def dropout(input, p=0.5, training=True, inplace=False) -> Tensor:
    """Each element zeroed with probability p and the others scaled by 1 / (1 - p) when
    training; the identity otherwise. The mask comes from the next key of clconv.random's
    stream (clconv.manual_seed makes it reproducible)."""
    op = "dropout"
    x = tensors(op, input=input)["input"]
    p = real(p, "p", op)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    for name, value in (("training", training), ("inplace", inplace)):
        if not isinstance(value, bool):
            raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
    if not training or p == 0.0:
        return x
    if inplace and autograd.needs_grad(x):
        raise RuntimeError(f"{op}: inplace=True on a tensor that requires grad would overwrite "
                           "what backward needs; use inplace=False")
    key = random.next_key()
    dtype = x.dtype
    factor = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    y = x if inplace else empty(x.shape, dtype, x.device)

    def launch(name, source, target):
        if target.size:
            kernel = runtime.get_kernel(x.device, "dropout", name, **runtime.dtype_defines(dtype))
            runtime.launch(x.device, kernel, (target.size,), (launch_sizes.items(x.device),),
                           source.array.data, target.array.data, np.uint32(key), np.float32(p),
                           scalar(dtype, factor), np.int32(target.size))

    launch("dropout_forward", x, y)
    if inplace:
        x._version += 1
        if isinstance(input, np.ndarray):
            input[...] = y.numpy()
        return y

    def backward(grad):
        dx = empty(grad.shape, dtype, grad.device)
        launch("dropout_backward", grad, dx)
        return (dx,)

    return autograd.record(op, y, (x,), backward)
