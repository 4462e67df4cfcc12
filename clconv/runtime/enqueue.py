"""Launching kernels: each built kernel's limits (asked of the driver once), work-group shapes
fitted to them, and the one place where kernels are enqueued (with the launch hooks)."""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pyopencl as cl

from .build import build_options, get_kernel
from .device import INT32_MAX, Device, debug, debugging


class LaunchError(RuntimeError):
    """A launch that does not fit the kernel's or the device's limits (the message names both)."""


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
_recordings: list = []  # the Recordings being made (record_launches)


class Recording:
    """The launches enqueued while it was active (record_launches), to be enqueued again as
    they were (replay), and what was enqueued that a replay would not repeat (`problems`: a
    fill, a copy, an upload or a read of device data)."""

    def __init__(self, device: Device):
        self.device, self.launches, self.problems = device, [], []
        # (counter, value): what the recorded run took from a cache (ops.prepared: weights
        # packed once) rather than computed; the recording is stale once a counter moves on.
        self.dependencies: list = []
        self.outer_allocator = device.allocator  # where buffers come from outside it

    def stale(self) -> bool:
        """Whether something the recorded run read from a cache has changed since."""
        return any(counter.value != value for counter, value in self.dependencies)

    def kernel_times(self, repeats: int = 3) -> list[tuple[str, float, int]]:
        """(kernel name, device ms per run, launches per run) of the recorded launches enqueued
        again `repeats` times after one unmeasured run, from OpenCL's profiling events (the
        device's queue profiles where the driver allows it; else an empty list): the medians
        over the repeats, slowest first."""
        device = self.device
        if not device.profiling:
            return []
        runs = []
        for repeat in range(repeats + 1):
            events = []
            with device.lock:
                for kernel, global_size, local_size, args in self.launches:
                    kernel.set_args(*args)
                    events.append((kernel.function_name, cl.enqueue_nd_range_kernel(
                        device.queue, kernel, global_size, local_size)))
            device.queue.finish()
            if repeat:
                totals: dict = {}
                for name, event in events:
                    ms, count = totals.get(name, (0.0, 0))
                    totals[name] = (ms + (event.profile.end - event.profile.start) * 1e-6,
                                    count + 1)
                runs.append(totals)
        names = runs[0] if runs else {}
        times = [(name, sorted(run[name][0] for run in runs)[len(runs) // 2], count)
                 for name, (_, count) in names.items()]
        return sorted(times, key=lambda t: -t[1])

    def add(self, kernel, global_size, local_size, args) -> None:
        # Buffers by handle (retained), not by their pool holders: a buffer the recorded run
        # freed goes back to its pool, and the pool's reuse of it is part of what is replayed.
        held = tuple(cl.Buffer.from_int_ptr(a.int_ptr, retain=True)
                     if isinstance(a, cl.MemoryObjectHolder) else a for a in args)
        self.launches.append((kernel, global_size, local_size, held))


def record_launches(device: Device, allocator=None):
    """A context manager recording what is launched on `device` within it (a Recording), with
    `allocator` (if given) the source of the device's buffers meanwhile."""
    @contextmanager
    def recording():
        made = Recording(device)
        if allocator is not None:
            device.allocator = allocator
        _recordings.append(made)
        try:
            yield made
        finally:
            _recordings.remove(made)
            device.allocator = made.outer_allocator
    return recording()


@contextmanager
def unrecorded(device: Device):
    """Launches within it are left out of the recordings being made on `device`, and buffers
    come from the allocator in force outside them: work whose result outlives the recorded run
    (a weight packed once and cached, see clconv.ops.prepared)."""
    paused = [made for made in _recordings if made.device is device]
    allocator = device.allocator
    if paused:
        device.allocator = paused[0].outer_allocator
    for made in paused:
        _recordings.remove(made)
    try:
        yield
    finally:
        _recordings.extend(paused)
        device.allocator = allocator


def note_dependency(device: Device, counter, value: int) -> None:
    """Tell the recordings being made on `device` that the run used a cached result valid while
    `counter.value == value` (Recording.stale)."""
    for made in _recordings:
        if made.device is device:
            made.dependencies.append((counter, value))


def note_unrecorded(device: Device, what: str) -> None:
    """Tell the active recordings of `device` that something a replay would not repeat was
    enqueued."""
    for made in _recordings:
        if made.device is device:
            made.problems.append(what)


def replay(recording: Recording) -> None:
    """Enqueue a recording's launches again, in order, with the arguments they had."""
    device = recording.device
    with device.lock:
        for kernel, global_size, local_size, args in recording.launches:
            kernel.set_args(*args)
            cl.enqueue_nd_range_kernel(device.queue, kernel, global_size, local_size)


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
        for made in _recordings:
            if made.device is device:
                made.add(kernel, global_size, shape, args)
        kernel.set_args(*args)
        cl.enqueue_nd_range_kernel(device.queue, kernel, global_size, shape)
    if debugging():
        start = time.perf_counter()
        device.queue.finish()
        debug("launched %s global=%s local=%s in %.3f ms", kernel.function_name,
              global_size, shape, 1e3 * (time.perf_counter() - start))


def device_ms(device: Device, run) -> float | None:
    """Milliseconds of device time from the start to the end of what run() enqueues, from
    OpenCL profiling events (a marker before it and one after; the span includes any time the
    device waited for the host between kernels), or None where the queue has no profiling."""
    if not device.profiling:
        return None
    before = cl.enqueue_marker(device.queue)
    run()
    after = cl.enqueue_marker(device.queue)
    after.wait()
    return 1e-6 * (after.profile.end - before.profile.start)
