// max_pool2d with any window at stride 1 or 2 along rows (POOL_SW, a build option), any
// stride down the columns and any padding, without dilation: ResNet's 3x3 / stride 2 /
// padding 1 stem among them. A work-item computes one output row: VW neighbouring outputs per
// step with vector loads where the windows of all VW lie inside the input row (the interior),
// one output at a time at the row's edges. As in pool_k2s2.cl, VW is as many 8-byte elements as
// a vector register holds (the int64 indices share the vectors); the last interior step
// overlaps the one before instead of a scalar tail.
#include "common.h"
#include "vector.h"
#include "pool_max.h"

#ifndef POOL_SW
#define POOL_SW 2
#endif

// The window's elements in the order max_pool_forward (pool.cl) takes them (rows, then columns;
// the first in-bounds one seeds the maximum), for output column ow of the rows [ih0, ih1).
#define SCALAR_WINDOW(ow)                                                       \
    {                                                                           \
        REAL best = -INFINITY;                                                  \
        int best_at = -1;                                                       \
        for (int ih = ih0; ih < ih1; ++ih)                                      \
            for (int kw = 0; kw < KW; ++kw) {                                   \
                const int iw = (ow) * POOL_SW - PW + kw;                        \
                if (iw >= 0 && iw < W) {                                        \
                    const int at = ih * W + iw;                                 \
                    TAKE_MAX(best, best_at, x_plane[at], at);                   \
                }                                                               \
            }                                                                   \
        y_row[ow] = best;                                                       \
        if (write_indices)                                                      \
            indices_row[ow] = best_at;                                          \
    }

// The VW elements of a row at columns iw, iw + POOL_SW, ... (iw and the loads inside the row).
inline VREAL row_lanes_strided(const __global REAL *row, const int iw)
{
#if POOL_SW == 1
    return VLOAD(0, row + iw);
#else
    const VREAL a = VLOAD(0, row + iw), b = VLOAD(1, row + iw);
    return EVEN_LANES(a, b);
#endif
}
#define ROW_LANES(row, iw) row_lanes_strided(row, iw)

__kernel void max_pool2d_rows(
    __global const REAL *restrict x, __global REAL *restrict y,
    __global long *restrict indices, const int write_indices,
    const int planes, const int H, const int W, const int OH, const int OW,
    const int KH, const int KW, const int SH, const int PH, const int PW)
{
    const int row = get_global_id(0);  // plane * OH + oh
    if (row >= planes * OH)
        return;
    const int plane = row / OH, oh = row % OH;
    const int ih0 = max(oh * SH - PH, 0), ih1 = min(oh * SH - PH + KH, H);  // rows in bounds
    const __global REAL *x_plane = x + (size_t)plane * H * W;
    __global REAL *y_row = y + (size_t)row * OW;
    __global long *indices_row = indices + (size_t)row * OW;
    // Interior outputs [lo, hi]: every column of their windows inside the row, and (stride 2)
    // the element after the last one too, which the second load of a step reads.
    const int lo = (PW + POOL_SW - 1) / POOL_SW;
    const int last = W - 1 + PW - (KW - 1) - (POOL_SW - 1);  // hi * POOL_SW at most
    const int hi = last < 0 ? -1 : min(last / POOL_SW, OW - 1);
    int ow = 0;
    if (ih0 < ih1 && hi - lo + 1 >= VW) {
        for (; ow < lo; ++ow)
            SCALAR_WINDOW(ow);
        const VMASK lanes = POOL_SW * (VMASK)(LANE_IDS);
        for (int step = lo; step <= hi; step += VW) {
            const int first = min(step, hi + 1 - VW);
            const int iw = first * POOL_SW - PW;
            VREAL best = ROW_LANES(x_plane + ih0 * W, iw);
            VMASK best_at = lanes + (ih0 * W + iw);
            for (int ih = ih0; ih < ih1; ++ih) {
                const __global REAL *x_row = x_plane + ih * W;
                for (int kw = ih == ih0; kw < KW; ++kw)
                    TAKE_MAX_LANES(best, best_at, ROW_LANES(x_row, iw + kw),
                                   lanes + (ih * W + iw + kw));
            }
            VSTORE(best, 0, y_row + first);
            if (write_indices)
                VSTORE(CONVERT_VLONG(best_at), 0, indices_row + first);
        }
        ow = hi + 1;
    }
    for (; ow < OW; ++ow)
        SCALAR_WINDOW(ow);
}
