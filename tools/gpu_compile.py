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
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
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


def collect(only: str) -> dict[tuple[str, str], set[str]]:
    """(family, build options) -> names of the kernels launched from that build, over the
    sanitizer's cases run with a GPU profile."""
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


_SHOWN = ("REAL", "TILE_K", "TILE_P", "TILE_C", "TILE_M", "TILE_N", "VW", "GROUP_SIZE")


def _short(options: str) -> str:
    pairs = dict(re.findall(r"-D(\w+)=(\S+)", options))
    return " ".join(f"{k}={pairs[k]}" for k in _SHOWN if k in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", metavar="SUBSTRING", help="only the matching cases")
    parser.add_argument("--json", help="also write the reports as JSON")
    options = parser.parse_args()
    missing = [what for what in (CLANG,) if not shutil.which(what)]
    missing += [str(p) for p in (LIBCLC / "nvptx64--nvidiacl.bc", LIBCLC / "amdgcn--amdhsa.bc")
                if not p.exists()]
    if missing:
        print(f"gpu_compile: missing {', '.join(missing)}; `apt-get install clang-15 libclc-15`")
        return 1
    launched = collect(options.k)
    reports: list[KernelReport] = []
    with tempfile.TemporaryDirectory(prefix="clconv-gpu-compile-") as directory:
        scratch = Path(directory)
        for (family, build), kernels in sorted(launched.items()):
            ptx = nvptx_reports(compile_family(family, build, "nvptx", scratch), scratch)
            asm = compile_family(family, build, "gfx90a", scratch)
            amd = amd_reports(asm)
            waves = occupancies(asm)
            for kernel in sorted(kernels):
                report = KernelReport(kernel, family, build, ptx.get(kernel, {}),
                                      dict(amd.get(kernel, {}), occupancy=waves.get(kernel)))
                reports.append(report)
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
