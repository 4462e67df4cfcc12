"""`python -m clconv bench`: run every peer in its own subprocess and print the comparison."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

from .cases import cases

PEER_MODULES = {"numpy": None, "reference": None, "torch": "torch", "torch-cuda": "torch",
                "tinygrad": "tinygrad"}

# --isa avx2: every peer held to AVX2 on a host with AVX-512, so that one machine measures what
# an AVX2-only CPU's instruction set gives each of them: PoCL's AVX2 kernel library (clconv and
# tinygrad), oneDNN's and ATen's AVX2 code (PyTorch), OpenBLAS's Haswell kernels (NumPy).
ISA_ENVIRONMENT = {"avx2": {"POCL_KERNELLIB_NAME": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                            "ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell"}}


def available_peers(requested: str) -> list[str]:
    peers = [p for p in requested.split(",") if p]
    missing = [p for p in peers if PEER_MODULES.get(p) and importlib.util.find_spec(PEER_MODULES[p]) is None]
    for peer in missing:
        print(f"# {peer}: not installed (pip install 'clconv[bench]'), not compared")
    return [p for p in peers if p not in missing]


def run_peer(peer: str, names: list[str], runs: int, quick: bool, timeout: float,
             isa: str | None = None, overrides: dict | None = None,
             cold: bool = False) -> list[dict]:
    """One peer's rows, from a fresh process. clconv's gets `overrides` (config.override) and,
    `cold`, no kernel caches (its first calls then build every program)."""
    env = dict(os.environ)
    if peer == "clconv" and cold:
        env.update(POCL_KERNEL_CACHE="0", PYOPENCL_NO_CACHE="1")
    if peer in ("numpy", "probe"):  # this machine presets an AVX2 OpenBLAS kernel: unset for the peer
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    env.update(ISA_ENVIRONMENT.get(isa, {}))
    command = [sys.executable, "-m", "clconv.bench.workers", peer, ",".join(names), str(runs),
               "1" if quick else "0"] + ([json.dumps(overrides)] if peer == "clconv" and overrides
                                         else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        print(f"# {peer}: timed out after {timeout:.0f} s; partial results kept", file=sys.stderr)
        done = subprocess.CompletedProcess(command, 1, err.stdout or "", err.stderr or "")
        if isinstance(done.stdout, bytes):
            done.stdout = done.stdout.decode()
    if done.returncode != 0:
        print(f"# {peer} failed (exit {done.returncode}):\n{(done.stderr or '')[-3000:]}", file=sys.stderr)
    return [json.loads(line) for line in (done.stdout or "").splitlines() if line.startswith("{")]


def _rate(case, part, ms):
    amount, unit = case.work(part)
    return f"{amount / ms / 1e6:8.1f} {unit}" if amount and ms else " " * 8


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clconv bench", description=__doc__)
    parser.add_argument("--models", action="store_true",
                        help="ResNet-18, MobileNetV2, EfficientNet-B0 from ONNX against "
                             "onnxruntime and OpenVINO (bench --models --help)")
    parser.add_argument("--quick", action="store_true",
                        help="small shapes, one run each, results checked against the reference")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times the peers take turns; each figure is the median over the "
                             "rounds (a shared host's slow phases then hit every peer alike)")
    parser.add_argument("--only", help="comma-separated case names (substrings)")
    parser.add_argument("--peers", help="comma-separated: numpy, torch, torch-cuda (PyTorch on "
                        "an NVIDIA GPU, TF32 off), tinygrad, reference (default: "
                        "numpy,torch,tinygrad,reference; with --gpu: torch-cuda)")
    parser.add_argument("--gpu", action="store_true",
                        help="the GPU suite (benchmarks/gpu_run.sh): the convolutions, pooling "
                             "and normalization over 32 x 64 x 56 x 56, a ResNet-18 training step "
                             "at batch 32; against PyTorch on CUDA by default")
    parser.add_argument("--plot", help="write a PNG bar chart of clconv's speed-up over each peer")
    parser.add_argument("--json", help="also write the measurements as JSON")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per peer")
    parser.add_argument("--isa", choices=sorted(ISA_ENVIRONMENT),
                        help="hold every peer to this instruction set (avx2 on an AVX-512 host: "
                             "PoCL's AVX2 kernels, oneDNN/ATen AVX2, OpenBLAS Haswell)")
    parser.add_argument("--algorithms", metavar="FAMILY=NAME,...",
                        help="force clconv's algorithms (conv_forward=general: the general GPU "
                             "kernel on this device; the names: clconv.explain)")
    parser.add_argument("--specialize", choices=["auto", "always", "never"],
                        help="conv_direct built per shape (sizes as defines): always, never, or "
                             "as the tuning table says")
    parser.add_argument("--compile", action="store_true",
                        help="also report clconv's build time per case (first call minus a "
                             "timed one, with PoCL's and pyopencl's caches off)")
    return parser


def _measure(args, names: list[str], peers: list[str], runs: int, rounds: int):
    """The peers in turns (a probe before and after): ({(peer, case, part): row with the median
    over the rounds}, the probe's times)."""
    overrides = _overrides(args)
    measured: dict[tuple[str, str, str], list[dict]] = {}
    probes = []
    for peer in ["probe"] + (["clconv"] + peers) * rounds + ["probe"]:
        for row in run_peer(peer, names, runs, args.quick, args.timeout, args.isa, overrides,
                            args.compile):
            if peer == "probe":
                probes.append(row["ms"])
            else:
                measured.setdefault((peer, row["case"], row["part"]), []).append(row)
    results = {key: dict(rows[0], peer=key[0], ms=statistics.median(r["ms"] for r in rows),
                         rounds_ms=[r["ms"] for r in rows])
               for key, rows in measured.items()}
    return results, probes


def _line(args, case, part, ours: dict, results: dict, peers: list[str]) -> str:
    """One table row: clconv's times and rate, each peer's ratio, the check and build time."""
    device_ms = ours.get("device_ms")
    line = (f"{case.name:<14}{case.describe():<38}{part:<17}{ours['ms']:>10.2f}"
            + (f"{device_ms:>10.2f}" if device_ms else f"{'-':>10}")
            + f"{_rate(case, part, ours['ms']):>16}")
    for peer in peers:
        theirs = results.get((peer, case.name, part))
        line += f"{theirs['ms'] / ours['ms']:>13.2f}x" if theirs else f"{'-':>14}"
    if args.quick:
        line += f"  {ours['check']}"
    if args.compile and ours.get("first_ms") is not None:
        line += f"  build {max(0.0, ours['first_ms'] - ours['ms']):.0f} ms"
    return line


def _table(args, chosen, results: dict, peers: list[str]) -> bool:
    """Print the table; True when a clconv result is missing or (--quick) wrong."""
    header = f"{'case':<14}{'shape':<38}{'part':<17}{'clconv ms':>10}{'device ms':>10}{'rate':>16}"
    header += "".join(f"{'vs ' + p:>14}" for p in peers)
    print(header + ("  check" if args.quick else ""))
    failed = False
    for case in chosen:
        for part in case.parts:
            ours = results.get(("clconv", case.name, part))
            if ours is None:
                failed = True
                print(f"{case.name:<14}{case.describe():<38}{part:<17}{'MISSING':>10}")
                continue
            failed |= args.quick and ours["check"] != "ok"
            print(_line(args, case, part, ours, results, peers))
    print("# 'vs PEER' is PEER's time / clconv's time (wall times, the device synchronized): above "
          "1 clconv is faster; 'device ms' is clconv's by OpenCL profiling events")
    return failed


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--models" in argv:  # ONNX models against onnxruntime and OpenVINO: bench/onnx_bench.py
        from .onnx_bench import main as models
        return models(argv)
    args = _parser().parse_args(argv)
    chosen = cases(args.quick, args.only, args.gpu)
    runs = 1 if args.quick else args.runs
    rounds = 1 if args.quick else max(1, args.rounds)
    peers = available_peers(args.peers if args.peers is not None else
                            "torch-cuda" if args.gpu else "numpy,torch,tinygrad,reference")
    started = time.strftime("%Y-%m-%d %H:%M")
    results, probes = _measure(args, [c.name for c in chosen], peers, runs, rounds)

    description = _describe_clconv(args.isa)
    of_rounds = f"median of {rounds} rounds of the " if rounds > 1 else ""
    held = f" held to {args.isa.upper()}" if args.isa else ""
    print(f"# clconv bench {started} on {description['device']}{held}; CPU: {description['cpu']}; "
          f"{of_rounds}median of {runs} run(s); machine probe (1024^3 matmul): "
          f"{', '.join(f'{p:.1f} ms' for p in probes)}")
    failed = _table(args, chosen, results, peers)
    if _overrides(args):
        print(f"# clconv forced: {_overrides(args)}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"date": started, **description, "isa": args.isa, "probes_ms": probes,
                       "rows": list(results.values())}, out, indent=1)
    if args.plot:
        _plot(args.plot, chosen, peers, results, description["device"] + held)
        print(f"# wrote {args.plot}")
    if failed:
        print("FAILED: a clconv result is missing or disagrees with clconv.reference", file=sys.stderr)
    return 1 if failed else 0


def _overrides(args) -> dict:
    """clconv's config.override settings from --algorithms and --specialize."""
    overrides = {}
    for item in filter(None, (args.algorithms or "").split(",")):
        family, _, name = item.partition("=")
        if not name:
            raise SystemExit(f"bench: --algorithms takes FAMILY=NAME items, got {item!r}")
        overrides[family.strip()] = name.strip()
    if args.specialize:
        overrides["specialize"] = args.specialize
    return overrides


def _plot(path, chosen, peers, results, device_name):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [(c.name, part) for c in chosen for part in c.parts if ("clconv", c.name, part) in results]
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(labels)), 5))
    width = 0.8 / max(1, len(peers))
    for i, peer in enumerate(peers):
        ratios = [results[(peer, n, p)]["ms"] / results[("clconv", n, p)]["ms"]
                  if (peer, n, p) in results else np.nan for n, p in labels]
        ax.bar(np.arange(len(labels)) + i * width, ratios, width, label=f"vs {peer}")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{n} {p}" for n, p in labels], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("peer time / clconv time (above 1: clconv faster)")
    ax.set_title(f"clconv on {device_name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _describe_clconv(isa: str | None) -> dict:
    """The device clconv ran on (as its peer process saw it, with the --isa environment) and the
    host's CPU model."""
    env = dict(os.environ, **ISA_ENVIRONMENT.get(isa, {}))
    code = ("import clconv; d = clconv.get_device(); "
            "print(f'{d.name} ({d.platform_name}, driver {d.base_profile.driver_version})')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"device": done.stdout.strip() or "unknown", "cpu": cpu}
