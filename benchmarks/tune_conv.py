"""Search conv_direct's register blocking (and sizes-as-defines vs arguments) on this device.

    PYTHONPATH=. .venv/bin/python benchmarks/tune_conv.py [--only B,D] [--runs 5]
        [--modes never,always] [--candidates 8:2,16:1|auto] [--taps-outer 0,1] ...

For each benchmark shape (benchmarks/conv_forward.py) and each candidate (BLOCK_K output channels
x BLOCK_V vectors of VW positions per work-item, K_FASTEST work order, TAPS_OUTER loop order,
ALIGN, ALLOW_FLAT, work-group size LOCAL; or clconv's own choice with --candidates auto) in each
mode (clconv.ops.conv._specialize: "never" = sizes as arguments, "always" = sizes as -D defines),
the result is first checked against a float64 NumPy convolution, then timed: median of --runs
after a warm-up (data on the device, queue.finish() inside the timer), best of --rounds
interleaved rounds. "build" is the first call's time minus a run's, caches off: PoCL compiles a
kernel at its first launch. Prints one JSON line per candidate and the best per shape and mode;
clconv/tuning.json holds what these runs found.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import numpy as np

from conv_forward import SHAPES, _numpy_conv, describe, flops, median_ms, problem, wait_for_quiet

CANDIDATES = [  # (BLOCK_K, BLOCK_V)
    (1, 4), (1, 8), (2, 4), (4, 4), (8, 2), (8, 3), (16, 1), (12, 2), (5, 3), (10, 2),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SHAPES))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", default="never,always", help="_specialize values to try")
    parser.add_argument("--orders", default="1", help="K_FASTEST values to try")
    parser.add_argument("--vw", default="16")
    parser.add_argument("--local", default="1", help="work-group sizes (dimension 0) to try")
    parser.add_argument("--taps-outer", default="0,1", help="TAPS_OUTER values to try")
    parser.add_argument("--align", default="16", help="ALIGN values (padded plane strides) to try")
    parser.add_argument("--allow-flat", default="1", help="ALLOW_FLAT values (0: rows) to try")
    parser.add_argument("--rounds", type=int, default=3, help="keep the best median of this many")
    parser.add_argument("--candidates",
                        help="BLOCK_K:BLOCK_V,... instead of the built-in list; 'auto': clconv's")
    args = parser.parse_args()
    os.environ.setdefault("POCL_KERNEL_CACHE", "0")  # so that build times are real
    os.environ.setdefault("PYOPENCL_NO_CACHE", "1")
    import clconv
    import clconv.functional as F
    from clconv.ops import conv

    candidates = (CANDIDATES if not args.candidates else [(None, None)]
                  if args.candidates == "auto" else
                  [tuple(map(int, c.split(":"))) for c in args.candidates.split(",")])
    device = clconv.get_device()
    own_tiles = conv._direct_tiles
    problems, trials = {}, []
    for name in args.only.split(","):
        x, w, b, s, p, g = problem(name)
        want = _numpy_conv(x.astype(np.float64), w.astype(np.float64), b, s, p, g)
        op = getattr(F, f"conv{x.ndim - 2}d")
        tensors = clconv.tensor(x), clconv.tensor(w), clconv.tensor(b)
        problems[name] = (op, tensors, s, p, g, want)
        out_per_group = w.shape[0] // g
        for (block_k, block_v) in candidates:
            if block_k is None:  # clconv's own choice (the tuning table)
                trials.extend((name, None, mode) for mode in args.modes.split(","))
                continue
            if block_k > max(1, 2 * out_per_group):
                continue
            for order, taps_outer, align, flat, local, vw, mode in itertools.product(
                    *(map(int, getattr(args, a).split(",")) for a in
                      ("orders", "taps_outer", "align", "allow_flat", "local", "vw")),
                    args.modes.split(",")):
                trials.append((name, {"VW": vw, "BLOCK_K": block_k, "BLOCK_V": block_v,
                                      "K_FASTEST": order, "TAPS_OUTER": taps_outer,
                                      "ALIGN": align, "ALLOW_FLAT": flat, "LOCAL": local}, mode))

    def run_trial(name, tiles, mode):
        op, (xt, wt, bt), s, p, g, want = problems[name]
        conv._direct_tiles = own_tiles if tiles is None else lambda *_: dict(tiles)
        conv._specialize = mode
        conv._direct_states.clear()  # plans remembered with other tiles
        return op(xt, wt, bt, stride=s, padding=p, groups=g)

    # Each trial once to check it and to time its build, then --rounds rounds of timing, trials
    # interleaved so that a burst of load elsewhere spoils one round of many, not one trial.
    rows = []
    for name, tiles, mode in trials:
        start = time.perf_counter()
        got = run_trial(name, tiles, mode).numpy()
        first = time.perf_counter() - start
        want = problems[name][-1]
        error = float(np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want))))
        chosen = tiles or {"BLOCK_K": "auto", "BLOCK_V": "", "VW": "", "K_FASTEST": "",
                           "TAPS_OUTER": "", "ALIGN": "", "ALLOW_FLAT": "", "LOCAL": ""}
        rows.append({"name": name, **chosen, "mode": mode, "first_ms": 1e3 * first, "error": error,
                     "ms": float("inf")})
        if error > 1e-4:
            print(f"# WRONG RESULT {rows[-1]}", flush=True)
    for _ in range(args.rounds):
        for row, (name, tiles, mode) in zip(rows, trials):
            if row["error"] > 1e-4:
                continue
            wait_for_quiet()
            ms = median_ms(lambda: run_trial(name, tiles, mode), device.synchronize, args.runs)
            row["ms"] = min(row["ms"], ms)
    best = {}
    for row in rows:
        row["gflops"] = round(flops(row["name"]) / row["ms"] / 1e6, 1)
        row["build_ms"] = round(row.pop("first_ms") - row["ms"])
        row["ms"] = round(row["ms"], 3)
        print(json.dumps(row), flush=True)
        key = (row["name"], row["mode"])
        if row["error"] <= 1e-4 and (key not in best or row["ms"] < best[key]["ms"]):
            best[key] = row
    print("# best per shape and mode")
    for (name, mode), row in best.items():
        print(f"{name:4} {describe(name):40} {mode:7} BLOCK_K={row['BLOCK_K']:<3} "
              f"BLOCK_V={row['BLOCK_V']} VW={row['VW']} K_FASTEST={row['K_FASTEST']} "
              f"TAPS_OUTER={row['TAPS_OUTER']} ALIGN={row['ALIGN']} ALLOW_FLAT={row['ALLOW_FLAT']} "
              f"LOCAL={row['LOCAL']} "
              f"{row['ms']:8.3f} ms {row['gflops']:6.1f} GFLOP/s  build {row['build_ms']} ms")


if __name__ == "__main__":
    main()
