"""Device choice, allocation and the one place where kernels are built and launched.

Everything OpenCL-specific lives here: which device is used, how memory is allocated (a pyopencl
MemoryPool per device), how a kernel family (`kernels/<family>.cl`) is compiled with its `-D`
defines (memoized per device and on disk through pyopencl's binary cache) and how it is enqueued.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pyopencl as cl
import pyopencl.tools

log = logging.getLogger("clconv")
if os.environ.get("CLCONV_DEBUG"):
    logging.basicConfig(format="clconv: %(message)s")
    log.setLevel(logging.DEBUG)


class KernelBuildError(RuntimeError):
    """A kernel family failed to compile; the message has the device, options and compiler log."""


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
_PROBE_SOURCE = """
__kernel void probe(__global float *out) { int i = get_global_id(0); out[i] = 2.0f * i + 1.0f; }
"""


class Device:
    """One usable OpenCL device with its context, queue, memory pool and program cache."""

    def __init__(self, cl_device: cl.Device):
        self.cl_device = cl_device
        self.name = cl_device.name.strip()
        self.platform_name = cl_device.platform.name.strip()
        self.is_gpu = bool(cl_device.type & cl.device_type.GPU)
        self.context = cl.Context([cl_device])
        self.queue = cl.CommandQueue(self.context)
        self.allocator = cl.tools.MemoryPool(cl.tools.ImmediateAllocator(self.queue))
        self.has_fp64 = "cl_khr_fp64" in cl_device.extensions
        self.max_alloc_bytes = int(cl_device.max_mem_alloc_size)
        self.global_mem_bytes = int(cl_device.global_mem_size)
        self.max_work_group_size = int(cl_device.max_work_group_size)
        # Kernels are shared by every thread using this device; setting a kernel's arguments and
        # enqueueing it must happen as one step, so launches and builds hold this lock.
        self.lock = threading.RLock()
        self._kernels: dict[tuple, cl.Kernel] = {}
        self.builds = 0  # number of programs compiled (or loaded from disk) in this process
        # Bound to kernel arguments that a launch does not read (no bias, an empty tensor).
        self.placeholder = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, 16)

    def __repr__(self) -> str:
        return f"<clconv.Device {self.name!r} on {self.platform_name!r}>"

    @property
    def kind(self) -> str:
        return "gpu" if self.is_gpu else "cpu"

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
    program = cl.Program(device.context, _PROBE_SOURCE).build()
    out = np.empty(4, np.float32)
    buf = cl.Buffer(device.context, cl.mem_flags.WRITE_ONLY, out.nbytes)
    program.probe(device.queue, (4,), None, buf)
    cl.enqueue_copy(device.queue, out, buf)
    if not np.array_equal(out, [1, 3, 5, 7]):
        raise RuntimeError(f"probe kernel computed {out}, expected [1 3 5 7]")
    return device


_usable: dict[cl.Device, Device] = {}
_broken: dict[cl.Device, str] = {}
_current: Device | None = None
_state_lock = threading.Lock()


def _all_cl_devices() -> list[cl.Device]:
    found = []
    try:
        platforms = cl.get_platforms()
    except cl.Error as err:
        warnings.warn(f"clconv: no OpenCL platform could be listed: {err}", stacklevel=3)
        return []
    for platform in platforms:
        try:
            found.extend(platform.get_devices())
        except cl.Error as err:
            warnings.warn(f"clconv: skipping platform {platform.name!r}: {err}", stacklevel=3)
    return found


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
    return sorted(found, key=lambda d: not d.is_gpu)


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
            for d_index, cl_device in enumerate(platform.get_devices()):
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
    for variable in ("CLCONV_DEVICE", "PYOPENCL_CTX"):
        spec = os.environ.get(variable)
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
            log.info("using %s", _current)
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


def clear_caches() -> None:
    """Forget every device, context and compiled program (the next op starts afresh)."""
    global _current
    with _state_lock:
        _usable.clear()
        _broken.clear()
        _current = None


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


def get_kernel(device: Device, family: str, name: str, **defines) -> cl.Kernel:
    """Kernel `name` of `kernels/<family>.cl` built for `device` with `defines` (memoized)."""
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


def _build(device: Device, family: str, options: str) -> cl.Program:
    directory = kernels_dir()
    source = (directory / f"{family}.cl").read_text()
    full_options = f"{options} -I {directory}"
    start = time.perf_counter()
    try:
        program = cl.Program(device.context, source).build(options=full_options)
    except cl.Error as err:
        raise KernelBuildError(
            f"kernels/{family}.cl failed to build on {device.name!r} ({device.platform_name}) "
            f"with options {options!r}:\n{err}") from None
    device.builds += 1
    log.debug("built %s.cl [%s] on %s in %.1f ms", family, options, device.name,
              1e3 * (time.perf_counter() - start))
    return program


# --- workspaces -----------------------------------------------------------------------------

def workspace_limit(device: Device) -> int:
    """The most bytes one op may use for a scratch copy (a padded input, say) before it splits
    its work: CLCONV_WORKSPACE_MB, else a quarter of the device's memory, within its largest
    allocation."""
    megabytes = os.environ.get("CLCONV_WORKSPACE_MB")
    limit = int(float(megabytes) * 2**20) if megabytes else device.global_mem_bytes // 4
    return min(limit, device.max_alloc_bytes)


# --- launching ------------------------------------------------------------------------------

def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def launch(device: Device, kernel: cl.Kernel, global_size, local_size, *args) -> None:
    """Enqueue `kernel` over `global_size` (rounded up to whole work-groups; kernels bound-check)."""
    global_size = tuple(round_up(int(g), int(l)) for g, l in zip(global_size, local_size))
    if 0 in global_size:
        return
    local_size = tuple(int(l) for l in local_size)
    with device.lock:
        if not hasattr(kernel, "_clconv_arg_types"):
            # Declared once: pyopencl then packs scalars itself (~1 us a launch) instead of
            # taking each through the buffer protocol (~5 us per scalar argument).
            kernel.set_scalar_arg_dtypes(
                [None if isinstance(a, (cl.MemoryObjectHolder, cl.LocalMemory)) else a.dtype
                 for a in args])
            kernel._clconv_arg_types = True
        kernel.set_args(*args)
        cl.enqueue_nd_range_kernel(device.queue, kernel, global_size, local_size)
    if log.isEnabledFor(logging.DEBUG):
        start = time.perf_counter()
        device.queue.finish()
        log.debug("launched %s global=%s local=%s in %.3f ms", kernel.function_name,
                  global_size, local_size, 1e3 * (time.perf_counter() - start))
