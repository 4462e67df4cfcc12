"""Row layouts for reductions and the per-row sum (`reduce.cl`), shared by norm and gradients."""
from __future__ import annotations

from dataclasses import dataclass

from .. import runtime
from ..tensors import Tensor, empty
from . import launch_sizes
from .arguments import i32, scalar


@dataclass(frozen=True)
class Rows:
    """Which elements one reduction result describes (see norm_runs.h), and how an element of the
    full tensor finds its row: row = (flat index // row_div) % row_mod."""
    count: int
    row_stride: int
    segments: int
    segment_stride: int
    segment_len: int
    row_div: int
    row_mod: int

    @property
    def length(self) -> int:
        return self.segments * self.segment_len

    @staticmethod
    def channels(batch: int, channels: int, spatial: int) -> "Rows":
        """One row per channel of an (N, C, *spatial) tensor: N runs of `spatial` elements."""
        return Rows(count=channels, row_stride=spatial, segments=batch,
                    segment_stride=channels * spatial, segment_len=spatial,
                    row_div=spatial, row_mod=channels)

    @staticmethod
    def contiguous(count: int, length: int) -> "Rows":
        """`count` back-to-back rows of `length` elements."""
        return Rows(count=count, row_stride=length, segments=1, segment_stride=0,
                    segment_len=length, row_div=length, row_mod=count)


def row_sum(x: Tensor, rows: Rows, factor: float = 1.0) -> Tensor:
    """out[r] = factor * the sum of row r of x."""
    out = empty((rows.count,), x.dtype, x.device)
    if rows.count:
        kernel, group = runtime.fixed_group_kernel(x.device, "reduce", "row_sum",
                                                   launch_sizes.group_size(x.device),
                                                   **runtime.dtype_defines(x.dtype))
        runtime.launch(x.device, kernel, (rows.count * group,), (group,),
                       x.array.data if x.size else x.device.placeholder, out.array.data,
                       *i32(rows.row_stride, rows.segments, rows.segment_stride,
                            rows.segment_len), scalar(x.dtype, factor))
    return out


def sum_slices(partial: Tensor, out: Tensor, splits: int) -> None:
    """out = the sum of partial's `splits` slices of out's size, in order (deterministic)."""
    kernel = runtime.get_kernel(out.device, "reduce", "sum_slices",
                                **runtime.dtype_defines(out.dtype))
    runtime.launch(out.device, kernel, (out.size,), (launch_sizes.items(out.device),),
                   partial.array.data, out.array.data, *i32(out.size, splits))


def sample_rows(t: Tensor, first: int, count: int) -> Tensor:
    """A copy of samples first .. first + count - 1 of t."""
    sample = t.size // t.shape[0] * t.dtype.itemsize
    out = empty((count,) + t.shape[1:], t.dtype, t.device)
    runtime.copy(t.device, out.array.data, t.array.data, count * sample,
                 src_offset=first * sample)
    return out
