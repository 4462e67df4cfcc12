// Data movement for the shape ops (permute/transpose, cat and its slices, broadcast-to): one
// work-item per element of an index space of `ndim` dimensions; element i, at coordinates c,
// copies src[src_base + sum c_d src_stride_d] to dst[dst_base + sum c_d dst_stride_d].
// `layout` holds the sizes, then the source strides, then the destination strides (in elements;
// a source stride of 0 repeats an element: broadcasting).
#include "common.h"

__kernel void strided_copy(__global const REAL *restrict src, const int src_base,
                           __global REAL *restrict dst, const int dst_base, const int total,
                           const int ndim, __global const int *restrict layout)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    int rest = i, src_at = src_base, dst_at = dst_base;
    for (int d = ndim - 1; d >= 0; --d) {
        const int coordinate = rest % layout[d];
        rest /= layout[d];
        src_at += coordinate * layout[ndim + d];
        dst_at += coordinate * layout[2 * ndim + d];
    }
    dst[dst_at] = src[src_at];
}
