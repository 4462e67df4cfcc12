"""Timing for the benchmark suite and the tuner: after warm-up (which builds every kernel, so
compiles are excluded), with the device synchronized, on a host that may be shared.

Each timed run is the wall time of run() + sync() and, given `device_time` (for clconv:
`lambda run: runtime.device_ms(device, run)`), also the device's own span from OpenCL profiling
events where the queue has them. Peers are compared by wall time (what a user waits for, and
what every peer can be measured by); clconv's device time is reported beside it, and the tuner
compares device times. `measure` repeats a measurement that other processes disturbed (by
/proc/stat, Linux only) and keeps the least disturbed one.
"""
from __future__ import annotations

import os
import statistics
import time


def _machine_ticks() -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks of this process and its threads)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    with open("/proc/self/stat") as own:
        fields = own.read().rsplit(")", 1)[1].split()
    return sum(values) - values[3] - values[4], int(fields[11]) + int(fields[12])


def busy_fraction(seconds: float = 0.5) -> float:
    """How busy the CPUs were over `seconds` (0 where /proc/stat cannot tell)."""
    try:
        busy0, _ = _machine_ticks()
        with open("/proc/stat") as stat:
            total0 = sum(int(v) for v in stat.readline().split()[1:])
        time.sleep(seconds)
        busy1, _ = _machine_ticks()
        with open("/proc/stat") as stat:
            total1 = sum(int(v) for v in stat.readline().split()[1:])
    except OSError:
        return 0.0
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(limit_s: float = 60.0, busy: float = 0.15) -> None:
    """Wait (up to `limit_s`) until other processes leave the CPUs mostly idle."""
    deadline = time.monotonic() + limit_s
    while busy_fraction() > busy and time.monotonic() < deadline:
        pass


def _warm_up(run, sync, warmup: int, warmup_seconds: float) -> float:
    """Untimed runs: at least `warmup`, and until `warmup_seconds` have passed (up to 50;
    caches, allocators and thread pools of every peer settle over the first calls); returns
    the seconds one took."""
    began, done = time.perf_counter(), 0
    while done < 50 and (done < warmup or time.perf_counter() - began < warmup_seconds):
        run()
        sync()
        done += 1
    return (time.perf_counter() - began) / max(done, 1)


def samples(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25,
            device_time=None) -> tuple[list, list | None]:
    """(wall ms of each of `runs` runs of run() + sync(), device ms of each or None) after the
    warm-up. With `device_time`, each run is device_time(run), which waits for the device: the
    wall time around it is the synchronized time as well."""
    _warm_up(run, sync, warmup, warmup_seconds)
    wall, device = [], []
    for _ in range(runs):
        start = time.perf_counter()
        measured = None
        if device_time:
            measured = device_time(run)
        else:
            run()
        sync()
        wall.append(1e3 * (time.perf_counter() - start))
        if measured is not None:
            device.append(measured)
    return wall, (device if len(device) == runs else None)


def measure(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25,
            device_time=None, attempts: int = 4, others: float = 0.2):
    """(median wall ms, median device ms or None) of `runs` timed runs (see samples). Where
    other processes used more than `others` of a CPU meanwhile, the measurement is taken again
    after waiting for the machine to go quiet (up to `attempts` times) and the least disturbed
    one is kept."""
    best = None
    for _ in range(attempts):
        try:
            busy0, own0 = _machine_ticks()
        except OSError:
            busy0 = own0 = 0
        began = time.perf_counter()
        wall, device = samples(run, sync, runs, warmup, warmup_seconds, device_time)
        elapsed = time.perf_counter() - began
        try:
            busy1, own1 = _machine_ticks()
        except OSError:
            busy1, own1 = busy0, own0
        disturbance = max(0, (busy1 - busy0) - (own1 - own0)) / os.sysconf("SC_CLK_TCK") \
            / max(elapsed, 1e-3)
        if best is None or disturbance < best[0]:
            best = (disturbance, statistics.median(wall),
                    statistics.median(device) if device else None)
        if disturbance <= others:
            break
        wait_for_quiet(limit_s=10.0)
    return best[1], best[2]


def median_ms(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25) -> float:
    """The median wall time of `measure`: what the benchmark suite compares between peers."""
    return measure(run, sync, runs, warmup, warmup_seconds)[0]


def best_ms(run, sync, runs: int, warmup: int = 2, warmup_seconds: float = 0.25,
            device_time=None) -> float:
    """The fastest of `runs` runs after the same warm-up, by the device's clock where
    `device_time` gives one: what the tuner compares (on a shared host, other tenants only
    ever add time, in phases that can span a median's runs)."""
    wall, device = samples(run, sync, runs, warmup, warmup_seconds, device_time)
    return min(device or wall)
