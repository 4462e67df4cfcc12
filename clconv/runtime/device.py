"""Which OpenCL device is used: every device probed once (a tiny kernel built and run), the
choice by CLCONV_DEVICE / PYOPENCL_CTX or GPUs first, and each Device's context, queue, memory
pool and profile (clconv.profile)."""
from __future__ import annotations

import logging
import threading
import warnings

import numpy as np
import pyopencl as cl
import pyopencl.tools

from .. import config
from ..profile import Profile, derive

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
        # Profiling on, where the driver allows it: the benchmarks and the tuner time kernels
        # from its events (runtime.device_ms); in-order, as every op assumes.
        try:
            self.queue = cl.CommandQueue(
                self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
            self.profiling = True
        except cl.Error:
            self.queue = cl.CommandQueue(self.context)
            self.profiling = False
        self.allocator = cl.tools.MemoryPool(cl.tools.ImmediateAllocator(self.queue))
        self._set_profile(derive(cl_device, 1))
        self.max_alloc_bytes = self.base_profile.max_alloc_bytes
        self.global_mem_bytes = self.base_profile.global_memory_bytes
        # Kernels are shared by every thread using this device; setting a kernel's arguments and
        # enqueueing it must happen as one step, so launches and builds hold this lock.
        self.lock = threading.RLock()
        self._kernels: dict[tuple, cl.Kernel] = {}
        self._limits: dict = {}  # cl.Kernel -> enqueue.KernelLimits
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


def platforms() -> list[tuple[str, list[tuple[cl.Device, str]]]]:
    """Every OpenCL platform as ("name (version)", [(its device, "name [type]"), ...]), for
    `python -m clconv devices`."""
    return [(f"{p.name.strip()} ({p.version.strip()})",
             [(d, f"{d.name.strip()} [{cl.device_type.to_string(d.type)}]")
              for d in platform_devices(p)])
            for p in cl.get_platforms()]


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
    for clear in _cache_clearers:
        clear()
