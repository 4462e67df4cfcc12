"""ResNet-18, MobileNetV2 and EfficientNet-B0 as ONNX graphs (opset 17), written with onnx.helper
with torchvision's layer shapes, random weights and non-trivial batch-norm statistics: the models
of `python -m clconv bench --models`, with no PyTorch or torchvision needed to make them."""
from __future__ import annotations

import numpy as np


class _Graph:
    def __init__(self, seed: int):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.rng = np.random.default_rng(seed)
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"

    def constant(self, values: np.ndarray, kind: str) -> str:
        name = self.name(kind)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(values), name))
        return name

    def node(self, op: str, inputs, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def conv_bn(self, x, c_in, c_out, k, stride=1, groups=1, act="relu"):
        """Conv (no bias), BatchNormalization, and an activation (relu, relu6, silu or None)."""
        fan_in = c_in // groups * k * k
        w = self.constant((self.rng.standard_normal((c_out, c_in // groups, k, k)) *
                           np.sqrt(2 / fan_in)).astype(np.float32), "weight")
        y = self.node("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
                      pads=[k // 2] * 4, group=groups)
        stats = [self.constant(v.astype(np.float32), n) for v, n in (
            (self.rng.uniform(0.5, 1.5, c_out), "gamma"), (self.rng.uniform(-0.2, 0.2, c_out), "beta"),
            (self.rng.uniform(-0.2, 0.2, c_out), "mean"), (self.rng.uniform(0.5, 2.0, c_out), "var"))]
        y = self.node("BatchNormalization", [y, *stats], epsilon=1e-5)
        if act == "relu":
            return self.node("Relu", [y])
        if act == "relu6":
            return self.node("Clip", [y, self.constant(np.float32(0), "zero"),
                                      self.constant(np.float32(6), "six")])
        if act == "silu":
            return self.node("Mul", [y, self.node("Sigmoid", [y])])
        return y

    def classifier(self, x, c_in, classes=1000):
        pooled = self.node("GlobalAveragePool", [x])
        flat = self.node("Flatten", [pooled], axis=1)
        w = self.constant((self.rng.standard_normal((classes, c_in)) / np.sqrt(c_in))
                          .astype(np.float32), "fc_weight")
        b = self.constant(np.zeros(classes, np.float32), "fc_bias")
        return self.node("Gemm", [flat, w, b], transB=1)

    def model(self, output: str, size: int):
        h = self.helper
        from onnx import TensorProto
        graph = h.make_graph(
            self.nodes, "clconv-bench",
            [h.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
            [h.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", 1000])],
            self.initializers)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)],
                             producer_name="clconv.bench")
        model.ir_version = 8
        return model


def resnet18(size: int = 224, seed: int = 0):
    g = _Graph(seed)
    x = g.conv_bn("input", 3, 64, 7, 2)
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = 64
    for c_out, stride in ((64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                          (512, 1)):
        y = g.conv_bn(x, c, c_out, 3, stride)
        y = g.conv_bn(y, c_out, c_out, 3, 1, act=None)
        shortcut = g.conv_bn(x, c, c_out, 1, stride, act=None) if stride != 1 or c != c_out else x
        x = g.node("Relu", [g.node("Add", [y, shortcut])])
        c = c_out
    return g.model(g.classifier(x, 512), size)


def mobilenet_v2(size: int = 224, seed: int = 0):
    g = _Graph(seed)
    x = g.conv_bn("input", 3, 32, 3, 2, act="relu6")
    c = 32
    for t, c_out, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c * t
            y = g.conv_bn(x, c, hidden, 1, act="relu6") if t != 1 else x
            y = g.conv_bn(y, hidden, hidden, 3, stride, groups=hidden, act="relu6")
            y = g.conv_bn(y, hidden, c_out, 1, act=None)
            x = g.node("Add", [x, y]) if stride == 1 and c == c_out else y
            c = c_out
    x = g.conv_bn(x, c, 1280, 1, act="relu6")
    return g.model(g.classifier(x, 1280), size)


def efficientnet_b0(size: int = 224, seed: int = 0):
    g = _Graph(seed)
    x = g.conv_bn("input", 3, 32, 3, 2, act="silu")
    c = 32
    for t, k, s, c_out, n in ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                              (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                              (6, 3, 1, 320, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c * t
            y = g.conv_bn(x, c, hidden, 1, act="silu") if t != 1 else x
            y = g.conv_bn(y, hidden, hidden, k, stride, groups=hidden, act="silu")
            # squeeze-and-excitation: a quarter of the block's input channels
            squeezed = max(1, c // 4)
            pooled = g.node("GlobalAveragePool", [y])
            w1 = g.constant((g.rng.standard_normal((squeezed, hidden, 1, 1)) /
                             np.sqrt(hidden)).astype(np.float32), "se_reduce")
            b1 = g.constant(np.zeros(squeezed, np.float32), "se_reduce_bias")
            w2 = g.constant((g.rng.standard_normal((hidden, squeezed, 1, 1)) /
                             np.sqrt(squeezed)).astype(np.float32), "se_expand")
            b2 = g.constant(np.zeros(hidden, np.float32), "se_expand_bias")
            r = g.node("Conv", [pooled, w1, b1], kernel_shape=[1, 1])
            r = g.node("Mul", [r, g.node("Sigmoid", [r])])
            gate = g.node("Sigmoid", [g.node("Conv", [r, w2, b2], kernel_shape=[1, 1])])
            y = g.node("Mul", [y, gate])
            y = g.conv_bn(y, hidden, c_out, 1, act=None)
            x = g.node("Add", [x, y]) if stride == 1 and c == c_out else y
            c = c_out
    x = g.conv_bn(x, c, 1280, 1, act="silu")
    return g.model(g.classifier(x, 1280), size)


MODELS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "efficientnet_b0": efficientnet_b0}
