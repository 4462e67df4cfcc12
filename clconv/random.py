"""The stream of keys behind clconv's random ops (dropout): `clconv.manual_seed(seed)` makes
it, and so every mask, reproducible. Each random op call takes the next 32-bit key; its kernel
hashes (key, element index) into uniform numbers (clconv.reference.dropout_mask is the same
function in NumPy), so a result depends only on the seed and the order of the calls, never on
the device or its work-group sizes."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the key stream (clconv.nn.manual_seed seeds it too)."""
    global _generator
    _generator = np.random.default_rng(seed)


def next_key() -> int:
    """The next 32-bit key."""
    return int(_generator.integers(0, 2**32))
