"""Weights in the layout a kernel reads (packed into blocks, Winograd-transformed), made once and
kept with the weight tensor while it is unchanged: inference with frozen weights packs them on
the first call only. A tensor's in-place changes (optimizer steps, load_state_dict, inplace ops)
move its version on, and the next call packs again; where autograd records a tensor that
requires grad (training, whose every step changes the weights) nothing is kept.

Inside a recorded run (an ONNX inference plan) the packing is left out of the recording and the
recording notes the version it depends on (runtime.Recording.stale), so a replay never reads a
layout of weights that have changed since.
"""
from __future__ import annotations

from .. import autograd, runtime
from ..tensors import Tensor


def prepared(w: Tensor, key: tuple, nbytes: int, fill):
    """A buffer of `nbytes` that `fill(buffer)` fills (by launches) from `w`; the one made for
    `key` at w's current version when there is one."""
    device = w.device
    if w.requires_grad and autograd.is_grad_enabled():
        packed = runtime.scratch(device, nbytes)
        fill(packed)
        return packed
    version = w._version
    if w.derived is None:
        w.derived = {}
    held = w.derived.get(key)
    if held is None or held[0] != version:
        with runtime.unrecorded(device):
            packed = runtime.scratch(device, nbytes)
            fill(packed)
        held = w.derived[key] = (version, packed)
    runtime.note_dependency(device, w.version_counter, version)
    return held[1]
