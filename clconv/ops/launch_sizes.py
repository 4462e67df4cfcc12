"""Work-group sizes of the kernels that have one way to run (elementwise ops, reductions,
losses, optimizers, conversions), from the tuning table's "launch" entry."""
from __future__ import annotations

from .. import runtime, tuning


def _defaults(profile) -> dict:
    """At least 64 work-items per group and a multiple of the device's preferred multiple (a
    whole AMD wavefront, two NVIDIA warps); reductions in groups of 64 (a power of two)."""
    multiple = max(1, min(profile.preferred_multiple, 256))
    return {"items": -(-64 // multiple) * multiple, "group": 64}


tuning.register_defaults("launch", _defaults)


def items(device) -> int:
    """Work-items per group of a one-work-item-per-element kernel."""
    return int(tuning.entry(device.profile)["launch"]["items"])


def group_size(device) -> int:
    """GROUP_SIZE of the tree-reducing kernels (a build option; within the device's limit)."""
    return runtime.group_size(device, int(tuning.entry(device.profile)["launch"]["group"]))
