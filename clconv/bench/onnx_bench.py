"""`python -m clconv bench --models`: ResNet-18, MobileNetV2 and EfficientNet-B0 (224 x 224) loaded
from ONNX, timed in clconv, onnxruntime (CPU) and OpenVINO (CPU) when installed, each runtime in
its own process: the median of several runs after warm-up, the ratios in one table.

A worker is `python -m clconv.bench.onnx_bench PEER MODEL.onnx BATCH RUNS`; it prints one JSON
line: {"ms": median, "first_ms": the first run (for clconv: the plan and kernel builds, from the
caches a preliminary process filled), "threads": ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

PEERS = {"clconv": None, "onnxruntime": "onnxruntime", "openvino": "openvino"}


def _time(run, runs: int, warmup: int = 3) -> tuple[float, float]:
    began = time.perf_counter()
    run()
    first = (time.perf_counter() - began) * 1e3
    for _ in range(warmup - 1):
        run()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1e3)
    return statistics.median(samples), first


def worker(peer: str, path: str, batch: int, runs: int) -> dict:
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    if peer == "clconv":
        import clconv
        import clconv.onnx
        device = clconv.get_device()
        model = clconv.onnx.load(path)

        def run():
            model(x)
            device.synchronize()
        ms, first = _time(run, runs)
        return {"ms": ms, "first_ms": first, "device": device.name}
    if peer == "onnxruntime":
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        ms, first = _time(lambda: session.run(None, {"input": x}), runs)
        return {"ms": ms, "first_ms": first, "version": onnxruntime.__version__}
    if peer == "openvino":
        import openvino
        compiled = openvino.Core().compile_model(path, "CPU")
        request = compiled.create_infer_request()
        ms, first = _time(lambda: request.infer({0: x}), runs)
        return {"ms": ms, "first_ms": first, "version": openvino.__version__}
    raise SystemExit(f"unknown peer {peer!r}")


def summarize(rounds: list, peers: list) -> dict:
    """Per runtime, its first round's worker result with "ms" the median over the rounds it
    finished (None if it never did); "ratios": per peer, the median over the rounds that both
    finished of clconv's time over the peer's; "rounds": every round's times."""
    summary = {"rounds": [{peer: result and result["ms"] for peer, result in r.items()}
                          for r in rounds], "ratios": {}}
    for peer in peers:
        done = [r[peer] for r in rounds if r.get(peer)]
        summary[peer] = dict(done[0], ms=statistics.median(d["ms"] for d in done)) if done \
            else None
    for peer in peers[1:]:
        ratios = [r["clconv"]["ms"] / r[peer]["ms"] for r in rounds
                  if r.get("clconv") and r.get(peer)]
        if ratios:
            summary["ratios"][peer] = statistics.median(ratios)
    return summary


def _run_worker(peer, path, batch, runs, timeout) -> dict | None:
    done = subprocess.run([sys.executable, "-m", "clconv.bench.onnx_bench", peer, path,
                           str(batch), str(runs)], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode:
        print(f"# {peer} on {os.path.basename(path)} batch {batch} failed: "
              f"{done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clconv bench --models", description=__doc__)
    parser.add_argument("--models", action="store_true")
    parser.add_argument("--only", help="comma-separated model names (resnet18, mobilenet_v2, "
                                       "efficientnet_b0) or .onnx paths")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times the runtimes take turns per model and batch, each in a fresh "
                        "process; each figure is the median over the rounds and each ratio the "
                        "median of the rounds' ratios (a shared host's slow phases then hit "
                        "every runtime alike)")
    parser.add_argument("--peers", default="onnxruntime,openvino")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per worker")
    parser.add_argument("--json", help="also write the measurements as JSON")
    return parser


def main(argv=None) -> int:
    import importlib.util

    from .onnx_models import MODELS
    from .run import _describe_clconv

    args = _parser().parse_args(argv)
    peers = ["clconv"]
    for peer in [p for p in args.peers.split(",") if p]:
        if importlib.util.find_spec(PEERS.get(peer) or peer) is None:
            print(f"# {peer}: not installed (pip install 'clconv[bench]'), not compared")
        else:
            peers.append(peer)
    chosen = args.only.split(",") if args.only else list(MODELS)
    directory = tempfile.mkdtemp(prefix="clconv-models-")
    paths = {}
    import onnx
    for name in chosen:
        if name.endswith(".onnx"):
            paths[os.path.basename(name)[:-5]] = name
        else:
            paths[name] = os.path.join(directory, f"{name}.onnx")
            onnx.save(MODELS[name](), paths[name])
    batches = [int(b) for b in args.batches.split(",")]
    host = _describe_clconv(None)
    print(f"# {host['device']}; host CPU {host['cpu']}; {os.cpu_count()} logical CPUs")
    rounds_note = (f", the median of {args.rounds} rounds taking turns (ratios: the median of "
                   "the rounds' ratios)" if args.rounds > 1 else "")
    print(f"# median of {args.runs} runs after 3 warm-up runs, each runtime in its own process"
          f"{rounds_note}; clconv's first run after a process that filled the kernel caches")
    results = []
    header = f"{'model':<18}{'batch':>6}{'clconv ms':>11}{'first ms':>10}" + "".join(
        f"{p + ' ms':>17}{'x':>7}" for p in peers[1:])
    print(header)
    for name, path in paths.items():
        for batch in batches:
            _run_worker("clconv", path, batch, 1, args.timeout)  # fills the kernel caches
            rounds = [{peer: _run_worker(peer, path, batch, args.runs, args.timeout)
                       for peer in peers} for _ in range(max(1, args.rounds))]
            row = dict(model=name, batch=batch, **summarize(rounds, peers))
            results.append(row)
            ours = row["clconv"]
            line = f"{name:<18}{batch:>6}"
            line += f"{ours['ms']:>11.1f}{ours['first_ms']:>10.0f}" if ours else f"{'failed':>21}"
            for peer in peers[1:]:
                theirs, ratio = row[peer], row["ratios"].get(peer)
                if theirs and ratio is not None:
                    line += f"{theirs['ms']:>17.1f}{ratio:>7.2f}"
                else:
                    line += f"{'-':>17}{'-':>7}"
            print(line, flush=True)
    print("# x: clconv's time over the peer's (below 1: clconv is faster)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"host": host, "runs": args.runs, "rounds": args.rounds,
                       "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    peer, path, batch, runs = sys.argv[1:5]
    print(json.dumps(worker(peer, path, int(batch), int(runs))))
