"""The op table: every public op once, with what each part of clconv needs to know of it.

    OPS["conv2d"].function(x, w, b, padding=1)        # what clconv.functional.conv2d calls
    OPS["conv2d"].reference, OPS["conv2d"].backward   # clconv.reference's twins
    OPS["conv2d"].differentiable                      # ("input", "weight", "bias")
    OPS["conv2d"].cases                               # sample calls with readable ids

An entry holds the device implementation (clconv.ops), the reference forward and backward, the
arguments that get gradients (by name, in the order the backward returns them), how the op takes
float16, and sample cases. `clconv.functional` and `clconv.fused` call `function` (the
implementation with float16 storage and check mode around it); `python -m clconv check`, the
sanitizer, the fuzzer and the tests take the op list, the differentiable arguments and the cases
from here.

Adding an op: its kernel (kernels/), its launcher (clconv/ops/), its reference forward and
backward (clconv/reference/), one entry below, and its `def` in clconv.functional.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import reference as R
from .check_mode import checked
from .ops import activation, conv, conv_transpose, dropout, elementwise, interpolate, lrn, linear, loss, norm, pad, pool, reduction, shape
from .ops.storage import half_storage


@dataclass(frozen=True)
class Array:
    """A case's argument that is a random array: normal values times `scale`, uniform in
    [0.5, 2) where `positive` (variances), or int64 class indices below `classes` (targets)."""
    shape: tuple
    scale: float = 1.0
    positive: bool = False
    classes: int = 0

    def make(self, rng: np.random.Generator, dtype) -> np.ndarray:
        if self.classes:
            return rng.integers(0, self.classes, self.shape, dtype=np.int64)
        if self.positive:
            return rng.uniform(0.5, 2.0, self.shape).astype(dtype)
        return (rng.standard_normal(self.shape) * self.scale).astype(dtype)

    def __str__(self):
        return "x".join(map(str, self.shape))


def rand(*shape, scale=1.0, positive=False) -> Array:
    return Array(shape, scale=scale, positive=positive)


def labels(*shape, classes) -> Array:
    return Array(shape, classes=classes)


@dataclass(frozen=True)
class Case:
    """One call of an op with keyword arguments (Arrays become random arrays); `id` names it
    in test ids and reports."""
    op: str
    id: str
    arguments: dict

    def make(self, rng: np.random.Generator, dtype) -> dict:
        """The arguments, with each Array (also in a list: cat's tensors) drawn from `rng` in
        `dtype`."""
        def draw(value):
            if isinstance(value, list):
                return [draw(v) for v in value]
            return value.make(rng, dtype) if isinstance(value, Array) else value
        return {name: draw(value) for name, value in self.arguments.items()}

    def __str__(self):
        return f"{self.op}[{self.id}]"


@dataclass(frozen=True)
class Op:
    """One public op. `function` is what users call: `implementation` (float32/float64 device
    tensors) with float16 storage and check mode around it."""
    name: str
    implementation: Callable
    reference: Callable
    backward: Callable | None
    differentiable: tuple[str, ...]
    cases: tuple[Case, ...]
    # "storage": float16 tensors are stored as float16 and computed on in float32
    # (clconv.ops.storage); every op takes float16 this way.
    float16: str = "storage"
    function: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "function",
                           checked(half_storage(self.implementation), self.reference))

    def gradient_arguments(self, *args, **kwargs) -> dict:
        """{name: value} of the differentiable arguments a call passes (None where absent)."""
        bound = inspect.signature(self.reference).bind(*args, **kwargs).arguments
        return {name: bound.get(name) for name in self.differentiable}


def _entry(name, implementation, differentiable=("input",), cases=()) -> Op:
    return Op(name, implementation, getattr(R, name), getattr(R, f"{name}_backward", None),
              tuple(differentiable), tuple(Case(name, id, arguments) for id, arguments in cases))


_CONV_GRADS = ("input", "weight", "bias")
_NORM_GRADS = ("input", "weight", "bias")
_X2 = rand(4, 8, 15, 13)  # the 2D input most cases share

_TABLE = [
    _entry("conv1d", conv.conv1d, _CONV_GRADS, [
        ("pad2", dict(input=rand(3, 8, 33), weight=rand(16, 8, 5, scale=0.15), bias=rand(16),
                      padding=2))]),
    _entry("conv2d", conv.conv2d, _CONV_GRADS, [
        ("3x3-pad1", dict(input=_X2, weight=rand(16, 8, 3, 3, scale=0.1), bias=rand(16),
                          padding=1)),
        ("stride2-groups2-dilation2", dict(input=_X2, weight=rand(12, 4, 3, 3, scale=0.15),
                                           stride=2, groups=2, dilation=2)),
        ("depthwise-same", dict(input=_X2, weight=rand(8, 1, 3, 3, scale=0.3), padding="same",
                                groups=8)),
        ("1x1", dict(input=_X2, weight=rand(32, 8, 1, 1, scale=0.3)))]),
    _entry("conv3d", conv.conv3d, _CONV_GRADS, [
        ("3x3x3-pad1", dict(input=rand(2, 4, 6, 7, 8), weight=rand(6, 4, 3, 3, 3, scale=0.1),
                            padding=1))]),
    _entry("conv_transpose1d", conv_transpose.conv_transpose1d, _CONV_GRADS, [
        ("stride2-outpad1", dict(input=rand(3, 8, 17), weight=rand(8, 6, 4, scale=0.2),
                                 bias=rand(6), stride=2, padding=1, output_padding=1))]),
    _entry("conv_transpose2d", conv_transpose.conv_transpose2d, _CONV_GRADS, [
        ("stride2-pad1", dict(input=rand(2, 8, 7, 6), weight=rand(8, 4, 3, 3, scale=0.2),
                              bias=rand(4), stride=2, padding=1, output_padding=1)),
        ("groups2-dilation2", dict(input=rand(2, 6, 5, 7), weight=rand(6, 3, 3, 2, scale=0.2),
                                   groups=2, dilation=2, padding=(1, 0))),
        ("upsample-4x4", dict(input=rand(1, 4, 5, 5), weight=rand(4, 4, 4, 4, scale=0.2),
                              stride=2, padding=1))]),
    _entry("conv_transpose3d", conv_transpose.conv_transpose3d, _CONV_GRADS, [
        ("stride2", dict(input=rand(2, 4, 3, 4, 5), weight=rand(4, 3, 3, 3, 3, scale=0.2),
                         bias=rand(3), stride=2, padding=1))]),
    _entry("max_pool1d", pool.max_pool1d, cases=[
        ("3-stride2-pad1-indices", dict(input=rand(2, 3, 17), kernel_size=3, stride=2,
                                        padding=1, return_indices=True))]),
    _entry("max_pool2d", pool.max_pool2d, cases=[
        ("3-stride2-pad1-ceil-indices", dict(input=_X2, kernel_size=3, stride=2, padding=1,
                                             ceil_mode=True, return_indices=True))]),
    _entry("max_pool3d", pool.max_pool3d, cases=[
        ("2", dict(input=rand(2, 3, 6, 7, 8), kernel_size=2))]),
    _entry("avg_pool1d", pool.avg_pool1d, cases=[
        ("4-stride3-pad2-ceil", dict(input=rand(2, 3, 17), kernel_size=4, stride=3, padding=2,
                                     ceil_mode=True))]),
    _entry("avg_pool2d", pool.avg_pool2d, cases=[
        ("3-stride1-pad1-exclude-pad", dict(input=_X2, kernel_size=3, stride=1, padding=1,
                                            count_include_pad=False))]),
    _entry("avg_pool3d", pool.avg_pool3d, cases=[
        ("3-stride2-pad1-divisor7", dict(input=rand(2, 3, 6, 7, 8), kernel_size=3, stride=2,
                                         padding=1, divisor_override=7))]),
    _entry("adaptive_avg_pool1d", pool.adaptive_avg_pool1d, cases=[
        ("to5", dict(input=rand(2, 3, 17), output_size=5))]),
    _entry("adaptive_avg_pool2d", pool.adaptive_avg_pool2d, cases=[
        ("to4x3", dict(input=_X2, output_size=(4, 3)))]),
    _entry("adaptive_avg_pool3d", pool.adaptive_avg_pool3d, cases=[
        ("to2x3x4", dict(input=rand(2, 3, 6, 7, 8), output_size=(2, 3, 4)))]),
    _entry("adaptive_max_pool2d", pool.adaptive_max_pool2d, cases=[
        ("to4x3-indices", dict(input=_X2, output_size=(4, 3), return_indices=True)),
        ("global", dict(input=rand(3, 5, 7, 6), output_size=1))]),
    _entry("local_response_norm", lrn.local_response_norm, cases=[
        ("size5", dict(input=_X2, size=5, alpha=1e-2, beta=0.75, k=2.0)),
        ("size2-3d", dict(input=rand(3, 6, 11), size=2, alpha=0.1))]),
    _entry("interpolate", interpolate.interpolate, cases=[
        ("nearest-x2", dict(input=rand(2, 3, 5, 7), scale_factor=2)),
        ("nearest-size-3d", dict(input=rand(1, 2, 3, 4, 5), size=(5, 3, 8))),
        ("bilinear-size", dict(input=rand(2, 3, 5, 7), size=(9, 4), mode="bilinear",
                               align_corners=False)),
        ("bilinear-align-x8", dict(input=rand(1, 2, 4, 3), scale_factor=8, mode="bilinear",
                                   align_corners=True)),
        ("linear-scale2.5", dict(input=rand(2, 3, 6), scale_factor=2.5, mode="linear")),
        ("trilinear", dict(input=rand(1, 2, 3, 4, 5), size=(4, 6, 3), mode="trilinear")),
        ("area", dict(input=rand(2, 3, 8, 9), size=(4, 3), mode="area"))]),
    _entry("batch_norm", norm.batch_norm, _NORM_GRADS, [
        ("training", dict(input=_X2, running_mean=rand(8), running_var=rand(8, positive=True),
                          weight=rand(8), bias=rand(8), training=True)),
        ("evaluation", dict(input=_X2, running_mean=rand(8),
                            running_var=rand(8, positive=True), training=False))]),
    _entry("layer_norm", norm.layer_norm, _NORM_GRADS, [
        ("last2", dict(input=_X2, normalized_shape=(15, 13), weight=rand(15, 13),
                       bias=rand(15, 13)))]),
    _entry("instance_norm", norm.instance_norm, _NORM_GRADS, [
        ("no-affine", dict(input=_X2))]),
    _entry("group_norm", norm.group_norm, _NORM_GRADS, [
        ("4groups", dict(input=_X2, num_groups=4, weight=rand(8), bias=rand(8)))]),
    _entry("relu", elementwise.relu, cases=[("4d", dict(input=_X2))]),
    _entry("leaky_relu", elementwise.leaky_relu, cases=[
        ("slope0.1", dict(input=_X2, negative_slope=0.1))]),
    _entry("sigmoid", activation.sigmoid, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=4)))]),
    _entry("tanh", activation.tanh, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=2)))]),
    _entry("silu", activation.silu, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=4)))]),
    _entry("hardsigmoid", activation.hardsigmoid, cases=[
        ("4d", dict(input=rand(4, 8, 15, 13, scale=4)))]),
    _entry("hardswish", activation.hardswish, cases=[
        ("4d", dict(input=rand(4, 8, 15, 13, scale=4)))]),
    _entry("hardtanh", activation.hardtanh, cases=[
        ("default", dict(input=rand(4, 8, 15, 13, scale=2))),
        ("bounds-0.5-2", dict(input=rand(3, 70, scale=2), min_val=-0.5, max_val=2.0))]),
    _entry("relu6", activation.relu6, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=6)))]),
    _entry("elu", activation.elu, cases=[
        ("alpha1", dict(input=_X2)), ("alpha0.5", dict(input=rand(5, 33), alpha=0.5))]),
    _entry("clamp", activation.clamp, cases=[
        ("both", dict(input=rand(4, 8, 15, 13, scale=2), min=-0.5, max=1.5)),
        ("min-only", dict(input=rand(3, 70), min=0.25))]),
    _entry("gelu", activation.gelu, cases=[
        ("exact", dict(input=rand(4, 8, 15, 13, scale=3))),
        ("tanh", dict(input=rand(3, 70, scale=3), approximate="tanh"))]),
    # (training with 0 < p < 1 is random: test_elementwise checks it against dropout_keyed)
    _entry("dropout", dropout.dropout, cases=[
        ("evaluation", dict(input=_X2, p=0.3, training=False)),
        ("p1", dict(input=rand(5, 33), p=1.0))]),
    _entry("add", elementwise.add, ("input", "other"), [
        ("broadcast", dict(input=_X2, other=rand(8, 1, 13)))]),
    _entry("sub", elementwise.sub, ("input", "other"), [
        ("broadcast", dict(input=rand(8, 1, 13), other=_X2))]),
    _entry("mul", elementwise.mul, ("input", "other"), [
        ("squeeze-excitation", dict(input=_X2, other=rand(4, 8, 1, 1))),
        ("same-shape", dict(input=rand(5, 33), other=rand(5, 33)))]),
    _entry("div", elementwise.div, ("input", "other"), [
        ("broadcast", dict(input=_X2, other=rand(13, positive=True)))]),
    _entry("maximum", elementwise.maximum, ("input", "other"), [
        ("broadcast", dict(input=_X2, other=rand(8, 1, 13)))]),
    _entry("minimum", elementwise.minimum, ("input", "other"), [
        ("broadcast", dict(input=rand(15, 1), other=_X2))]),
    _entry("erf", activation.erf, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=2)))]),
    _entry("exp", activation.exp, cases=[("4d", dict(input=_X2))]),
    _entry("log", activation.log, cases=[("positive", dict(input=rand(5, 33, positive=True)))]),
    _entry("sqrt", activation.sqrt, cases=[("positive", dict(input=rand(5, 33, positive=True)))]),
    _entry("abs", activation.abs, cases=[("4d", dict(input=_X2))]),
    _entry("floor", activation.floor, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=5)))]),
    _entry("ceil", activation.ceil, cases=[("4d", dict(input=rand(4, 8, 15, 13, scale=5)))]),
    _entry("broadcast_to", shape.broadcast_to, cases=[
        ("leading-and-inner", dict(input=rand(8, 1, 13), size=(4, 8, 15, 13))),
        ("keep", dict(input=rand(3, 1), size=(-1, 6)))]),
    _entry("matmul", linear.matmul, ("input", "other"), [
        ("batched-broadcast", dict(input=rand(2, 3, 5, 17), other=rand(3, 17, 6))),
        ("matrix-vector", dict(input=rand(7, 17), other=rand(17))),
        ("vector-batched", dict(input=rand(9), other=rand(4, 9, 5)))]),
    _entry("reshape", shape.reshape, cases=[("to-3d", dict(input=_X2, shape=(4, -1, 13)))]),
    _entry("flatten", shape.flatten, cases=[("from1", dict(input=_X2, start_dim=1))]),
    _entry("squeeze", shape.squeeze, cases=[("dim", dict(input=rand(4, 1, 6, 1), dim=-1))]),
    _entry("unsqueeze", shape.unsqueeze, cases=[("dim1", dict(input=rand(4, 6), dim=1))]),
    _entry("permute", shape.permute, cases=[("nhwc", dict(input=_X2, dims=(0, 2, 3, 1)))]),
    _entry("transpose", shape.transpose, cases=[
        ("channel-shuffle", dict(input=rand(2, 3, 4, 5, 6), dim0=1, dim1=2))]),
    _entry("cat", shape.cat, ("tensors",), [
        ("channels", dict(tensors=[_X2, rand(4, 3, 15, 13)], dim=1)),
        ("last-of-three", dict(tensors=[rand(2, 5), rand(2, 1), rand(2, 7)], dim=-1))]),
    _entry("narrow", shape.narrow, cases=[
        ("channel-split", dict(input=_X2, dim=1, start=4, length=4)),
        ("negative-start", dict(input=rand(6, 9), dim=-1, start=-5, length=3))]),
    _entry("pad", pad.pad, cases=[
        ("constant-crop", dict(input=_X2, pad=(2, -1, 0, 3, 1, 1), value=0.5)),
        ("reflect-2d", dict(input=_X2, pad=(3, 2, 1, 4), mode="reflect")),
        ("replicate-3d", dict(input=rand(2, 3, 4, 5, 6), pad=(2, 1, 0, 3, 1, 1),
                              mode="replicate")),
        ("circular-1d", dict(input=rand(3, 4, 9), pad=(4, 9), mode="circular"))]),
    _entry("sum", reduction.sum, cases=[
        ("spatial", dict(input=_X2, dim=(2, 3))),
        ("middle-keepdim", dict(input=_X2, dim=(0, 2), keepdim=True)),
        ("all", dict(input=rand(3, 70)))]),
    _entry("mean", reduction.mean, cases=[
        ("spatial-keepdim", dict(input=_X2, dim=(-1, -2), keepdim=True)),
        ("channels", dict(input=_X2, dim=1))]),
    _entry("softmax", reduction.softmax, cases=[
        ("classes", dict(input=rand(6, 1000, scale=3), dim=1)),
        ("channels", dict(input=_X2, dim=1))]),
    _entry("log_softmax", reduction.log_softmax, cases=[
        ("last", dict(input=rand(5, 7, 33, scale=3), dim=-1)),
        ("first", dict(input=rand(9, 6), dim=0))]),
    _entry("linear", linear.linear, ("input", "weight", "bias"), [
        ("3d-input", dict(input=rand(5, 7, 33), weight=rand(10, 33, scale=0.2), bias=rand(10)))]),
    _entry("cross_entropy", loss.cross_entropy, cases=[
        ("mean", dict(input=rand(6, 5), target=labels(6, classes=5)))]),
    _entry("mse_loss", loss.mse_loss, ("input", "target"), [
        ("mean", dict(input=rand(4, 7), target=rand(4, 7)))]),
]
_TABLE += [
    _entry(f"fused_conv{nd}d", getattr(conv, f"fused_conv{nd}d"), _CONV_GRADS, [
        (f"{activation}", dict(input=rand(2, 4, *(7,) * nd), weight=rand(6, 4, *(3,) * nd,
                                                                       scale=0.2),
                               bias=rand(6), padding=1, activation=activation))
        for activation in ("relu", "leaky_relu", "relu6", "sigmoid", "silu", "hardswish",
                           "hardsigmoid")])
    for nd in (1, 2, 3)]

OPS: dict[str, Op] = {entry.name: entry for entry in _TABLE}
# The ops clconv.functional exports (the fused ones are clconv.fused's conv1d/2d/3d).
FUNCTIONAL = tuple(name for name in OPS if not name.startswith("fused_"))


def cases() -> list[Case]:
    """Every op's sample cases."""
    return [case for entry in OPS.values() for case in entry.cases]
