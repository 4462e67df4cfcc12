"""The networks of the training-step benchmarks, in clconv.nn (and, in workers, PyTorch)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from .. import reference as R


def demo_cnn(size: int) -> nn.Sequential:
    """The digits demo's network (two conv-batchnorm-relu-pool blocks, linear) for size x size."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (size // 4) ** 2, 10))


class BasicBlock(nn.Module):
    """ResNet's basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out)) if stride != 1 or c_in != c_out else None

    def forward(self, x):
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(F.add(self.main(x), skip))

    def reference_forward(self, x):
        skip = x if self.shortcut is None else self.shortcut.reference_forward(x)
        return R.relu(R.add(self.main.reference_forward(x), skip))

    def reference_backward(self, grad, x):
        skip = x if self.shortcut is None else self.shortcut.reference_forward(x)
        grad = R.relu_backward(grad, R.add(self.main.reference_forward(x), skip))
        dx, grads = self.main.reference_backward(grad, x)
        grads = {f"main.{k}": v for k, v in grads.items()}
        if self.shortcut is None:
            return dx + grad, grads
        dx_skip, skip_grads = self.shortcut.reference_backward(grad, x)
        grads.update({f"shortcut.{k}": v for k, v in skip_grads.items()})
        return dx + dx_skip, grads


def resnet18(size: int) -> nn.Sequential:
    """ResNet-18's four stages of two basic blocks (64..512 channels) on a size x size input,
    with a 3x3 stem in place of the 7x7/maxpool one (the input is already 56x56)."""
    layers = [nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    c_in = 64
    for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def build(model: str, size: int):
    """(network, input channels)."""
    return (demo_cnn(size), 1) if model == "demo" else (resnet18(size), 3)


def torch_build(model: str, size: int):
    import torch.nn as tnn

    if model == "demo":
        return tnn.Sequential(
            tnn.Conv2d(1, 16, 3, padding=1), tnn.BatchNorm2d(16), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(16, 32, 3, padding=1), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Flatten(), tnn.Linear(32 * (size // 4) ** 2, 10)), 1

    class Block(tnn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.main = tnn.Sequential(
                tnn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU(),
                tnn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), tnn.BatchNorm2d(c_out))
            self.shortcut = tnn.Sequential(tnn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                           tnn.BatchNorm2d(c_out)) \
                if stride != 1 or c_in != c_out else tnn.Identity()

        def forward(self, x):
            return (self.main(x) + self.shortcut(x)).relu()

    layers = [tnn.Conv2d(3, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU()]
    c_in = 64
    for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(c_in, c_out, stride), Block(c_out, c_out, 1)]
        c_in = c_out
    return tnn.Sequential(*layers, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(512, 10)), 3


def batch(model_channels: int, batch: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, model_channels, size, size)).astype(np.float32),
            rng.integers(0, 10, batch))
