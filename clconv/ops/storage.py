"""Element types on the device: conversions (`cast.cl`) and float16 storage.

float16 is a storage type only. A float16 tensor holds half the bytes of a float32 one, on every
device: its elements are read and written with vload_half / vstore_half, which core OpenCL
guarantees without cl_khr_fp16, and every op computes in float32. An op given float16 tensors
(`half_storage`) converts them to float32, runs, and returns float16 results; gradients flow
back through the conversions, so x.grad of a float16 x is float16. Results match the
reference computed in float64 on the same float16 inputs, rounded once to float16
(clconv.testing's float16 tolerance).
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import autograd, runtime
from . import launch_sizes
from .. import tensors
from ..tensors import Tensor, empty, tensor

HALF = np.dtype(np.float16)
_CL_TYPE = {np.dtype(np.float16): "half", np.dtype(np.float32): "float",
            np.dtype(np.float64): "double"}


def cast(x: Tensor, dtype) -> Tensor:
    """x converted to `dtype` (float16, float32 or float64; float64 needs cl_khr_fp64), rounding
    to nearest even; differentiable: the gradient comes back converted to x's dtype."""
    target = np.dtype(dtype)
    if target not in _CL_TYPE:
        raise TypeError(f"to: dtype {target} is not one of float16, float32, float64")
    if target == x.dtype:
        return x
    out = empty(x.shape, target, x.device)
    convert_into(x, out)
    source = x.dtype  # (the closure keeps the dtype, not the tensor)
    return autograd.record("cast", out, (x,), lambda grad: (cast(grad, source),))


tensors.provide("cast", cast)  # Tensor.to


def convert_into(x: Tensor, out: Tensor) -> None:
    """out[...] = x converted to out's dtype (same shape and device)."""
    if x.size == 0:
        return
    uses_double = np.dtype(np.float64) in (x.dtype, out.dtype)
    lanes = x.device.profile.vector_lanes(max(x.dtype.itemsize, out.dtype.itemsize, 4))
    kernel = runtime.get_kernel(x.device, "cast", "cast", VW=lanes, SOURCE=_CL_TYPE[x.dtype],
                                TARGET=_CL_TYPE[out.dtype], SOURCE_IS_HALF=int(x.dtype == HALF),
                                TARGET_IS_HALF=int(out.dtype == HALF),
                                USES_DOUBLE=int(uses_double))
    runtime.launch(x.device, kernel, (-(-x.size // lanes),), (launch_sizes.items(x.device),),
                   x.array.data, out.array.data,
                   np.int32(x.size))


def _is_half(value) -> bool:
    if isinstance(value, list):  # (cat's tensors)
        return any(map(_is_half, value))
    return isinstance(value, (Tensor, np.ndarray)) and value.dtype == HALF


def _narrow(out, in_place: dict):
    """An op's result with float16 storage: floating-point tensors converted to float16, except
    a float32 copy changed in place, for which its float16 original (`in_place`, by id) stands.
    (A module-level function: a nested recursive one would be a reference cycle holding the
    tensors until the garbage collector runs.)"""
    if isinstance(out, tuple):
        return tuple(_narrow(o, in_place) for o in out)
    if not isinstance(out, Tensor) or out.dtype.kind != "f":
        return out  # (pooling indices stay int64)
    original = in_place.get(id(out))
    return original if original is not None else cast(out, HALF)


def _check_one_float_dtype(op_name: str, signature, args, kwargs) -> None:
    """float16 arguments mix with no other floating-point dtype, as in every op."""
    def members(name, value):  # (cat's tensors: each member of the list)
        if isinstance(value, list):
            return [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        return [(name, value)]

    floats = [(name, value.dtype) for argument, given in
              signature.bind(*args, **kwargs).arguments.items()
              for name, value in members(argument, given)
              if isinstance(value, (Tensor, np.ndarray)) and value.dtype.kind == "f"]
    first_name, first = next((name, dtype) for name, dtype in floats if dtype == HALF)
    for name, dtype in floats:
        if dtype != HALF:
            raise TypeError(f"{op_name}: {name} has dtype {dtype} but {first_name} has "
                            f"{first}; convert them to one dtype")


def half_storage(op):
    """`op` taking float16 tensors (or NumPy arrays): they are converted to float32 for it, its
    floating-point results back to float16, and what it changed in place (running statistics,
    inplace activations) is written back into the float16 originals."""

    signature = inspect.signature(op)

    @functools.wraps(op)
    def run(*args, **kwargs):
        if not any(map(_is_half, args)) and not any(map(_is_half, kwargs.values())):
            return op(*args, **kwargs)
        _check_one_float_dtype(op.__name__, signature, args, kwargs)
        widened = []  # (caller's value, its float16 tensor, the float32 copy, copy's version)

        def widen(value):
            if isinstance(value, list):
                return [widen(v) for v in value]
            if not _is_half(value):
                return value
            original = value if isinstance(value, Tensor) else tensor(value)
            wide = cast(original, np.float32)
            widened.append((value, original, wide, wide._version))
            return wide

        result = op(*map(widen, args), **{k: widen(v) for k, v in kwargs.items()})
        for value, original, wide, version in widened:
            if wide._version != version:  # changed in place: so must the original be
                convert_into(wide, original)
                original._version += 1
                if isinstance(value, np.ndarray):
                    value[...] = original.numpy()
        return _narrow(result, {id(wide): original for _, original, wide, _ in widened})

    return run
