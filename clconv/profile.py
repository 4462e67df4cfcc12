"""A device's profile: everything clconv's choices read about a device, derived once from OpenCL.

    clconv.get_device().profile          # python -m clconv devices prints it

Every algorithm choice, tuning lookup and launch shape reads the profile, never the device's
name or `cl_device` directly: what differs between devices is either derived here or looked up in
the tuning table (clconv.tuning) under the profile's keys. `CLCONV_PROFILE=gpu` (or
`config.override(profile="gpu")`) gives a CPU device a GPU's profile kind, so that GPU code paths
run, and are tested, where no GPU is.

For CPUs the vector width comes from the instruction set the OpenCL compiler targets. PoCL names
its LLVM target CPU in the device version ("HSTR: pthread-x86_64-pc-linux-gnu-haswell") and in the
device name ("pthread-haswell-AMD EPYC ..."); Debian's PoCL reports 16 preferred float lanes for
every x86 target, so that figure is used only for devices whose target is not known here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

import pyopencl as cl

# LLVM x86 CPU names by widest vector extension. (PoCL's distro builds, Debian's among them,
# name one of: x86-64, core2, penryn, sandybridge, ivybridge, bdver1, haswell, skylake-avx512.)
_AVX512 = {"skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client",
           "icelake-server", "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids",
           "graniterapids", "graniterapids-d", "diamondrapids", "znver4", "znver5", "knl",
           "knm", "x86-64-v4"}
_AVX2 = {"haswell", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake",
         "arrowlake", "arrowlake-s", "lunarlake", "gracemont", "znver1", "znver2", "znver3",
         "x86-64-v3", "bdver4"}
_AVX = {"sandybridge", "ivybridge", "bdver1", "bdver2", "bdver3", "btver2"}
# Vector register file by instruction set: (bytes per register, registers).
_ISA_REGISTERS = {"avx512": (64, 32), "avx2": (32, 16), "avx": (32, 16), "sse": (16, 16),
                  "neon": (16, 32)}


def _isa(target: Optional[str]) -> Optional[str]:
    if not target:
        return None
    if target in _AVX512:
        return "avx512"
    if target in _AVX2:
        return "avx2"
    if target in _AVX:
        return "avx"
    if target in ("x86-64", "core2", "penryn", "nehalem", "westmere", "x86-64-v2", "generic"):
        return "sse"
    if target.startswith(("cortex-", "neoverse", "apple-", "armv8", "generic-arm")):
        return "neon"
    return None


def pocl_target(version: str, name: str) -> Optional[str]:
    """The LLVM CPU PoCL compiles for, from its device version or name, else None."""
    match = re.search(r"HSTR:\s*\S*?-(?:pc|unknown|apple)-[a-z]+-[a-z0-9]+-(\S+)", version)
    if match:
        return match.group(1)
    match = re.match(r"(?:pthread|basic|cpu)-(.+?)-[A-Z]", name)  # pthread-haswell-AMD EPYC ...
    return match.group(1) if match else None


def _vendor_key(platform: str, vendor: str, name: str) -> str:
    """The tuning table's vendor level: the implementation for CPU runtimes that run anywhere
    (PoCL, Mesa's Rusticl, Oclgrind), else the hardware vendor."""
    text = f"{platform} {vendor}".lower()
    for key, words in (("pocl", ("portable computing language", "pocl")),
                       ("rusticl", ("rusticl",)), ("oclgrind", ("oclgrind",)),
                       ("nvidia", ("nvidia",)), ("amd", ("advanced micro devices", "amd")),
                       ("intel", ("intel",)), ("apple", ("apple",)), ("arm", ("arm",)),
                       ("qualcomm", ("qualcomm",))):
        if any(word in text for word in words):
            return key
    return "other"


def _opencl_c_version(text: str) -> tuple[int, int]:
    match = re.search(r"OpenCL C (\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (1, 0)


@dataclass(frozen=True)
class Profile:
    """What clconv knows of one device (see the module's docstring)."""
    name: str
    kind: str                       # "gpu" or "cpu" (accelerators count as GPUs), or forced
    device_kind: str                # what the device reports, whatever `kind` is forced to
    vendor: str                     # the device's vendor string
    vendor_key: str                 # the tuning table's vendor level (see _vendor_key)
    platform: str
    platform_version: str
    driver_version: str
    device_version: str
    opencl_c_version: tuple         # (major, minor)
    compute_units: int
    native_float_lanes: int
    preferred_float_lanes: int
    max_work_group_size: int
    max_work_item_sizes: tuple
    preferred_multiple: int         # of a work-group size (from a probe kernel)
    local_memory_bytes: int
    local_memory_dedicated: bool    # CL_LOCAL (on-chip) rather than CL_GLOBAL (ordinary RAM)
    global_memory_bytes: int
    max_alloc_bytes: int
    cache_bytes: int
    has_fp64: bool
    has_fp16: bool
    target: Optional[str]           # CPUs: the compiler's target CPU (PoCL: LLVM's name)
    isa: Optional[str]              # CPUs: avx512, avx2, avx, sse, neon, or None
    vector_bytes: int               # the widest vector that fits one register
    vector_registers: int           # how many such registers (CPUs; a guess for GPUs)
    loop_limit: Optional[int] = None  # iterations a work-item's loop may run (None: no limit)
    forced: bool = False            # kind forced by CLCONV_PROFILE / override(profile=...)

    @property
    def is_gpu(self) -> bool:
        return self.kind == "gpu"

    def vector_lanes(self, itemsize: int) -> int:
        """Elements of `itemsize` bytes per register-wide vector: 2, 4, 8 or 16."""
        return max(2, min(16, self.vector_bytes // itemsize))

    def tuning_keys(self) -> list[str]:
        """The table's device level, most general first (clconv.tuning)."""
        keys = []
        if self.isa:
            keys.append(f"isa:{self.isa}")
        if self.target:
            keys.append(f"target:{self.target}")
        keys += [self.name, f"{self.name} | driver {self.driver_version}"]
        return keys

    def as_kind(self, kind: str) -> "Profile":
        """This profile with its kind forced (CLCONV_PROFILE)."""
        return self if kind == self.kind else replace(self, kind=kind, forced=True)

    def with_vector_bytes(self, vector_bytes: int) -> "Profile":
        """This profile with the CPU kernels' vector width forced (CLCONV_VECTOR_BYTES)."""
        if vector_bytes == self.vector_bytes:
            return self
        return replace(self, vector_bytes=vector_bytes, forced=True)

    def lines(self) -> list[str]:
        """The profile as `python -m clconv devices` prints it."""
        mib = 2**20
        forced = f" (forced; the device is a {self.device_kind})" if self.kind != self.device_kind \
            else ""
        target = f", target {self.target} ({self.isa or 'unknown ISA'})" if self.target else ""
        return [
            f"kind {self.kind}{forced}, vendor {self.vendor} (table: {self.vendor_key}), "
            f"driver {self.driver_version}, OpenCL C {self.opencl_c_version[0]}."
            f"{self.opencl_c_version[1]}",
            f"{self.compute_units} compute units, float lanes native {self.native_float_lanes} / "
            f"preferred {self.preferred_float_lanes}; vectors of {self.vector_bytes} bytes x "
            f"{self.vector_registers} registers{target}",
            f"work-groups up to {self.max_work_group_size} (items {self.max_work_item_sizes}), "
            f"multiple of {self.preferred_multiple}; local memory {self.local_memory_bytes // 1024} "
            f"KiB ({'on chip' if self.local_memory_dedicated else 'in global memory'})",
            f"global memory {self.global_memory_bytes / mib:,.0f} MiB, largest allocation "
            f"{self.max_alloc_bytes / mib:,.0f} MiB, cache {self.cache_bytes / mib:,.1f} MiB; "
            f"fp64 {'yes' if self.has_fp64 else 'no'}, fp16 {'yes' if self.has_fp16 else 'no'}"
            + (f"; loops end after {self.loop_limit:,} iterations" if self.loop_limit else ""),
        ]


def derive(cl_device: cl.Device, preferred_multiple: int) -> Profile:
    """The profile of `cl_device`; `preferred_multiple` comes from a built probe kernel."""
    d = cl_device
    device_kind = "cpu" if d.type & cl.device_type.CPU and not d.type & cl.device_type.GPU \
        else "gpu"
    name, platform = d.name.strip(), d.platform.name.strip()
    version = d.version.strip()
    vendor_key = _vendor_key(platform, d.vendor, name)
    target = pocl_target(version, name) if vendor_key == "pocl" and device_kind == "cpu" else None
    isa = _isa(target)
    native = int(d.native_vector_width_float) or 1
    preferred = int(d.preferred_vector_width_float) or 1
    if isa:
        vector_bytes, registers = _ISA_REGISTERS[isa]
    elif device_kind == "cpu":
        # What the driver reports, within SSE's 16 and AVX-512's 64 bytes, 16 registers.
        vector_bytes, registers = max(16, min(64, 4 * native)), 16
    else:
        vector_bytes, registers = max(8, min(64, 4 * preferred)), 64
    extensions = d.extensions.split()
    # Mesa's llvmpipe (Rusticl's and Clover's software device) stops a loop once its iterations,
    # counted over the whole work-item, reach 65,535 (gallivm's loop limiter): the OpenCL
    # specification sets no such limit, so algorithms whose loops grow with the problem check it.
    loop_limit = 65535 if name.lower().startswith("llvmpipe") else None
    return Profile(
        name=name, kind=device_kind, device_kind=device_kind, vendor=d.vendor.strip(),
        vendor_key=vendor_key, platform=platform, platform_version=d.platform.version.strip(),
        driver_version=d.driver_version.strip(), device_version=version,
        opencl_c_version=_opencl_c_version(d.opencl_c_version), compute_units=int(d.max_compute_units),
        native_float_lanes=native, preferred_float_lanes=preferred,
        max_work_group_size=int(d.max_work_group_size),
        max_work_item_sizes=tuple(int(s) for s in d.max_work_item_sizes),
        preferred_multiple=int(preferred_multiple), local_memory_bytes=int(d.local_mem_size),
        local_memory_dedicated=d.local_mem_type == cl.device_local_mem_type.LOCAL,
        global_memory_bytes=int(d.global_mem_size), max_alloc_bytes=int(d.max_mem_alloc_size),
        cache_bytes=int(d.global_mem_cache_size), has_fp64="cl_khr_fp64" in extensions,
        has_fp16="cl_khr_fp16" in extensions, target=target, isa=isa, vector_bytes=vector_bytes,
        vector_registers=registers, loop_limit=loop_limit)
