"""Forward pooling and normalization: clconv against PyTorch CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/pool_norm.py [--runs 9] [--rounds 3]
        [--only max_pool,avg_pool,batch_norm,layer_norm] [--peers clconv,torch]

Each peer runs in its own process (idle OpenMP/PoCL threads of one runtime would steal the two
cores from the next), `--rounds` times, the peers taking turns; a figure is the median over the
rounds of the median of `--runs` runs after a warm-up (this host is shared and noisy). clconv's
times include `queue.finish()` and exclude compilation, data already on the device. GB/s counts
the input read once and the output written once (float32), whatever the kernels really move.
A 1024^3 NumPy matmul before and after tells how fast the machine was while measuring (compare
only figures taken at similar probe values).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from clconv.bench.workers import median_ms
from conv_forward import wait_for_quiet  # (the scripts share their timing)

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (8, 64, 56, 56)

# name: (description, output shape)
OPS = {
    "max_pool": ("max_pool2d k2 s2", (8, 64, 28, 28)),
    "avg_pool": ("avg_pool2d k3 s1 p1", SHAPE),
    "batch_norm": ("batch_norm train, affine", SHAPE),
    "layer_norm": ("layer_norm (C,H,W), affine", SHAPE),
}


def gigabytes(name) -> float:
    return 4 * (np.prod(SHAPE) + np.prod(OPS[name][1])) / 1e9


def problem(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(SHAPE) * 2 + 1).astype(np.float32)
    channel = [rng.standard_normal(SHAPE[1]).astype(np.float32) for _ in range(2)]
    running_var = rng.uniform(0.5, 2, SHAPE[1]).astype(np.float32)
    layer = [rng.standard_normal(SHAPE[1:]).astype(np.float32) for _ in range(2)]
    return x, channel, running_var, layer


def calls(F, tensor):
    """name -> a function running the op once, for clconv.functional or torch.nn.functional."""
    x, (weight, bias), running_var, (ln_weight, ln_bias) = problem()
    x, weight, bias, ln_weight, ln_bias = map(tensor, (x, weight, bias, ln_weight, ln_bias))
    running_mean, running_var = tensor(np.zeros(SHAPE[1], np.float32)), tensor(running_var)
    return {
        "max_pool": lambda: F.max_pool2d(x, 2, 2),
        "avg_pool": lambda: F.avg_pool2d(x, 3, 1, 1),
        "batch_norm": lambda: F.batch_norm(x, running_mean, running_var, weight, bias,
                                           training=True, momentum=0.1, eps=1e-5),
        "layer_norm": lambda: F.layer_norm(x, SHAPE[1:], ln_weight, ln_bias, 1e-5),
    }


def reference(name):
    """The float64 NumPy result of op `name` on the benchmark's input."""
    x, (weight, bias), _, (ln_weight, ln_bias) = problem()
    x = x.astype(np.float64)
    if name == "max_pool":
        return x.reshape(8, 64, 28, 2, 28, 2).max(axis=(3, 5))
    if name == "avg_pool":
        padded = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
        return sum(padded[:, :, i:i + 56, j:j + 56] for i in range(3) for j in range(3)) / 9
    axes = (0, 2, 3) if name == "batch_norm" else (1, 2, 3)
    xhat = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
    if name == "batch_norm":
        return xhat * weight[:, None, None] + bias[:, None, None]
    return xhat * ln_weight + ln_bias


def peer_clconv(names, runs):
    import clconv
    import clconv.functional as F
    device = clconv.get_device()
    ops = calls(F, clconv.tensor)
    for name in names:
        y = ops[name]().numpy()
        want = reference(name)
        error = float(np.max(np.abs(y - want)) / max(1.0, np.max(np.abs(want))))
        wait_for_quiet()
        ms = median_ms(ops[name], device.synchronize, runs)
        yield {"peer": "clconv", "name": name, "ms": ms, "error": error}


def peer_torch(names, runs):
    import torch
    import torch.nn.functional as TF
    ops = calls(TF, torch.from_numpy)
    with torch.no_grad():
        for name in names:
            wait_for_quiet()
            yield {"peer": "torch", "name": name, "ms": median_ms(ops[name], lambda: None, runs),
                   "threads": torch.get_num_threads()}


def peer_probe(*_):
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    wait_for_quiet()
    ms = median_ms(lambda: a @ a, lambda: None, 7)
    yield {"peer": "probe", "ms": ms, "gflops": 2 * 1024**3 / ms / 1e6}


PEERS = {"clconv": peer_clconv, "torch": peer_torch, "probe": peer_probe}


def run_peer(peer, names, runs):
    """Run one peer in a child process; returns its rows (or [] with a note when it fails)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if peer == "probe":  # this machine's preset selects OpenBLAS's AVX2 kernels
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    command = [sys.executable, __file__, "--child", peer, "--only", ",".join(names),
               "--runs", str(runs)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"# {peer} failed: {tail}", file=sys.stderr)
        return []
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per peer, taking turns; the figure is their median")
    parser.add_argument("--only", default=",".join(OPS))
    parser.add_argument("--peers", default="clconv,torch")
    parser.add_argument("--json", action="store_true", help="print rows as JSON lines")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.only.split(",")
    if args.child:
        for row in PEERS[args.child](names, args.runs):
            print(json.dumps(row), flush=True)
        return

    probe_before = run_peer("probe", names, args.runs)
    peers = args.peers.split(",")
    rounds = {}  # (peer, op) -> the rows of each round; the peers take turns
    for _ in range(args.rounds):
        for peer in peers:
            for row in run_peer(peer, names, args.runs):
                rounds.setdefault((peer, row["name"]), []).append(row)
    results = {key: {**rows[0], "ms": statistics.median(row["ms"] for row in rows),
                     "spread": (min(row["ms"] for row in rows), max(row["ms"] for row in rows))}
               for key, rows in rounds.items()}
    probe_after = run_peer("probe", names, args.runs)
    if args.json:
        for row in probe_before + list(results.values()) + probe_after:
            print(json.dumps(row))
        return
    probes = " / ".join(f"{p['ms']:.2f} ms ({p['gflops']:.0f} GFLOP/s)"
                        for p in probe_before + probe_after)
    print(f"# machine probe, NumPy 1024^3 sgemm before / after: {probes}")
    print(f"# input {'x'.join(map(str, SHAPE))} float32; median over {args.rounds} rounds of "
          f"the median of {args.runs} runs; ms (GB/s: input read once + output written once)")
    header = f"{'op':28}" + "".join(f"{p:>18}" for p in peers)
    header += "".join(f"{'clconv/' + p:>14}" for p in peers if p != "clconv")
    print(header)
    for name in names:
        line = f"{OPS[name][0]:28}"
        for peer in peers:
            row = results.get((peer, name))
            line += (f"{row['ms']:9.3f} ({gigabytes(name) / row['ms'] * 1e3:5.1f})" if row
                     else f"{'-':>18}")
        base = results.get(("clconv", name))
        for peer in peers:
            row = results.get((peer, name))
            if peer != "clconv":
                line += f"{row['ms'] / base['ms']:13.2f}x" if row and base else f"{'-':>14}"
        if base and base["error"] > 1e-4:
            line += f"  ERROR {base['error']:.1e}"
        print(line)
    print("# clconv/peer > 1 means clconv is faster")


if __name__ == "__main__":
    main()
