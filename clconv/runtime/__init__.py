"""The runtime layer: device choice, allocation, and the one place kernels are built and
launched. Everything OpenCL-specific lives here (with clconv.profile and clconv.config, which it
reads); it is the only part of clconv that imports pyopencl.

    device    which device is used, each Device's context, queue, memory pool and profile
    build     kernels/<family>.cl with its headers inlined, compiled with its -D defines
    enqueue   each built kernel's limits, work-group shapes fitted to them, the launch
    memory    tensors' arrays from the device's pool, scratch buffers, __local memory, copies

The names below are the layer's interface; the rest of clconv calls `runtime.<name>`.
"""
from pyopencl import CompilerWarning

from .build import (KernelBuildError, KernelBuildWarning, build_options, dtype_defines,
                    get_kernel, kernel_source, kernels_dir, language_options, on_build,
                    vector_defines)
from .device import (INT32_MAX, Device, clear_caches, debug, debugging, device_state, devices,
                     get_device, log, on_clear_caches, platform_devices, platforms, set_device)
from .enqueue import (KernelLimits, LaunchError, Recording, device_ms, fixed_group_kernel,
                      group_size, note_dependency, note_unrecorded, record_launches, replay,
                      unrecorded,
                      kernel_limits, launch, on_launch, round_up)
from .memory import (allocate, check_size, copy, device_of_array, fill, int_table,
                     is_device_array,
                     local_memory, new_pool, scratch, set_allocator, to_device,
                     workspace_limit)

__all__ = [
    "Recording", "new_pool", "note_dependency", "note_unrecorded", "record_launches",
    "replay", "unrecorded",
    "CompilerWarning", "KernelBuildError", "KernelBuildWarning", "build_options",
    "dtype_defines", "get_kernel", "kernel_source", "kernels_dir", "language_options",
    "on_build", "vector_defines", "INT32_MAX", "Device", "clear_caches", "debug", "debugging",
    "device_state", "devices", "get_device", "log", "on_clear_caches", "platform_devices",
    "platforms", "set_device", "KernelLimits", "LaunchError", "fixed_group_kernel",
    "group_size", "kernel_limits", "launch", "on_launch", "round_up", "device_ms", "allocate", "check_size",
    "copy", "device_of_array", "fill", "int_table", "is_device_array", "local_memory", "scratch", "set_allocator",
    "to_device", "workspace_limit",
]
