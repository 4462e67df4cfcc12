"""One runtime's measurements, run as `python -m clconv.bench.workers PEER CASES RUNS QUICK`.

Prints one JSON object per measured part: {"case", "part", "ms", "check"}. Every peer builds
the same random problems (same seed) so that quick mode can compare results.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time

import numpy as np

from ..timing import measure, median_ms
from .cases import Case, by_name
from . import models


def problem(case: Case, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    p = case.params
    if case.op == "conv":
        x = rng.standard_normal((p["batch"], p["in_channels"]) + p["spatial"]).astype(np.float32)
        fan_in = p["in_channels"] // p["groups"] * p["kernel"] ** len(p["spatial"])
        w = (rng.standard_normal((p["out_channels"], p["in_channels"] // p["groups"])
                                 + (p["kernel"],) * len(p["spatial"])) / np.sqrt(fan_in)).astype(np.float32)
        g = rng.standard_normal((p["batch"], p["out_channels"]) + case.out_spatial()).astype(np.float32)
        return dict(x=x, w=w, b=rng.standard_normal(p["out_channels"]).astype(np.float32), g=g)
    if case.op == "train":
        return {}
    x = rng.standard_normal(p["shape"]).astype(np.float32)
    out_shape = p["shape"][:2] + tuple(s // 2 for s in p["shape"][2:]) if case.op == "max_pool2d" else p["shape"]
    return dict(x=x, g=rng.standard_normal(out_shape).astype(np.float32))


def conv_args(case: Case):
    p = case.params
    return p["stride"], p["padding"], 1, p["groups"]


POOL_NORM = {  # op -> (clconv.functional name, extra args) of the suite's configuration
    "max_pool2d": ("max_pool2d", (2, 2)),
    "avg_pool2d": ("avg_pool2d", (3, 1, 1)),
    "batch_norm": ("batch_norm", (None, None, None, None, True)),
    "layer_norm": ("layer_norm", None),  # normalized over (C, H, W)
}


def _pool_norm_args(case: Case):
    name, extra = POOL_NORM[case.op]
    return name, (tuple(case.params["shape"][1:]),) if extra is None else extra


# --- clconv ------------------------------------------------------------------------------------

def peer_clconv(chosen, runs, quick):
    import clconv
    from clconv.testing import mismatch

    device = clconv.get_device()
    sync = device.synchronize

    def timed(run):
        """(wall ms, device ms from profiling events or None, first call's ms: the builds)."""
        start = time.perf_counter()
        run()
        sync()
        first = 1e3 * (time.perf_counter() - start)
        wall, device_time = measure(run, sync, runs,
                                    device_time=lambda r: clconv.runtime.device_ms(device, r))
        return wall, device_time, first

    def checked(run, expected):
        """Quick mode only: the result against the reference (computed after timing: NumPy's
        BLAS threads spin on after it, stealing the cores)."""
        if not quick:
            return ""
        return mismatch(run().numpy(), expected()) or "ok"

    for case in chosen:
        if case.op == "train":
            yield case, "step", *_clconv_train(case, runs, quick, device)
            continue
        parts = _clconv_conv_parts(case) if case.op == "conv" else _clconv_pool_norm_parts(case)
        for part, run, expected in parts:
            ms = timed(run)  # (first: its first call builds the kernels)
            yield case, part, ms, checked(run, expected)


def _clconv_conv_parts(case):
    """(part, run, reference) for a convolution's forward and both gradients."""
    import clconv
    import clconv.functional as F
    from clconv import reference as R
    from clconv.ops import conv_grad
    from clconv.ops.conv import conv_geometry

    data = problem(case)
    nd = len(case.params["spatial"])
    op, args = getattr(F, f"conv{nd}d"), conv_args(case)
    x, w, b, g = (clconv.tensor(data[k]) for k in "xwbg")
    geo = conv_geometry("bench", nd, x.shape, w.shape, *args)
    grads = lambda: getattr(R, f"conv{nd}d_backward")(data["g"], data["x"], data["w"], None, *args)
    return [("forward", lambda: op(x, w, b, *args),
             lambda: getattr(R, f"conv{nd}d")(data["x"], data["w"], data["b"], *args)),
            ("backward-data", lambda: conv_grad.input_grad(g, w, geo, x.shape),
             lambda: grads()[0]),
            ("backward-weight", lambda: conv_grad.weight_grad(x, g, geo, w.shape),
             lambda: grads()[1])]


def _clconv_pool_norm_parts(case):
    """(part, run, reference) for a pooling or normalization forward and backward."""
    import clconv
    import clconv.functional as F
    from clconv import reference as R

    data = problem(case)
    name, extra = _pool_norm_args(case)
    x = clconv.tensor(data["x"], requires_grad=True)
    g = clconv.tensor(data["g"])
    node = getattr(F, name)(x, *extra).grad_fn
    reference_grad = getattr(R, f"{name}_backward")
    first_only = name in ("batch_norm", "layer_norm")  # (their backward returns parameters' too)
    return [("forward", lambda: getattr(F, name)(x.detach(), *extra),
             lambda: getattr(R, name)(data["x"], *extra)),
            ("backward", lambda: node.backward(g)[0],
             lambda: (reference_grad(data["g"], data["x"], *extra)[0] if first_only
                      else reference_grad(data["g"], data["x"], *extra)))]


def _clconv_train(case, runs, quick, device):
    from clconv import nn, optim, runtime
    from clconv import reference as R
    from clconv.testing import mismatch

    p = case.params
    nn.manual_seed(0)
    model, channels = models.build(p["model"], p["size"])
    images, labels = models.batch(channels, p["batch"], p["size"])
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(images), labels).backward()
        opt.step()

    check = ""
    if quick:  # one batch's gradients against the reference, before any step moves the weights
        model.zero_grad()
        loss_fn(model(images), labels).backward()
        logits = model.reference_forward(images)
        _, grads = model.reference_backward(R.cross_entropy_backward(np.float32(1), logits, labels), images)
        problems = [mismatch(q.grad.numpy(), grads[n]) for n, q in model.named_parameters()]
        check = next((f"{n}: {m}" for (n, _), m in zip(model.named_parameters(), problems) if m), "ok")
    wall, device_time = measure(step, device.synchronize, runs,
                                device_time=lambda r: runtime.device_ms(device, r))
    return (wall, device_time, None), check


# --- NumPy (forward passes; the reference for training steps) ------------------------------------

def _numpy_conv(x, w, b, stride, padding, groups):
    """im2col with strided views, then one BLAS product per group."""
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + [(padding, padding)] * nd)
    kernel = w.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=tuple(range(2, 2 + nd)))
    windows = windows[(slice(None), slice(None)) + (slice(None, None, stride),) * nd]
    c_group, k_group = x.shape[1] // groups, w.shape[0] // groups
    outs = []
    for g in range(groups):
        cols = windows[:, g * c_group:(g + 1) * c_group]
        outs.append(np.tensordot(cols, w[g * k_group:(g + 1) * k_group],
                                 axes=([1] + list(range(2 + nd, 2 + 2 * nd)), list(range(1, 2 + nd)))))
    y = np.concatenate(outs, axis=-1)
    return np.moveaxis(y, -1, 1) + b.reshape((1, -1) + (1,) * nd)


def _numpy_pool_norm(op, x):
    if op == "max_pool2d":
        n, c, h, w = x.shape
        return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    if op == "avg_pool2d":
        padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
        h, w = x.shape[2:]
        return sum(padded[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9
    axes = (0, 2, 3) if op == "batch_norm" else (1, 2, 3)
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)


def peer_numpy(chosen, runs, quick):
    for case in chosen:
        data = problem(case)
        if case.op == "conv":
            run = lambda: _numpy_conv(data["x"], data["w"], data["b"], case.params["stride"],
                                      case.params["padding"], case.params["groups"])
            yield case, "forward", median_ms(run, lambda: None, runs), ""
        elif case.op != "train":
            yield case, "forward", median_ms(lambda: _numpy_pool_norm(case.op, data["x"]),
                                             lambda: None, runs), ""


def peer_reference(chosen, runs, quick):
    """A training step through clconv.reference (NumPy, float64 inside), timed once."""
    from clconv import nn
    from clconv import reference as R

    for case in chosen:
        if case.op != "train":
            continue
        p = case.params
        nn.manual_seed(0)
        model, channels = models.build(p["model"], p["size"])
        images, labels = models.batch(channels, p["batch"], p["size"])
        params = {name: q.numpy() for name, q in model.named_parameters()}

        def step():
            logits = model.reference_forward(images)
            _, grads = model.reference_backward(R.cross_entropy_backward(np.float32(1), logits, labels), images)
            for name, value in params.items():
                value -= 0.01 * grads[name]

        yield case, "step", median_ms(step, lambda: None, 1, warmup=0), ""


# --- PyTorch CPU -------------------------------------------------------------------------------------

def peer_torch(chosen, runs, quick):
    import torch
    yield from _torch_rows(chosen, runs, torch.device("cpu"), lambda: None)


def peer_torch_cuda(chosen, runs, quick):
    """PyTorch on the machine's NVIDIA GPU (cuDNN), float32 with TF32 off (clconv computes in
    float32), cuDNN's autotuner on; each run synchronized."""
    import torch
    if not torch.cuda.is_available():
        raise SystemExit("torch-cuda: PyTorch sees no CUDA device")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    yield from _torch_rows(chosen, runs, torch.device("cuda"), torch.cuda.synchronize)


def _torch_rows(chosen, runs, device, sync):
    import torch
    import torch.nn.functional as TF

    torch.manual_seed(0)
    tensor = lambda a: torch.from_numpy(a).to(device)
    for case in chosen:
        data = problem(case)
        if case.op == "conv":
            nd = len(case.params["spatial"])
            x, w, b, g = (tensor(data[k]) for k in "xwbg")
            stride, padding, dilation, groups = conv_args(case)
            op = getattr(TF, f"conv{nd}d")
            grad_input = getattr(torch.nn.grad, f"conv{nd}d_input")
            grad_weight = getattr(torch.nn.grad, f"conv{nd}d_weight")
            with torch.no_grad():
                yield case, "forward", median_ms(lambda: op(x, w, b, stride, padding, dilation, groups), sync, runs), ""
                yield case, "backward-data", median_ms(lambda: grad_input(x.shape, w, g, stride, padding, dilation, groups), sync, runs), ""
                yield case, "backward-weight", median_ms(lambda: grad_weight(x, w.shape, g, stride, padding, dilation, groups), sync, runs), ""
        elif case.op == "train":
            p = case.params
            model, channels = models.torch_build(p["model"], p["size"])
            model = model.to(device)
            images, labels = models.batch(channels, p["batch"], p["size"])
            images, labels = tensor(images), tensor(labels)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

            def step():
                opt.zero_grad()
                TF.cross_entropy(model(images), labels).backward()
                opt.step()

            yield case, "step", median_ms(step, sync, runs), ""
        else:
            name, extra = _pool_norm_args(case)
            x = tensor(data["x"]).requires_grad_()
            g = tensor(data["g"])
            call = {"max_pool2d": lambda t: TF.max_pool2d(t, 2, 2),
                    "avg_pool2d": lambda t: TF.avg_pool2d(t, 3, 1, 1),
                    "batch_norm": lambda t: TF.batch_norm(t, None, None, training=True),
                    "layer_norm": lambda t: TF.layer_norm(t, t.shape[1:])}[case.op]
            with torch.no_grad():
                yield case, "forward", median_ms(lambda: call(x), sync, runs), ""
            y = call(x)
            yield case, "backward", median_ms(lambda: torch.autograd.grad(y, x, g, retain_graph=True),
                                              sync, runs), ""


# --- tinygrad on OpenCL ---------------------------------------------------------------------------

def peer_tinygrad(chosen, runs, quick):
    """tinygrad's OpenCL backend on the same device (each call scheduled as a user would)."""
    import os
    os.environ.setdefault("DEV", "CL")
    from tinygrad import Device, Tensor

    sync = Device[Device.DEFAULT].synchronize
    for case in chosen:
        data = problem(case)
        if case.op == "conv":
            p = case.params
            x, w, b, g = (Tensor(data[k]).realize() for k in "xwbg")
            conv = dict(groups=p["groups"], stride=p["stride"], padding=p["padding"])
            yield case, "forward", median_ms(lambda: x.conv2d(w, b, **conv).realize(), sync, runs), ""
            for part, target in (("backward-data", x), ("backward-weight", w)):
                backward = lambda target=target: (x.conv2d(w, **conv) * g).sum().gradient(target)[0].realize()
                yield case, part, median_ms(backward, sync, runs), ""
        elif case.op != "train":
            call = {"max_pool2d": lambda t: t.max_pool2d((2, 2)),
                    "avg_pool2d": lambda t: t.avg_pool2d((3, 3), stride=1, padding=1),
                    "batch_norm": lambda t: (t - t.mean(axis=(0, 2, 3), keepdim=True))
                    * (t.var(axis=(0, 2, 3), keepdim=True, correction=0) + 1e-5).rsqrt(),
                    "layer_norm": lambda t: t.layernorm(axis=(1, 2, 3))}[case.op]
            x = Tensor(data["x"]).realize()
            g = Tensor(data["g"]).realize()
            yield case, "forward", median_ms(lambda: call(x).realize(), sync, runs), ""
            backward = lambda: (call(x) * g).sum().gradient(x)[0].realize()
            yield case, "backward", median_ms(backward, sync, runs), ""


def peer_probe(chosen, runs, quick):
    """The machine's speed: a 1024^3 float32 matmul (the second vCPU sometimes runs at half)."""
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    yield Case("probe", "probe", {}), "matmul-1024", median_ms(lambda: a @ a, lambda: None, 5), ""


PEERS = {"clconv": peer_clconv, "numpy": peer_numpy, "reference": peer_reference,
         "torch": peer_torch, "torch-cuda": peer_torch_cuda, "tinygrad": peer_tinygrad,
         "probe": peer_probe}


def main(argv) -> int:
    """workers PEER CASES RUNS QUICK [OVERRIDES]: one peer's rows as JSON lines; OVERRIDES (the
    clconv peer's) is a JSON object for clconv.config.override (algorithms, specialize)."""
    peer, names, runs, quick = argv[0], argv[1], int(argv[2]), argv[3] == "1"
    overrides = json.loads(argv[4]) if len(argv) > 4 else {}
    known = by_name(quick)
    chosen = [known[name] for name in names.split(",") if name in known]
    if peer == "clconv" and overrides:
        from clconv import config
        settings = config.override(**overrides)
    else:
        settings = contextlib.nullcontext()
    with settings:
        for case, part, ms, check in PEERS[peer](chosen, runs, quick):
            print(json.dumps(_row(case, part, ms, check)), flush=True)
    return 0


def _row(case, part, ms, check) -> dict:
    """A row: wall ms; for clconv also the device's ms (the same runs, by OpenCL profiling
    events, where the queue has them) and the first call's ms (its builds included)."""
    wall, device, first = ms if isinstance(ms, tuple) else (ms, None, None)
    row = {"case": case.name, "part": part, "ms": wall, "check": check}
    if device is not None:
        row["device_ms"] = device
    if first is not None:
        row["first_ms"] = first
    return row


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
