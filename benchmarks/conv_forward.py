"""Forward convolution: clconv against NumPy (im2col + matmul) and PyTorch CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/conv_forward.py [--runs 7] [--only B,C]
        [--peers clconv,numpy,torch] [--clconv-mode auto|args|fixed|baseline] [--compile]

Each peer runs in its own process (idle OpenMP/OpenBLAS/PoCL threads of one runtime would steal the
two cores from the next). Times are the median of `--runs` runs after a warm-up; clconv's include
`queue.finish()` and exclude compilation, data already on the device. The NumPy peer runs with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (this machine presets them to an AVX2 kernel).
A 1024^3 NumPy matmul before and after tells how fast the machine was while measuring.

`--clconv-mode` picks clconv's path: auto (its own choice), args (conv_direct with sizes as
arguments, never specialized), fixed (conv_direct built per shape, sizes as -D defines) or
baseline (the general kernel conv_forward, all that clconv had before conv_direct). `--compile`
also reports each shape's build time (first call minus a run) with PoCL's and pyopencl's caches
off.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# name: (nd, batch, in_channels, out_channels, spatial, kernel, stride, padding, groups)
SHAPES = {
    "A": (2, 32, 3, 10, (32, 32), 5, 1, 2, 1),
    "B": (2, 8, 64, 64, (56, 56), 3, 1, 1, 1),
    "C": (2, 8, 128, 128, (28, 28), 3, 1, 1, 1),
    "D": (2, 8, 256, 256, (14, 14), 1, 1, 0, 1),
    "E": (2, 8, 64, 128, (56, 56), 3, 2, 1, 1),
    "dw": (2, 8, 128, 128, (56, 56), 3, 1, 1, 128),
    "1d": (1, 16, 64, 64, (1024,), 5, 1, 2, 1),
    "3d": (3, 2, 16, 16, (16, 32, 32), 3, 1, 1, 1),
}


def describe(name):
    nd, n, c, k, spatial, ks, s, p, g = SHAPES[name]
    size = "x".join(map(str, spatial))
    extra = f" g{g}" if g > 1 else ""
    return f"conv{nd}d N{n} {c}->{k} {size} k{ks} s{s} p{p}{extra}"


def problem(name, dtype=np.float32, seed=0):
    nd, n, c, k, spatial, ks, s, p, g = SHAPES[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + spatial).astype(dtype)
    w = (rng.standard_normal((k, c // g) + (ks,) * nd) / np.sqrt(c // g * ks**nd)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    return x, w, b, s, p, g


def flops(name):
    nd, n, c, k, spatial, ks, s, p, g = SHAPES[name]
    out = [(d + 2 * p - ks) // s + 1 for d in spatial]
    return 2 * n * k * int(np.prod(out)) * (c // g) * ks**nd


def busy_fraction(seconds=0.5):
    """How busy the CPUs were over `seconds` (Linux /proc/stat; 0 elsewhere)."""
    def sample():
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return 0.0
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(limit_s=60.0, busy=0.15):
    """Wait (up to `limit_s`) until other processes leave the CPUs mostly idle; this host is
    shared and one busy neighbour halves every figure."""
    deadline = time.monotonic() + limit_s
    while busy_fraction() > busy and time.monotonic() < deadline:
        pass


def _cpu_ticks():
    """(busy ticks of the whole machine, ticks of this process and its threads)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    with open("/proc/self/stat") as own:
        fields = own.read().rsplit(")", 1)[1].split()
    return sum(values) - values[3] - values[4], int(fields[11]) + int(fields[12])


def median_ms(run, sync, runs, warmup=2, attempts=4, others=0.2, window_s=0.25):
    """Median time of at least `runs` calls after `warmup` ones. Where /proc says that other
    processes used more than `others` of a CPU meanwhile, the measurement is repeated (up to
    `attempts` times; the least disturbed one is kept). Calls are added until they span
    `window_s`, so that /proc's 10 ms ticks can tell."""
    best = None
    for _ in range(attempts):
        start = time.perf_counter()
        for _ in range(warmup):
            run()
        sync()
        once = (time.perf_counter() - start) / max(warmup, 1)
        runs = max(runs, min(1000, int(window_s / max(once, 1e-6))))
        try:
            busy0, own0 = _cpu_ticks()
        except OSError:
            busy0 = own0 = 0
        times, begin = [], time.perf_counter()
        for _ in range(runs):
            start = time.perf_counter()
            run()
            sync()
            times.append(time.perf_counter() - start)
        wall = time.perf_counter() - begin
        try:
            busy1, own1 = _cpu_ticks()
        except OSError:
            busy1 = own1 = 0
        tick = os.sysconf("SC_CLK_TCK")
        disturbance = max(0, (busy1 - busy0) - (own1 - own0)) / tick / max(wall, 1e-3)
        if best is None or disturbance < best[0]:
            best = (disturbance, 1e3 * statistics.median(times))
        if disturbance <= others:
            break
        wait_for_quiet()
    return best[1]


# --- peers, each run in a fresh process --------------------------------------------------------

def peer_clconv(names, runs, mode, compile_times):
    if compile_times:
        os.environ["POCL_KERNEL_CACHE"] = "0"  # read by PoCL when it starts, i.e. below
        os.environ["PYOPENCL_NO_CACHE"] = "1"
    import clconv
    settings = clconv.config.override(
        specialize={"args": "never", "fixed": "always"}.get(mode, "auto"),
        conv_forward="general" if mode == "baseline" else None)
    with settings:
        yield from _clconv_rows(names, runs, compile_times)


def _clconv_rows(names, runs, compile_times):
    import clconv
    import clconv.functional as F
    device = clconv.get_device()
    for name in names:
        x, w, b, s, p, g = problem(name)
        op = getattr(F, f"conv{x.ndim - 2}d")
        xt, wt, bt = clconv.tensor(x), clconv.tensor(w), clconv.tensor(b)
        wait_for_quiet()
        start = time.perf_counter()
        op(xt, wt, bt, stride=s, padding=p, groups=g)
        device.synchronize()
        first = time.perf_counter() - start
        run = lambda: op(xt, wt, bt, stride=s, padding=p, groups=g)  # noqa: E731
        ms = median_ms(run, device.synchronize, runs)
        y = op(xt, wt, bt, stride=s, padding=p, groups=g).numpy()
        want = _numpy_conv(x.astype(np.float64), w.astype(np.float64), b, s, p, g)
        error = float(np.max(np.abs(y - want)) / max(1.0, np.max(np.abs(want))))
        row = {"peer": "clconv", "name": name, "ms": ms, "error": error}
        if compile_times:
            row["compile_ms"] = 1e3 * first - ms
        yield row


def _numpy_conv(x, w, b, stride, padding, groups):
    """im2col (a strided view, copied once) and one matmul per group."""
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + [(padding, padding)] * nd)
    kernel = w.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=tuple(range(2, 2 + nd)))
    windows = windows[(slice(None), slice(None)) + (slice(None, None, stride),) * nd]
    n, c = x.shape[:2]
    out_size = windows.shape[2:2 + nd]
    taps = int(np.prod(kernel))
    # (N, G, C/G * taps, positions) columns against (G, K/G, C/G * taps) weights
    cols = windows.reshape((n, groups, c // groups) + (int(np.prod(out_size)),) + (taps,))
    cols = np.ascontiguousarray(cols.transpose(0, 1, 2, 4, 3)).reshape(
        n, groups, (c // groups) * taps, -1)
    k = w.shape[0]
    wg = w.reshape(groups, k // groups, -1)
    y = np.matmul(wg[None], cols).reshape((n, k) + out_size)
    return y + b.reshape((1, k) + (1,) * nd)


def peer_numpy(names, runs, *_):
    for name in names:
        x, w, b, s, p, g = problem(name)
        wait_for_quiet()
        ms = median_ms(lambda: _numpy_conv(x, w, b, s, p, g), lambda: None, runs, warmup=1)
        yield {"peer": "numpy", "name": name, "ms": ms}


def peer_torch(names, runs, *_):
    import torch
    import torch.nn.functional as TF
    for name in names:
        x, w, b, s, p, g = problem(name)
        xt, wt, bt = map(torch.from_numpy, (x, w, b))
        op = getattr(TF, f"conv{x.ndim - 2}d")
        wait_for_quiet()
        with torch.no_grad():
            run = lambda: op(xt, wt, bt, stride=s, padding=p, groups=g)  # noqa: E731
            ms = median_ms(run, lambda: None, runs)
        yield {"peer": "torch", "name": name, "ms": ms}


def peer_probe(*_):
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    wait_for_quiet()
    ms = median_ms(lambda: a @ a, lambda: None, 7)
    yield {"peer": "probe", "ms": ms, "gflops": 2 * 1024**3 / ms / 1e6}


PEERS = {"clconv": peer_clconv, "numpy": peer_numpy, "torch": peer_torch, "probe": peer_probe}


def run_peer(peer, names, args):
    """Run one peer in a child process; returns its rows (or [] with a note when it fails)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if peer in ("numpy", "probe"):  # this machine's preset selects OpenBLAS's AVX2 kernels
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    command = [sys.executable, __file__, "--child", peer, "--only", ",".join(names),
               "--runs", str(args.runs), "--clconv-mode", args.clconv_mode]
    if args.compile:
        command.append("--compile")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"# {peer} failed: {tail}", file=sys.stderr)
        return []
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default=",".join(SHAPES))
    parser.add_argument("--peers", default="clconv,numpy,torch")
    parser.add_argument("--clconv-mode", default="auto",
                        choices=["auto", "args", "fixed", "baseline"])
    parser.add_argument("--compile", action="store_true", help="also time builds, caches off")
    parser.add_argument("--json", action="store_true", help="print rows as JSON lines")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.only.split(",")
    if args.child:
        for row in PEERS[args.child](names, args.runs, args.clconv_mode, args.compile):
            print(json.dumps(row), flush=True)
        return

    probe_before = run_peer("probe", names, args)
    results = {}
    for peer in args.peers.split(","):
        for row in run_peer(peer, names, args):
            results[(peer, row["name"])] = row
    probe_after = run_peer("probe", names, args)
    if args.json:
        for row in probe_before + list(results.values()) + probe_after:
            print(json.dumps(row))
        return
    peers = args.peers.split(",")
    probes = " / ".join(f"{p['ms']:.2f} ms ({p['gflops']:.0f} GFLOP/s)"
                        for p in probe_before + probe_after)
    print(f"# machine probe, NumPy 1024^3 sgemm before / after: {probes}")
    print(f"# clconv mode: {args.clconv_mode}; median of {args.runs} runs; ms (GFLOP/s)")
    header = f"{'':4} {'op':38}" + "".join(f"{p:>18}" for p in peers)
    header += "".join(f"{'clconv/' + p:>14}" for p in peers if p != "clconv")
    print(header)
    for name in names:
        line = f"{name:4} {describe(name):38}"
        for peer in peers:
            row = results.get((peer, name))
            if row:
                line += f"{row['ms']:9.2f} ({flops(name) / row['ms'] / 1e6:5.0f})"
            else:
                line += f"{'-':>18}"
        base = results.get(("clconv", name))
        for peer in peers:
            row = results.get((peer, name))
            if peer != "clconv":
                line += f"{row['ms'] / base['ms']:13.2f}x" if row and base else f"{'-':>14}"
        extra = []
        if base and "compile_ms" in base:
            extra.append(f"compile {base['compile_ms']:.0f} ms")
        if base and base["error"] > 1e-4:
            extra.append(f"ERROR {base['error']:.1e}")
        print(line + ("  " + ", ".join(extra) if extra else ""))
    print("# clconv/peer > 1 means clconv is faster")


if __name__ == "__main__":
    main()
