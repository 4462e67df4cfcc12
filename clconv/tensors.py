"""`clconv.Tensor`: a device array (a `pyopencl.array.Array` from the device's memory pool)."""
from __future__ import annotations

import math

import numpy as np

from . import autograd, config, runtime


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

    __slots__ = ("array", "device", "requires_grad", "grad", "grad_fn", "version_counter",
                 "derived")

    def __init__(self, array, device: runtime.Device, requires_grad: bool = False,
                 version_counter: "VersionCounter | None" = None):
        self.array = array
        self.device = device
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None   # accumulated by backward() on leaf tensors
        self.grad_fn = None               # the autograd.Node that made this tensor, if any
        # Counts in-place changes to the buffer; views share their base's counter.
        self.version_counter = version_counter or VersionCounter()
        # Layouts of this tensor that kernels read (packed weights), by key: (version, buffer)
        # (clconv.ops.prepared; None until the first).
        self.derived: dict | None = None

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
        runtime.note_unrecorded(self.device, "read")
        return self.array.get()

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def reshape(self, *shape) -> "Tensor":
        """A view with another shape (no copy); one dimension may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
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
        return _PROVIDED["add"](self, other)  # clconv.functional.add (float16 included)

    def to(self, dtype) -> "Tensor":
        """This tensor converted to `dtype` (float16, float32 or float64), itself if it has it;
        differentiable."""
        return _PROVIDED["cast"](self, dtype)  # clconv.ops.storage.cast

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


# Tensor's operators are ops, which sit above this module: they are provided to it (by
# clconv.functional and clconv.ops.storage, which `import clconv` loads) instead of imported.
_PROVIDED: dict = {}


def provide(name: str, function) -> None:
    """Make `function` the implementation of Tensor's operator `name` ("add", "cast")."""
    _PROVIDED[name] = function


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


def empty(shape, dtype=np.float32, device: runtime.Device | None = None) -> Tensor:
    """An uninitialized tensor; NaN-filled with CLCONV_POISON=1 or config.override(poison=True)
    (the tests' setting: an element a kernel forgets to write then shows up as a mismatch)."""
    device = device or runtime.get_device()
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":  # integer tensors hold pooling indices only
        check_dtype(dtype, device)
    runtime.check_size(shape, dtype, device)
    array = runtime.allocate(device, shape, dtype)
    if array.size and config.current().poison:
        runtime.fill(array, np.nan if dtype.kind == "f" else -12345, device)
    return Tensor(array, device)


def zeros(shape, dtype=np.float32, device: runtime.Device | None = None) -> Tensor:
    out = empty(shape, dtype, device)
    if out.size:
        runtime.fill(out.array, 0, out.device)
    return out


def full(shape, value, dtype=np.float32, device: runtime.Device | None = None) -> Tensor:
    out = empty(shape, dtype, device)
    if out.size:
        runtime.fill(out.array, value, out.device)
    return out


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
    if runtime.is_device_array(data):
        owner = runtime.device_of_array(data)
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
        runtime.note_unrecorded(device, "upload")
        out.array.set(host)
    return out


def as_tensor(value, name: str, op: str, device: runtime.Device | None = None) -> Tensor:
    """An op's argument as a Tensor, with errors that name the op and the argument."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, list, tuple)) or runtime.is_device_array(value):
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
