"""Timing for the benchmark suite and the tuner: median wall time after warm-up, device
synchronized, compile excluded (the warm-up runs build every kernel first)."""
from __future__ import annotations

import statistics
import time


def median_ms(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25) -> float:
    """Median wall time of run() + sync() over `runs` runs, after untimed ones: at least
    `warmup`, and until `warmup_seconds` have passed (up to 50; caches, allocators and thread
    pools of every peer settle over the first calls)."""
    return statistics.median(times_ms(run, sync, runs, warmup, warmup_seconds))


def best_ms(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25) -> float:
    """The fastest of `runs` runs after the same warm-up: what the tuner compares (on a shared
    host, other tenants only ever add time, in phases that can span a median's runs)."""
    return min(times_ms(run, sync, runs, warmup, warmup_seconds))


def times_ms(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25) -> list:
    """Wall times of `runs` runs of run() + sync(), in ms, after the warm-up."""
    began = time.perf_counter()
    for done in range(50):
        if done >= warmup and time.perf_counter() - began >= warmup_seconds:
            break
        run()
        sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        sync()
        times.append(1e3 * (time.perf_counter() - start))
    return times
