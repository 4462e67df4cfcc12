"""`clconv.Tensor`: a device array (a `pyopencl.array.Array` from the device's memory pool)."""
from __future__ import annotations

import math

import numpy as np
import pyopencl as cl
import pyopencl.array as cla
import pyopencl.tools

from . import config, runtime
from .runtime import INT32_MAX  # kernels index with 32-bit ints


class VersionCounter:
    """How many times a buffer was changed in place (see autograd.Node.check_saved)."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Tensor:
    """A contiguous array on an OpenCL device.

    `Tensor.array` is the underlying `pyopencl.array.Array`; `clconv.tensor(array)` wraps such an
    array without copying it.
    """

    __slots__ = ("array", "device", "requires_grad", "grad", "grad_fn", "version_counter")

    def __init__(self, array: cla.Array, device: runtime.Device, requires_grad: bool = False,
                 version_counter: "VersionCounter | None" = None):
        self.array = array
        self.device = device
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None   # accumulated by backward() on leaf tensors
        self.grad_fn = None               # the autograd.Node that made this tensor, if any
        # Counts in-place changes to the buffer; views share their base's counter.
        self.version_counter = version_counter or VersionCounter()

    @property
    def _version(self) -> int:
        return self.version_counter.value

    @_version.setter
    def _version(self, value: int) -> None:
        self.version_counter.value = value

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def backward(self, grad=None) -> None:
        """Gradients of this tensor with respect to every leaf that requires grad."""
        from . import autograd
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward: grad must be given for a non-scalar output "
                                   f"(shape {self.shape})")
            grad = full(self.shape, 1.0, self.dtype, self.device)
        else:
            grad = tensor(grad, dtype=self.dtype, device=self.device)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad of shape {grad.shape} does not match the "
                                 f"tensor's shape {self.shape}")
        autograd.backward(self, grad)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor(self.array, self.device, version_counter=self.version_counter)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring grad")
        self.requires_grad = requires_grad
        return self

    def clone(self) -> "Tensor":
        """A copy in a new device buffer (differentiable)."""
        from . import autograd
        out = Tensor(self.array.copy(), self.device)
        return autograd.record("clone", out, (self,), lambda g: (g,))

    def item(self) -> float:
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor has an item, shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    shape = property(lambda self: tuple(self.array.shape))
    dtype = property(lambda self: self.array.dtype)
    ndim = property(lambda self: len(self.array.shape))
    size = property(lambda self: int(self.array.size))

    def numel(self) -> int:
        return self.size

    def numpy(self) -> np.ndarray:
        """Copy to the host (waits for pending work)."""
        if self.size == 0:
            return np.empty(self.shape, self.dtype)
        return self.array.get()

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def reshape(self, *shape) -> "Tensor":
        """A view with another shape (no copy); one dimension may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        from . import autograd
        new_shape = resolve_shape(self.size, shape, "reshape", self.shape)
        out = Tensor(self.array.reshape(new_shape), self.device,
                     version_counter=self.version_counter)
        old_shape = self.shape
        return autograd.record("reshape", out, (self,), lambda g: (g.reshape(old_shape),))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Dimensions start_dim..end_dim merged into one (a view)."""
        ndim = max(self.ndim, 1)
        start, end = start_dim % ndim, end_dim % ndim
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    view = reshape

    def __add__(self, other):
        from .functional import add  # (float16 tensors included)
        return add(self, other)

    def to(self, dtype) -> "Tensor":
        """This tensor converted to `dtype` (float16, float32 or float64), itself if it has it;
        differentiable."""
        from .ops.storage import cast
        return cast(self, dtype)

    def half(self) -> "Tensor":
        """float16 storage: half the memory, computed on in float32 (see clconv.ops.storage)."""
        return self.to(np.float16)

    def float(self) -> "Tensor":
        return self.to(np.float32)

    def double(self) -> "Tensor":
        return self.to(np.float64)

    def __repr__(self) -> str:
        grad = f", grad_fn={self.grad_fn}" if self.grad_fn else \
            ", requires_grad=True" if self.requires_grad else ""
        return (f"clconv.Tensor(shape={self.shape}, dtype={self.dtype}, "
                f"device={self.device.name!r}{grad})")


def resolve_shape(size: int, shape, op: str, old_shape) -> tuple[int, ...]:
    """`shape` with its one -1 (if any) filled in so that it holds `size` elements."""
    shape = [int(s) for s in shape]
    unknown = [i for i, s in enumerate(shape) if s == -1]
    known = math.prod(s for s in shape if s != -1)
    if len(unknown) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"{op}: invalid shape {tuple(shape)}")
    if unknown and known and size % known == 0:
        shape[unknown[0]] = size // known
    if math.prod(shape) != size or (unknown and shape[unknown[0]] == -1):
        raise ValueError(f"{op}: cannot view shape {tuple(old_shape)} as {tuple(shape)}")
    return tuple(shape)


def check_dtype(dtype, device: runtime.Device, what: str = "tensor") -> np.dtype:
    """dtype, if a tensor on `device` can hold it: the dtypes it computes in, and float16 as a
    storage type on every device (clconv/ops/storage.py)."""
    dtype = np.dtype(dtype)
    if dtype not in device.dtypes() and dtype != np.float16:
        names = ", ".join(str(d) for d in device.dtypes() + (np.dtype(np.float16),))
        why = "" if dtype != np.float64 else " (the device lacks cl_khr_fp64)"
        raise TypeError(f"{what}: dtype {dtype} is not supported on {device.name!r}{why}; "
                        f"use {names}")
    return dtype


def _check_size(shape, dtype: np.dtype, device: runtime.Device) -> None:
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


def _allocate(device: runtime.Device, shape: tuple, dtype: np.dtype) -> cla.Array:
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


def empty(shape, dtype=np.float32, device: runtime.Device | None = None) -> Tensor:
    """An uninitialized tensor; NaN-filled with CLCONV_POISON=1 or config.override(poison=True)
    (the tests' setting: an element a kernel forgets to write then shows up as a mismatch)."""
    device = device or runtime.get_device()
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":  # integer tensors hold pooling indices only
        check_dtype(dtype, device)
    _check_size(shape, dtype, device)
    array = _allocate(device, shape, dtype)
    if array.size and config.current().poison:
        fill_array(array, np.nan if dtype.kind == "f" else -12345)
    return Tensor(array, device)


def fill_array(array: cla.Array, value) -> None:
    """Every element = value. float16 by its bit pattern: pyopencl's fill would build a kernel
    on `half`, which needs cl_khr_fp16."""
    if array.dtype == np.float16:
        array.reshape(array.size).view(np.uint16).fill(np.float16(value).view(np.uint16))
    else:
        array.fill(value)


def zeros(shape, dtype=np.float32, device: runtime.Device | None = None) -> Tensor:
    out = empty(shape, dtype, device)
    if out.size:
        fill_array(out.array, 0)
    return out


def full(shape, value, dtype=np.float32, device: runtime.Device | None = None) -> Tensor:
    out = empty(shape, dtype, device)
    if out.size:
        fill_array(out.array, value)
    return out


def _device_of_array(array: cla.Array) -> runtime.Device:
    current = runtime.get_device()
    if array.context == current.context:
        return current
    for device in runtime.devices():
        if array.context == device.context:
            return device
    raise ValueError("tensor: this pyopencl array lives in a context clconv does not manage; "
                     "create it with clconv.get_device().queue or copy it to the host first")


def tensor(data, dtype=None, device: runtime.Device | None = None,
           requires_grad: bool = False) -> Tensor:
    """A Tensor from a NumPy array, a nested list, a pyopencl Array (no copy) or a Tensor."""
    out = _to_tensor(data, dtype, device)
    if requires_grad:
        if out is data:  # a Tensor passed through: do not change the caller's tensor
            out = Tensor(out.array, out.device, version_counter=out.version_counter)
        out.requires_grad = True
    return out


def _to_tensor(data, dtype, device) -> Tensor:
    if isinstance(data, Tensor):
        if (device is None or device is data.device) and (dtype is None or
                                                          np.dtype(dtype) == data.dtype):
            return data
        data = data.numpy()
    if isinstance(data, cla.Array):
        owner = _device_of_array(data)
        if device is not None and device is not owner:
            raise ValueError(f"tensor: the array lives on {owner.name!r}, not {device.name!r}")
        check_dtype(data.dtype, owner)
        if dtype is not None and np.dtype(dtype) != data.dtype:
            raise TypeError(f"tensor: the array has dtype {data.dtype}, not {np.dtype(dtype)}; "
                            "convert it with array.astype first")
        if not data.flags.c_contiguous or data.offset:
            raise ValueError(f"tensor: the pyopencl array of shape {data.shape} is not a "
                             "contiguous array starting at its buffer's origin; pass a copy")
        return Tensor(data, owner)
    device = device or runtime.get_device()
    if isinstance(data, np.ndarray):
        host = data
    else:
        host = np.asarray(data, dtype=np.float32 if dtype is None else dtype)
    if dtype is not None:
        check_dtype(dtype, device)
        host = host.astype(dtype, copy=False)
    check_dtype(host.dtype, device)
    host = host if host.flags.c_contiguous else np.array(host, order="C")  # keeps 0-d shape
    out = empty(host.shape, host.dtype, device)
    if out.size:
        out.array.set(host)
    return out


def as_tensor(value, name: str, op: str, device: runtime.Device | None = None) -> Tensor:
    """An op's argument as a Tensor, with errors that name the op and the argument."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, cla.Array)) or isinstance(value, (list, tuple)):
        dtype = getattr(value, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise TypeError(f"{op}: {name} has dtype {np.dtype(dtype)}; clconv computes in "
                            "float32 (and float64 where the device has cl_khr_fp64) and stores "
                            "float16")
        try:
            return tensor(value, device=device)
        except TypeError as err:
            raise TypeError(f"{op}: {name}: {err}") from None
    raise TypeError(f"{op}: {name} must be a clconv.Tensor or a NumPy array, "
                    f"got {type(value).__name__}")
