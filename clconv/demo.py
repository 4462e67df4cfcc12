"""`python -m clconv demo`: the forward pass of a small CNN on the default device.

Two conv-batchnorm-relu-maxpool blocks, global average pooling and a linear classifier on a batch
of random 32x32 RGB images; prints each layer's output shape and time, then checks the whole
forward pass against clconv.reference.
"""
from __future__ import annotations

import time

import numpy as np

from . import functional as F
from . import reference as R
from .runtime import get_device
from .tensors import tensor
from .testing import assert_close


def _parameters(rng):
    def kaiming(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)

    return {
        "conv1.weight": kaiming(16, 3, 3, 3), "conv1.bias": np.zeros(16, np.float32),
        "bn1.mean": np.zeros(16, np.float32), "bn1.var": np.ones(16, np.float32),
        "conv2.weight": kaiming(32, 16, 3, 3), "conv2.bias": np.zeros(32, np.float32),
        "bn2.mean": np.zeros(32, np.float32), "bn2.var": np.ones(32, np.float32),
        "fc.weight": kaiming(10, 32), "fc.bias": np.zeros(10, np.float32),
    }


def forward(F, x, p, trace=None):
    """The network, written once for clconv.functional and clconv.reference alike."""
    def step(name, value):
        if trace is not None:
            trace(name, value)
        return value

    for block, (conv, bn) in enumerate([("conv1", "bn1"), ("conv2", "bn2")], 1):
        x = step(f"conv{block}", F.conv2d(x, p[f"{conv}.weight"], p[f"{conv}.bias"], padding=1))
        x = step(f"batch_norm{block}", F.batch_norm(x, p[f"{bn}.mean"], p[f"{bn}.var"], training=True))
        x = step(f"relu{block}", F.relu(x))
        x = step(f"max_pool{block}", F.max_pool2d(x, 2))
    x = step("global_avg_pool", F.adaptive_avg_pool2d(x, 1))
    return step("linear", F.linear(x.reshape(x.shape[0], -1), p["fc.weight"], p["fc.bias"]))


def main(args) -> int:
    device = get_device()
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32)
    host_params = _parameters(rng)
    print(f"device: {device.name} ({device.platform_name})")
    print(f"input: {images.shape}")
    params = {k: tensor(v) for k, v in host_params.items()}
    x = tensor(images)
    forward(F, x, params)  # warm-up: builds (or loads from disk) every kernel
    device.synchronize()

    last = [time.perf_counter()]

    def trace(name, value):
        device.synchronize()
        now = time.perf_counter()
        print(f"  {name:<16} -> {str(value.shape):<18} {1e3 * (now - last[0]):7.2f} ms")
        last[0] = now

    params = {k: tensor(v) for k, v in host_params.items()}  # fresh running statistics
    start = time.perf_counter()
    logits = forward(F, x, params, trace)
    total = time.perf_counter() - start
    print(f"forward pass: {1e3 * total:.1f} ms for {args.batch} images "
          f"({args.batch / total:.0f} images/s)")

    expected = forward(R, images, dict(host_params))
    assert_close(logits.numpy(), expected, what="demo network output")
    print(f"output {logits.shape} matches clconv.reference "
          f"(max abs error {np.max(np.abs(logits.numpy() - expected)):.2e})")
    return 0
