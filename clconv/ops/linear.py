"""linear: y = x @ weight.T + bias over the last dimension (`gemm.cl`)."""
from __future__ import annotations

from math import prod

from .. import runtime
from ..tensors import Tensor, empty
from ._args import buffer, expect_shape, i32, tensors

_TILES = {"TILE_M": 4, "TILE_N": 8}


def linear(input, weight, bias=None) -> Tensor:
    op = "linear"
    t = tensors(op, input=input, weight=weight, bias=bias)
    x, w, b = t["input"], t["weight"], t["bias"]
    if w.ndim != 2:
        raise ValueError(f"{op}: weight must be 2D (out_features, in_features), got {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features but weight of shape {w.shape} expects {w.shape[1]}")
    expect_shape(b, (w.shape[0],), "bias", op, " (out_features)")
    rows, out_features, in_features = prod(x.shape[:-1]), w.shape[0], w.shape[1]
    y = empty(x.shape[:-1] + (out_features,), x.dtype, x.device)
    if y.size:
        device = x.device
        kernel = runtime.get_kernel(device, "gemm", "linear_forward", **_TILES,
                                    **runtime.dtype_defines(x.dtype))
        global_size = (-(-out_features // _TILES["TILE_N"]), -(-rows // _TILES["TILE_M"]))
        runtime.launch(device, kernel, global_size, (4, 4) if device.is_gpu else (1, 1),
                       buffer(x, device), buffer(w, device), buffer(b, device),
                       i32(b is not None)[0], y.array.data, *i32(rows, out_features, in_features))
    return y
