"""local_response_norm: each element divided by (k + alpha * the mean of the squares of `size`
neighbouring channels)^beta, composed as PyTorch composes it (squares, a zero-padded average
over the channel window, a power), from recorded ops: its gradient is theirs."""
from __future__ import annotations

from ..tensors import Tensor
from . import activation, elementwise, pad, pool
from .arguments import real, tensors


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0) -> Tensor:
    op = "local_response_norm"
    x = tensors(op, input=input)["input"]
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have 3 or more dimensions (N, C, ...), got shape "
                         f"{x.shape}")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    alpha, beta, k = (real(v, name, op) for v, name in ((alpha, "alpha"), (beta, "beta"), (k, "k")))
    if x.size == 0:
        return elementwise.mul(x, 1.0)
    n, c = x.shape[:2]
    squares = elementwise.mul(x, x).reshape((n, 1, c, x.shape[2], -1))
    # Channels padded with zeros: size // 2 before, (size - 1) // 2 after, then averaged.
    padded = pad.pad(squares, (0, 0, 0, 0, size // 2, (size - 1) // 2))
    mean = pool.avg_pool3d(padded, (size, 1, 1), stride=1).reshape(x.shape)
    base = elementwise.add(elementwise.mul(mean, alpha), k)
    return elementwise.div(x, activation.exp(elementwise.mul(activation.log(base), beta)))
