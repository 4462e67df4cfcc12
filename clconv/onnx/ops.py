"""The ONNX operators clconv runs: each op type's accepted attributes (checked when a model is
loaded), and its implementation over values that are either host arrays (NumPy: constants and
shape arithmetic, folded on the host) or device Tensors (clconv.functional).

An implementation is `run(node, inputs) -> list of outputs`. `node.attrs` holds the attributes
with ONNX's defaults filled in. A host-capable op given only host inputs computes on the host
(`host`); every other call runs on the device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import weakref

import numpy as np

from .. import functional as F
from .. import fused
from ..ops import conv
from ..tensors import Tensor, tensor


class OnnxError(ValueError):
    """A model clconv cannot load or run, or inputs that do not fit it."""


@dataclass
class Node:
    op: str
    name: str
    inputs: list          # value names ("" for an absent optional input)
    outputs: list
    attrs: dict
    opset: int


@dataclass(frozen=True)
class OpSpec:
    run: Callable                        # (node, inputs) -> outputs, on the device
    attrs: dict = field(default_factory=dict)   # accepted attribute -> default (None: required
    #                                             or no default)
    host: Callable | None = None         # (node, inputs) -> outputs on NumPy arrays
    check: Callable | None = None        # (node) -> problem or None, at load time
    host_only: bool = False              # no device implementation: inputs must be host values


OPS: dict[str, OpSpec] = {}
INTERNAL = {"SiLU"}  # op types the importer makes from patterns; no model may name them


def op(name: str, attrs=None, host=None, check=None, host_only=False):
    def register(run):
        OPS[name] = OpSpec(run, dict(attrs or {}), host, check, host_only)
        return run
    return register


# --- values ----------------------------------------------------------------------------------

def is_host(value) -> bool:
    return isinstance(value, np.ndarray)


_DEVICE_COPIES: dict = {}  # id(host array) -> (weak reference to it, dtype, device, Tensor)


def on_device(value, like=None) -> Tensor:
    """A host array as a device tensor (float32 unless `like` says otherwise). Host constants
    (initializers, folded values) are copied once: the copy is kept while the array lives."""
    if isinstance(value, Tensor):
        return value
    dtype = np.dtype(like.dtype if isinstance(like, Tensor) else np.float32)
    device = like.device if isinstance(like, Tensor) else None
    if isinstance(value, np.ndarray):
        cached = _DEVICE_COPIES.get(id(value))
        if cached is not None and cached[0]() is value and cached[1] == dtype and (
                device is None or cached[2] is device):
            return cached[3]
        copy = tensor(np.asarray(value, dtype=dtype), device=device)
        key = id(value)
        # (the copy goes when the array does: its memory returns to the pool; the callback
        # holds the dictionary itself, which outlives the module's globals at exit)
        forget = lambda _, key=key, copies=_DEVICE_COPIES: copies.pop(key, None)  # noqa: E731
        _DEVICE_COPIES[key] = (weakref.ref(value, forget), dtype, copy.device, copy)
        return copy
    return tensor(np.asarray(value, dtype=dtype), device=device)


def host_value(value, what: str, node: Node) -> np.ndarray:
    """A value the op needs on the host (a shape, an axis list, a bound)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.numpy()  # (node tests feed bounds as graph inputs)
    return np.asarray(value)


def _ints(values) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(values).reshape(-1))


def _axis(axis: int, rank: int, node: Node) -> int:
    if not -rank <= axis < max(rank, 1):
        raise OnnxError(f"{node.op} node {node.name!r}: axis {axis} is out of range for rank "
                        f"{rank}")
    return axis % max(rank, 1)


# --- elementwise -----------------------------------------------------------------------------

def _unary(name, function):
    op(name)(lambda node, inputs: [function(on_device(inputs[0]))])


_unary("Relu", F.relu)
_unary("Sigmoid", F.sigmoid)
_unary("Tanh", F.tanh)
_unary("HardSwish", F.hardswish)
_unary("SiLU", F.silu)  # (not an ONNX op: what the importer makes of Mul(x, Sigmoid(x)))


def _math(name, function, host_function):
    """A pointwise function on the device, or on the host for constants."""
    op(name, host=lambda node, inputs: [host_function(inputs[0])])(
        lambda node, inputs: [function(on_device(inputs[0]))])


_math("Erf", F.erf, lambda x: np.vectorize(__import__("math").erf, otypes=[x.dtype])(x)
      if x.size else x)
_math("Exp", F.exp, np.exp)
_math("Log", F.log, np.log)
_math("Sqrt", F.sqrt, np.sqrt)
_math("Abs", F.abs, np.abs)
_math("Floor", F.floor, np.floor)
_math("Ceil", F.ceil, np.ceil)
_math("Neg", lambda x: F.mul(x, -1.0), np.negative)
_math("Reciprocal", lambda x: F.div(1.0, x), np.reciprocal)


@op("Identity", host=lambda node, inputs: [inputs[0]])
def _identity(node, inputs):
    return [inputs[0]]


@op("LeakyRelu", {"alpha": 0.01})
def _leaky_relu(node, inputs):
    x, alpha = on_device(inputs[0]), node.attrs["alpha"]
    if alpha >= 0:
        return [F.leaky_relu(x, alpha)]
    # (F.leaky_relu's backward reads the input's sign from the output: a slope >= 0)
    return [F.add(F.relu(x), F.mul(F.minimum(x, 0.0), float(alpha)))]


@op("Elu", {"alpha": 1.0})
def _elu(node, inputs):
    return [F.elu(on_device(inputs[0]), node.attrs["alpha"])]


@op("HardSigmoid", {"alpha": 0.2, "beta": 0.5})
def _hard_sigmoid(node, inputs):
    x = on_device(inputs[0])
    alpha, beta = node.attrs["alpha"], node.attrs["beta"]
    if np.isclose(alpha, 1 / 6, rtol=1e-6) and beta == 0.5:
        return [F.hardsigmoid(x)]  # PyTorch's
    return [F.clamp(F.add(F.mul(x, float(alpha)), float(beta)), 0.0, 1.0)]


@op("Gelu", {"approximate": "none"})
def _gelu(node, inputs):
    return [F.gelu(on_device(inputs[0]), node.attrs["approximate"])]


@op("Clip", {"min": None, "max": None})
def _clip(node, inputs):
    x = on_device(inputs[0])
    if node.opset < 11:
        low, high = node.attrs["min"], node.attrs["max"]
    else:
        low = host_value(inputs[1] if len(inputs) > 1 else None, "min", node)
        high = host_value(inputs[2] if len(inputs) > 2 else None, "max", node)
        low = None if low is None else float(np.asarray(low).reshape(-1)[0])
        high = None if high is None else float(np.asarray(high).reshape(-1)[0])
    if low is None and high is None:
        return [x]
    if low == 0.0 and high == 6.0:
        return [F.relu6(x)]
    return [F.clamp(x, low, high)]


_ARITHMETIC = {"Add": (F.add, np.add), "Sub": (F.sub, np.subtract), "Mul": (F.mul, np.multiply),
               "Div": (F.div, None)}


def _host_div(a, b):
    if np.issubdtype(np.result_type(a, b), np.integer):  # ONNX: integer division truncates
        return np.trunc(np.true_divide(a, b)).astype(np.result_type(a, b))
    return np.true_divide(a, b)


def _binary(name):
    device_op, host_op = _ARITHMETIC[name]
    host_op = host_op or _host_div

    def run(node, inputs):
        a, b = inputs
        like = a if isinstance(a, Tensor) else b
        return [device_op(on_device(a, like), on_device(b, like))]

    def host(node, inputs):
        return [np.asarray(host_op(inputs[0], inputs[1])).astype(
            np.result_type(inputs[0], inputs[1]))]

    op(name, host=host)(run)


for _name in _ARITHMETIC:
    _binary(_name)


@op("MatMul")
def _matmul(node, inputs):
    a, b = inputs
    like = a if isinstance(a, Tensor) else b
    return [F.matmul(on_device(a, like), on_device(b, like))]


@op("Gemm", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
def _gemm(node, inputs):
    a, b = on_device(inputs[0]), on_device(inputs[1], on_device(inputs[0]))
    c = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    attrs = node.attrs
    if attrs["transA"]:
        a = F.transpose(a, 0, 1)
    plain = attrs["alpha"] == 1.0 and (c is None or attrs["beta"] == 1.0)
    if attrs["transB"] and plain and (c is None or np.ndim(c) == 1 or
                                      (isinstance(c, Tensor) and c.ndim == 1)):
        return [F.linear(a, b, None if c is None else on_device(c, a))]  # the exporters' form
    y = F.matmul(a, F.transpose(b, 0, 1) if attrs["transB"] else b)
    if attrs["alpha"] != 1.0:
        y = F.mul(y, float(attrs["alpha"]))
    if c is not None:
        c = on_device(c, a)
        y = F.add(y, F.mul(c, float(attrs["beta"])) if attrs["beta"] != 1.0 else c)
    return [y]


# --- convolution, pooling, normalization -----------------------------------------------------

_CONV_ATTRS = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None,
               "pads": None, "strides": None}


def _auto_pad_check(node):
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        return f"auto_pad {node.attrs['auto_pad']!r} (supported: NOTSET, SAME_UPPER, SAME_LOWER, VALID)"
    return None


def _pads(node, spatial, kernel, strides, dilations) -> tuple[tuple[int, int], ...]:
    """(before, after) padding of each spatial dimension."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    nd = len(kernel)
    if auto == "VALID":
        return ((0, 0),) * nd
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, large = total // 2, total - total // 2
            pads.append((small, large) if auto == "SAME_UPPER" else (large, small))
        return tuple(pads)
    pads = node.attrs.get("pads") or (0,) * (2 * nd)
    return tuple((int(pads[i]), int(pads[i + nd])) for i in range(nd))


def _strides_dilations(node, nd: int) -> tuple[tuple, tuple]:
    """A Conv's, ConvTranspose's or pooling node's strides and dilations (1 by default)."""
    return (tuple(node.attrs.get("strides") or (1,) * nd),
            tuple(node.attrs.get("dilations") or (1,) * nd))


def _torch_pads(pairs) -> tuple:
    """ONNX's (before, after) per spatial dimension as PyTorch's pad tuple (the last first)."""
    flat = []
    for before, after in reversed(pairs):
        flat += [before, after]
    return tuple(flat)


def _conv_geometry(node, x, kernel, fill=0.0):
    """(x padded where its padding is asymmetric or past what the op allows, strides, symmetric
    padding, dilations)."""
    nd = len(kernel)
    strides, dilations = _strides_dilations(node, nd)
    pairs = _pads(node, x.shape[2:], kernel, strides, dilations)
    limit = [((k - 1) * d + 1) // 2 for k, d in zip(kernel, dilations)]
    if all(b == a for b, a in pairs) and (fill == 0.0 or all(
            b <= m for (b, _), m in zip(pairs, limit))):
        return x, strides, tuple(b for b, _ in pairs), dilations
    return F.pad(x, _torch_pads(pairs), "constant", fill), strides, (0,) * nd, dilations


def _scaled_input(x, factor, nd: int):
    """Of a Mul's two factors (the importer's `_scaled_input` Conv), (the input, a factor per
    image and channel of it) where one is such a factor of the other, else (their product,
    None)."""
    for value, scale in ((x, factor), (factor, x)):
        if len(value.shape) == nd + 2 and tuple(scale.shape) == tuple(value.shape[:2]) + (1,) * nd:
            return value, scale
    return F.mul(x, factor), None


@op("Conv", _CONV_ATTRS, check=_auto_pad_check)
def _conv(node, inputs):
    x = on_device(inputs[0])
    w = on_device(inputs[1], x)
    b = on_device(inputs[2], x) if len(inputs) > 2 and inputs[2] is not None else None
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise OnnxError(f"Conv node {node.name!r}: {nd}-D convolution (supported: 1-D to 3-D)")
    scale = residual = None
    if node.attrs.get("_scaled_input"):  # x times inputs[3], fused where it can be
        x, scale = _scaled_input(x, on_device(inputs[3], x), nd)
    if node.attrs.get("_residual"):  # the output plus inputs[4], fused where it can be
        residual = on_device(inputs[4], x)
    x, strides, padding, dilations = _conv_geometry(node, x, w.shape[2:])
    activation = node.attrs.get("_activation")
    if scale is not None or residual is not None:
        return [conv.fused_conv(nd, x, w, b, strides, padding, dilations, node.attrs["group"],
                                activation, node.attrs.get("_negative_slope", 0.01),
                                scale=scale, residual=residual)]
    if activation is None:
        return [getattr(F, f"conv{nd}d")(x, w, b, strides, padding, dilations,
                                         node.attrs["group"])]
    return [getattr(fused, f"conv{nd}d")(x, w, b, strides, padding, dilations,
                                        node.attrs["group"], activation=activation,
                                        negative_slope=node.attrs.get("_negative_slope", 0.01))]


@op("ConvTranspose", {**_CONV_ATTRS, "output_padding": None, "output_shape": None})
def _conv_transpose(node, inputs):
    x = on_device(inputs[0])
    w = on_device(inputs[1], x)
    b = on_device(inputs[2], x) if len(inputs) > 2 and inputs[2] is not None else None
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise OnnxError(f"ConvTranspose node {node.name!r}: {nd}-D (supported: 1-D to 3-D)")
    kernel = w.shape[2:]
    strides, dilations = _strides_dilations(node, nd)
    extra = tuple(node.attrs.get("output_padding") or (0,) * nd)
    full = [(n - 1) * s + d * (k - 1) + 1 + o for n, s, d, k, o in
            zip(x.shape[2:], strides, dilations, kernel, extra)]
    if node.attrs.get("output_shape") is not None:
        wanted = tuple(node.attrs["output_shape"])[-nd:]
        totals = [f - o for f, o in zip(full, wanted)]
        # A larger output than the kernel reaches: output padding (ONNX adds it at the end).
        extra = tuple(e - min(t, 0) for e, t in zip(extra, totals))
        totals = [max(t, 0) for t in totals]
        pairs = [((t // 2, t - t // 2) if node.attrs["auto_pad"] != "SAME_LOWER" else
                  (t - t // 2, t // 2)) for t in totals]
    elif node.attrs["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
        totals = [f - n * s for f, n, s in zip(full, x.shape[2:], strides)]
        pairs = [((t // 2, t - t // 2) if node.attrs["auto_pad"] == "SAME_UPPER" else
                  (t - t // 2, t // 2)) for t in totals]
    elif node.attrs["auto_pad"] == "VALID":
        pairs = [(0, 0)] * nd
    else:
        pads = node.attrs.get("pads") or (0,) * (2 * nd)
        pairs = [(pads[i], pads[i + nd]) for i in range(nd)]
    # Symmetric padding p with output_padding: the end keeps `after - before` more (or less).
    padding = tuple(min(b_, a_) for b_, a_ in pairs)
    out_pad = tuple(o + (b_ - a_ if a_ < b_ else 0) for o, (b_, a_) in zip(extra, pairs))
    cut_end = [max(0, a_ - b_) for b_, a_ in pairs]  # more padding at the end: cropped
    lead = [max(0, b_ - a_) for b_, a_ in pairs]     # more at the start: cropped there
    if any(o >= s for o, s in zip(out_pad, strides)) or any(lead):
        padding = (0,) * nd
        out_pad = extra
        lead = [b_ for b_, _ in pairs]
        cut_end = [a_ for _, a_ in pairs]
    y = getattr(F, f"conv_transpose{nd}d")(x, w, b, strides, padding, out_pad,
                                          node.attrs["group"], dilations)
    for axis, (start, cut) in enumerate(zip(lead, cut_end)):
        if start or cut:
            length = y.shape[2 + axis] - start - cut
            y = F.narrow(y, 2 + axis, start, length)
    return [y]


def _pool_check(node):
    problem = _auto_pad_check(node)
    if problem:
        return problem
    if node.attrs.get("storage_order", 0) != 0:
        return "storage_order 1 (column-major indices; supported: 0)"
    if node.attrs.get("kernel_shape") is None:
        return "no kernel_shape"
    if len(node.attrs["kernel_shape"]) not in (1, 2, 3):
        return f"kernel_shape {node.attrs['kernel_shape']} (supported: 1-D to 3-D)"
    return None


@op("MaxPool", {**_CONV_ATTRS, "ceil_mode": 0, "storage_order": 0}, check=_pool_check)
def _max_pool(node, inputs):
    x = on_device(inputs[0])
    kernel = tuple(node.attrs["kernel_shape"])
    x, strides, padding, dilations = _conv_geometry(node, x, kernel, fill=-np.inf)
    if len(node.outputs) > 1 and node.outputs[1]:
        raise OnnxError(f"MaxPool node {node.name!r}: the Indices output (supported: values only)")
    pool = getattr(F, f"max_pool{len(kernel)}d")
    return [pool(x, kernel, strides, padding, dilations, bool(node.attrs["ceil_mode"]))]


@op("AveragePool", {**_CONV_ATTRS, "ceil_mode": 0, "count_include_pad": 0},
    check=_pool_check)
def _average_pool(node, inputs):
    x = on_device(inputs[0])
    kernel = tuple(node.attrs["kernel_shape"])
    nd = len(kernel)
    strides, dilations = _strides_dilations(node, nd)
    pairs = _pads(node, x.shape[2:], kernel, strides, dilations)
    padding = tuple(b for b, _ in pairs)
    if any(b != a or 2 * b > k for (b, a), k in zip(pairs, kernel)):
        if not node.attrs["count_include_pad"]:
            raise OnnxError(f"AveragePool node {node.name!r}: padding {pairs} for kernel "
                            f"{kernel} with count_include_pad 0 (supported: symmetric padding "
                            "of at most half the kernel)")
        x, padding = F.pad(x, _torch_pads(pairs)), (0,) * nd  # zeros that count: explicit
    if any(d != 1 for d in dilations):
        raise OnnxError(f"AveragePool node {node.name!r}: dilations {dilations} (supported: 1)")
    pool = getattr(F, f"avg_pool{len(kernel)}d")
    return [pool(x, kernel, strides, padding, bool(node.attrs["ceil_mode"]),
                 bool(node.attrs["count_include_pad"]))]


def _spatial_rank(x, node) -> int:
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise OnnxError(f"{node.op} node {node.name!r}: input of rank {x.ndim} (supported: 3 to "
                        "5, a batch, channels and 1 to 3 spatial dimensions)")
    return nd


@op("GlobalAveragePool")
def _global_average_pool(node, inputs):
    x = on_device(inputs[0])
    nd = _spatial_rank(x, node)
    return [getattr(F, f"adaptive_avg_pool{nd}d")(x, 1)]


@op("GlobalMaxPool")
def _global_max_pool(node, inputs):
    x = on_device(inputs[0])
    nd = _spatial_rank(x, node)
    return [getattr(F, f"max_pool{nd}d")(x, x.shape[2:])]


def _bn_check(node):
    if node.attrs.get("training_mode", 0):
        return "training_mode 1 (clconv follows model.train() instead)"
    return None


@op("BatchNormalization", {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0,
                           "spatial": 1}, check=_bn_check)
def _batch_norm(node, inputs):
    x = on_device(inputs[0])
    scale, bias, mean, var = (on_device(v, x) for v in inputs[1:5])
    training = bool(node.attrs.get("_training", False))
    # ONNX's momentum weighs the running value; PyTorch's weighs the new batch statistic.
    return [F.batch_norm(x, mean, var, scale, bias, training, 1.0 - node.attrs["momentum"],
                         node.attrs["epsilon"])]


@op("LayerNormalization", {"axis": -1, "epsilon": 1e-5, "stash_type": 1})
def _layer_norm(node, inputs):
    x = on_device(inputs[0])
    axis = _axis(node.attrs["axis"], x.ndim, node)
    scale = on_device(inputs[1], x)
    bias = on_device(inputs[2], x) if len(inputs) > 2 and inputs[2] is not None else None
    if len([o for o in node.outputs if o]) > 1:
        raise OnnxError(f"LayerNormalization node {node.name!r}: the Mean and InvStdDev outputs "
                        "(supported: Y only)")
    shape = x.shape[axis:]
    if scale.shape != shape:
        scale = F.reshape(on_device(np.broadcast_to(scale.numpy(), shape).copy(), x), shape)
    if bias is not None and bias.shape != shape:
        bias = on_device(np.broadcast_to(bias.numpy(), shape).copy(), x)
    return [F.layer_norm(x, shape, scale, bias, node.attrs["epsilon"])]


def _lrn_check(node):
    if node.attrs["size"] is None or node.attrs["size"] % 2 == 0:
        return (f"size {node.attrs['size']} (supported: odd sizes, where ONNX's window and "
                "PyTorch's agree)")
    return None


@op("LRN", {"alpha": 1e-4, "beta": 0.75, "bias": 1.0, "size": None}, check=_lrn_check)
def _lrn(node, inputs):
    a = node.attrs
    return [F.local_response_norm(on_device(inputs[0]), a["size"], a["alpha"], a["beta"],
                                  a["bias"])]


@op("InstanceNormalization", {"epsilon": 1e-5})
def _instance_norm(node, inputs):
    x = on_device(inputs[0])
    return [F.instance_norm(x, None, None, on_device(inputs[1], x), on_device(inputs[2], x),
                            True, 0.1, node.attrs["epsilon"])]


@op("Dropout", {"ratio": 0.5, "seed": None})
def _dropout(node, inputs):
    """The identity in eval mode; in train mode (model.train()) clconv's seeded dropout."""
    ratio = node.attrs["ratio"] if node.opset < 12 else (
        float(np.asarray(host_value(inputs[1], "ratio", node)).reshape(-1)[0])
        if len(inputs) > 1 and inputs[1] is not None else 0.5)
    masked = len([o for o in node.outputs if o]) > 1
    if node.attrs.get("_training") and ratio > 0:
        if masked:
            raise OnnxError(f"Dropout node {node.name!r}: the mask output in training mode "
                            "(supported: the output)")
        return [F.dropout(on_device(inputs[0]), ratio, True)]
    if masked:  # every element kept
        return [inputs[0], np.ones(tuple(inputs[0].shape), bool)]
    return [inputs[0]]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
              "wrap": "circular"}


def _pad_check(node):
    if node.attrs["mode"] not in _PAD_MODES:
        return f"mode {node.attrs['mode']!r} (supported: {', '.join(_PAD_MODES)})"
    return None


@op("Pad", {"mode": "constant", "pads": None, "value": 0.0}, check=_pad_check)
def _pad(node, inputs):
    x = on_device(inputs[0])
    rank = x.ndim
    if node.opset >= 11:
        pads = _ints(host_value(inputs[1], "pads", node))
        value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
        value = 0.0 if value is None else float(np.asarray(host_value(value, "constant_value",
                                                                      node)).reshape(-1)[0])
        axes = _ints(host_value(inputs[3], "axes", node)) if len(inputs) > 3 and \
            inputs[3] is not None else tuple(range(rank))
    else:
        pads, value, axes = tuple(node.attrs["pads"]), node.attrs["value"], tuple(range(rank))
    axes = [_axis(a, rank, node) for a in axes]
    pairs = {a: (pads[i], pads[i + len(axes)]) for i, a in enumerate(axes)}
    first = min((a for a, p in pairs.items() if p != (0, 0)), default=rank)
    flat = []
    for a in range(rank - 1, first - 1, -1):  # PyTorch's order: the last dimension first
        flat += list(pairs.get(a, (0, 0)))
    mode = _PAD_MODES[node.attrs["mode"]]
    if not flat:
        return [x]
    return [F.pad(x, tuple(flat), mode, value if mode == "constant" else None)]


_RESIZE_MODES = {("nearest", "asymmetric"), ("linear", "half_pixel"),
                 ("linear", "pytorch_half_pixel"), ("linear", "align_corners")}


def _resize_check(node):
    a = node.attrs
    combination = (a["mode"], a["coordinate_transformation_mode"])
    if combination not in _RESIZE_MODES:
        return (f"mode {a['mode']!r} with coordinate_transformation_mode "
                f"{a['coordinate_transformation_mode']!r} (supported: nearest with asymmetric, "
                "linear with half_pixel, pytorch_half_pixel or align_corners: PyTorch's)")
    if a["mode"] == "nearest" and a["nearest_mode"] != "floor":
        return f"nearest_mode {a['nearest_mode']!r} (supported: floor, PyTorch's)"
    if a["antialias"] or a["exclude_outside"] or a["keep_aspect_ratio_policy"] != "stretch":
        return "antialias, exclude_outside or keep_aspect_ratio_policy (supported: the defaults)"
    return None


@op("Resize", {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
               "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75,
               "exclude_outside": 0, "extrapolation_value": 0.0, "antialias": 0, "axes": None,
               "keep_aspect_ratio_policy": "stretch"}, check=_resize_check)
def _resize(node, inputs):
    x = on_device(inputs[0])
    nd = x.ndim - 2
    scales = host_value(inputs[2], "scales", node) if len(inputs) > 2 and \
        inputs[2] is not None else None
    sizes = host_value(inputs[3], "sizes", node) if len(inputs) > 3 and \
        inputs[3] is not None else None
    axes = node.attrs.get("axes")
    if axes is not None:
        if sorted(_axis(a, x.ndim, node) for a in axes) != list(range(2, x.ndim)):
            raise OnnxError(f"Resize node {node.name!r}: axes {axes} (supported: the spatial "
                            "axes)")
        full = [1.0] * 2 if scales is not None and np.size(scales) else list(x.shape[:2])
        scales = None if scales is None or not np.size(scales) else np.concatenate(
            [full, np.asarray(scales, np.float64)])
        sizes = None if sizes is None or not np.size(sizes) else np.concatenate(
            [full, np.asarray(sizes)])
    use_sizes = sizes is not None and np.size(sizes)
    leading = (tuple(_ints(sizes))[:2] if use_sizes else
               tuple(float(v) for v in np.asarray(scales).reshape(-1)[:2]))
    if leading not in (tuple(x.shape[:2]), (1.0, 1.0)):
        raise OnnxError(f"Resize node {node.name!r}: resizes the batch or channel axis "
                        f"({leading}; supported: spatial axes only)")
    mode = node.attrs["mode"]
    if mode == "linear":
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(nd)
        align = node.attrs["coordinate_transformation_mode"] == "align_corners"
    else:
        align = None
    if nd not in (1, 2, 3) or mode is None:
        raise OnnxError(f"Resize node {node.name!r}: input of rank {x.ndim} (supported: 3 to 5)")
    if use_sizes:
        return [F.interpolate(x, size=tuple(_ints(sizes))[2:], mode=mode, align_corners=align)]
    factors = tuple(float(v) for v in np.asarray(scales).reshape(-1)[2:])
    return [F.interpolate(x, scale_factor=factors, mode=mode, align_corners=align)]


# --- softmax, reductions ---------------------------------------------------------------------

def _softmax(function):
    def run(node, inputs):
        x = on_device(inputs[0])
        default = -1 if node.opset >= 13 else 1
        axis = _axis(node.attrs.get("axis", default) if node.attrs.get("axis") is not None
                     else default, x.ndim, node)
        if node.opset >= 13 or axis == x.ndim - 1:
            return [function(x, axis)]
        # Before opset 13: over the flattened trailing dimensions from axis on.
        flat = F.reshape(x, (int(np.prod(x.shape[:axis])), -1))
        return [F.reshape(function(flat, 1), x.shape)]
    return run


op("Softmax", {"axis": None})(_softmax(F.softmax))
op("LogSoftmax", {"axis": None})(_softmax(F.log_softmax))


def _reduce_axes(node, inputs, rank):
    if node.opset >= 18 or (node.op == "ReduceSum" and node.opset >= 13):  # axes: an input
        axes = host_value(inputs[1], "axes", node) if len(inputs) > 1 and inputs[1] is not None \
            else None
        axes = None if axes is None or np.size(axes) == 0 else _ints(axes)
    else:
        axes = node.attrs.get("axes")
    if axes is None:
        if node.attrs.get("noop_with_empty_axes", 0):
            return None
        return tuple(range(rank))
    return tuple(_axis(a, rank, node) for a in axes)


def _reduction(function, host_function):
    def run(node, inputs):
        x = on_device(inputs[0])
        axes = _reduce_axes(node, inputs, x.ndim)
        if axes is None:
            return [x]
        return [function(x, axes, bool(node.attrs["keepdims"]))]

    def host(node, inputs):
        x = inputs[0]
        axes = _reduce_axes(node, inputs, x.ndim)
        if axes is None:
            return [x]
        return [np.asarray(host_function(x, axis=axes, keepdims=bool(node.attrs["keepdims"])))
                .astype(x.dtype)]
    return run, host


def _sum_square(x, axes, keepdim):
    return F.sum(F.mul(x, x), axes, keepdim)


def _host_sum_square(x, axis, keepdims):
    return np.sum(np.square(x), axis=axis, keepdims=keepdims)


for _name, _device, _host in (("ReduceMean", F.mean, np.mean), ("ReduceSum", F.sum, np.sum),
                              ("ReduceSumSquare", _sum_square, _host_sum_square)):
    _run, _hostrun = _reduction(_device, _host)
    op(_name, {"axes": None, "keepdims": 1, "noop_with_empty_axes": 0}, host=_hostrun)(_run)


# --- shapes ----------------------------------------------------------------------------------

def _reshape_target(node, shape, data_shape):
    shape = list(_ints(shape))
    if not node.attrs.get("allowzero", 0):
        shape = [data_shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return tuple(shape)


def _reshape_host(node, inputs):
    shape = _reshape_target(node, host_value(inputs[1], "shape", node), inputs[0].shape)
    return [inputs[0].reshape(shape)]


@op("Reshape", {"allowzero": 0}, host=_reshape_host)
def _reshape(node, inputs):
    x = on_device(inputs[0])
    return [F.reshape(x, _reshape_target(node, host_value(inputs[1], "shape", node), x.shape))]


def _flatten_shape(node, shape):
    axis, rank = node.attrs["axis"], len(shape)
    if not -rank <= axis <= rank:
        raise OnnxError(f"Flatten node {node.name!r}: axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    return (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))


@op("Flatten", {"axis": 1}, host=lambda node, inputs: [
    inputs[0].reshape(_flatten_shape(node, inputs[0].shape))])
def _flatten(node, inputs):
    x = on_device(inputs[0])
    return [F.reshape(x, _flatten_shape(node, x.shape))]


def _perm(node, rank):
    perm = node.attrs.get("perm")
    return tuple(range(rank))[::-1] if perm is None else tuple(perm)


@op("Transpose", {"perm": None},
    host=lambda node, inputs: [np.ascontiguousarray(np.transpose(inputs[0],
                                                                 _perm(node, inputs[0].ndim)))])
def _transpose(node, inputs):
    x = on_device(inputs[0])
    return [F.permute(x, _perm(node, x.ndim))]


def _axes_input(node, inputs, attribute="axes"):
    if node.opset >= 13:
        return None if len(inputs) < 2 or inputs[1] is None else _ints(
            host_value(inputs[1], "axes", node))
    return node.attrs.get(attribute)


def _squeeze_shape(node, inputs, shape):
    axes = _axes_input(node, inputs)
    rank = len(shape)
    chosen = set(range(rank)) if axes is None else {_axis(a, rank, node) for a in axes}
    return tuple(s for d, s in enumerate(shape) if not (d in chosen and s == 1))


def _unsqueeze_shape(node, inputs, shape):
    axes = _axes_input(node, inputs)
    rank = len(shape) + len(axes)
    out = list(shape)
    for a in sorted(_axis(a, rank, node) for a in axes):
        out.insert(a, 1)
    return tuple(out)


@op("Squeeze", {"axes": None},
    host=lambda node, inputs: [inputs[0].reshape(_squeeze_shape(node, inputs, inputs[0].shape))])
def _squeeze(node, inputs):
    x = on_device(inputs[0])
    return [F.reshape(x, _squeeze_shape(node, inputs, x.shape))]


@op("Unsqueeze", {"axes": None},
    host=lambda node, inputs: [inputs[0].reshape(_unsqueeze_shape(node, inputs,
                                                                  inputs[0].shape))])
def _unsqueeze(node, inputs):
    x = on_device(inputs[0])
    return [F.reshape(x, _unsqueeze_shape(node, inputs, x.shape))]


@op("Concat", {"axis": None},
    host=lambda node, inputs: [np.concatenate([np.asarray(v) for v in inputs],
                                              axis=node.attrs["axis"])])
def _concat(node, inputs):
    like = next(v for v in inputs if isinstance(v, Tensor))
    parts = [on_device(v, like) for v in inputs]
    return [F.cat(parts, _axis(node.attrs["axis"], parts[0].ndim, node))]


def _slice_parameters(node, inputs, shape):
    rank = len(shape)
    if node.opset >= 10:
        starts = _ints(host_value(inputs[1], "starts", node))
        ends = _ints(host_value(inputs[2], "ends", node))
        axes = _ints(host_value(inputs[3], "axes", node)) if len(inputs) > 3 and \
            inputs[3] is not None else tuple(range(len(starts)))
        steps = _ints(host_value(inputs[4], "steps", node)) if len(inputs) > 4 and \
            inputs[4] is not None else (1,) * len(starts)
    else:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes = node.attrs.get("axes") or tuple(range(len(starts)))
        steps = (1,) * len(starts)
    index = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[_axis(axis, rank, node)] = slice(*slice(start, end, step).indices(
            shape[_axis(axis, rank, node)]))
    return tuple(index)


@op("Slice", {"starts": None, "ends": None, "axes": None},
    host=lambda node, inputs: [np.ascontiguousarray(
        inputs[0][_slice_parameters(node, inputs, inputs[0].shape)])])
def _slice(node, inputs):
    x = on_device(inputs[0])
    index = _slice_parameters(node, inputs, x.shape)
    for dim, part in enumerate(index):
        start, stop, step = part.indices(x.shape[dim])
        if step != 1:
            raise OnnxError(f"Slice node {node.name!r}: step {step} on a device tensor "
                            "(supported: 1)")
        if (start, stop) != (0, x.shape[dim]):
            x = F.narrow(x, dim, start, max(0, stop - start))
    return [x]


@op("Split", {"axis": 0, "split": None, "num_outputs": None})
def _split(node, inputs):
    x = on_device(inputs[0])
    axis = _axis(node.attrs["axis"], x.ndim, node)
    if node.opset >= 13 and len(inputs) > 1 and inputs[1] is not None:
        sizes = _ints(host_value(inputs[1], "split", node))
    elif node.attrs.get("split") is not None:
        sizes = tuple(node.attrs["split"])
    else:
        count = len(node.outputs)
        chunk = -(-x.shape[axis] // count)
        sizes = tuple(min(chunk, x.shape[axis] - i * chunk) for i in range(count))
    out, start = [], 0
    for size in sizes:
        out.append(F.narrow(x, axis, start, size))
        start += size
    return out


# --- shape arithmetic: host only ----------------------------------------------------------------

def _shape_host(node, inputs):
    shape = np.asarray(inputs[0].shape if not isinstance(inputs[0], np.ndarray)
                       else inputs[0].shape, np.int64)
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return [shape[start:end]]


@op("Shape", {"start": 0, "end": None}, host=_shape_host)
def _shape(node, inputs):
    return _shape_host(node, inputs)  # a device tensor's shape is known on the host


@op("Size", host=lambda node, inputs: [np.asarray(int(np.prod(inputs[0].shape)), np.int64)])
def _size(node, inputs):
    return [np.asarray(int(np.prod(inputs[0].shape)), np.int64)]


def _host_only(name, attrs, function):
    def device(node, inputs):
        raise OnnxError(f"{name} node {node.name!r}: an input is a device tensor (supported: "
                        f"{name} on constants and shapes, folded on the host)")
    op(name, attrs, host=function, host_only=True)(device)


_host_only("Gather", {"axis": 0}, lambda node, inputs: [
    np.take(inputs[0], inputs[1].astype(np.int64), axis=node.attrs["axis"])])
_host_only("Cast", {"to": None, "saturate": 1}, lambda node, inputs: [
    inputs[0].astype(_numpy_dtype(node.attrs["to"]))])
_host_only("ConstantOfShape", {"value": None}, lambda node, inputs: [
    np.full(_ints(inputs[0]), node.attrs["value"].reshape(-1)[0] if node.attrs["value"]
            is not None else np.float32(0), dtype=node.attrs["value"].dtype
            if node.attrs["value"] is not None else np.float32)])
_host_only("Range", {}, lambda node, inputs: [
    np.arange(inputs[0], inputs[1], inputs[2]).astype(inputs[0].dtype)])
_host_only("Equal", {}, lambda node, inputs: [np.equal(inputs[0], inputs[1])])
_host_only("Where", {}, lambda node, inputs: [np.where(inputs[0], inputs[1], inputs[2])])


def _expand_host(node, inputs):
    return [np.ascontiguousarray(inputs[0] * np.ones(_ints(inputs[1]), inputs[0].dtype))]


@op("Expand", host=_expand_host)
def _expand(node, inputs):
    """Broadcast both ways: the result has the broadcast of the input's and the given shape."""
    x = on_device(inputs[0])
    target = _ints(host_value(inputs[1], "shape", node))
    try:
        shape = tuple(np.broadcast_shapes(x.shape, target))
    except ValueError:
        raise OnnxError(f"Expand node {node.name!r}: shape {x.shape} cannot be broadcast to "
                        f"{target}") from None
    return [F.broadcast_to(x, shape)]


def _extremum(name, reduce, pairwise):
    """Max / Min of any number of inputs with broadcasting: on the host, or F.maximum /
    F.minimum on the device (dynamo's ReLU6 is Min(Max(x, 0), 6))."""
    def run(node, inputs):
        like = next(v for v in inputs if isinstance(v, Tensor))
        out = on_device(inputs[0], like)
        for value in inputs[1:]:
            out = pairwise(out, on_device(value, like))
        return [out]
    op(name, host=lambda node, inputs: [reduce(inputs)])(run)


_extremum("Max", np.maximum.reduce, F.maximum)
_extremum("Min", np.minimum.reduce, F.minimum)


@op("Constant", {"value": None, "value_float": None, "value_floats": None, "value_int": None,
                 "value_ints": None}, host=lambda node, inputs: [constant_value(node)])
def _constant_op(node, inputs):
    return [constant_value(node)]


def constant_value(node) -> np.ndarray:
    """A Constant node's value."""
    a = node.attrs
    if a.get("value") is not None:
        return a["value"]
    for name, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)):
        if a.get(name) is not None:
            return np.asarray(a[name], dtype)
    raise OnnxError(f"Constant node {node.name!r}: no value (supported: value, value_float(s), "
                    "value_int(s))")


def _numpy_dtype(onnx_type: int):
    from onnx import helper
    return helper.tensor_dtype_to_np_dtype(onnx_type)


def supported() -> list[str]:
    return sorted(OPS)
