"""What the layers share: PyTorch's uniform initialization, host copies, gradient dicts."""
from __future__ import annotations

import numpy as np

from ..tensors import Tensor
from .module import init_rng


def uniform(shape, bound: float) -> np.ndarray:
    return init_rng().uniform(-bound, bound, shape)


def host(t: Tensor | None):
    return None if t is None else t.numpy()


def grads(**named) -> dict:
    return {name: g for name, g in named.items() if g is not None}
