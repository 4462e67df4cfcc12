"""What the suite measures: the cases, their sizes and how much work each part does."""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod


@dataclass(frozen=True)
class Case:
    name: str           # short id, e.g. "conv2d-B"
    op: str             # "conv", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "train"
    params: dict = field(hash=False)

    @property
    def parts(self) -> tuple[str, ...]:
        if self.op == "conv":
            return ("forward", "backward-data", "backward-weight")
        if self.op == "train":
            return ("step",)
        return ("forward", "backward")

    def describe(self) -> str:
        p = self.params
        if self.op == "conv":
            size = "x".join(map(str, p["spatial"]))
            groups = f" g{p['groups']}" if p["groups"] > 1 else ""
            return (f"conv{len(p['spatial'])}d N{p['batch']} {p['in_channels']}->"
                    f"{p['out_channels']} {size} k{p['kernel']} s{p['stride']} p{p['padding']}{groups}")
        if self.op == "train":
            return f"train step {p['model']} N{p['batch']} {p['size']}x{p['size']}"
        return f"{self.op} {'x'.join(map(str, p['shape']))} {p.get('note', '')}".strip()

    def out_spatial(self) -> tuple[int, ...]:
        p = self.params
        return tuple((s + 2 * p["padding"] - p["kernel"]) // p["stride"] + 1 for s in p["spatial"])

    def work(self, part: str) -> tuple[float, str]:
        """(amount, unit) of one run of `part`: FLOPs for convolutions, bytes otherwise."""
        p = self.params
        if self.op == "conv":  # each part is one product of the same size as the forward
            macs = (p["batch"] * p["out_channels"] * prod(self.out_spatial())
                    * p["in_channels"] // p["groups"] * p["kernel"] ** len(p["spatial"]))
            return 2.0 * macs, "GFLOP/s"
        if self.op == "train":
            return 0.0, ""
        elements = prod(p["shape"])
        outputs = elements // 4 if self.op == "max_pool2d" else elements
        # forward: read the input, write the output; backward: read dy (and x), write dx
        moved = elements + outputs if part == "forward" else 2 * elements + outputs
        return 4.0 * moved, "GB/s"


def _conv(name, batch, c_in, c_out, spatial, kernel, stride=1, padding=0, groups=1):
    return Case(name, "conv", dict(batch=batch, in_channels=c_in, out_channels=c_out,
                                   spatial=spatial, kernel=kernel, stride=stride,
                                   padding=padding, groups=groups))


ACTIVATIONS = (8, 64, 56, 56)

SUITE = [
    _conv("conv2d-A", 32, 3, 10, (32, 32), 5, 1, 2),
    _conv("conv2d-B", 8, 64, 64, (56, 56), 3, 1, 1),
    _conv("conv2d-C", 8, 128, 128, (28, 28), 3, 1, 1),
    _conv("conv2d-D", 8, 256, 256, (14, 14), 1),
    _conv("conv2d-E", 8, 64, 128, (56, 56), 3, 2, 1),
    _conv("depthwise", 8, 128, 128, (56, 56), 3, 1, 1, groups=128),
    _conv("conv1d", 16, 64, 64, (1024,), 5, 1, 2),
    _conv("conv3d", 2, 16, 16, (16, 32, 32), 3, 1, 1),
    Case("max_pool2d", "max_pool2d", dict(shape=ACTIVATIONS, note="2x2 s2")),
    Case("avg_pool2d", "avg_pool2d", dict(shape=ACTIVATIONS, note="3x3 s1 p1")),
    Case("batch_norm", "batch_norm", dict(shape=ACTIVATIONS, note="training")),
    Case("layer_norm", "layer_norm", dict(shape=ACTIVATIONS, note="over (C,H,W)")),
    Case("train-demo", "train", dict(model="demo", batch=8, size=56)),
    Case("train-resnet", "train", dict(model="resnet18", batch=8, size=56)),
]

# --quick (CI): every case at a small size, run once, results checked against the reference.
QUICK = [
    _conv("conv2d-A", 2, 3, 10, (12, 12), 5, 1, 2),
    _conv("conv2d-B", 2, 8, 8, (10, 10), 3, 1, 1),
    _conv("conv2d-C", 1, 16, 16, (7, 7), 3, 1, 1),
    _conv("conv2d-D", 2, 32, 32, (5, 5), 1),
    _conv("conv2d-E", 2, 8, 16, (11, 11), 3, 2, 1),
    _conv("depthwise", 2, 16, 16, (9, 9), 3, 1, 1, groups=16),
    _conv("conv1d", 2, 8, 8, (50,), 5, 1, 2),
    _conv("conv3d", 1, 4, 4, (5, 6, 7), 3, 1, 1),
    Case("max_pool2d", "max_pool2d", dict(shape=(2, 4, 10, 10), note="2x2 s2")),
    Case("avg_pool2d", "avg_pool2d", dict(shape=(2, 4, 9, 9), note="3x3 s1 p1")),
    Case("batch_norm", "batch_norm", dict(shape=(2, 4, 9, 9), note="training")),
    Case("layer_norm", "layer_norm", dict(shape=(2, 4, 9, 9), note="over (C,H,W)")),
    Case("train-demo", "train", dict(model="demo", batch=2, size=8)),
    Case("train-resnet", "train", dict(model="resnet18", batch=2, size=16)),
]


# --gpu (benchmarks/gpu_run.sh): the convolutions at the suite's sizes, pooling and
# normalization over 4x the activations, and a training step of the suite's ResNet-18 (its
# stages at 56, 28, 14 and 7, as torchvision's at 224 x 224, without the 7x7 stem) at batch 32.
GPU_ACTIVATIONS = (32, 64, 56, 56)
GPU_SUITE = [c for c in SUITE if c.op == "conv"] + [
    Case("maxpool-gpu", "max_pool2d", dict(shape=GPU_ACTIVATIONS, note="2x2 s2")),
    Case("avgpool-gpu", "avg_pool2d", dict(shape=GPU_ACTIVATIONS, note="3x3 s1 p1")),
    Case("batchnorm-gpu", "batch_norm", dict(shape=GPU_ACTIVATIONS, note="training")),
    Case("layernorm-gpu", "layer_norm", dict(shape=GPU_ACTIVATIONS, note="over (C,H,W)")),
    Case("train-resnet-b32", "train", dict(model="resnet18", batch=32, size=56)),
]


def by_name(quick: bool) -> dict[str, Case]:
    """Every case a worker may be asked for, by name (the --gpu suite's too)."""
    return {c.name: c for c in GPU_SUITE + (QUICK if quick else SUITE)}


def cases(quick: bool, only: str | None = None, gpu: bool = False) -> list[Case]:
    chosen = QUICK if quick else GPU_SUITE if gpu else SUITE
    if only:
        wanted = only.split(",")
        chosen = [c for c in chosen if any(w in c.name for w in wanted)]
    return chosen
