// max_pool2d with 2x2 windows at stride 2 (no padding or dilation), forward and backward: a
// work-item computes VW neighbouring outputs along a row with vector loads. Its vectors hold
// the int64 indices of the maxima too, so VW is as many 8-byte elements as one of the device's
// vector registers holds (clconv/ops/pool.py passes it), not as many floats.
#include "common.h"
#include "vector.h"
#include "pool_max.h"

// max_pool_forward for 2x2 windows at stride 2 without padding or dilation, in 2D (D = 1).
// One work-item per output row: VW outputs per step from 2 VW elements of each of its two input
// rows. The last step overlaps the one before (rewriting its own outputs with equal values)
// instead of a scalar tail; only a window cut by the input's edge (ceil_mode) takes the scalar
// path, where a clamped coordinate repeats a candidate, which changes neither the maximum nor
// its index.
__kernel void max_pool2d_k2s2(
    __global const REAL *restrict x, __global REAL *restrict y,
    __global long *restrict indices, const int write_indices,
    const int planes, const int H, const int W, const int OH, const int OW)
{
    const int row = get_global_id(0);  // plane * OH + oh
    if (row >= planes * OH)
        return;
    const int plane = row / OH, oh = row % OH;
    const int top_at = 2 * oh * W, bottom_at = min(2 * oh + 1, H - 1) * W;
    const __global REAL *x_plane = x + (size_t)plane * H * W;
    __global REAL *y_row = y + (size_t)row * OW;
    __global long *indices_row = indices + (size_t)row * OW;
    const int whole = W / 2;  // outputs whose window lies inside the row
    int ow = 0;
    if (whole >= VW) {
        const VMASK lanes = 2 * (VMASK)(LANE_IDS);
        for (int step = 0; step < whole; step += VW) {
            ow = min(step, whole - VW);
            const VREAL top0 = VLOAD(0, x_plane + top_at + 2 * ow);
            const VREAL top1 = VLOAD(1, x_plane + top_at + 2 * ow);
            const VREAL bottom0 = VLOAD(0, x_plane + bottom_at + 2 * ow);
            const VREAL bottom1 = VLOAD(1, x_plane + bottom_at + 2 * ow);
            VREAL best = EVEN_LANES(top0, top1);
            VMASK best_at = lanes + top_at + 2 * ow;
            TAKE_MAX_LANES(best, best_at, ODD_LANES(top0, top1), lanes + (top_at + 2 * ow + 1));
            TAKE_MAX_LANES(best, best_at, EVEN_LANES(bottom0, bottom1),
                           lanes + (bottom_at + 2 * ow));
            TAKE_MAX_LANES(best, best_at, ODD_LANES(bottom0, bottom1),
                           lanes + (bottom_at + 2 * ow + 1));
            VSTORE(best, 0, y_row + ow);
            if (write_indices)
                VSTORE(CONVERT_VLONG(best_at), 0, indices_row + ow);
        }
        ow = whole;
    }
    for (; ow < OW; ++ow) {
        const int left = 2 * ow, right = min(2 * ow + 1, W - 1);
        REAL best = x_plane[top_at + left];
        int best_at = top_at + left;
        TAKE_MAX(best, best_at, x_plane[top_at + right], top_at + right);
        TAKE_MAX(best, best_at, x_plane[bottom_at + left], bottom_at + left);
        TAKE_MAX(best, best_at, x_plane[bottom_at + right], bottom_at + right);
        y_row[ow] = best;
        if (write_indices)
            indices_row[ow] = best_at;
    }
}

// Backward of max_pool2d 2x2 / stride 2 (no padding or dilation): windows do not overlap, so
// each input element receives at most one gradient: its window's, where the window's maximum
// was, else zero (zero too in the last row or column where no window covers it). One
// work-item per pair of input rows (one window row, the last may be cut by the input's edge or
// cover nothing): VW windows per step with vector loads, as in max_pool2d_k2s2, the last step
// overlapping the one before; a scalar tail for the columns past the whole windows.
__kernel void max_pool2d_k2s2_backward(__global const REAL *restrict dy,
                                       __global const long *restrict indices,
                                       __global REAL *restrict dx, const int planes,
                                       const int H, const int W, const int OH, const int OW)
{
    const int BH = (H + 1) / 2;  // pairs of input rows
    const int i = get_global_id(0);
    if (i >= planes * BH)
        return;
    const int plane = i / BH, bh = i % BH;
    const int top = 2 * bh;
    const bool has_bottom = top + 1 < H;
    __global REAL *dx_top = dx + ((size_t)plane * H + top) * W;
    __global REAL *dx_bottom = dx_top + W;
    if (bh >= OH) {  // rows below every window
        for (int c = 0; c < W; ++c) {
            dx_top[c] = 0;
            if (has_bottom)
                dx_bottom[c] = 0;
        }
        return;
    }
    const __global REAL *dy_row = dy + ((size_t)plane * OH + bh) * OW;
    const __global long *indices_row = indices + ((size_t)plane * OH + bh) * OW;
    const int whole = min(W / 2, OW);  // windows with both columns inside the row
    int ow = 0;
    if (whole >= VW) {
        const VMASK lanes = 2 * (VMASK)(LANE_IDS);
        for (int step = 0; step < whole; step += VW) {
            ow = min(step, whole - VW);
            const VREAL g = VLOAD(0, dy_row + ow);
            const VMASK chosen = CONVERT_VMASK(VLOAD(0, indices_row + ow));
            const VMASK top_left = lanes + (top * W + 2 * ow);
            const VREAL zero = 0;
            const VREAL a = select(zero, g, chosen == top_left);
            const VREAL b = select(zero, g, chosen == top_left + 1);
            VSTORE(INTERLEAVE_LOW(a, b), 0, dx_top + 2 * ow);
            VSTORE(INTERLEAVE_HIGH(a, b), 0, dx_top + 2 * ow + VW);
            if (has_bottom) {
                const VREAL c = select(zero, g, chosen == top_left + W);
                const VREAL d = select(zero, g, chosen == top_left + W + 1);
                VSTORE(INTERLEAVE_LOW(c, d), 0, dx_bottom + 2 * ow);
                VSTORE(INTERLEAVE_HIGH(c, d), 0, dx_bottom + 2 * ow + VW);
            }
        }
        ow = whole;
    }
    for (int c = 2 * ow; c < W; ++c) {
        const int o = c / 2;
        const long chosen = o < OW ? indices_row[o] : -1;
        const REAL g = o < OW ? dy_row[o] : 0;
        dx_top[c] = chosen == top * W + c ? g : (REAL)0;
        if (has_bottom)
            dx_bottom[c] = chosen == (top + 1) * W + c ? g : (REAL)0;
    }
}
