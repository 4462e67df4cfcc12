"""`python -m clconv run MODEL.onnx [--batch N] [--runs R] [--check] [--profile] [--kernels]`: an
ONNX model on clconv's device, with random inputs: the device, the inputs and outputs, the first
run (the kernel builds) and the median latency and throughput of several runs after warm-up;
with --profile the ten slowest nodes, with --kernels the device time of each kernel of the
replayed run, with --check the largest difference from onnxruntime."""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import runtime
from ..timing import measure


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clconv run", description=__doc__)
    parser.add_argument("model", help="an .onnx file")
    parser.add_argument("--batch", type=int, default=1,
                        help="the size of each input's symbolic first dimension (default 1)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs (median)")
    parser.add_argument("--seed", type=int, default=0, help="of the random inputs")
    parser.add_argument("--check", action="store_true",
                        help="compare the outputs with onnxruntime's (when installed)")
    parser.add_argument("--profile", action="store_true", help="the ten slowest nodes")
    parser.add_argument("--kernels", action="store_true",
                        help="device time per kernel of the replayed run (OpenCL profiling)")
    return parser


def random_inputs(model, batch: int, seed: int) -> dict:
    """Normal random inputs of the model's shapes (a symbolic first dimension = batch, other
    symbolic dimensions 1); integer inputs are zeros."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (dtype, dims) in model.input_specs:
        if dims is None:
            raise SystemExit(f"input {name!r} has no shape in the model: cannot make an input")
        shape = tuple(batch if d is None and i == 0 else 1 if d is None else d
                      for i, d in enumerate(dims))
        feeds[name] = (rng.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                       else np.zeros(shape, dtype))
    return feeds


def _outputs(result) -> list:
    return list(result) if isinstance(result, tuple) else [result]


def _profile(model, device, feeds) -> list[tuple[float, str, str]]:
    """(ms, op, node name) of each node of one run, each timed alone (synchronized)."""
    times = []

    def hook(node, run):
        device.synchronize()
        began = time.perf_counter()
        results = run()
        device.synchronize()
        times.append(((time.perf_counter() - began) * 1e3, node.op, node.name))
        return results

    model(**feeds)  # (warm: the plan and the kernels exist)
    model.profile_hook = hook
    try:
        model(**feeds)
    finally:
        model.profile_hook = None
    return times


def main(argv=None) -> int:
    from .. import onnx as conx

    args = _parser().parse_args(argv)
    device = runtime.get_device()
    began = time.perf_counter()
    model = conx.load(args.model)
    loaded = time.perf_counter() - began
    feeds = random_inputs(model, args.batch, args.seed)
    print(f"device:  {device.name} ({device.platform_name})")
    print(f"model:   {args.model}: {len(model._nodes)} nodes after folding, loaded in "
          f"{loaded * 1e3:.0f} ms")
    for name, value in feeds.items():
        print(f"input:   {name} {tuple(value.shape)} {value.dtype}")
    batch = next(iter(feeds.values())).shape[0] if feeds and next(
        iter(feeds.values())).ndim else 1
    if batch != args.batch:
        print(f"note:    the model's batch dimension is fixed at {batch}: --batch {args.batch} "
              "does not apply")
    began = time.perf_counter()
    outputs = _outputs(model(**feeds))
    device.synchronize()
    first = time.perf_counter() - began
    for name, value in zip(model.output_names, outputs):
        print(f"output:  {name} {tuple(value.shape)} {value.dtype}")
    print(f"first run (plan, kernel builds or cache loads): {first * 1e3:.0f} ms")
    wall, device_time = measure(lambda: model(**feeds), device.synchronize, args.runs)
    line = f"latency: {wall:.2f} ms median of {args.runs} runs"
    if device_time is not None:
        line += f" ({device_time:.2f} ms device time)"
    print(line)
    print(f"throughput: {batch / wall * 1e3:.1f} samples/s at batch {batch}")
    if args.profile:
        times = _profile(model, device, feeds)
        total = sum(t for t, _, _ in times)
        print(f"the ten slowest of {len(times)} nodes ({total:.1f} ms timed one by one):")
        for ms, op, name in sorted(times, reverse=True)[:10]:
            print(f"  {ms:8.2f} ms  {ms / total * 100:5.1f} %  {op:<20} {name}")
    if args.kernels:
        recording = model.recording(**feeds)
        times = recording.kernel_times() if recording is not None else []
        if not times:
            print("kernels: no profiled replay (the run was not replayable, or the device's "
                  "queue does not profile)")
        else:
            total = sum(ms for _, ms, _ in times)
            print(f"device time per kernel of a replayed run ({len(recording.launches)} "
                  f"launches, {total:.3f} ms; medians of 3 runs):")
            for name, ms, count in times:
                print(f"  {ms:9.3f} ms  {ms / total * 100:5.1f} %  {count:4d} x  {name}")
    if args.check:
        try:
            import onnxruntime
        except ImportError:
            print("check: onnxruntime is not installed (pip install onnxruntime)")
            return 0
        session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        expected = session.run(None, feeds)
        worst = 0.0
        for name, got, want in zip(model.output_names, outputs, expected):
            got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
            difference = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            scale = float(np.max(np.abs(want))) if want.size else 0.0
            relative = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))
            print(f"check:   {name}: largest difference from onnxruntime {difference:.3g} "
                  f"(largest value {scale:.3g}), relative L2 {relative:.3g}")
            worst = max(worst, relative)
        if worst > 1e-3:
            print("check: OUTPUTS DIFFER FROM ONNXRUNTIME")
            return 1
    return 0
