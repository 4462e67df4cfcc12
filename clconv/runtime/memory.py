"""Device memory: tensors' arrays from each device's pool (within its limits, NaN-poisoned in
the tests), scratch buffers, __local arguments and copies."""
from __future__ import annotations

import math

import numpy as np
import pyopencl as cl
import pyopencl.array as cla
import pyopencl.tools

from .. import config
from .device import INT32_MAX, Device, devices, get_device
from .build import get_kernel
from .enqueue import launch, note_unrecorded


def is_device_array(value) -> bool:
    """Whether `value` is a pyopencl array (what a Tensor holds)."""
    return isinstance(value, cla.Array)


def to_device(device: Device, host: np.ndarray) -> cla.Array:
    """A device copy of a host array, from the device's pool (a kernel's small table)."""
    note_unrecorded(device, "upload")
    return cla.to_device(device.queue, np.ascontiguousarray(host), allocator=device.allocator)


def int_table(device: Device, values) -> cla.Array:
    """A small read-only int32 table on the device (a kernel's layout), made once per device and
    contents: writing one per launch would be a blocking copy that waits for the queue, and
    so would end every op's overlap with the host."""
    key = tuple(int(v) for v in values)
    tables = device.__dict__.setdefault("_int_tables", {})
    table = tables.get(key)
    if table is None:
        if len(tables) >= 4096:  # (a bound on what a long run of varied shapes keeps)
            tables.clear()
        # Made once and kept, outside the pool (a table is no tensor: it does not count
        # against the device's tensors, and a replayed recording needs no upload of it).
        table = tables[key] = cla.to_device(device.queue, np.array(key, np.int32))
    return table


def check_size(shape, dtype: np.dtype, device: Device) -> None:
    """MemoryError (ValueError for negative dimensions) where an array of `shape` cannot be
    allocated on `device` or indexed with 32-bit integers."""
    if any(int(s) < 0 for s in shape):
        raise ValueError(f"negative dimensions are not allowed: {tuple(shape)}")
    # Zero-size tensors too: their other dimensions still reach the kernels' 32-bit indices.
    count = math.prod(s for s in shape if s)
    nbytes = count * dtype.itemsize
    if nbytes > device.max_alloc_bytes:
        raise MemoryError(f"a tensor of shape {tuple(shape)} and dtype {dtype} needs {nbytes:,} "
                          f"bytes, more than {device.name!r} allows in one allocation "
                          f"({device.max_alloc_bytes:,} bytes)")
    if count > INT32_MAX:
        raise MemoryError(f"a tensor of shape {tuple(shape)} spans {count:,} elements "
                          f"({nbytes:,} bytes); clconv indexes with 32-bit integers (at most "
                          f"{INT32_MAX:,} elements)")


def allocate(device: Device, shape: tuple, dtype: np.dtype) -> cla.Array:
    """An array from the device's memory pool, within the device's global memory.

    The pool keeps freed blocks for reuse; before an allocation would take the pool past the
    device's memory, the held blocks are released. Past what the device has, or when the driver
    refuses, the result is a MemoryError (some drivers, PoCL among them, would overcommit and
    let the operating system kill the process instead).
    """
    nbytes = math.prod(shape) * dtype.itemsize
    pool = device.allocator
    is_pool = isinstance(pool, cl.tools.MemoryPool)  # (another allocator may be injected)
    # Held (freed, cached) blocks are released before they pass an eighth of the device's
    # memory, or before this allocation would take the pool past all of it.
    if is_pool and (pool.managed_bytes + nbytes > device.global_mem_bytes
                    or pool.managed_bytes - pool.active_bytes > device.global_mem_bytes // 8):
        pool.free_held()
    if is_pool and pool.active_bytes + nbytes > device.global_mem_bytes:
        raise MemoryError(f"out of device memory: shape {shape} needs {nbytes:,} bytes while "
                          f"{pool.active_bytes:,} of {device.global_mem_bytes:,} bytes on "
                          f"{device.name!r} are in use")
    try:
        return cla.empty(device.queue, shape, dtype, allocator=pool)
    except (cl.MemoryError, cl.RuntimeError):
        if is_pool:
            pool.free_held()
    try:
        return cla.empty(device.queue, shape, dtype, allocator=pool)
    except (cl.MemoryError, cl.RuntimeError) as err:
        raise MemoryError(f"could not allocate {nbytes:,} bytes for shape {shape} on "
                          f"{device.name!r}: {err}") from None


_FILL_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
               np.dtype(np.int64): "long", np.dtype(np.int32): "int"}


def fill(array: cla.Array, value, device: Device | None = None) -> None:
    """Every element = value. float16 by its bit pattern: pyopencl's fill would build a kernel
    on `half`, which needs cl_khr_fp16."""
    if not array.size:
        return
    device = device or device_of_array(array)
    dtype = np.dtype(array.dtype)
    if dtype == np.float16:  # by its bit pattern
        scalar, type_name = np.float16(value).view(np.uint16), "ushort"
    else:
        type_name = _FILL_TYPES.get(dtype)
        if type_name is None:
            raise TypeError(f"fill: no fill for dtype {dtype}")
        scalar = dtype.type(value)
    kernel = get_kernel(device, "memory", "fill", TYPE=type_name)
    launch(device, kernel, (array.size,), (64,), array.data, scalar, np.int32(array.size))


def device_of_array(array: cla.Array) -> Device:
    """The clconv Device whose context holds `array`."""
    current = get_device()
    if array.context == current.context:
        return current
    for device in devices():
        if array.context == device.context:
            return device
    raise ValueError("tensor: this pyopencl array lives in a context clconv does not manage; "
                     "create it with clconv.get_device().queue or copy it to the host first")




def new_pool(device: Device):
    """A memory pool of its own on `device` (an inference plan's: see set_allocator)."""
    return cl.tools.MemoryPool(cl.tools.ImmediateAllocator(device.queue))


def set_allocator(device: Device, allocator) -> None:
    """Make `allocator` (called with a byte count, returning a buffer) the source of every
    array and scratch buffer on `device` from now on: the sanitizer's exact-size buffers that
    are never reused. (Pool limits and the release of held blocks apply to the default pool.)"""
    device.allocator = allocator


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
    note_unrecorded(device, "copy")
    if byte_count:
        cl.enqueue_copy(device.queue, dest, src, byte_count=byte_count, dst_offset=dest_offset,
                        src_offset=src_offset)
