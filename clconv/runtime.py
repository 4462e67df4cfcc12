"""Device choice, allocation and the one place where kernels are built and launched.

Everything OpenCL-specific lives here: which device is used and its profile (clconv.profile), how
memory is allocated (a pyopencl MemoryPool per device), how a kernel family (`kernels/<family>.cl`,
its headers inlined) is compiled with its `-D` defines (memoized per device and on disk through
pyopencl's binary cache), what each built kernel's limits are, and how it is enqueued.
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pyopencl as cl
import pyopencl.tools

from . import config
from .profile import Profile, derive

log = logging.getLogger("clconv")
INT32_MAX = 2**31 - 1  # kernels index with 32-bit ints


def debugging() -> bool:
    """Whether builds, algorithm choices and launches are logged (CLCONV_DEBUG=1, or
    config.override(debug=True))."""
    return config.current().debug or log.isEnabledFor(logging.DEBUG)


def debug(message: str, *args) -> None:
    """Log `message` when debugging (to stderr, prefixed "clconv: ", unless the application
    configured the "clconv" logger itself)."""
    if not debugging():
        return
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("clconv: %(message)s"))
        log.addHandler(handler)
    if log.getEffectiveLevel() > logging.DEBUG:
        log.setLevel(logging.DEBUG)
    log.debug(message, *args)


class KernelBuildError(RuntimeError):
    """A kernel family failed to compile; the message has the device, options and compiler log."""


class KernelBuildWarning(UserWarning):
    """A kernel family compiled with warnings; the message has the compiler's log."""


class LaunchError(RuntimeError):
    """A launch that does not fit the kernel's or the device's limits (the message names both)."""


def kernels_dir() -> Path:
    """Where the `.cl` sources are: inside the installed wheel, or `kernels/` of a checkout."""
    try:
        path = Path(str(resources.files("clconv.kernels")))
        if (path / "conv.cl").is_file():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "kernels"


# A tiny program every candidate device must build and run correctly before it is used: a broken
# platform (PyPI's pocl-binary-distribution 3.0 on some CPUs) fails here instead of at the first op.
# Its kernel also tells the preferred multiple of a work-group size (for the profile).
_PROBE_SOURCE = """
__kernel void probe(__global float *out) { int i = get_global_id(0); out[i] = 2.0f * i + 1.0f; }
"""


class Device:
    """One usable OpenCL device with its context, queue, memory pool, profile and program cache."""

    def __init__(self, cl_device: cl.Device):
        self.cl_device = cl_device
        self.name = cl_device.name.strip()
        self.platform_name = cl_device.platform.name.strip()
        self.context = cl.Context([cl_device])
        self.queue = cl.CommandQueue(self.context)
        self.allocator = cl.tools.MemoryPool(cl.tools.ImmediateAllocator(self.queue))
        self._set_profile(derive(cl_device, 1))
        self.max_alloc_bytes = self.base_profile.max_alloc_bytes
        self.global_mem_bytes = self.base_profile.global_memory_bytes
        # Kernels are shared by every thread using this device; setting a kernel's arguments and
        # enqueueing it must happen as one step, so launches and builds hold this lock.
        self.lock = threading.RLock()
        self._kernels: dict[tuple, cl.Kernel] = {}
        self._limits: dict[cl.Kernel, KernelLimits] = {}
        self._group_sizes: dict[tuple, int] = {}
        self._launch_shapes: dict[tuple, tuple] = {}
        self.builds = 0  # number of programs compiled (or loaded from disk) in this process
        self.build_log: list[tuple[str, str, float]] = []  # (family, options, seconds)
        # Bound to kernel arguments that a launch does not read (no bias, an empty tensor).
        self.placeholder = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, 16)

    def __repr__(self) -> str:
        return f"<clconv.Device {self.name!r} on {self.platform_name!r}>"

    def _set_profile(self, profile: Profile) -> None:
        self.base_profile = profile
        self._profiles: dict[tuple, Profile] = {}
        self.has_fp64 = profile.has_fp64

    @property
    def profile(self) -> Profile:
        """The device's profile, of the kind CLCONV_PROFILE / override(profile=...) forces (and
        with the vector width CLCONV_VECTOR_BYTES forces)."""
        settings = config.current()
        key = (settings.profile, settings.vector_bytes)
        profile = self._profiles.get(key)
        if profile is None:
            profile = self.base_profile.as_kind(settings.profile or self.base_profile.kind)
            if settings.vector_bytes:
                profile = profile.with_vector_bytes(settings.vector_bytes)
            self._profiles[key] = profile
        return profile

    @property
    def is_gpu(self) -> bool:
        return self.profile.is_gpu

    @property
    def kind(self) -> str:
        return self.profile.kind

    def dtypes(self) -> tuple[np.dtype, ...]:
        """The floating-point dtypes this device computes in."""
        if self.has_fp64:
            return (np.dtype(np.float32), np.dtype(np.float64))
        return (np.dtype(np.float32),)

    def synchronize(self) -> None:
        self.queue.finish()


def _probe(cl_device: cl.Device) -> Device:
    """Build and run the probe kernel; raises if the device cannot compile or compute."""
    device = Device(cl_device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cl.CompilerWarning)
        program = cl.Program(device.context, _PROBE_SOURCE).build()
    kernel = program.probe
    multiple = kernel.get_work_group_info(
        cl.kernel_work_group_info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, cl_device)
    device._set_profile(derive(cl_device, int(multiple)))
    out = np.empty(4, np.float32)
    buf = cl.Buffer(device.context, cl.mem_flags.WRITE_ONLY, out.nbytes)
    kernel(device.queue, (4,), None, buf)
    cl.enqueue_copy(device.queue, out, buf)
    if not np.array_equal(out, [1, 3, 5, 7]):
        raise RuntimeError(f"probe kernel computed {out}, expected [1 3 5 7]")
    return device


_usable: dict[cl.Device, Device] = {}
_broken: dict[cl.Device, str] = {}
_current: Device | None = None
_state_lock = threading.Lock()


def platform_devices(platform: cl.Platform) -> list[cl.Device]:
    """A platform's devices; none, silently, for a platform without any (Mesa's Clover without
    AMD hardware, Rusticl without RUSTICL_ENABLE)."""
    try:
        return platform.get_devices()
    except cl.Error as err:
        if err.code != cl.status_code.DEVICE_NOT_FOUND:
            warnings.warn(f"clconv: skipping platform {platform.name!r}: {err}", stacklevel=4)
        return []


def _all_cl_devices() -> list[cl.Device]:
    try:
        platforms = cl.get_platforms()
    except cl.Error as err:
        warnings.warn(f"clconv: no OpenCL platform could be listed: {err}", stacklevel=3)
        return []
    return [d for platform in platforms for d in platform_devices(platform)]


def _usable_device(cl_device: cl.Device) -> Device | None:
    """The Device for `cl_device` if its probe build passes; else None, warning once with the name."""
    if cl_device in _usable:
        return _usable[cl_device]
    if cl_device in _broken:
        return None
    try:
        device = _probe(cl_device)
    except Exception as err:  # any failure means: do not use this device
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _broken[cl_device] = reason
        warnings.warn(
            f"clconv: skipping OpenCL device {cl_device.name.strip()!r} on platform "
            f"{cl_device.platform.name.strip()!r}: test build failed ({reason})",
            stacklevel=4,
        )
        return None
    _usable[cl_device] = device
    return device


def devices() -> list[Device]:
    """Every OpenCL device on this machine whose test build passes, GPUs first."""
    found = [d for d in map(_usable_device, _all_cl_devices()) if d is not None]
    return sorted(found, key=lambda d: d.base_profile.device_kind != "gpu")


def device_state(cl_device: cl.Device) -> str:
    """"usable", or why the device is skipped (for `python -m clconv devices`)."""
    if cl_device in _usable:
        return "usable"
    return f"skipped: {_broken.get(cl_device, 'not probed')}"


def _matches(spec: str, index: int, name: str) -> bool:
    spec = spec.strip()
    return spec == str(index) if spec.isdigit() else spec.lower() in name.lower()


def _select(spec: str, variable: str) -> Device:
    """Pick a device from `platform[:device]` (indices or name parts), `gpu`, `cpu` or a name part."""
    cl_devices = _all_cl_devices()
    if spec.lower() in ("gpu", "cpu"):
        wanted = cl.device_type.GPU if spec.lower() == "gpu" else cl.device_type.CPU
        candidates = [d for d in cl_devices if d.type & wanted]
    elif ":" in spec or spec.isdigit():
        platform_spec, _, device_spec = spec.partition(":")
        candidates = []
        for p_index, platform in enumerate(cl.get_platforms()):
            if not _matches(platform_spec, p_index, platform.name):
                continue
            for d_index, cl_device in enumerate(platform_devices(platform)):
                if not device_spec or _matches(device_spec, d_index, cl_device.name):
                    candidates.append(cl_device)
    else:
        candidates = [d for d in cl_devices if spec.lower() in d.name.lower()
                      or spec.lower() in d.platform.name.lower()]
    for cl_device in candidates:
        device = _usable_device(cl_device)
        if device is not None:
            return device
    names = ", ".join(repr(d.name.strip()) for d in cl_devices) or "none"
    raise RuntimeError(f"clconv: {variable}={spec!r} matches no usable OpenCL device "
                       f"(devices on this machine: {names})")


def _default_device() -> Device:
    settings = config.current()
    for variable, spec in (("CLCONV_DEVICE", settings.device),
                           ("PYOPENCL_CTX", settings.pyopencl_ctx)):
        if spec:
            return _select(spec, variable)
    usable = devices()
    if not usable:
        tried = "; ".join(f"{d.name.strip()!r}: {why}" for d, why in _broken.items()) or "none found"
        raise RuntimeError(f"clconv: no usable OpenCL device (tried: {tried}). On Debian, "
                           "`apt-get install pocl-opencl-icd ocl-icd-libopencl1` gives a CPU device.")
    return usable[0]


def get_device() -> Device:
    """The device ops run on when no tensor argument says otherwise."""
    global _current
    with _state_lock:
        if _current is None:
            _current = _default_device()
            debug("using %s", _current)
        return _current


def set_device(device: Device | str | int) -> Device:
    """Switch the default device: a Device from `devices()`, its index there, or a name part."""
    global _current
    if isinstance(device, int):
        usable = devices()
        if not 0 <= device < len(usable):
            raise ValueError(f"set_device: index {device} out of range for {len(usable)} devices")
        device = usable[device]
    elif isinstance(device, str):
        device = _select(device, "set_device")
    elif not isinstance(device, Device):
        raise TypeError(f"set_device: expected a Device, index or name, got {type(device).__name__}")
    with _state_lock:
        _current = device
    return device


_cache_clearers: list = []


def on_clear_caches(clear) -> None:
    """Register `clear()` to run with clear_caches (caches above the runtime: plans, choices)."""
    _cache_clearers.append(clear)


def clear_caches() -> None:
    """Forget every device, context, compiled program and cached plan (the next op starts
    afresh)."""
    global _current
    with _state_lock:
        _usable.clear()
        _broken.clear()
        _current = None
    _sources.clear()
    _headers.clear()
    for clear in _cache_clearers:
        clear()


# --- building -------------------------------------------------------------------------------

def build_options(defines: dict) -> str:
    """`-DNAME=value` for each define, sorted, so the same defines give the same cache key."""
    return " ".join(f"-D{name}={value}" for name, value in sorted(defines.items()))


def dtype_defines(dtype: np.dtype) -> dict:
    """The element-type defines of a kernel computing in `dtype` (float32 or float64)."""
    if np.dtype(dtype) == np.float16:  # a storage type: ops convert (clconv/ops/storage.py)
        raise TypeError("float16 tensors reached a float32 kernel unconverted; call the op "
                        "through clconv.functional")
    if np.dtype(dtype) == np.float64:
        return {"REAL": "double", "REAL_IS_DOUBLE": 1}
    return {"REAL": "float", "REAL_IS_DOUBLE": 0}


def vector_defines(device: Device, dtype: np.dtype, lanes: int | None = None) -> dict:
    """The element type and VW, the lanes of the CPU kernels' explicit vectors: as many as fit
    one of the device's vector registers (clconv.profile), unless `lanes` says otherwise."""
    lanes = lanes or device.profile.vector_lanes(np.dtype(dtype).itemsize)
    return {**dtype_defines(dtype), "VW": lanes}


_sources: dict[str, str] = {}
_headers: dict[str, set] = {}
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[^\n]*$', re.MULTILINE)


def kernel_source(family: str) -> str:
    """kernels/<family>.cl with its headers inlined (each once, where first included): the
    program's text is then all a driver sees, so a driver that caches by source text sees a
    header edit, and no include path (which a space in the install directory would break) is
    needed."""
    source = _sources.get(family)
    if source is None:
        directory = kernels_dir()
        included: set[str] = set()

        def inline(match: re.Match) -> str:
            name = match.group(1)
            if name in included:
                return f"// ({name}: inlined above)"
            included.add(name)
            text = (directory / name).read_text()
            return f"// --- {name} ---\n{_INCLUDE.sub(inline, text)}\n// --- end of {name} ---"

        source = _sources[family] = _INCLUDE.sub(inline, (directory / f"{family}.cl").read_text())
        _headers[family] = included
    return source


def language_options(profile: Profile) -> str:
    """-cl-std=CL1.2 where the device compiles OpenCL C 1.2 or newer: the kernels are written
    to it, and a device that defaults to 2.0 or 3.0 then holds them to it."""
    return "-cl-std=CL1.2" if profile.opencl_c_version >= (1, 2) else ""


def get_kernel(device: Device, family: str, name: str, **defines) -> cl.Kernel:
    """Kernel `name` of `kernels/<family>.cl` built for `device` with `defines` (memoized).

    A family that includes vector.h gets VW, its vectors' lanes, from the device's profile
    unless the defines give it: every kernel of the program is compiled, and none may use
    vectors wider than the device's registers."""
    if "VW" not in defines:
        kernel_source(family)
        if "vector.h" in _headers.get(family, ()):
            itemsize = 8 if defines.get("REAL") == "double" else 4
            defines["VW"] = device.profile.vector_lanes(itemsize)
    options = build_options(defines)
    key = (family, name, options)
    kernel = device._kernels.get(key)
    if kernel is not None:
        return kernel
    with device.lock:
        kernel = device._kernels.get(key)
        if kernel is None:
            program = _build(device, family, options)
            for each in program.all_kernels():
                device._kernels[(family, each.function_name, options)] = each
            kernel = device._kernels.get(key)
            if kernel is None:
                raise KernelBuildError(f"kernels/{family}.cl has no kernel named {name!r}")
    return kernel


_build_hooks: list = []


def on_build(hook) -> None:
    """Register `hook(device, family, options)`, called after each program build (the offline
    GPU compile check collects the GPU paths' build options with it)."""
    _build_hooks.append(hook)


def _build(device: Device, family: str, options: str) -> cl.Program:
    full_options = f"{options} {language_options(device.base_profile)}".strip()
    start = time.perf_counter()
    program = cl.Program(device.context, kernel_source(family))
    try:
        # pyopencl would print the compiler's log as a warning of its own; it is read below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cl.CompilerWarning)
            program.build(options=full_options)
    except cl.Error as err:
        raise KernelBuildError(
            f"kernels/{family}.cl failed to build on {device.name!r} ({device.platform_name}) "
            f"with options {full_options!r}:\n{err}") from None
    seconds = time.perf_counter() - start
    device.builds += 1
    device.build_log.append((family, options, seconds))
    build_log = _build_log(program, device)
    debug("built %s.cl [%s] on %s in %.1f ms%s", family, full_options, device.name, 1e3 * seconds,
          f"\n{build_log}" if build_log else "")
    if re.search(r"\bwarning\b", build_log, re.IGNORECASE):
        warnings.warn(KernelBuildWarning(
            f"kernels/{family}.cl built with warnings on {device.name!r} with options "
            f"{full_options!r}:\n{build_log}"), stacklevel=4)
    for hook in _build_hooks:
        hook(device, family, options)
    return program


def _build_log(program: cl.Program, device: Device) -> str:
    try:
        text = program.get_build_info(device.cl_device, cl.program_build_info.LOG) or ""
    except cl.Error:
        return ""
    return text.strip()


# --- kernel limits --------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelLimits:
    """What the driver says of one built kernel on one device."""
    work_group_size: int            # CL_KERNEL_WORK_GROUP_SIZE: the most work-items per group
    preferred_multiple: int         # CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE
    local_memory_bytes: int         # CL_KERNEL_LOCAL_MEM_SIZE: its static __local arrays
    private_memory_bytes: int       # CL_KERNEL_PRIVATE_MEM_SIZE
    required_local_size: tuple      # reqd_work_group_size, or ()


def kernel_limits(device: Device, kernel: cl.Kernel) -> KernelLimits:
    """The limits of `kernel` on `device`, queried once."""
    limits = device._limits.get(kernel)
    if limits is None:
        info, d = cl.kernel_work_group_info, device.cl_device

        def query(what, default=0):
            try:
                return kernel.get_work_group_info(what, d)
            except cl.Error:
                return default

        required = tuple(int(s) for s in query(info.COMPILE_WORK_GROUP_SIZE, (0, 0, 0)))
        limits = device._limits[kernel] = KernelLimits(
            work_group_size=int(query(info.WORK_GROUP_SIZE, device.base_profile.max_work_group_size)),
            preferred_multiple=int(query(info.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, 1)) or 1,
            local_memory_bytes=int(query(info.LOCAL_MEM_SIZE)),
            private_memory_bytes=int(query(info.PRIVATE_MEM_SIZE)),
            required_local_size=required if any(required) else ())
    return limits


def group_size(device: Device, wanted: int) -> int:
    """A power of two at most `wanted` and the device's work-group limit: the size of the
    fixed-size work-groups (reductions) built with it as a define."""
    limit = min(int(wanted), device.base_profile.max_work_group_size)
    return 1 << (max(1, limit).bit_length() - 1)


def fixed_group_kernel(device: Device, family: str, name: str, wanted: int,
                       **defines) -> tuple[cl.Kernel, int]:
    """(kernel, GROUP_SIZE) for a kernel whose work-groups have the size it is built with
    (reqd_work_group_size(GROUP_SIZE), a power of two): `wanted` within the device's limit, or
    less where the built kernel allows fewer work-items (drivers lower a kernel's limit below
    the device's for its registers or local memory: Rusticl's llvmpipe to 32 for some)."""
    key = (family, name, build_options(defines), int(wanted))
    group = device._group_sizes.get(key)
    if group is None:
        group = group_size(device, wanted)
        while True:
            kernel = get_kernel(device, family, name, GROUP_SIZE=group, **defines)
            limit = kernel_limits(device, kernel).work_group_size
            if limit >= group or group == 1:
                break
            group = 1 << (max(1, limit).bit_length() - 1)
        device._group_sizes[key] = group
    return get_kernel(device, family, name, GROUP_SIZE=group, **defines), group


def _fit_local(limits: KernelLimits, device: Device, local: tuple) -> tuple:
    """`local` shrunk (halving its largest dimension) until it fits the kernel's work-group limit
    and the device's per-dimension limits."""
    local = list(local)
    item_limits = device.base_profile.max_work_item_sizes
    for i, size in enumerate(local):
        if i < len(item_limits):
            local[i] = min(size, item_limits[i])
    while math.prod(local) > limits.work_group_size:
        largest = max(range(len(local)), key=lambda i: local[i])
        local[largest] = max(1, local[largest] // 2)
    return tuple(local)


def _launch_error(kernel, device, global_size, local_size, why) -> LaunchError:
    limits = kernel_limits(device, kernel)
    profile = device.base_profile
    return LaunchError(
        f"{kernel.function_name}: cannot launch global size {tuple(global_size)} in work-groups "
        f"of {tuple(local_size)} on {device.name!r}: {why} (kernel limits: {limits.work_group_size} "
        f"work-items per group, {limits.local_memory_bytes} bytes of static local memory; device: "
        f"work-items {profile.max_work_item_sizes}, {profile.local_memory_bytes} bytes of local "
        f"memory)")


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


_launch_hooks: list = []


def on_launch(hook) -> None:
    """Register `hook(device, kernel, global_size, local_size, args)`, called before each launch
    (the sanitizer counts launches with it)."""
    _launch_hooks.append(hook)


def _launch_shape(device: Device, kernel: cl.Kernel, global_size, local_size) -> tuple:
    """The work-group shape `kernel` launches with when asked for `local_size` (see launch)."""
    limits = kernel_limits(device, kernel)
    local_size = tuple(max(1, int(l)) for l in local_size)
    if limits.required_local_size:
        required = limits.required_local_size[:len(local_size)]
        if local_size != required or math.prod(required) > limits.work_group_size:
            raise _launch_error(kernel, device, global_size, local_size,
                                f"the kernel requires work-groups of {required}")
    elif math.prod(local_size) > limits.work_group_size or any(
            l > m for l, m in zip(local_size, device.base_profile.max_work_item_sizes)):
        local_size = _fit_local(limits, device, local_size)
    return local_size


def launch(device: Device, kernel: cl.Kernel, global_size, local_size, *args) -> None:
    """Enqueue `kernel` over `global_size` rounded up to whole work-groups (kernels bound-check).

    A kernel whose work-groups may have any size gets `local_size` shrunk to fit its limits; one
    with a required size (reqd_work_group_size) must get that size. LaunchError where a launch
    cannot fit: a required size past the kernel's limit, more local memory than the device has,
    or a rounded-up global size past the kernels' 32-bit indices. (The checks of a kernel and
    work-group shape are made once: launches are on every op's path.)
    """
    shapes = device._launch_shapes
    key = (kernel, tuple(local_size))
    shape = shapes.get(key)
    if shape is None:
        shape = shapes[key] = _launch_shape(device, kernel, global_size, local_size)
    global_size = tuple(-(-int(g) // l) * l for g, l in zip(global_size, shape))
    if 0 in global_size:
        return
    if max(global_size) > INT32_MAX:
        raise _launch_error(kernel, device, global_size, shape,
                            "a dimension passes the kernels' 32-bit work-item index")
    with device.lock:
        local_args = getattr(kernel, "_clconv_local_args", None)
        if local_args is None:
            # Declared once: pyopencl then packs scalars itself (~1 us a launch) instead of
            # taking each through the buffer protocol (~5 us per scalar argument).
            kernel.set_scalar_arg_dtypes(
                [None if isinstance(a, (cl.MemoryObjectHolder, cl.LocalMemory)) else a.dtype
                 for a in args])
            local_args = kernel._clconv_local_args = tuple(
                i for i, a in enumerate(args) if isinstance(a, cl.LocalMemory))
        if local_args:
            needed = kernel_limits(device, kernel).local_memory_bytes + sum(
                args[i].size for i in local_args)
            if needed > device.base_profile.local_memory_bytes:
                raise _launch_error(kernel, device, global_size, shape,
                                    f"it needs {needed} bytes of local memory")
        for hook in _launch_hooks:
            hook(device, kernel, global_size, shape, args)
        kernel.set_args(*args)
        cl.enqueue_nd_range_kernel(device.queue, kernel, global_size, shape)
    if debugging():
        start = time.perf_counter()
        device.queue.finish()
        debug("launched %s global=%s local=%s in %.3f ms", kernel.function_name,
              global_size, shape, 1e3 * (time.perf_counter() - start))


# --- memory ---------------------------------------------------------------------------------

def workspace_limit(device: Device) -> int:
    """The most bytes one op may use for a scratch copy (a padded input, say) before it splits
    its work: CLCONV_WORKSPACE_MB, else a quarter of the device's memory, within its largest
    allocation."""
    megabytes = config.current().workspace_mb
    limit = int(megabytes * 2**20) if megabytes is not None else device.global_mem_bytes // 4
    return min(limit, device.max_alloc_bytes)


def scratch(device: Device, nbytes: int) -> cl.Buffer:
    """A scratch buffer of at least `nbytes` from the device's pool (kernels' workspaces that
    never become tensors); returned to the pool when the last reference goes."""
    return device.allocator(max(1, int(nbytes)))


def local_memory(nbytes: int) -> cl.LocalMemory:
    """A kernel argument of `nbytes` of __local memory."""
    return cl.LocalMemory(max(1, int(nbytes)))


def copy(device: Device, dest, src, byte_count: int, dest_offset: int = 0,
         src_offset: int = 0) -> None:
    """Copy `byte_count` bytes between two device buffers (enqueued, in order)."""
    if byte_count:
        cl.enqueue_copy(device.queue, dest, src, byte_count=byte_count, dst_offset=dest_offset,
                        src_offset=src_offset)
