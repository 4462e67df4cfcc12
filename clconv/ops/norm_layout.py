"""What the normalization algorithms share: the layout of rows and parameters, the problem the
dispatcher decides on, the kernels' files (kernels/norm_*.cl) and the families' defaults."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import runtime, tuning
from . import launch_sizes
from .reduce import Rows


def _defaults(profile) -> dict:
    """norm's parameters for a device the table has no entry for. rows: a row within a core's
    cache (about 1 MiB of L2) and the input within the shared cache (8 MiB); chunked: chunks
    and spans of 4096 elements (the second pass from L1/L2), at least 32 work-items per compute
    unit (256 on GPUs), in groups of 16 (CPUs) or 64."""
    local = 16 if profile.kind == "cpu" else 64
    # (GPUs: 4 groups of 64 chunks per compute unit at least)
    chunked = {"chunk": 4096, "span": 4096,
               "min_items": (32 if profile.kind == "cpu" else 256) * profile.compute_units,
               "local": local}
    rows = {"row_bytes": 1 << 20, "input_bytes": 8 << 20, "local": 16, "many_rows": 64}
    cpu = profile.kind == "cpu"
    return {"norm_forward": {"order": ["rows", "chunked"] if cpu else ["chunked"],
                             "rows": rows, "chunked": chunked},
            # general: rows split into shares for 4 work-groups per compute unit, shares of
            # 4096+ elements (a batch norm's few channels over a large batch fill a GPU)
            "norm_backward": {"order": ["rows", "general"] if cpu else ["general"],
                              "rows": {"local": 16, "many_rows": 64},
                              "general": {"groups_per_unit": 4, "min_share": 4096}}}


for _family in ("norm_forward", "norm_backward"):
    tuning.register_defaults(_family, lambda profile, _family=_family: _defaults(profile)[_family])
del _family


@dataclass(frozen=True)
class Layout:
    """Where a normalization's statistics and parameters sit in its input."""
    stats: Rows             # the elements each mean / variance describes
    params: Rows            # the elements each weight / bias entry multiplies / shifts
    batch_statistics: bool  # statistics from this input (else fixed running statistics)

    @property
    def param_div(self) -> int:
        return self.params.row_div

    @property
    def param_mod(self) -> int:
        return self.params.row_mod


@dataclass(frozen=True)
class NormProblem:
    """What the norm algorithms decide on."""
    layout: Layout
    dtype: np.dtype
    size: int


# The kernel file of each norm kernel: one per algorithm (rows, chunked, the backward's rows
# and general) and the running statistics' update.
_SOURCES = {
    "row_normalize": "norm_rows", "chunk_stats": "norm_chunked", "combine_stats": "norm_chunked",
    "normalize_rows": "norm_chunked", "update_running": "norm_running",
    "row_normalize_backward": "norm_backward_rows", "column_sums": "norm_backward_rows",
    "row_backward_sums": "norm_backward_general", "normalize_backward": "norm_backward_general",
    "param_backward_sums": "norm_backward_general",
    "column_backward_sums": "norm_backward_general",
}


def _source(name: str) -> str:
    return _SOURCES[name]


def norm_kernel(device: runtime.Device, name: str, dtype):
    # Every norm kernel is built with the same defines: one program per file.
    return runtime.get_kernel(device, _source(name), name,
                              GROUP_SIZE=launch_sizes.group_size(device),
                              **runtime.vector_defines(device, dtype))


def norm_group_kernel(device: runtime.Device, name: str, dtype):
    """A kernel reducing in work-groups of GROUP_SIZE, and that size (see
    runtime.fixed_group_kernel: the same program as norm_kernel's where the driver allows)."""
    return runtime.fixed_group_kernel(device, _source(name), name,
                                      launch_sizes.group_size(device),
                                      **runtime.vector_defines(device, dtype))


def chunk_length(params: dict, rows: Rows) -> int:
    """Elements per chunk_stats work-item: at most `chunk` (the second pass then reads from
    L1/L2), fewer where that leaves fewer than `min_items` chunks; a multiple of 16."""
    wanted = -(-rows.count * rows.length // int(params["min_items"]))
    return max(16, min(int(params["chunk"]), rows.length, runtime.round_up(wanted, 16)))
