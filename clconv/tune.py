"""`python -m clconv tune`: search the parameters of the kernels this device runs and write the
winners as a tuning table.

Each target is one algorithm of one op family on one problem of the benchmark suite's sizes
(`--quick`: small ones). A target is tried only where the dispatcher runs that algorithm for
that problem on this device (its profile's kind and the table in force decide): on a CPU the
direct, Winograd and vector weight-gradient kernels, on a GPU the blocks in local memory of the
convolutions (forward and weight gradient) and of gemm, whether Winograd (winograd_local) goes
before the implicit GEMM, the general kernels where they run, and the normalization chunks.
Every candidate is laid over the table with `config.override(tuning=...)`, its result checked
against clconv.reference, and only then timed (the fastest of --runs runs after warm-up, by
OpenCL profiling events where the queue has them, else wall time with the device synchronized;
the fastest candidates and the table's own parameters are timed again in turns, and a candidate
must beat the table's by 5% to replace them); a wrong candidate is reported and skipped, and so
is one the algorithm cannot run the problem with. The table written keeps the layout of
clconv/tuning.json (kind -> vendor -> device key -> family -> algorithm -> parameters); point
CLCONV_TUNING at it and the dispatcher lays it over the shipped table.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import config, dispatch, runtime, tuning
from . import functional as F
from . import reference as R
from .ops import conv_grad
from .ops.conv_geometry import ConvProblem, conv_geometry
from .runtime import get_device
from .tensors import tensor
from .testing import mismatch
from .timing import best_ms


ORDER = "order"  # a Target's algorithm where its candidates are the family's orders


@dataclass(frozen=True)
class Target:
    """One algorithm's parameters searched on one problem; or (algorithm ORDER) the family's
    order of algorithms, each candidate an order ({"order": [...]}) that the dispatcher's
    choice follows."""
    family: str
    algorithm: str
    label: str
    problem: tuple      # op, shapes and options (see _runner)
    quick: tuple        # the same at a small size
    candidates: tuple   # (name, parameters laid over the algorithm's entry)


def _conv(op, x, w, stride=1, padding=0, groups=1, direction="forward"):
    return ("conv", op, x, w, stride, padding, groups, direction)


def _direct_candidates(registers: int, problem_class: str) -> tuple:
    """(BLOCK_K, BLOCK_V) pairs whose accumulators leave a few of the registers free."""
    pairs = [(k, v) for k, v in itertools.product((2, 3, 4, 5, 6, 8, 12, 16), (1, 2, 3, 4))
             if registers // 4 <= k * v <= registers - 4 and k >= v]
    return tuple((f"K{k} V{v}", {problem_class: {"BLOCK_K": k, "BLOCK_K_SINGLE": k + k // 2,
                                                 "BLOCK_V": v}}) for k, v in pairs)


def _pointwise_candidates(registers: int) -> tuple:
    """conv_pointwise: its accumulator blocks (as conv_direct's), then how much of the input a
    pass reads (CHUNK channels), how long a span of each plane and how many output channels a
    work-item takes."""
    pairs = [(k, v) for k, v in itertools.product((2, 3, 4, 6, 8, 12, 16), (1, 2, 3, 4))
             if registers // 4 <= k * v <= registers - 4 and k >= v]
    return (tuple((f"K{k} V{v}", {"BLOCK_K": k, "BLOCK_V": v}) for k, v in pairs)
            + tuple((f"chunk {c} span {s} channels {i}",
                     {"CHUNK": c, "SPAN_BYTES": s, "ITEM_CHANNELS": i})
                    for c in (16, 32, 64, 128) for s in (512, 1024, 2048)
                    for i in (16, 32, 64)))


def _tile_candidates(registers: int) -> tuple:
    """Input x output channel tiles of the vector weight gradients: c k + min(c, k) + 1 vector
    registers at most."""
    pairs = [(c, k) for c, k in itertools.product(range(2, 7), repeat=2)
             if c * k + min(c, k) + 1 <= registers]
    return tuple((f"{c}x{k}", {"tile": [c, k]}) for c, k in pairs)


def _block_candidates(extra: dict | None = None) -> tuple:
    """The local-memory kernels' blockings (gemm_local, conv_local, conv_weight_grad_local):
    work-groups (WG_M x WG_N items), outputs per item (RM x RN) and the slice depth (BK); those
    the device or the kernel cannot run (local memory, work-group limits, loads that do not
    divide) are reported and skipped."""
    return tuple((f"WG {m}x{n} R {rm}x{rn} BK {bk}",
                  dict({"WG": [m, n], "RM": rm, "RN": rn, "BK": bk}, **(extra or {})))
                 for m, n in ((16, 16), (8, 8), (16, 8), (8, 16), (8, 32))
                 for rm, rn in ((4, 4), (8, 8), (8, 4), (4, 8), (2, 4))
                 for bk in (8, 16, 32))


def targets(profile) -> list[Target]:
    """Every target, for a device of this profile (its registers bound the blockings)."""
    registers = profile.vector_registers
    return (_forward_targets(registers) + _gradient_targets(registers) + _other_targets()
            + _gpu_block_targets())


def _gpu_block_targets() -> list[Target]:
    """The GPU kernels with slices in local memory (the GPU profile runs them)."""
    return [
        Target("conv_forward", "local", "conv2d 64->64 56x56 3x3",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
               _conv(2, (2, 16, 9, 10), (20, 16, 3, 3), 1, 1),
               _block_candidates() + tuple(  # the weights' vector loads, at most this wide
                   (f"weight vectors of {v}", {"vector": v}) for v in (1, 2))),
        Target("conv_weight_grad", "local", "conv2d 64->64 56x56 3x3 (dw)",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, direction="weight"),
               _conv(2, (2, 16, 9, 10), (20, 16, 3, 3), 1, 1, direction="weight"),
               _block_candidates() + tuple(
                   (f"{g} groups per compute unit", {"groups_per_unit": g}) for g in (2, 8, 16))),
        Target("conv_forward", "depthwise_local", "depthwise 128 56x56 3x3",
               _conv(2, (8, 128, 56, 56), (128, 1, 3, 3), 1, 1, 128),
               _conv(2, (2, 8, 9, 20), (8, 1, 3, 3), 1, 1, 8),
               tuple((f"{w} wide, {i} items", {"width": w, "items": i})
                     for w in (8, 16, 32) for i in (64, 128, 256) if i >= w)),
        Target("gemm", "local", "matmul 256 x 512 @ 512 x 512",
               ("matmul", (256, 512), (512, 512)), ("matmul", (20, 33), (33, 18)),
               _block_candidates()),
        # Winograd (transforms around gemm_local) before the implicit GEMM, or after it
        Target("conv_forward", ORDER, "conv2d 64->64 56x56 3x3 (winograd_local or local)",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
               _conv(2, (2, 64, 9, 10), (64, 64, 3, 3), 1, 1),
               (("winograd_local first",
                 {"order": ["winograd_local", "local", "depthwise_local", "general"]}),
                ("conv_local first",
                 {"order": ["local", "winograd_local", "depthwise_local", "general"]}))),
    ]


_LOCALS_3D = [[m, n // m, 1] for m in (8, 16, 32, 64) for n in (64, 128, 256) if n >= m]


def _forward_targets(registers: int) -> list[Target]:
    return [
        Target("conv_forward", "direct", "conv2d 64->128 56x56 3x3 s2",
               _conv(2, (8, 64, 56, 56), (128, 64, 3, 3), 2, 1),
               _conv(2, (2, 8, 11, 11), (16, 8, 3, 3), 2, 1),
               _direct_candidates(registers, "spatial")),
        Target("conv_forward", "direct", "conv2d 256->256 14x14 1x1",
               _conv(2, (8, 256, 14, 14), (256, 256, 1, 1)),
               _conv(2, (2, 32, 6, 7), (24, 32, 1, 1)),
               _direct_candidates(registers, "pointwise")),
        Target("conv_forward", "direct", "conv2d 576->96 14x14 1x1",
               _conv(2, (8, 576, 14, 14), (96, 576, 1, 1)),
               _conv(2, (2, 24, 9, 20), (40, 24, 1, 1)),
               tuple((f"item inputs {i >> 10}K channels {c}",
                      {"pointwise": {"ITEM_INPUT_BYTES": i, "ITEM_CHANNELS": c}})
                     for i, c in ((0, 0), (12 << 10, 32), (24 << 10, 16), (24 << 10, 32),
                                  (24 << 10, 64), (48 << 10, 32)))),
        Target("conv_forward", "pointwise", "conv2d 144->24 56x56 1x1",
               _conv(2, (8, 144, 56, 56), (24, 144, 1, 1)),
               _conv(2, (8, 24, 32, 32), (40, 24, 1, 1)),
               _pointwise_candidates(registers)),
        Target("conv_forward", "rows", "conv2d 3->32 224x224 3x3 s2",
               _conv(2, (8, 3, 224, 224), (32, 3, 3, 3), 2, 1),
               _conv(2, (2, 3, 16, 40), (16, 3, 3, 3), 2, 1),
               tuple((f"{a} accumulators", {"accumulators": a}) for a in (4, 6, 8, 12, 16)
                     if a <= registers - 4)),
        Target("conv_forward", "winograd", "conv2d 64->64 56x56 3x3",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
               _conv(2, (2, 16, 9, 20), (16, 16, 3, 3), 1, 1),
               tuple((f"BK {k}", {"BK": k}) for k in (2, 3, 4, 6, 8, 12, 16)
                     if 2 * k <= registers - 2)),
        Target("conv_forward", "general", "conv2d 64->64 56x56 3x3",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
               _conv(2, (2, 8, 9, 10), (12, 8, 3, 3), 1, 1),
               tuple((f"K{k} P{p} {local[0]}x{local[1]}", {"TILE_K": k, "TILE_P": p, "local": local})
                     for k, p in ((4, 4), (4, 8), (8, 4), (8, 8)) for local in _LOCALS_3D)),
    ]


def _gradient_targets(registers: int) -> list[Target]:
    return [
        Target("conv_weight_grad", "rows", "conv2d 64->64 56x56 3x3 (dw)",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, direction="weight"),
               _conv(2, (2, 8, 9, 10), (12, 8, 3, 3), 1, 1, direction="weight"),
               tuple((f"taps {t} acc {a} runs {r >> 10}K", {"taps": t, "accumulators": a,
                                                             "run_bytes": r})
                     for t in (3, 5) for a in sorted({registers // 2, 3 * registers // 4,
                                                     registers - 7, registers - 4})
                     for r in (0, 1 << 20))),
        Target("conv_weight_grad", "flat", "conv2d 64->128 56x56 1x1 s2 (dw)",
               _conv(2, (8, 64, 56, 56), (128, 64, 1, 1), 2, 0, direction="weight"),
               _conv(2, (2, 8, 9, 10), (12, 8, 1, 1), 2, 0, direction="weight"),
               tuple((f"{name} runs {r >> 10}K", dict(tile, run_bytes=r))
                     for name, tile in _tile_candidates(registers) for r in (0, 1 << 20))),
        Target("conv_weight_grad", "pointwise", "conv2d 256->256 14x14 1x1 (dw)",
               _conv(2, (8, 256, 14, 14), (256, 256, 1, 1), direction="weight"),
               _conv(2, (2, 32, 6, 7), (24, 32, 1, 1), direction="weight"),
               tuple((f"{name} band {band}", dict(tile, band=band))
                     for name, tile in _tile_candidates(registers) for band in (4, 8, 16))),
        Target("conv_weight_grad", "depthwise", "depthwise 128 56x56 3x3 (dw)",
               _conv(2, (8, 128, 56, 56), (128, 1, 3, 3), 1, 1, 128, direction="weight"),
               _conv(2, (2, 8, 9, 20), (8, 1, 3, 3), 1, 1, 8, direction="weight"),
               tuple((f"taps {t}", {"taps": t}) for t in (3, 5, 9, 16, 25) if t <= registers)),
        Target("conv_weight_grad", "general", "conv2d 64->64 56x56 3x3 (dw)",
               _conv(2, (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, direction="weight"),
               _conv(2, (2, 8, 9, 10), (12, 8, 3, 3), 1, 1, direction="weight"),
               tuple((f"C{c} K{k} chunk {chunk} local {local}",
                      {"TILE_C": c, "TILE_K": k, "chunk": chunk, "local": [local, 1, 1]})
                     for c, k in ((4, 4), (8, 8)) for chunk in (512, 2048, 8192)
                     for local in (1, 64))),
    ]


def _other_targets() -> list[Target]:
    return [
        Target("gemm", "dot", "linear 8 x 1280 -> 1000",
               ("linear", (8, 1280), (1000, 1280)), ("linear", (5, 33), (10, 33)),
               tuple((f"{a} accumulators", {"accumulators": a}) for a in (4, 8, 12, 16, 24))),
        Target("gemm", "tiled", "matmul 256 x 512 @ 512 x 512",
               ("matmul", (256, 512), (512, 512)), ("matmul", (5, 33), (33, 10)),
               tuple((f"M{m} N{n} {local[0]}x{local[1]}", {"TILE_M": m, "TILE_N": n, "local": local})
                     for m, n in ((4, 4), (4, 8), (8, 8), (2, 8))
                     for local in ([1, 1], [4, 4], [8, 8], [16, 4]))),
        Target("norm_forward", "chunked", "batch_norm 8x64x56x56",
               ("batch_norm", (8, 64, 56, 56)), ("batch_norm", (2, 4, 9, 9)),
               tuple((f"chunk {c} local {local}", {"chunk": c, "span": c, "local": local})
                     for c in (1024, 4096, 16384) for local in (16, 64, 256))),
    ]


def _runner(device, problem: tuple, rng):
    """(the dispatcher's problem and family choice, run(), expected result) of a target."""
    if problem[0] == "conv":
        _, nd, x_shape, w_shape, stride, padding, groups, direction = problem
        fan_in = np.prod(w_shape[1:])
        x_host = rng.standard_normal(x_shape).astype(np.float32)
        w_host = (rng.standard_normal(w_shape) / np.sqrt(fan_in)).astype(np.float32)
        geo = conv_geometry("tune", nd, x_shape, w_shape, stride, padding, 1, groups)
        out_shape = (x_shape[0], w_shape[0]) + geo.out_size[3 - nd:]
        g_host = rng.standard_normal(out_shape).astype(np.float32)
        x, w, g = tensor(x_host), tensor(w_host), tensor(g_host)
        key = ConvProblem(geo, np.dtype(np.float32))
        op, backward = getattr(R, f"conv{nd}d"), getattr(R, f"conv{nd}d_backward")
        if direction == "forward":
            run = lambda: getattr(F, f"conv{nd}d")(x, w, None, stride, padding, 1, groups)
            expected = lambda: op(x_host, w_host, None, stride, padding, 1, groups)
        elif direction == "input":
            run = lambda: conv_grad.input_grad(g, w, geo, x.shape)
            expected = lambda: backward(g_host, x_host, w_host, None, stride, padding, 1, groups)[0]
        else:
            run = lambda: conv_grad.weight_grad(x, g, geo, w.shape)
            expected = lambda: backward(g_host, x_host, w_host, None, stride, padding, 1, groups)[1]
        return key, run, expected
    if problem[0] == "linear":
        _, x_shape, w_shape = problem
        from .ops.linear import GemmProblem
        x_host = rng.standard_normal(x_shape).astype(np.float32)
        w_host = (rng.standard_normal(w_shape) / np.sqrt(w_shape[1])).astype(np.float32)
        x, w = tensor(x_host), tensor(w_host)
        key = GemmProblem(x_shape[0], w_shape[0], w_shape[1], np.dtype(np.float32),
                          along_k=True)
        return key, lambda: F.linear(x, w), lambda: R.linear(x_host, w_host)
    if problem[0] == "matmul":
        _, a_shape, b_shape = problem
        from .ops.linear import GemmProblem
        a_host = rng.standard_normal(a_shape).astype(np.float32)
        b_host = (rng.standard_normal(b_shape) / np.sqrt(b_shape[0])).astype(np.float32)
        a, b = tensor(a_host), tensor(b_host)
        key = GemmProblem(a_shape[0], b_shape[1], a_shape[1], np.dtype(np.float32))
        return key, lambda: F.matmul(a, b), lambda: R.matmul(a_host, b_host)
    _, shape = problem  # batch_norm, training statistics
    from .ops.norm import NormProblem, Layout
    from .ops.reduce import Rows
    x_host = rng.standard_normal(shape).astype(np.float32)
    x = tensor(x_host)
    channels = Rows.channels(shape[0], shape[1], int(np.prod(shape[2:])))
    key = NormProblem(Layout(channels, channels, True), np.dtype(np.float32), x.size)
    return (key, lambda: F.batch_norm(x, None, None, training=True),
            lambda: R.batch_norm(x_host, None, None, training=True))


def _progress(done: int, total: int, text: str) -> None:
    filled = int(24 * done / max(total, 1))
    print(f"\r[{'#' * filled}{'.' * (24 - filled)}] {done}/{total} {text[:64]:<64}", end="",
          flush=True)


CANNOT = "cannot run this problem"


def _timed(target: Target, params: dict, run, expected, device, runs: int, key):
    """(fastest ms, None) of `run` under the candidate's parameters, or (inf, what is wrong,
    or why the algorithm cannot run the problem with them): checked against the reference
    before it is timed."""
    if target.algorithm == ORDER:  # the family's order: the dispatcher chooses
        overlay, forced = {target.family: params}, {}
    else:
        overlay = {target.family: {target.algorithm: params}}
        forced = {target.family: target.algorithm}
    with config.override(tuning=tuning.merge(dict(config.current().tuning or {}), overlay),
                         **forced):
        try:
            dispatch.choose(target.family, device, key)
        except ValueError as err:  # parameters the algorithm cannot run this problem with
            return float("inf"), f"{CANNOT}: {err}"
        try:
            problem = mismatch(run().numpy(), expected)
        except Exception as err:  # a candidate that cannot run (limits): skipped
            problem = f"{type(err).__name__}: {err}"
        if problem is not None:
            return float("inf"), problem
        return best_ms(run, device.synchronize, runs,
                       device_time=lambda r: runtime.device_ms(device, r)), None


CURRENT = "(the table's)"


def _targets_here(device, quick: bool, only: str | None) -> tuple[list, list]:
    """(the targets whose algorithm this device runs for their problem, lines for the others)."""
    chosen, skipped = [], []
    for target in targets(device.profile):
        if only and not any(part in f"{target.family}.{target.algorithm}" for part in only.split(",")):
            continue
        key, _, _ = _runner(device, target.quick if quick else target.problem,
                            np.random.default_rng(0))
        runs_here = dispatch.choose(target.family, device, key).algorithm
        if runs_here == target.algorithm or target.algorithm == ORDER and any(
                runs_here in params["order"] for _, params in target.candidates):
            chosen.append(target)
        else:
            skipped.append(f"{target.family}.{target.algorithm} ({target.label}): this device "
                           f"runs {runs_here}")
    return chosen, skipped


def _tried(target, quick: bool) -> tuple:
    """The candidates timed: all, or in quick mode the first, a middle and the last."""
    cands = target.candidates
    return cands if not quick or len(cands) <= 3 else (cands[0], cands[len(cands) // 2], cands[-1])


class _Progress:
    """The progress bar's count of timings done out of `total`."""

    def __init__(self, total: int):
        self.total, self.done = total, 0

    def step(self, what: str) -> None:
        self.done += 1
        _progress(self.done, self.total, what)


def _time_target(target, device, quick: bool, runs: int, finalists: int, rounds: int,
                 progress: _Progress, report: list) -> tuple[dict, list]:
    """{candidate: (params, [ms per round])} and the finalists timed again in turns."""
    key, run, expected_of = _runner(device, target.quick if quick else target.problem,
                                    np.random.default_rng(0))
    expected = expected_of()
    label = f"{target.family}.{target.algorithm}"
    timings = {}
    incumbent = () if quick else ((CURRENT, {}),)  # (quick: a tried candidate always wins)
    for name, params in incumbent + tuple(_tried(target, quick)):
        ms, problem = _timed(target, params, run, expected, device, runs, key)
        timings[name] = (params, [ms])
        progress.step(f"{label} {name}: " + (
            f"{ms:.3f} ms" if problem is None else "cannot run here, skipped"
            if problem.startswith(CANNOT) else "WRONG, skipped"))
        if problem is not None:
            report.append(f"  {label} {name}: skipped ({problem})")
    ranked = sorted((t[1][0], name) for name, t in timings.items() if t[1][0] < float("inf"))
    finals = [name for _, name in ranked[:finalists]] if not quick else []
    if finals and CURRENT not in finals:
        finals.append(CURRENT)
    for _ in range(rounds - 1 if finals else 0):
        for name in finals:
            ms, _ = _timed(target, timings[name][0], run, expected, device, runs, key)
            timings[name][1].append(ms)
            progress.step(f"{label} {name}: {ms:.3f} ms")
    return timings, finals


def _verdict(target, timings: dict, finals: list, rounds: int, margin: float,
             report: list) -> dict | None:
    """The winning parameters (None: the table's stay), with the report's lines."""
    scored = sorted((min(t[1]), name) for name, t in timings.items()
                    if t[1][0] < float("inf") and (name in finals or not finals))
    if not scored:
        return None
    fastest = dict((name, ms) for ms, name in scored)
    ms, name = scored[0]
    rounds_note = f", best of {rounds} rounds" if finals else ""
    current = fastest.get(CURRENT, float("inf"))
    label = f"{target.family}.{target.algorithm} on {target.label}"
    won = name != CURRENT and ms < (1 - margin) * current
    if won:
        report.append(f"{label}: {name} ({ms:.3f} ms against the table's {current:.3f}"
                      f"{rounds_note})")
    else:
        report.append(f"{label}: the table's kept ({current:.3f} ms; best other {name} "
                      f"{ms:.3f}{rounds_note})")
    if finals:
        report.append("    rounds (ms): " + "; ".join(
            f"{n}: {', '.join(f'{t:.3f}' for t in timings[n][1])}" for n in finals))
    return timings[name][0] if won else None


def search(quick: bool, runs: int, only: str | None = None, finalists: int = 3,
           rounds: int = 3, margin: float = 0.05) -> tuple[dict, list]:
    """The winning parameters per family and algorithm, and a report line per target. Every
    candidate is timed (its fastest of `runs` runs), the parameters in force (the table's) too;
    the `finalists` fastest and the table's are timed `rounds` - 1 times more, taking turns,
    and a candidate replaces the table's only where its best over the rounds is `margin`
    faster (a shared host's slow phases then cost a candidate a round, not the choice, and
    noise does not rewrite the table)."""
    device = get_device()
    chosen, skipped = _targets_here(device, quick, only)
    extra = 0 if quick else (rounds - 1) * finalists
    progress = _Progress(sum(
        len(_tried(t, quick)) + (0 if quick else 1 + min(extra + rounds - 1,
                                                         (rounds - 1) * len(_tried(t, quick))))
        for t in chosen))
    winners: dict = {}
    report: list = []
    for target in chosen:
        timings, finals = _time_target(target, device, quick, runs, finalists, rounds, progress,
                                       report)
        won = _verdict(target, timings, finals, rounds, margin, report)
        if won is not None:
            winners = tuning.merge(winners, {target.family: won if target.algorithm == ORDER
                                             else {target.algorithm: won}})
    if progress.total:
        print()
    return winners, report + [f"not tuned: {line}" for line in skipped]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clconv tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=config.current().tuning_file or "clconv-tuning.json",
                        help="the JSON file to write (default: $CLCONV_TUNING or "
                             "./clconv-tuning.json)")
    parser.add_argument("--quick", action="store_true",
                        help="small shapes, three candidates a target (checks the search)")
    parser.add_argument("--runs", type=int, default=5,
                        help="timed runs per candidate and round (the fastest counts)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times the three fastest candidates are timed, taking turns")
    parser.add_argument("--only", help="comma-separated family.algorithm substrings to tune")
    parser.add_argument("--key", help="the device level to write under (default: the device's "
                                      "name and driver; e.g. isa:avx2 for every such CPU)")
    args = parser.parse_args(argv)
    device = get_device()
    profile = device.profile
    print(f"tuning the kernels {profile.name} ({profile.platform}) runs as a {profile.kind}")
    start = time.perf_counter()
    winners, report = search(args.quick, 1 if args.quick else args.runs, args.only,
                             rounds=max(1, args.rounds))
    key = args.key or profile.tuning_keys()[-1]
    when = time.strftime("%Y-%m-%d")
    entry = dict(winners, about=f"measured by python -m clconv tune{' --quick' if args.quick else ''} "
                                f"on {profile.name} ({profile.platform}, driver "
                                f"{profile.driver_version}), {when}")
    table = {profile.kind: {profile.vendor_key: {key: entry}}}
    with open(args.out, "w") as stream:
        json.dump(table, stream, indent=1)
    for line in report:
        print(line)
    print(f"wrote {args.out} ({profile.kind} / {profile.vendor_key} / {key}) in "
          f"{time.perf_counter() - start:.0f} s; use it with CLCONV_TUNING={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
