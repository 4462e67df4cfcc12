"""clconv.onnx: small graphs built with onnx.helper for every supported op and attribute, against
clconv.reference (always) and onnxruntime (when installed); load-time and input errors; the
folding, fusion and liveness of inference plans; fine-tuning against PyTorch autograd; saving.
(ONNX's own BackendTest runs in test_onnx_backend.py.)"""
import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install '.[test]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import clconv  # noqa: E402
import clconv.functional as F  # noqa: E402
import clconv.onnx as conx  # noqa: E402
from clconv import reference as R  # noqa: E402
from clconv.optim import SGD  # noqa: E402
from clconv.testing import assert_close  # noqa: E402

try:
    import onnxruntime
except ImportError:  # the reference comparison still runs
    onnxruntime = None

FLOAT = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    """A model of `nodes`; inputs and outputs are (name, shape) pairs (float32), initializers
    NumPy arrays by name."""
    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info(n, FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in dict(initializers).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _check(model, feeds, want):
    """clconv against the reference's `want` and, when installed, onnxruntime."""
    got = conx.load(model)(**feeds)
    got = got.numpy() if isinstance(got, clconv.Tensor) else np.asarray(got)
    assert_close(got, want, what="clconv vs reference")
    if onnxruntime is not None:
        session = onnxruntime.InferenceSession(model.SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        assert_close(got, session.run(None, feeds)[0], what="clconv vs onnxruntime")


def _rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# (id, builder(rng) -> (model, feeds, expected from clconv.reference))
def _conv_bn_relu(rng):
    x, w, b = _rand(rng, 2, 3, 9, 8), _rand(rng, 4, 3, 3, 3, scale=0.3), _rand(rng, 4)
    g, beta, mean = _rand(rng, 4), _rand(rng, 4), _rand(rng, 4)
    var = rng.uniform(0.5, 2, 4).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["n"],
                              epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["y"])]
    model = _model(nodes, [("x", x.shape)], [("y", None)],
                   dict(w=w, b=b, g=g, beta=beta, mean=mean, var=var))
    want = R.relu(R.batch_norm(R.conv2d(x, w, b, (2, 1), 1), mean, var, g, beta, eps=1e-3))
    return model, {"x": x}, want


def _squeeze_excitation(rng):
    x = _rand(rng, 2, 6, 5, 7)
    w1, w2 = _rand(rng, 3, 6, 1, 1, scale=0.4), _rand(rng, 6, 3, 1, 1, scale=0.4)
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
             helper.make_node("Conv", ["m", "w1"], ["h"]),
             helper.make_node("Clip", ["h", "lo", "hi"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["s"]),
             helper.make_node("HardSigmoid", ["s"], ["gate"], alpha=1 / 6),
             helper.make_node("Mul", ["x", "gate"], ["p"]),
             helper.make_node("HardSwish", ["p"], ["y"])]
    model = _model(nodes, [("x", x.shape)], [("y", None)],
                   dict(w1=w1, w2=w2, lo=np.float32(0), hi=np.float32(6)))
    gate = R.hardsigmoid(R.conv2d(R.relu6(R.conv2d(R.mean(x, (2, 3), True), w1)), w2))
    return model, {"x": x}, R.hardswish(R.mul(x, gate))


def _squeeze_excitation_projection(rng):
    """EfficientNet's block end: the gate (GlobalAveragePool, Conv, SiLU as x * Sigmoid(x),
    Conv, Sigmoid) times the input, then a 1x1 projection whose BatchNormalization folds in."""
    x = _rand(rng, 2, 8, 6, 7)
    w1, w2 = _rand(rng, 4, 8, 1, 1, scale=0.4), _rand(rng, 8, 4, 1, 1, scale=0.4)
    b1, b2, w3 = _rand(rng, 4), _rand(rng, 8), _rand(rng, 5, 8, 1, 1, scale=0.4)
    g, beta, mean = _rand(rng, 5), _rand(rng, 5), _rand(rng, 5)
    var = rng.uniform(0.5, 2, 5).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["m"]),
             helper.make_node("Conv", ["m", "w1", "b1"], ["h"]),
             helper.make_node("Sigmoid", ["h"], ["hs"]),
             helper.make_node("Mul", ["h", "hs"], ["a"]),
             helper.make_node("Conv", ["a", "w2", "b2"], ["s"]),
             helper.make_node("Sigmoid", ["s"], ["gate"]),
             helper.make_node("Mul", ["gate", "x"], ["p"]),
             helper.make_node("Conv", ["p", "w3"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["y"])]
    model = _model(nodes, [("x", x.shape)], [("y", None)],
                   dict(w1=w1, w2=w2, b1=b1, b2=b2, w3=w3, g=g, beta=beta, mean=mean, var=var))
    gate = R.sigmoid(R.conv2d(R.silu(R.conv2d(R.mean(x, (2, 3), True), w1, b1)), w2, b2))
    want = R.batch_norm(R.conv2d(R.mul(x, gate), w3), mean, var, g, beta)
    return model, {"x": x}, want


def _channel_shuffle(rng):
    """ShuffleNet's: Reshape through shape arithmetic (Shape, Gather, Unsqueeze, Concat) and
    Transpose, then the split and the join."""
    x = _rand(rng, 2, 8, 3, 4)
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "rest"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "back"], ["s"]),
             helper.make_node("Split", ["s", "halves"], ["a", "b"], axis=1),
             helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["a", "rb"], ["y"], axis=1)]
    model = _model(nodes, [("x", x.shape)], [("y", None)],
                   dict(zero=np.int64(0), axes=np.array([0], np.int64),
                        rest=np.array([2, 4, 3, 4], np.int64),
                        back=np.array([2, 8, 3, 4], np.int64),
                        halves=np.array([3, 5], np.int64)))
    shuffled = R.reshape(R.transpose(R.reshape(x, (2, 2, 4, 3, 4)), 1, 2), (2, 8, 3, 4))
    return model, {"x": x}, R.cat([shuffled[:, :3], R.relu(shuffled[:, 3:])], 1)


def _classifier(rng):
    x = _rand(rng, 3, 4, 6, 6)
    w, b = _rand(rng, 10, 4, scale=0.5), _rand(rng, 10)
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], ceil_mode=1),
             helper.make_node("GlobalAveragePool", ["p"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w", "b"], ["l"], transB=1),
             helper.make_node("Dropout", ["l"], ["d"]),
             helper.make_node("LogSoftmax", ["d"], ["y"], axis=1)]
    model = _model(nodes, [("x", x.shape)], [("y", None)], dict(w=w, b=b))
    pooled = R.max_pool2d(x, 3, 2, 1, ceil_mode=True)
    logits = R.linear(R.adaptive_avg_pool2d(pooled, 1).reshape(3, 4), w, b)
    return model, {"x": x}, R.log_softmax(logits, 1)


def _transformer_block(rng):
    """ConvNeXt's tail: Transpose to channels-last, LayerNormalization over the last axis,
    MatMul, Gelu, Add, Sub, Div, ReduceSum, Softmax, AveragePool, GlobalMaxPool."""
    x = _rand(rng, 2, 4, 6, 6)
    g, beta, w = _rand(rng, 4), _rand(rng, 4), _rand(rng, 4, 5, scale=0.5)
    nodes = [helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              count_include_pad=0),
             helper.make_node("Transpose", ["a"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("LayerNormalization", ["t", "g", "beta"], ["n"], axis=-1,
                              epsilon=1e-6),
             helper.make_node("MatMul", ["n", "w"], ["m"]),
             helper.make_node("Gelu", ["m"], ["ge"], approximate="tanh"),
             helper.make_node("Sub", ["ge", "m"], ["s"]),
             helper.make_node("Div", ["s", "two"], ["d"]),
             helper.make_node("ReduceSum", ["d", "axes"], ["r"], keepdims=0),
             helper.make_node("Softmax", ["r"], ["y"], axis=-1)]
    model = _model(nodes, [("x", x.shape)], [("y", None)],
                   dict(g=g, beta=beta, w=w, two=np.float32(2), axes=np.array([1], np.int64)),
                   opset=20)
    t = R.permute(R.avg_pool2d(x, 3, 1, 1, count_include_pad=False), (0, 2, 3, 1))
    m = R.matmul(R.layer_norm(t, (4,), g, beta, 1e-6), w)
    d = R.div(R.sub(R.gelu(m, "tanh"), m), np.float32(2))
    return model, {"x": x}, R.softmax(R.sum(d, 1), -1)


def _elementwise(rng):
    x = _rand(rng, 3, 1, 5, scale=3)
    other = _rand(rng, 4, 1)
    nodes = [helper.make_node("Sigmoid", ["x"], ["a"]), helper.make_node("Tanh", ["a"], ["b"]),
             helper.make_node("Elu", ["b"], ["c"], alpha=0.5),
             helper.make_node("LeakyRelu", ["c"], ["d"], alpha=0.2),
             helper.make_node("Add", ["d", "o"], ["e"]),
             helper.make_node("Clip", ["e", "", "hi"], ["f"]),
             helper.make_node("Max", ["f", "lo"], ["g"]),
             helper.make_node("Unsqueeze", ["g", "axes"], ["u"]),
             helper.make_node("Squeeze", ["u", "axes"], ["y"])]
    model = _model(nodes, [("x", x.shape), ("o", other.shape)], [("y", None)],
                   dict(hi=np.float32(0.3), lo=np.float32(-0.1), axes=np.array([0], np.int64)))
    c = R.elu(R.tanh(R.sigmoid(x)), 0.5)
    e = R.add(R.leaky_relu(c, 0.2), other)
    return model, {"x": x, "o": other}, R.clamp(R.clamp(e, max=0.3), min=-0.1)


def _residual_blocks(rng):
    """Residual connections: ResNet's (Conv, BatchNormalization, Add of the block's input,
    Relu), MobileNetV2's (a 1x1 expansion with ReLU6, a 1x1 projection, Add), an Add whose
    other operand is made after the convolution (by the graph's order) and an Add of a
    constant that broadcasts."""
    x = _rand(rng, 2, 8, 6, 7)
    w = {f"w{i}": _rand(rng, *shape, scale=0.3) for i, shape in
         enumerate([(8, 8, 3, 3), (8, 8, 3, 3), (16, 8, 1, 1), (8, 16, 1, 1), (8, 8, 1, 1),
                    (8, 8, 1, 1), (8, 8, 3, 3)])}
    bn = {f"{k}": v for k, v in zip(("g", "beta", "mean"), (_rand(rng, 8) for _ in range(3)))}
    bn["var"] = rng.uniform(0.5, 2, 8).astype(np.float32)
    shift = _rand(rng, 1, 8, 1, 1)
    nodes = [helper.make_node("Conv", ["x", "w0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Conv", ["ar", "w1"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["b", "g", "beta", "mean", "var"], ["bn"]),
             helper.make_node("Add", ["bn", "x"], ["s1"]),
             helper.make_node("Relu", ["s1"], ["y1"]),
             helper.make_node("Conv", ["y1", "w2"], ["e"]),
             helper.make_node("Clip", ["e", "zero", "six"], ["er"]),
             helper.make_node("Conv", ["er", "w3"], ["p"]),
             helper.make_node("Add", ["y1", "p"], ["y2"]),
             helper.make_node("Conv", ["y2", "w4"], ["late"]),
             helper.make_node("Conv", ["y2", "w5"], ["o"]),
             helper.make_node("Relu", ["o"], ["other"]),
             helper.make_node("Add", ["late", "other"], ["y3"]),
             helper.make_node("Conv", ["y3", "w6"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "shift"], ["y"])]
    model = _model(nodes, [("x", x.shape)], [("y", None)],
                   dict(**w, **bn, shift=shift, zero=np.float32(0), six=np.float32(6)))
    y1 = R.relu(R.add(R.batch_norm(R.conv2d(R.relu(R.conv2d(x, w["w0"], padding=1)), w["w1"],
                                            padding=1), bn["mean"], bn["var"], bn["g"],
                                   bn["beta"]), x))
    y2 = R.add(y1, R.conv2d(R.clamp(R.conv2d(y1, w["w2"]), 0, 6), w["w3"]))
    y3 = R.add(R.conv2d(y2, w["w4"]), R.relu(R.conv2d(y2, w["w5"])))
    return model, {"x": x}, R.add(R.conv2d(y3, w["w6"], padding=1), shift)


GRAPHS = [_conv_bn_relu, _squeeze_excitation, _squeeze_excitation_projection, _channel_shuffle,
          _classifier, _transformer_block, _elementwise, _residual_blocks]


@pytest.mark.parametrize("build", GRAPHS, ids=lambda b: b.__name__.strip("_"))
def test_graph_matches_reference_and_onnxruntime(device, rng, build):
    model, feeds, want = build(rng)
    _check(model, feeds, want)


def test_frozen_conv_bn_relu_is_one_fused_conv(device, rng):
    model, feeds, want = _conv_bn_relu(rng)
    loaded = conx.load(model)
    assert [n.op for n in loaded._nodes] == ["Conv"]
    assert loaded._nodes[0].attrs["_activation"] == "relu"
    assert_close(loaded(**feeds).numpy(), want)
    trainable = conx.load(model, trainable=True)
    assert [n.op for n in trainable._nodes] == ["Conv", "BatchNormalization", "Relu"]


# (activation nodes after a Conv whose output is "c", the result "y"; initializers; the
#  reference of the activation; what the importer fuses it into, or None)
_ACTIVATION_NODES = {
    "Relu": ([helper.make_node("Relu", ["c"], ["y"])], {}, R.relu, "relu"),
    "LeakyRelu": ([helper.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2)], {},
                  lambda z: R.leaky_relu(z, 0.2), "leaky_relu"),
    "LeakyRelu-negative": ([helper.make_node("LeakyRelu", ["c"], ["y"], alpha=-0.5)], {},
                           lambda z: R.leaky_relu(z, -0.5), None),
    "Clip-initializers": ([helper.make_node("Clip", ["c", "lo", "hi"], ["y"])],
                          dict(lo=np.float32(0), hi=np.float32(6)), R.relu6, "relu6"),
    "Clip-constants": ([helper.make_node("Constant", [], ["lo"], value_float=0.0),
                        helper.make_node("Constant", [], ["hi"], value_float=6.0),
                        helper.make_node("Clip", ["c", "lo", "hi"], ["y"])], {}, R.relu6,
                       "relu6"),
    "Clip-other": ([helper.make_node("Clip", ["c", "lo", "hi"], ["y"])],
                   dict(lo=np.float32(-1), hi=np.float32(6)), lambda z: R.clamp(z, -1, 6), None),
    "Clip-max-only": ([helper.make_node("Clip", ["c", "", "hi"], ["y"])],
                      dict(hi=np.float32(6)), lambda z: R.clamp(z, max=6), None),
    "Sigmoid": ([helper.make_node("Sigmoid", ["c"], ["y"])], {}, R.sigmoid, "sigmoid"),
    "SiLU": ([helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["c", "s"], ["y"])],
             {}, R.silu, "silu"),
    "HardSwish": ([helper.make_node("HardSwish", ["c"], ["y"])], {}, R.hardswish, "hardswish"),
    "HardSigmoid": ([helper.make_node("HardSigmoid", ["c"], ["y"], alpha=1 / 6)], {},
                    R.hardsigmoid, "hardsigmoid"),
    "HardSigmoid-onnx-default": ([helper.make_node("HardSigmoid", ["c"], ["y"])], {},
                                 lambda z: R.clamp(0.2 * z + 0.5, 0, 1), None),
}


@pytest.mark.parametrize("kind", list(_ACTIVATION_NODES))
def test_conv_and_its_activation_are_one_fused_conv(device, rng, kind):
    act_nodes, extra, reference, fused = _ACTIVATION_NODES[kind]
    x, w, b = _rand(rng, 2, 3, 9, 8, scale=4), _rand(rng, 4, 3, 3, 3, scale=0.5), _rand(rng, 4)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1])] + act_nodes
    model = _model(nodes, [("x", x.shape)], [("y", None)], dict(w=w, b=b, **extra))
    loaded = conx.load(model)
    convs = [n for n in loaded._nodes if n.op == "Conv"]
    assert convs[0].attrs.get("_activation") == fused
    assert len([n for n in loaded._nodes if n.op != "Constant"]) == (1 if fused else 2)
    z = R.conv2d(x, w, b, padding=1)
    assert (z < -3).any() and (z > 6).any()  # (every piece of each activation is reached)
    _check(model, {"x": x}, reference(z))


def test_a_gate_times_the_input_of_a_conv_is_read_by_the_conv(device, rng):
    """Mul(gate, x) feeding a Conv runs inside the convolution (conv_direct scales each input
    channel as it reads it): no elementwise kernel in the replayed run on a CPU; elsewhere the
    product first. Either way the reference's and onnxruntime's result."""
    model, feeds, want = _squeeze_excitation_projection(rng)
    _check(model, feeds, want)
    loaded = conx.load(model)
    assert [n.op for n in loaded._nodes].count("Mul") == 0  # (one SiLU, one scaled Conv)
    loaded(**feeds)
    names = {kernel.function_name for kernel, *_ in loaded.recording(**feeds).launches}
    fused = clconv.explain(F.conv2d, feeds["x"], np.zeros((5, 8, 1, 1), np.float32)
                           )["conv_forward"].algorithm in ("direct", "pointwise")
    assert fused == (not any(name.startswith("binary") for name in names)), names


def test_a_residual_add_is_stored_by_the_conv_before_it(device, rng):
    """Add(Conv, r) runs inside the convolution where r is made before it (conv_direct,
    conv_pointwise and winograd_conv2d add r as they store, before an activation fused after):
    ResNet's and MobileNetV2's block ends become one node each, an Add whose operand comes
    later stays, and a constant that broadcasts is added after the convolution at run time."""
    model, feeds, want = _residual_blocks(rng)
    _check(model, feeds, want)
    loaded = conx.load(model)
    residual = [n for n in loaded._nodes if n.attrs.get("_residual")]
    assert [(n.inputs[4], n.attrs.get("_activation")) for n in residual] == \
        [("x", "relu"), ("y1", None), ("shift", None)]
    assert [n.op for n in loaded._nodes].count("Add") == 1  # (late + other, made after)
    loaded(**feeds)
    names = [kernel.function_name for kernel, *_ in loaded.recording(**feeds).launches]
    binary = [name for name in names if name.startswith("binary")]
    algorithms = {clconv.explain(F.conv2d, np.zeros((2, shape[1], 6, 7), np.float32),
                                 np.zeros(shape, np.float32), padding=pad)
                  ["conv_forward"].algorithm for shape, pad in
                  (((8, 8, 3, 3), 1), ((8, 16, 1, 1), 0))}
    if algorithms <= {"direct", "pointwise", "winograd"}:  # (CPUs)
        assert len(binary) == 2, names  # (the late operand's Add, the broadcast constant)
    else:
        assert len(binary) == 4, names


def test_mul_of_sigmoid_is_one_silu(device, rng):
    x = _rand(rng, 2, 3, 4, 5, scale=3)
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["s", "x"], ["y"])]
    model = _model(nodes, [("x", x.shape)], [("y", None)])
    loaded = conx.load(model)
    assert [n.op for n in loaded._nodes] == ["SiLU"]
    _check(model, {"x": x}, R.silu(x))
    with pytest.raises(conx.OnnxError, match="SiLU"):  # (the importer's own node type)
        conx.load(_model([helper.make_node("SiLU", ["x"], ["y"])], [("x", [2])], [("y", None)]))


def test_shape_arithmetic_is_folded_once_per_input_shape(device, rng, monkeypatch):
    model, feeds, want = _channel_shuffle(rng)
    loaded = conx.load(model)
    assert_close(loaded(**feeds).numpy(), want)
    calls = []
    shape_host = conx.OPS["Gather"].host
    monkeypatch.setitem(conx.OPS, "Gather", conx.OPS["Gather"].__class__(
        conx.OPS["Gather"].run, conx.OPS["Gather"].attrs,
        lambda node, inputs: calls.append(node) or shape_host(node, inputs),
        None, True))
    x2 = _rand(rng, 2, 8, 3, 4)
    loaded(x=x2)  # same shape: the plan's folded values, no host op runs
    assert calls == []


def test_intermediate_values_are_dropped_after_their_last_use(device, rng):
    model, feeds, _ = _classifier(rng)
    loaded = conx.load(model)
    last = loaded._last_use
    # Every intermediate's last reader comes after its producer.
    producers = {o: i for i, n in enumerate(loaded._nodes) for o in n.outputs}
    assert all(last[name] > producers[name] for name in last if name in producers)


def test_dynamic_batch_and_inputs_by_position_or_name(device, rng):
    x = _rand(rng, 2, 3)
    w = _rand(rng, 3, 4)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", FLOAT, ["batch", 4])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    loaded = conx.load(model.SerializeToString())
    for batch in (1, 5):
        x = _rand(rng, batch, 3)
        assert_close(loaded(x).numpy(), R.matmul(x, w))
        assert_close(loaded(x=clconv.tensor(x)).numpy(), R.matmul(x, w))


def test_initializers_listed_as_inputs_are_fed_from_the_initializers(device, rng):
    w = _rand(rng, 3, 4)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", FLOAT, [2, 3]),
                               helper.make_tensor_value_info("w", FLOAT, [3, 4])],
                              [helper.make_tensor_value_info("y", FLOAT, [2, 4])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    loaded = conx.load(model)
    assert [n for n, _ in loaded.input_specs] == ["x"]
    x = _rand(rng, 2, 3)
    assert_close(loaded(x).numpy(), R.matmul(x, w))


# --- errors, at load time and at the inputs ---------------------------------------------------

def _relu_model(opset=17):
    return _model([helper.make_node("Relu", ["x"], ["y"])], [("x", [2, 3])], [("y", [2, 3])],
                  opset=opset)


def test_truncated_and_malformed_files_name_the_file(tmp_path):
    data = _relu_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(conx.OnnxError, match="cut.onnx"):
        conx.load(path)
    with pytest.raises(conx.OnnxError, match="not a valid ONNX model|holds no graph"):
        conx.load(b"\x00\x01garbage")
    with pytest.raises(conx.OnnxError, match="cannot read"):
        conx.load(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="path, bytes or an onnx.ModelProto"):
        conx.load(12)


def test_unsupported_op_attribute_and_opset_fail_at_load_time():
    node = helper.make_node("NonMaxSuppression", ["x"], ["y"], name="nms")
    with pytest.raises(conx.OnnxError, match=r"NonMaxSuppression \(node 'nms'\).*Supported: .*Conv"):
        conx.load(_model([node], [("x", [2])], [("y", None)]))
    node = helper.make_node("MaxPool", ["x"], ["y"], name="p1", kernel_shape=[2, 2],
                            storage_order=1)
    with pytest.raises(conx.OnnxError, match="MaxPool node 'p1' .opset 17.: storage_order 1"):
        conx.load(_model([node], [("x", [1, 1, 4, 4])], [("y", None)]))
    node = helper.make_node("Relu", ["x"], ["y"], name="r", bogus=3)
    with pytest.raises(conx.OnnxError, match="Relu node 'r'.*attribute 'bogus'"):
        conx.load(_model([node], [("x", [2])], [("y", None)]))
    with pytest.raises(conx.OnnxError, match="opset 9; clconv supports opsets 11 to"):
        conx.load(_relu_model(opset=9))
    node = helper.make_node("Gather", ["x", "i"], ["y"], name="g")
    with pytest.raises(conx.OnnxError, match="Gather node 'g'.*device tensor 'x'"):
        conx.load(_model([node], [("x", [3])], [("y", None)], dict(i=np.int64(0))))


def test_wrong_inputs_name_the_input_and_what_was_expected(device):
    model = conx.load(_relu_model())
    with pytest.raises(conx.OnnxError, match=r"input 'x' has shape \(2, 4\).*\(2, 3\)"):
        model(np.zeros((2, 4), np.float32))
    with pytest.raises(conx.OnnxError, match=r"input 'x' has shape \(6,\)"):
        model(np.zeros(6, np.float32))
    with pytest.raises(conx.OnnxError, match="input 'x' has dtype float64"):
        model(np.zeros((2, 3)))
    with pytest.raises(conx.OnnxError, match="missing input 'x'"):
        model()
    with pytest.raises(conx.OnnxError, match="no input named 'z'"):
        model(z=np.zeros((2, 3), np.float32))


# --- fine-tuning and saving -------------------------------------------------------------------

def test_trainable_model_has_parameters_and_state_by_onnx_names(device, rng, tmp_path):
    model, feeds, _ = _conv_bn_relu(rng)
    loaded = conx.load(model, trainable=True)
    assert sorted(n for n, _ in loaded.named_parameters()) == ["b", "beta", "g", "w"]
    assert sorted(loaded.state_dict()) == ["b", "beta", "g", "mean", "var", "w"]
    loaded.train()
    out = loaded(**feeds)
    out.backward(np.ones(out.shape, np.float32))
    assert all(p.grad is not None for p in loaded.parameters())
    initial = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert not np.allclose(loaded.state_dict()["mean"], initial["mean"]), \
        "training mode updates the running mean"
    optimizer = SGD(loaded.parameters(), lr=0.1)
    optimizer.step()
    path = tmp_path / "tuned.onnx"
    conx.save(loaded, path)
    reloaded = conx.load(path)
    state = reloaded.state_dict()
    for name, value in loaded.state_dict().items():
        assert_close(state.get(name, value), value, what=name)
    loaded.eval()
    assert_close(reloaded(**feeds).numpy(), loaded(**feeds).numpy(), what="saved model")


def test_gradients_of_an_exported_model_match_pytorch(device, rng):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: gradients not compared")
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Hardswish(),
                        nn.Conv2d(6, 4, 1), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 5))
    net.eval()
    x = _rand(rng, 2, 3, 8, 8)
    f = io.BytesIO()
    torch.onnx.export(net, (torch.from_numpy(x),), f, input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    loaded = conx.load(f.getvalue(), trainable=True)
    grad = _rand(rng, 2, 5)
    out = loaded(x)
    out.backward(grad)
    net.zero_grad()
    net(torch.from_numpy(x)).backward(torch.from_numpy(grad))
    params = dict(net.named_parameters())
    mine = dict(loaded.named_parameters())
    assert set(mine) <= set(params) | {n for n in mine if n.startswith("onnx::")}
    compared = 0
    for name, p in mine.items():
        if name in params:
            assert_close(p.grad.numpy(), params[name].grad.numpy(), what=f"grad of {name}")
            compared += 1
    assert compared >= 6


def test_inference_replays_its_first_run_with_new_inputs(device, rng):
    """The second call for a shape replays the first call's launches on the plan's own buffers:
    new inputs give new, correct outputs, earlier outputs stay as they were, and tensors made
    between calls share no memory with the plan."""
    model, feeds, _ = _squeeze_excitation(rng)
    loaded = conx.load(model)
    first_x = feeds["x"]
    first = loaded(x=first_x)
    key = next(iter(loaded._replays))
    assert loaded._replays[key], "the first run was recorded"
    launches = len(loaded._replays[key][0].launches)
    assert launches > 0
    kept = first.numpy().copy()
    for _ in range(3):
        x = rng.standard_normal(first_x.shape).astype(np.float32)
        between = clconv.tensor(np.full((64, 64), 7.0, np.float32))  # from the default pool
        got = loaded(x=x)
        w1, w2 = (numpy_helper.to_array(i) for i in model.graph.initializer[:2])
        gate = R.hardsigmoid(R.conv2d(R.relu6(R.conv2d(R.mean(x, (2, 3), True), w1)), w2))
        assert_close(got.numpy(), R.hardswish(R.mul(x, gate)), what="replayed run")
        assert np.all(between.numpy() == 7.0)
    assert np.array_equal(first.numpy(), kept), "a replay overwrote an earlier output"
    assert len(loaded._replays[key][0].launches) == launches


def test_a_replay_follows_changed_weights(device, rng):
    """Weights packed once for the plan (clconv.ops.prepared) are packed again, and the run
    recorded anew, when the model's weights change (load_state_dict)."""
    w = conv_weight_array(rng, (6, 4, 5, 5))
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[2, 2, 2, 2])],
                   [("x", (2, 4, 7, 21))], [("y", (2, 6, 7, 21))], {"w": w})
    loaded = conx.load(model)
    x = rng.standard_normal((2, 4, 7, 21)).astype(np.float32)
    for _ in range(2):  # recorded, replayed
        assert_close(loaded(x).numpy(), R.conv2d(x, w, padding=2))
    loaded.load_state_dict({"w": 2 * w})
    for _ in range(2):
        assert_close(loaded(x).numpy(), R.conv2d(x, 2 * w, padding=2), what="new weights")


def conv_weight_array(rng, shape):
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def test_a_run_a_replay_would_not_repeat_keeps_interpreting(device, rng):
    """A Clip whose bound is an input reads it on the host: that run is not replayed."""
    node = helper.make_node("Clip", ["x", "lo"], ["y"])
    model = _model([node], [("x", [3, 4]), ("lo", [])], [("y", None)])
    loaded = conx.load(model)
    for bound in (0.25, -0.5):
        x = _rand(rng, 3, 4)
        assert_close(loaded(x=x, lo=np.float32(bound)).numpy(), R.clamp(x, min=bound))
    assert list(loaded._replays.values()) == [False]


def test_pad_fills_are_launches_an_inference_plan_replays(device, rng):
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")
    model = _model([node], [("x", [1, 2, 5, 5])], [("y", None)],
                   dict(pads=np.array([0, 0, 1, 1, 0, 0, 2, 0], np.int64)))
    loaded = conx.load(model)
    for _ in range(3):
        x = _rand(rng, 1, 2, 5, 5)
        assert_close(loaded(x).numpy(), R.pad(x, (1, 0, 1, 2)), what="Pad")
    assert all(loaded._replays.values())


def test_weights_in_an_external_file_are_read_from_beside_the_model(device, rng, tmp_path):
    """The dynamo exporter keeps the weights in model.onnx.data."""
    model, feeds, want = _conv_bn_relu(rng)
    path = tmp_path / "external.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="external.onnx.data", size_threshold=0)
    assert (tmp_path / "external.onnx.data").exists()
    assert_close(conx.load(path)(**feeds).numpy(), want, what="external weights")
    with pytest.raises(conx.OnnxError, match="external files; load it from its path"):
        conx.load(path.read_bytes())
    (tmp_path / "external.onnx.data").unlink()
    with pytest.raises(conx.OnnxError, match="cannot read its external weights"):
        conx.load(path)


def test_the_run_command_reports_latency_nodes_and_kernels(device, rng, tmp_path, capsys):
    """`python -m clconv run MODEL --profile --kernels --check`: the device, inputs and outputs,
    the latency, the slowest nodes, each kernel's device time in the replayed run (summing to
    the total it prints) and, with onnxruntime, the difference from it."""
    from clconv.bench import onnx_run
    model, _, _ = _conv_bn_relu(rng)
    path = tmp_path / "conv_bn_relu.onnx"
    path.write_bytes(model.SerializeToString())
    assert onnx_run.main([str(path), "--batch", "3", "--runs", "2", "--profile", "--kernels",
                          "--check"]) == 0
    out = capsys.readouterr().out
    assert "input:   x (2, 3, 9, 8) float32" in out and "latency:" in out
    assert "batch dimension is fixed at 2: --batch 3 does not apply" in out
    assert "samples/s at batch 2" in out
    assert "Conv" in out.split("nodes (")[1]  # the slowest nodes: one fused conv
    if device.profiling:
        header, *rows = out.split("device time per kernel")[1].split("check:")[0].splitlines()
        total = float(header.split("launches, ")[1].split(" ms")[0])
        rows = [row.split() for row in rows if row.strip()]
        assert any("conv" in row[-1] for row in rows), rows
        assert abs(sum(float(row[0]) for row in rows) - total) <= 0.001 * len(rows) + 1e-6
    if onnxruntime is not None:
        assert "largest difference from onnxruntime" in out
