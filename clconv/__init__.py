"""clconv: the layers of a convolutional network on any OpenCL device.

    import clconv, clconv.functional as F
    x = clconv.tensor(images)             # NumPy -> device (float32; float64 where supported;
                                          # float16 storage everywhere)
    y = F.relu(F.conv2d(x, w, b, padding=1))
    y.numpy()
"""
from . import config, dispatch, functional, fused, reference, tuning
from .autograd import enable_grad, is_grad_enabled, no_grad
from .random import manual_seed
from .check_mode import CheckError, checking
from .dispatch import explain
from .runtime import (Device, KernelBuildError, KernelBuildWarning, LaunchError, clear_caches,
                      devices, get_device, set_device)
from .tensors import Tensor, empty, full, tensor, zeros

__version__ = "0.1.0"

__all__ = [
    "CheckError", "Device", "KernelBuildError", "KernelBuildWarning", "LaunchError", "Tensor",
    "checking", "clear_caches", "config", "devices", "dispatch", "empty", "enable_grad",
    "explain", "full", "functional", "fused", "get_device", "is_grad_enabled", "manual_seed",
    "no_grad",
    "reference", "set_device", "tensor", "tuning", "zeros",
]
