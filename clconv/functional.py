"""The ops, with the names, signatures and semantics of `torch.nn.functional`.

    import clconv.functional as F
    y = F.conv2d(x, w, b, padding=1)

Each accepts Tensors or NumPy arrays (copied to the device of the first Tensor argument, else to
the default device) and returns Tensors. float16 arguments are stored as float16 and computed on
in float32 (clconv.ops.storage). In check mode (`clconv.checking()`) each also runs its
`clconv.reference` twin and raises on a mismatch.
"""
from . import reference
from .check_mode import checked
from .ops import conv, elementwise, linear as _linear, loss, norm, pool
from .ops.storage import half_storage

_IMPLEMENTATIONS = {
    conv: ["conv1d", "conv2d", "conv3d"],
    pool: ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d"],
    norm: ["batch_norm", "layer_norm", "instance_norm", "group_norm"],
    elementwise: ["relu", "leaky_relu", "add"],
    _linear: ["linear"],
    loss: ["cross_entropy", "mse_loss"],
}

__all__ = [name for names in _IMPLEMENTATIONS.values() for name in names]

for _module, _names in _IMPLEMENTATIONS.items():
    for _name in _names:
        globals()[_name] = checked(half_storage(getattr(_module, _name)),
                                   getattr(reference, _name))
del _module, _names, _name
