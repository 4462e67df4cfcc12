"""`python -m clconv tune`: search conv_direct's blocking for this device and write it as data.

For each problem class of the tuning table (1x1 "pointwise", "spatial", "depthwise") it tries
each candidate blocking on the benchmark suite's shape of that class: the result is first
checked against clconv.reference, then timed (median after warm-up, device synchronized). The
winners are written as JSON keyed platform (vendor) -> device and driver -> class, the layout of
clconv/tuning.json; point CLCONV_TUNING at the file and the dispatcher lays it over the shipped
table (whose levels keep their defaults).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import functional as F
from . import reference as R
from .bench.workers import median_ms
from .ops import conv
from .runtime import get_device
from .tensors import tensor
from .testing import mismatch

# class -> (x shape, weight shape, stride, padding, groups): the suite's shapes (quick: small)
SHAPES = {
    "pointwise": ((8, 256, 14, 14), (256, 256, 1, 1), 1, 0, 1),
    "spatial": ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    "depthwise": ((8, 128, 56, 56), (128, 1, 3, 3), 1, 1, 128),
}
QUICK_SHAPES = {
    "pointwise": ((2, 32, 6, 7), (24, 32, 1, 1), 1, 0, 1),
    "spatial": ((2, 8, 9, 10), (12, 8, 3, 3), 1, 1, 1),
    "depthwise": ((2, 8, 9, 10), (8, 1, 3, 3), 1, 1, 8),
}
CANDIDATES = {  # (BLOCK_K, BLOCK_V)
    "pointwise": [(8, 1), (8, 2), (12, 2), (16, 1), (4, 4)],
    "spatial": [(8, 1), (8, 2), (12, 2), (16, 1), (4, 4)],
    "depthwise": [(1, 2), (1, 4), (1, 8)],
}


def _progress(done: int, total: int, text: str) -> None:
    filled = int(24 * done / total)
    print(f"\r[{'#' * filled}{'.' * (24 - filled)}] {done}/{total} {text:<48}", end="",
          flush=True)


def search(quick: bool, runs: int) -> dict:
    device = get_device()
    base = conv._tuning(device)
    shapes = QUICK_SHAPES if quick else SHAPES
    total = sum(len(c) for c in CANDIDATES.values())
    done, winners = 0, {}
    rng = np.random.default_rng(0)
    for problem_class, (x_shape, w_shape, stride, padding, groups) in shapes.items():
        x_host = rng.standard_normal(x_shape).astype(np.float32)
        w_host = (rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
        expected = R.conv2d(x_host, w_host, None, stride, padding, 1, groups)
        x, w = tensor(x_host), tensor(w_host)
        best = None
        for block_k, block_v in CANDIDATES[problem_class]:
            entry = dict(base[problem_class], BLOCK_K=block_k, BLOCK_V=block_v)
            if problem_class == "depthwise":
                entry["BLOCK_K_SINGLE"] = 1
            conv._tuning_override = dict(base, **{problem_class: entry})
            conv.forget_plans(device)
            run = lambda: F.conv2d(x, w, None, stride, padding, 1, groups)
            problem = mismatch(run().numpy(), expected)  # checked before it is timed
            ms = median_ms(run, device.synchronize, runs) if problem is None else float("inf")
            done += 1
            _progress(done, total, f"{problem_class} K{block_k} V{block_v}: "
                                   + (f"{ms:.3f} ms" if problem is None else "WRONG, skipped"))
            if best is None or ms < best[0]:
                best = (ms, entry)
        winners[problem_class] = best[1]
        conv._tuning_override = None
        conv.forget_plans(device)
    print()
    return {"conv_direct": {device.platform_name: {conv.tuning_key(device): dict(base, **winners)}}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clconv tune", description=__doc__)
    parser.add_argument("--out", default=os.environ.get("CLCONV_TUNING", "clconv-tuning.json"),
                        help="the JSON file to write (default: $CLCONV_TUNING or ./clconv-tuning.json)")
    parser.add_argument("--quick", action="store_true", help="small shapes (checks the search)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    device = get_device()
    print(f"tuning conv_direct on {device.name} ({device.platform_name})")
    start = time.perf_counter()
    table = search(args.quick, 1 if args.quick else args.runs)
    with open(args.out, "w") as stream:
        json.dump(table, stream, indent=1)
    entry = next(iter(next(iter(table["conv_direct"].values())).values()))
    for problem_class in CANDIDATES:
        print(f"  {problem_class:<10} BLOCK_K={entry[problem_class]['BLOCK_K']} "
              f"BLOCK_V={entry[problem_class]['BLOCK_V']}")
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s; use it with "
          f"CLCONV_TUNING={os.path.abspath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
