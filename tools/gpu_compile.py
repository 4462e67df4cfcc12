"""Every kernel on a GPU code path, compiled offline for NVIDIA (NVPTX) and AMD (gfx90a).

    .venv/bin/python tools/gpu_compile.py [--json PATH] [-k SUBSTRING]   (or `make gpu-compile`)

No GPU is needed: Debian's clang-15 compiles OpenCL C for both targets with libclc-15's builtins
(`apt-get install clang-15 libclc-15`; NVIDIA's `ptxas`, where installed, assembles the PTX and
reports registers, stack and spills; without it the PTX itself is read). Which kernels, and with
which build options: the sanitizer's cases (tools/sanitize_cases.py: every op forward and backward,
every option grid) run on the default device under a GPU profile with a GPU's vector width
(config.override(profile="gpu", vector_bytes=8)), and every program built and kernel launched is
recorded. Each such program is compiled, with its own options, for both targets; for each
launched kernel this prints registers, private (stack, scratch) memory, spills, local memory and
AMD's occupancy estimate, and fails where a kernel keeps an array in private memory or spills
registers to memory. (AMD's SGPR spills go to VGPR lanes, not to memory: reported, allowed.)

`--evidence PATH` also writes, per kernel, a Markdown table of what can be read without a GPU
(benchmarks/RESULTS.md keeps one): NVPTX registers, gfx90a VGPRs, private and local memory, the
work-group sizes launched, AMD's occupancy estimate, and in each target's hottest innermost loop
(the loop without inner loops that holds the most multiply-adds; of equal ones, the one with
the fewest global loads: an interior path) its multiply-adds per global load and per
local-memory load instruction (a vector load counts once; NVIDIA's loads from the
assembler's PTX, AMD's from the gfx90a code).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLANG = "clang-15"
LIBCLC = Path("/usr/lib/clc")
TARGETS = {
    "nvptx": ["-target", "nvptx64-unknown-nvidiacl", "-Xclang", "-mlink-builtin-bitcode",
              "-Xclang", str(LIBCLC / "nvptx64--nvidiacl.bc")],
    "gfx90a": ["-target", "amdgcn-unknown-amdhsa", "-mcpu=gfx90a", "-nogpulib", "-Xclang",
               "-mlink-builtin-bitcode", "-Xclang", str(LIBCLC / "amdgcn--amdhsa.bc")],
}


@dataclass
class KernelReport:
    kernel: str
    family: str
    options: str
    nvptx: dict = field(default_factory=dict)
    gfx90a: dict = field(default_factory=dict)
    work_groups: list = field(default_factory=list)   # work-items per group, as launched

    def problems(self) -> list[str]:
        found = []
        if self.nvptx.get("stack_bytes"):
            found.append(f"NVPTX: {self.nvptx['stack_bytes']} bytes of private memory (stack)")
        if self.nvptx.get("spill_stores"):
            found.append(f"NVPTX: {self.nvptx['spill_stores']} bytes of register spills")
        if self.gfx90a.get("private_bytes"):
            found.append(f"gfx90a: {self.gfx90a['private_bytes']} bytes of private memory")
        if self.gfx90a.get("vgpr_spills"):
            found.append(f"gfx90a: {self.gfx90a['vgpr_spills']} VGPRs spilled to memory")
        return found


def collect(only: str, groups: dict | None = None) -> dict[tuple[str, str], set[str]]:
    """(family, build options) -> names of the kernels launched from that build, over the
    sanitizer's cases run with a GPU profile; `groups` gets (family, options, kernel) -> the
    work-group sizes (work-items) they launched with."""
    sys.path.insert(0, str(HERE))
    import sanitize  # noqa: E402  (its run_case)
    from sanitize_cases import CASES, HALF
    import clconv
    from clconv import config, runtime

    device = clconv.get_device()
    by_kernel = {}
    launched: dict[tuple[str, str], set[str]] = {}

    def on_launch(dev, kernel, *rest):
        if kernel not in by_kernel:
            by_kernel.update({k: (family, options) for (family, _, options), k in
                              dev._kernels.items()})
        family, options = by_kernel[kernel]
        launched.setdefault((family, options), set()).add(kernel.function_name)
        if groups is not None:
            groups.setdefault((family, options, kernel.function_name), set()).add(
                int(np.prod(rest[1])))

    runtime.on_launch(on_launch)
    for dtype in device.dtypes() + (HALF,):
        for test in CASES:
            name = f"{test} {dtype}"
            if only not in name or not test.runs_in(dtype):
                continue
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            with config.override(profile="gpu", vector_bytes=8, **test.forced):
                problems = sanitize.run_case(device, test, dtype, rng)
            if problems:
                raise SystemExit(f"gpu_compile: {name} failed under the GPU profile:\n"
                                 + "\n".join(problems))
    return launched


def compile_family(family: str, options: str, target: str, scratch: Path) -> str:
    """The assembly (PTX or AMDGPU) of kernels/<family>.cl built with `options`."""
    from clconv import runtime

    source = scratch / f"{family}.cl"
    source.write_text(runtime.kernel_source(family))
    out = scratch / f"{family}-{target}.s"
    command = [CLANG, "-x", "cl", "-cl-std=CL1.2", *TARGETS[target], "-Xclang",
               "-finclude-default-header", "-O3", *options.split(), "-S", "-o", str(out),
               str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"gpu_compile: {family}.cl [{options}] does not compile for {target}:\n"
                         f"{done.stderr[-4000:]}")
    return out.read_text()


def nvptx_reports(ptx: str, scratch: Path) -> dict[str, dict]:
    """Per kernel: registers, stack bytes, spill stores/loads (ptxas -v), or from the PTX alone
    (its local depot: private memory) where ptxas is not installed."""
    found: dict[str, dict] = {}
    if shutil.which("ptxas"):
        path = scratch / "kernels.ptx"
        path.write_text(ptx)
        done = subprocess.run(["ptxas", "-arch=sm_80", "-v", str(path), "-o", "/dev/null"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"gpu_compile: ptxas failed:\n{done.stderr[-4000:]}")
        name = None
        for line in done.stderr.splitlines():
            match = re.search(r"Compiling entry function '(\w+)'", line)
            if match:
                name = match.group(1)
                found[name] = {}
            match = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes "
                              r"spill loads", line)
            if match and name:
                found[name].update(stack_bytes=int(match.group(1)),
                                   spill_stores=int(match.group(2)),
                                   spill_loads=int(match.group(3)))
            match = re.search(r"Used (\d+) registers", line)
            if match and name:
                found[name]["registers"] = int(match.group(1))
            match = re.search(r"(\d+) bytes smem", line)
            if match and name:
                found[name]["local_bytes"] = int(match.group(1))
        return found
    for name, body in re.findall(r"\.entry (\w+)\((.*?)\n}\n", ptx, re.S):
        depot = sum(int(n) for n in re.findall(r"__local_depot\d+\[(\d+)\]", body))
        shared = sum(int(n) for n in re.findall(r"\.shared[^\[]*\[(\d+)\]", body))
        found[name] = {"stack_bytes": depot, "local_bytes": shared, "registers": None}
    return found


def amd_reports(asm: str) -> dict[str, dict]:
    """Per kernel, from the AMDGPU metadata: VGPRs, SGPRs, spills, private and LDS bytes."""
    found: dict[str, dict] = {}
    for block in re.split(r"\n  - ", asm.split("amdhsa.kernels:", 1)[-1]):
        name = re.search(r"\.name:\s+(\w+)", block)
        if not name:
            continue

        def number(key):
            match = re.search(rf"\.{key}:\s+(\d+)", block)
            return int(match.group(1)) if match else 0

        found[name.group(1)] = {
            "vgprs": number("vgpr_count"), "sgprs": number("sgpr_count"),
            "vgpr_spills": number("vgpr_spill_count"), "sgpr_spills": number("sgpr_spill_count"),
            "private_bytes": number("private_segment_fixed_size"),
            "local_bytes": number("group_segment_fixed_size")}
    return found


def occupancies(asm: str) -> dict[str, int]:
    """AMD's waves per SIMD estimate, from the comments after each kernel's code."""
    found, current = {}, None
    for line in asm.splitlines():
        match = re.match(r"^(\w+):\s*(;|$)", line)
        if match and not line.startswith((".", "_")):
            current = match.group(1)
        match = re.match(r"; Occupancy: (\d+)", line)
        if match and current:
            found[current] = int(match.group(1))
    return found


# Multiply-add instructions (with the multiply-adds each does) and load instructions, per target.
_NV_FMA = re.compile(r"^\s*(?:@%p\d+\s+)?(?:fma|mad)\.(?:rn\.)?(?:f32|f64|f16|ftz\.f32)(x2)?\b")
_NV_GLOBAL = re.compile(r"^\s*(?:@%p\d+\s+)?ld\.global\b")
_NV_LOCAL = re.compile(r"^\s*(?:@%p\d+\s+)?ld\.shared\b")
_AMD_FMA = re.compile(r"^\s*v_(pk_)?(?:fma|fmac|mac|mad)_(?:f32|f16|f64|legacy_f32|mix\w*?)"
                      r"(?:_e32|_e64|_dpp|_sdwa)?\s")
_AMD_GLOBAL = re.compile(r"^\s*(?:global|buffer|flat|s|s_buffer)_load_")
_AMD_LOCAL = re.compile(r"^\s*ds_read|^\s*ds_load")


def _loops(lines: list[str], label: str, branch: str) -> list[tuple[int, int]]:
    """(first, last) line of each loop: a branch back to a label above it."""
    where = {}
    found = []
    for i, line in enumerate(lines):
        match = re.match(label, line)
        if match:
            where[match.group(1)] = i
        match = re.search(branch, line)
        if match and match.group(1) in where and where[match.group(1)] < i:
            found.append((where[match.group(1)], i))
    return found


def hot_loop(lines: list[str], label: str, branch: str, fma, global_load, local_load) -> dict:
    """The innermost loop (no loop inside it) holding the most multiply-adds: its multiply-adds
    and load instructions (none: the kernel has no loop). Of loops with as many multiply-adds,
    the one with the fewest global loads: a kernel's interior path (unchecked, vector loads),
    which most blocks take, beside its edge path."""
    loops = _loops(lines, label, branch)
    innermost = [(a, b) for a, b in loops
                 if not any(a <= c and d <= b and (c, d) != (a, b) for c, d in loops)]
    best = None
    for first, last in innermost:
        body = lines[first:last + 1]
        fmas = 0
        for line in body:
            match = fma.match(line)
            if match:
                fmas += 2 if match.group(1) else 1
        counts = {"loop_fma": fmas,
                  "loop_global_loads": sum(bool(global_load.match(x)) for x in body),
                  "loop_local_loads": sum(bool(local_load.match(x)) for x in body)}
        if best is None or (fmas, -counts["loop_global_loads"]) > (
                best["loop_fma"], -best["loop_global_loads"]):
            best = counts
    return best or {"loop_fma": None, "loop_global_loads": None, "loop_local_loads": None}


def ptx_loops(ptx: str) -> dict[str, dict]:
    """Per kernel, hot_loop of its PTX."""
    return {name: hot_loop(body.splitlines(), r"^(\$L__BB\d+_\d+):", r"\bbra(?:\.uni)?\s+"
                           r"(\$L__BB\d+_\d+);", _NV_FMA, _NV_GLOBAL, _NV_LOCAL)
            for name, body in re.findall(r"\.entry (\w+)\((.*?)\n}\n", ptx, re.S)}


def amd_loops(asm: str) -> dict[str, dict]:
    """Per kernel, hot_loop of its gfx90a code."""
    found = {}
    for name, body in re.findall(r"\n(\w+):\s*(?:;[^\n]*)?\n(.*?)\n\.Lfunc_end", asm, re.S):
        found[name] = hot_loop(body.splitlines(), r"^(\.LBB\d+_\d+):",
                               r"\bs_(?:c?branch\w*)\s+(\.LBB\d+_\d+)", _AMD_FMA,
                               _AMD_GLOBAL, _AMD_LOCAL)
    return found


def _per_load(fmas, loads) -> str:
    if fmas is None:
        return "no loop"
    return "-" if not loads else f"{fmas / loads:.1f}"


def evidence(reports: list["KernelReport"]) -> str:
    """The Markdown table of --evidence: per kernel, its float32 build with the most
    multiply-adds in the hot loop (the most tiled one), and over all its builds the largest
    registers and local memory, the lowest occupancy and the work-group sizes."""
    rows = ["| kernel | builds | NVPTX regs | gfx90a VGPRs | private B | local B | work-group "
            "| waves/SIMD | NV FMA / global ld | NV FMA / local ld | AMD FMA / global ld "
            "| AMD FMA / local ld |", "|" + "---|" * 12]
    by_kernel: dict[str, list] = {}
    for r in reports:
        by_kernel.setdefault(r.kernel, []).append(r)
    for kernel, builds in sorted(by_kernel.items()):
        floats = [r for r in builds if "-DREAL=float " in r.options + " "] or builds
        top = max(floats, key=lambda r: (r.nvptx.get("loop_fma") or 0))
        n, a = top.nvptx, top.gfx90a
        groups = sorted({g for r in builds for g in r.work_groups})
        shown = (f"{groups[0]}" if len(groups) == 1 else f"{groups[0]}-{groups[-1]}") \
            if groups else "-"
        registers = max((r.nvptx.get("registers") or 0) for r in builds) or "-"
        private = max(max(r.nvptx.get("stack_bytes") or 0, r.gfx90a.get("private_bytes") or 0)
                      for r in builds)
        rows.append(
            f"| `{kernel}` | {len(builds)} | {registers} | "
            f"{max(r.gfx90a.get('vgprs') or 0 for r in builds)} | {private} | "
            f"{max(r.gfx90a.get('local_bytes') or 0 for r in builds)} | {shown} | "
            f"{min((r.gfx90a.get('occupancy') or 0) for r in builds)} | "
            f"{_per_load(n.get('loop_fma'), n.get('loop_global_loads'))} | "
            f"{_per_load(n.get('loop_fma'), n.get('loop_local_loads'))} | "
            f"{_per_load(a.get('loop_fma'), a.get('loop_global_loads'))} | "
            f"{_per_load(a.get('loop_fma'), a.get('loop_local_loads'))} |")
    return "\n".join(rows) + "\n"


_SHOWN = ("REAL", "TILE_K", "TILE_P", "TILE_C", "TILE_M", "TILE_N", "VW", "GROUP_SIZE")


def build_reports(family: str, build: str, kernels, groups: dict,
                  scratch: Path) -> list[KernelReport]:
    """The reports of one build's launched kernels, compiled for both targets in `scratch`."""
    scratch.mkdir()
    ptx_text = compile_family(family, build, "nvptx", scratch)
    ptx, nv_loops = nvptx_reports(ptx_text, scratch), ptx_loops(ptx_text)
    asm = compile_family(family, build, "gfx90a", scratch)
    amd, amd_loop = amd_reports(asm), amd_loops(asm)
    waves = occupancies(asm)
    return [KernelReport(kernel, family, build,
                         dict(ptx.get(kernel, {}), **nv_loops.get(kernel, {})),
                         dict(amd.get(kernel, {}), occupancy=waves.get(kernel),
                              **amd_loop.get(kernel, {})),
                         sorted(groups.get((family, build, kernel), ())))
            for kernel in sorted(kernels)]


def _short(options: str) -> str:
    pairs = dict(re.findall(r"-D(\w+)=(\S+)", options))
    return " ".join(f"{k}={pairs[k]}" for k in _SHOWN if k in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", metavar="SUBSTRING", help="only the matching cases")
    parser.add_argument("--json", help="also write the reports as JSON")
    parser.add_argument("--evidence", metavar="PATH",
                        help="also write the per-kernel Markdown table (see above)")
    options = parser.parse_args()
    missing = [what for what in (CLANG,) if not shutil.which(what)]
    missing += [str(p) for p in (LIBCLC / "nvptx64--nvidiacl.bc", LIBCLC / "amdgcn--amdhsa.bc")
                if not p.exists()]
    if missing:
        print(f"gpu_compile: missing {', '.join(missing)}; `apt-get install clang-15 libclc-15`")
        return 1
    groups: dict = {}
    launched = collect(options.k, groups)
    reports: list[KernelReport] = []
    # (clang runs as a process per build: the builds share the cores)
    with tempfile.TemporaryDirectory(prefix="clconv-gpu-compile-") as directory, \
            ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        jobs = [pool.submit(build_reports, family, build, kernels, groups,
                            Path(directory) / str(i))
                for i, ((family, build), kernels) in enumerate(sorted(launched.items()))]
        for job in jobs:
            reports += job.result()
    print(f"{'kernel':<32}{'build':<44}{'NVPTX regs/stack/spill':>24}   "
          f"{'gfx90a vgpr/sgpr/scratch/spill(s)/LDS/waves':>44}")
    failed = 0
    for r in reports:
        n, a = r.nvptx, r.gfx90a
        print(f"{r.kernel:<32}{_short(r.options):<44}"
              f"{n.get('registers', '-')!s:>10}/{n.get('stack_bytes', 0)}/{n.get('spill_stores', 0):<8}"
              f"   {a.get('vgprs')}/{a.get('sgprs')}/{a.get('private_bytes')}/"
              f"{a.get('vgpr_spills')}({a.get('sgpr_spills')})/{a.get('local_bytes')}/"
              f"{a.get('occupancy')}")
        for problem in r.problems():
            print(f"    FAIL {problem}")
            failed += 1
    kernels = {r.kernel for r in reports}
    print(f"gpu_compile: {len(reports)} builds of {len(kernels)} GPU-path kernels compiled for "
          f"NVPTX and gfx90a; {failed} problems")
    if options.json:
        Path(options.json).write_text(json.dumps([asdict(r) for r in reports], indent=1))
    if options.evidence:
        Path(options.evidence).write_text(evidence(reports))
        print(f"gpu_compile: wrote {options.evidence}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
