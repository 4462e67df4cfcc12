"""Loading an ONNX model as a clconv.nn.Module, running it, and writing it back."""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from .. import autograd, runtime
from ..nn.module import Module
from ..tensors import Tensor, empty, tensor
from .ops import INTERNAL, OPS, Node, OnnxError, constant_value, is_host, on_device

MIN_OPSET = 11


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("clconv.onnx needs the onnx package: pip install onnx") from None
    return onnx


def _read(model):
    """An onnx.ModelProto from a path, bytes or a ModelProto."""
    onnx = _onnx()
    if isinstance(model, onnx.ModelProto):
        _external_data(model, "<ModelProto>", None)
        return model, "<ModelProto>"
    if isinstance(model, (bytes, bytearray)):
        source, data = "<bytes>", bytes(model)
    elif isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as err:
            raise OnnxError(f"onnx.load: cannot read {source!r}: {err.strerror}") from None
    else:
        raise TypeError(f"onnx.load: model must be a path, bytes or an onnx.ModelProto, got "
                        f"{type(model).__name__}")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError
        raise OnnxError(f"onnx.load: {source} is not a valid ONNX model (truncated or "
                        f"malformed: {err})") from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise OnnxError(f"onnx.load: {source} holds no graph (truncated or not an ONNX model)")
    _external_data(proto, source, os.path.dirname(source) if source != "<bytes>" else None)
    return proto, source


def _external_data(proto, source, directory) -> None:
    """Initializers stored beside the model (the dynamo exporter's model.onnx.data), read in."""
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data
    if not any(uses_external_data(t) for t in proto.graph.initializer):
        return
    if directory is None:
        raise OnnxError(f"onnx.load: {source} keeps its weights in external files; load it "
                        "from its path (or an onnx.ModelProto with the data loaded)")
    try:
        load_external_data_for_model(proto, directory)
    except Exception as err:  # (OSError, or onnx's checker's ValidationError)
        raise OnnxError(f"onnx.load: {source}: cannot read its external weights: {err}") from None


def _opset(proto, source) -> int:
    onnx = _onnx()
    newest = onnx.defs.onnx_opset_version()
    version = None
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            version = entry.version
        elif not any(f.domain == entry.domain for f in proto.functions):
            used = [n.op_type for n in proto.graph.node if n.domain == entry.domain]
            if used:
                raise OnnxError(f"onnx.load: {source} uses domain {entry.domain!r} (ops "
                                f"{sorted(set(used))}); clconv supports the default ONNX domain")
    if version is None:
        raise OnnxError(f"onnx.load: {source} imports no version of the default ONNX opset")
    if not MIN_OPSET <= version <= newest:
        raise OnnxError(f"onnx.load: {source} has opset {version}; clconv supports opsets "
                        f"{MIN_OPSET} to {newest} (the installed onnx's newest)")
    return version


def _attributes(proto_node, spec, opset, source) -> dict:
    onnx = _onnx()
    attrs = dict(spec.attrs)
    for attribute in proto_node.attribute:
        if attribute.name not in spec.attrs:
            raise OnnxError(
                f"onnx.load: {source}: {proto_node.op_type} node {proto_node.name!r} (opset "
                f"{opset}) has attribute {attribute.name!r}, which clconv does not support; "
                f"supported: {sorted(spec.attrs) or 'none'}")
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        attrs[attribute.name] = value
    return attrs


def _nodes(graph, opset, source) -> list[Node]:
    nodes, problems = [], []
    for i, proto_node in enumerate(graph.node):
        name = proto_node.name or f"{proto_node.op_type}_{i}"
        spec = OPS.get(proto_node.op_type) if proto_node.op_type not in INTERNAL else None
        if proto_node.domain not in ("", "ai.onnx") or spec is None:
            problems.append(f"{proto_node.op_type} (node {name!r})")
            continue
        node = Node(proto_node.op_type, name, list(proto_node.input), list(proto_node.output),
                    _attributes(proto_node, spec, opset, source), opset)
        problem = spec.check(node) if spec.check else None
        if problem:
            raise OnnxError(f"onnx.load: {source}: {node.op} node {name!r} (opset {opset}): "
                            f"{problem}")
        nodes.append(node)
    if problems:
        raise OnnxError(f"onnx.load: {source} (opset {opset}) uses ops clconv does not "
                        f"support: {', '.join(problems)}. Supported: "
                        f"{', '.join(sorted(set(OPS) - INTERNAL))}")
    return nodes


def _check_host_only(nodes, host_names, source):
    """Ops that only fold on the host must see host values: constants, shapes, integer inputs."""
    host = set(host_names)
    for node in nodes:
        spec = OPS[node.op]
        inputs = [i for i in node.inputs if i]
        if node.op in ("Shape", "Size", "Constant") or (spec.host and all(i in host for i in inputs)):
            host.update(node.outputs)
        elif spec.host_only:
            device = [i for i in inputs if i not in host]
            raise OnnxError(f"onnx.load: {source}: {node.op} node {node.name!r} (opset "
                            f"{node.opset}) takes device tensor {device[0]!r}; clconv runs "
                            f"{node.op} only on constants and shapes (folded on the host)")


def _merge_pairs(nodes, outputs, first_ops, merge) -> list[Node]:
    """Each node of an op in `first_ops` whose result has one reader (and is no graph output)
    is replaced, where it stands, by merge(node, reader) where that gives a node; the reader
    goes. (The reader's other inputs exist by then: the merges below check it.)"""
    readers = {}
    for node in nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node)
    out, dropped = [], set()
    for node in nodes:
        if id(node) in dropped:
            continue
        following = readers.get(node.outputs[0], []) if node.op in first_ops else []
        merged = (merge(node, following[0]) if len(following) == 1
                  and node.outputs[0] not in outputs else None)
        if merged is not None:
            out.append(merged)
            dropped.add(id(following[0]))
        else:
            out.append(node)
    return out


def _fold_batch_norm(nodes, initializers, outputs) -> list[Node]:
    """Conv followed by BatchNormalization (frozen weights) becomes one Conv with the scale in
    its weights and the shift in its bias: w' = w * g / sqrt(v + eps), b' = (b - m) g /
    sqrt(v + eps) + beta."""
    def merge(conv, bn):
        if (bn.op != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1
                or not all(n in initializers for n in conv.inputs[1:] + bn.inputs[1:5])):
            return None
        w = initializers[conv.inputs[1]].astype(np.float64)
        b = (initializers[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2
             and conv.inputs[2] else np.zeros(w.shape[0]))
        g, beta, mean, var = (initializers[n].astype(np.float64) for n in bn.inputs[1:5])
        factor = g / np.sqrt(var + bn.attrs["epsilon"])
        w_name, b_name = f"{conv.name}/folded_weight", f"{conv.name}/folded_bias"
        dtype = initializers[conv.inputs[1]].dtype
        initializers[w_name] = (w * factor.reshape(-1, *(1,) * (w.ndim - 1))).astype(dtype)
        initializers[b_name] = ((b - mean) * factor + beta).astype(dtype)
        return Node("Conv", conv.name, [conv.inputs[0], w_name, b_name], bn.outputs,
                    dict(conv.attrs), conv.opset)
    return _merge_pairs(nodes, outputs, ("Conv",), merge)


# ONNX activations clconv.fused has, by the names it gives them.
_FUSED = {"Relu": "relu", "Sigmoid": "sigmoid", "SiLU": "silu", "HardSwish": "hardswish"}


def _fuse_activations(nodes, initializers, outputs) -> list[Node]:
    """Conv followed by an activation clconv.fused has runs as one fused conv: Relu, LeakyRelu
    (alpha >= 0), Sigmoid, SiLU (_fuse_silu's), HardSwish, HardSigmoid with PyTorch's alpha and
    beta, and Clip(0, 6) (ReLU6) with constant bounds."""
    constants = dict(initializers)
    constants.update((n.outputs[0], constant_value(n)) for n in nodes if n.op == "Constant")

    def bounds(clip):
        if clip.opset < 11:
            return clip.attrs["min"], clip.attrs["max"]
        values = []
        for name in (clip.inputs + ["", ""])[1:3]:
            value = constants.get(name) if name else None
            values.append(float(value.reshape(-1)[0]) if value is not None and value.size == 1
                          else name or None)  # (a name: not known at load time)
        return tuple(values)

    def activation_of(act):
        if act.op in _FUSED:
            return _FUSED[act.op], 0.01
        if act.op == "LeakyRelu" and act.attrs["alpha"] >= 0:
            return "leaky_relu", act.attrs["alpha"]
        if act.op == "Clip" and bounds(act) == (0.0, 6.0):
            return "relu6", 0.01
        if (act.op == "HardSigmoid" and np.isclose(act.attrs["alpha"], 1 / 6, rtol=1e-6)
                and act.attrs["beta"] == 0.5):
            return "hardsigmoid", 0.01
        return None, None

    def merge(conv, act):
        activation, slope = activation_of(act)
        if activation is None:
            return None
        attrs = dict(conv.attrs, _activation=activation, _negative_slope=slope)
        return Node("Conv", conv.name, conv.inputs, act.outputs, attrs, conv.opset)
    return _merge_pairs(nodes, outputs, ("Conv",), merge)


def _positions(nodes) -> dict:
    """Where each value is made: the index of the node that outputs it."""
    return {name: index for index, node in enumerate(nodes) for name in node.outputs if name}


def _fuse_residual(nodes, outputs) -> list[Node]:
    """Add(Conv(...), r) (a residual connection: the Add alone reads the convolution, which has
    no activation of its own yet) becomes that Conv with r as its fifth input (`_residual`:
    clconv.ops.conv.fused_conv adds r as the convolution stores its output, before an
    activation fused next), where r is ready before the Conv runs: a graph input, an
    initializer or an earlier node's output."""
    made = _positions(nodes)

    def merge(conv, add):
        if (add.op != "Add" or len(add.inputs) != 2 or "_activation" in conv.attrs
                or "_residual" in conv.attrs):
            return None
        mine = conv.outputs[0]
        other = add.inputs[1] if add.inputs[0] == mine else add.inputs[0]
        if other == mine or made.get(other, -1) >= made[mine]:
            return None
        inputs = (conv.inputs + ["", ""])[:4] + [other]  # (x, w, bias, scale, residual)
        return Node("Conv", conv.name, inputs, add.outputs, dict(conv.attrs, _residual=True),
                    conv.opset)
    return _merge_pairs(nodes, outputs, ("Conv",), merge)


def _fuse_input_scale(nodes, initializers, outputs) -> list[Node]:
    """Mul(a, b) whose product only a Conv reads (a squeeze-excitation's gate times its input,
    then the projection) becomes that Conv with both factors: where one is a factor per image
    and channel of the other (N, C, 1, 1), clconv.ops.conv.scaled_conv multiplies as the
    convolution reads its input, else the product is taken first (shapes are known at run
    time only)."""
    made = _positions(nodes)

    def merge(mul, conv):
        # (the merged node stands where the Mul did: its weights, and a residual, must exist)
        residual = conv.inputs[4:]
        if (conv.op != "Conv" or conv.inputs[0] != mul.outputs[0] or len(mul.inputs) != 2
                or not all(n in initializers for n in conv.inputs[1:3] if n)
                or any(made.get(r, -1) >= made[mul.outputs[0]] for r in residual)):
            return None
        bias = conv.inputs[2] if len(conv.inputs) > 2 else ""
        return Node("Conv", conv.name,
                    [mul.inputs[0], conv.inputs[1], bias, mul.inputs[1]] + residual,
                    conv.outputs, dict(conv.attrs, _scaled_input=True), conv.opset)
    return _merge_pairs(nodes, outputs, ("Mul",), merge)


def _fuse_silu(nodes, outputs) -> list[Node]:
    """Mul(x, Sigmoid(x)) (how the exporters write SiLU / swish) becomes one SiLU node: one
    kernel and one pass over memory instead of two."""
    def merge(sigmoid, mul):
        if mul.op != "Mul" or sorted(mul.inputs) != sorted([sigmoid.inputs[0],
                                                            sigmoid.outputs[0]]):
            return None
        return Node("SiLU", sigmoid.name, [sigmoid.inputs[0]], mul.outputs, {}, sigmoid.opset)
    return _merge_pairs(nodes, outputs, ("Sigmoid",), merge)


class OnnxModel(Module):
    """An ONNX graph as a clconv.nn.Module: `model(*inputs)` or `model(**{name: array})`."""

    def __init__(self, proto, source: str, device=None, trainable: bool = False):
        super().__init__()
        onnx = _onnx()
        if proto.functions:
            proto = onnx.inliner.inline_local_functions(proto)
        object.__setattr__(self, "_proto", proto)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "trainable", trainable)
        opset = _opset(proto, source)
        graph = proto.graph
        raw = OrderedDict((init.name, onnx.numpy_helper.to_array(init))
                          for init in graph.initializer)
        # Older IR lists initializers among the inputs too: they are fed from the initializers.
        self.input_specs = [(v.name, _type_of(v)) for v in graph.input if v.name not in raw]
        self.output_names = [v.name for v in graph.output]
        nodes = _nodes(graph, opset, source)
        _check_host_only(nodes, [n for n, a in raw.items() if a.dtype.kind != "f"] +
                         [n for n, (dtype, _) in self.input_specs if dtype.kind != "f"], source)
        nodes = _fuse_silu(nodes, set(self.output_names))
        if not trainable:
            nodes = _fold_batch_norm(nodes, raw, set(self.output_names))
            nodes = _fuse_residual(nodes, set(self.output_names))
            nodes = _fuse_activations(nodes, raw, set(self.output_names))
            nodes = _fuse_input_scale(nodes, raw, set(self.output_names))
        used = {name for node in nodes for name in node.inputs}
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_state", OrderedDict())   # float initializers: Tensors
        object.__setattr__(self, "_constants", {})          # integer initializers: host
        running = {n for node in nodes if node.op == "BatchNormalization"
                   for n in node.inputs[3:5]}
        for name, array in raw.items():
            if name not in used:
                continue
            # Scalars (bounds, divisors) stay host constants, never parameters.
            if array.dtype.kind == "f" and array.size > 1:
                requires_grad = trainable and name not in running
                self._state[name] = tensor(np.ascontiguousarray(array), device=device,
                                           requires_grad=requires_grad)
            else:
                self._constants[name] = array
        object.__setattr__(self, "_running", running)
        object.__setattr__(self, "_plans", {})
        object.__setattr__(self, "_replays", {})   # input shapes -> a recorded run, or False
        # profile_hook(node, run) -> run()'s outputs: `python -m clconv run --profile` times
        # each node with it.
        object.__setattr__(self, "profile_hook", None)
        self._last_use = self._liveness()

    # --- parameters and state, by ONNX initializer name ----------------------------------------
    def named_parameters(self):
        return ((n, t) for n, t in self._state.items() if t.requires_grad)

    def named_buffers(self):
        return ((n, t) for n, t in self._state.items() if not t.requires_grad)

    def train(self, mode: bool = True) -> "OnnxModel":
        object.__setattr__(self, "training", mode)
        return self

    # --- running -------------------------------------------------------------------------------
    def _liveness(self) -> dict:
        last = {}
        for index, node in enumerate(self._nodes):
            for name in node.inputs:
                if name:
                    last[name] = index
        return last

    def _feeds(self, args, kwargs) -> dict:
        names = [name for name, _ in self.input_specs]
        if args and kwargs:
            raise TypeError(f"{self.source}: pass the inputs by position or by name, not both")
        if kwargs:
            unknown = sorted(set(kwargs) - set(names))
            if unknown:
                raise OnnxError(f"{self.source}: no input named {unknown[0]!r}; the inputs are "
                                f"{names}")
            feeds = dict(kwargs)
        else:
            if len(args) > len(names):
                raise OnnxError(f"{self.source}: {len(args)} inputs given, the model takes "
                                f"{len(names)} ({names})")
            feeds = dict(zip(names, args))
        missing = [n for n in names if n not in feeds]
        if missing:
            raise OnnxError(f"{self.source}: missing input {missing[0]!r}; the inputs are "
                            f"{names}")
        out = {}
        for name, (dtype, dims) in self.input_specs:
            value = feeds[name]
            value = value if isinstance(value, Tensor) else np.asarray(value)
            shape = tuple(value.shape)
            if value.dtype != dtype:
                raise OnnxError(f"{self.source}: input {name!r} has dtype {value.dtype}, the "
                                f"model expects {dtype}")
            if dims is not None and (len(shape) != len(dims) or any(
                    d is not None and d != s for d, s in zip(dims, shape))):
                expected = tuple("?" if d is None else d for d in dims)
                raise OnnxError(f"{self.source}: input {name!r} has shape {shape}, the model "
                                f"expects {expected} (? any size)")
            out[name] = value if isinstance(value, Tensor) or dtype.kind != "f" else \
                np.ascontiguousarray(value)
        return out

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _key(self, feeds) -> tuple:
        """What a plan and a replay are for: host-folded values depend on the shapes and on
        integer inputs' values."""
        return (self.training, tuple((n, tuple(v.shape), v.tobytes() if is_host(v) and
                                      v.dtype.kind != "f" else None) for n, v in feeds.items()))

    def recording(self, *args, **kwargs):
        """The launches an inference run on inputs like these replays (runtime.Recording:
        `kernel_times()` profiles them), once such a run has been made; else None."""
        replay = self._replays.get(self._key(self._feeds(args, kwargs)))
        return replay[0] if replay else None

    def forward(self, *args, **kwargs):
        feeds = self._feeds(args, kwargs)
        key = self._key(feeds)
        grad = autograd.is_grad_enabled() and self.trainable
        # Inference replays the launches of its first run for these shapes (below).
        replayable = not grad and not self.training and self.profile_hook is None
        replay = self._replays.get(key) if replayable else None
        if replay and replay[0].stale():  # weights packed for it changed since: record anew
            replay = self._replays[key] = None
        if replay:
            return self._replay(replay, feeds)
        plan = self._plans.get(key)
        first = plan is None
        if first:
            plan = self._plans[key] = {}   # node index -> its host outputs (folded)
        if replayable and replay is None:
            return self._record(key, plan, feeds)
        return self._interpret(plan, first, self._device_feeds(feeds), grad)

    def _device_feeds(self, feeds) -> dict:
        return {n: tensor(v) if is_host(v) and v.dtype.kind == "f" else v
                for n, v in feeds.items()}

    def _interpret(self, plan, first, feeds, grad):
        """Run the nodes one by one: host nodes from the plan, the others through
        clconv.functional; values dropped after their last reader."""
        env = dict(self._constants)
        env.update(self._state)
        env.update(feeds)
        outputs = set(self.output_names)
        with (autograd.enable_grad() if grad else autograd.no_grad()):
            for index, node in enumerate(self._nodes):
                folded = plan.get(index)
                if folded is not None:
                    env.update(zip(node.outputs, folded))
                else:
                    results = (self._run_node(node, env) if self.profile_hook is None else
                               self.profile_hook(node, lambda: self._run_node(node, env)))
                    if first and all(is_host(r) for r in results) and results:
                        plan[index] = results
                    env.update(zip(node.outputs, results))
                for name in node.inputs:  # free what no later node reads (liveness)
                    if name and self._last_use.get(name) == index and name not in outputs \
                            and name not in self._state and name not in feeds:
                        env.pop(name, None)
        results = []
        for name in self.output_names:
            value = env[name]  # (integer and boolean results of shape arithmetic stay NumPy)
            results.append(on_device(value) if is_host(value) and value.dtype.kind == "f"
                           else value)
        return results[0] if len(results) == 1 else tuple(results)

    # --- the inference plan: one recorded run, replayed --------------------------------------
    def _record(self, key, plan, feeds):
        """The first inference run for these input shapes, with its launches recorded and its
        buffers from a pool of the plan's own: a buffer freed after its last reader goes back
        to that pool and the next allocation reuses it, so the plan's memory is what liveness
        allows, and no other tensor ever shares it. Where the run did something a replay would
        not repeat (a fill, a copy, an upload, a read of device data), the model keeps
        interpreting for these shapes."""
        device = next((v.device for v in feeds.values() if isinstance(v, Tensor)), None) or \
            runtime.get_device()
        pool = runtime.new_pool(device)
        default = device.allocator
        runtime.set_allocator(device, pool)
        try:
            inputs = {}  # the plan's own input buffers
            for name, value in self._device_feeds(feeds).items():
                if isinstance(value, Tensor) and value is feeds[name]:
                    own = empty(value.shape, value.dtype, device)
                    runtime.copy(device, own.array.data, value.array.data, value.array.nbytes)
                    value = own
                inputs[name] = value
        finally:
            runtime.set_allocator(device, default)
        # (weights packed for a kernel are cached with them, outside the plan's pool, and
        # packed again when they change: the recording is then stale and recorded anew)
        with runtime.record_launches(device, allocator=pool) as recording:
            result = self._interpret(plan, True, inputs, False)
        outputs = list(result) if isinstance(result, tuple) else [result]
        if recording.problems or not all(isinstance(o, Tensor) for o in outputs):
            self._replays[key] = False
            return result
        self._replays[key] = (recording, inputs, outputs, pool)
        return self._copies(device, outputs)

    def _replay(self, replay, feeds):
        recording, inputs, outputs, _ = replay
        device = recording.device
        for name, value in feeds.items():
            target = inputs[name]
            if isinstance(value, Tensor):
                runtime.copy(device, target.array.data, value.array.data, value.array.nbytes)
            elif target is not None and isinstance(target, Tensor) and value.size:
                target.array.set(value)
        runtime.replay(recording)
        return self._copies(device, outputs)

    @staticmethod
    def _copies(device, outputs):
        """Fresh tensors holding the plan's outputs (the next run overwrites the plan's)."""
        fresh = []
        for out in outputs:
            copy = empty(out.shape, out.dtype, device)
            if out.size:
                runtime.copy(device, copy.array.data, out.array.data, out.array.nbytes)
            fresh.append(copy)
        return fresh[0] if len(fresh) == 1 else tuple(fresh)

    def _run_node(self, node, env):
        spec = OPS[node.op]
        inputs = [env[name] if name else None for name in node.inputs]
        while inputs and inputs[-1] is None:
            inputs.pop()
        if node.op == "BatchNormalization" or node.op == "Dropout":
            node.attrs["_training"] = self.training
        present = [v for v in inputs if v is not None]
        try:
            if spec.host and all(is_host(v) for v in present):
                results = spec.host(node, inputs)
            else:
                results = spec.run(node, inputs)
            # (NumPy scalars from host arithmetic become 0-d arrays: host values are arrays)
            return [r if isinstance(r, Tensor) else np.asarray(r) for r in results]
        except OnnxError:
            raise
        except (ValueError, TypeError) as err:
            raise OnnxError(f"{self.source}: {node.op} node {node.name!r}: {err}") from err

    def extra_repr(self) -> str:
        return (f"{self.source!r}, {len(self._nodes)} nodes, inputs "
                f"{[n for n, _ in self.input_specs]}, outputs {self.output_names}")


def _type_of(value_info):
    """(NumPy dtype, dims with None for a symbolic dimension, or None for an unknown shape)."""
    onnx = _onnx()
    tensor_type = value_info.type.tensor_type
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    if not tensor_type.HasField("shape"):
        return dtype, None
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
    return dtype, dims


def load(model, device=None, trainable: bool = False) -> OnnxModel:
    """An ONNX model (a path, bytes or an onnx.ModelProto) as a clconv.nn.Module.

    Every op, attribute and opset is checked here: what clconv cannot run raises OnnxError now,
    naming the node, not halfway through a run. With trainable=True the float initializers
    become parameters (by their ONNX names; BatchNormalization's running statistics are
    buffers) and forward records autograd; otherwise BatchNormalization is folded into the
    preceding Conv and a Conv followed by Relu, LeakyRelu, ReLU6 (Clip(0, 6)), Sigmoid, SiLU,
    HardSwish or HardSigmoid runs as one fused kernel."""
    proto, source = _read(model)
    model = OnnxModel(proto, source, device=device, trainable=trainable)
    model.eval()
    return model


def save(model: OnnxModel, path) -> None:
    """Write the model's graph with its current weights and running statistics."""
    onnx = _onnx()
    if not isinstance(model, OnnxModel):
        raise TypeError(f"onnx.save: model must come from clconv.onnx.load, got "
                        f"{type(model).__name__}")
    proto = onnx.ModelProto()
    proto.CopyFrom(model._proto)
    for init in proto.graph.initializer:
        current = model._state.get(init.name)
        if current is not None:
            init.CopyFrom(onnx.numpy_helper.from_array(current.numpy().astype(
                onnx.helper.tensor_dtype_to_np_dtype(init.data_type)), init.name))
    onnx.save(proto, os.fspath(path))
