// Pooling, forward. 1D and 2D pooling run as 3D with unit depth (and height). The general
// kernels take one work-item per output element: a window is small and windows overlap little,
// so sharing loads across work-items through __local memory buys nothing over the caches.
// Common 2D windows have specialized kernels (clconv/ops/pool.py chooses) in which a work-item
// computes VW neighbouring outputs along a row with vector loads (vector.h: VW lanes of REAL,
// as many as one of the device's vector registers holds): average 3x3 at stride 1 in
// pool_k3s1p1.cl, max 2x2 at stride 2 in pool_k2s2.cl, max at stride 1 or 2 in pool_rows.cl;
// global average pooling on CPUs (global_avg_pool) sums vectors of a plane.
#include "common.h"
#include "vector.h"

// The window's geometry as the general kernels take it (clconv/ops/pool.py passes it in this
// order): planes (N * C), input D x H x W, output OD x OH x OW, kernel, stride, padding.
#define POOL_WINDOW_ARGS                                  \
    const int planes, const int D, const int H, const int W, \
    const int OD, const int OH, const int OW,             \
    const int KD, const int KH, const int KW,             \
    const int SD, const int SH, const int SW,             \
    const int PD, const int PH, const int PW

// Output position `index` of a planes x OD x OH x OW output, split into plane and coordinates.
#define SPLIT_OUTPUT_INDEX(index)                                   \
    const int ow = (index) % OW;                                    \
    const int oh = ((index) / OW) % OH;                             \
    const int od = ((index) / (OW * OH)) % OD;                      \
    const int plane = (index) / (OW * OH * OD)

__kernel void max_pool_forward(
    __global const REAL *restrict x, __global REAL *restrict y,
    __global long *restrict indices, const int write_indices,
    POOL_WINDOW_ARGS,
    const int DD, const int DH, const int DW)
{
    const int index = get_global_id(0);
    if (index >= planes * OD * OH * OW)
        return;
    SPLIT_OUTPUT_INDEX(index);
    const __global REAL *x_plane = x + (size_t)plane * D * H * W;
    // As PyTorch: the first in-bounds element seeds the maximum, a larger value or a NaN
    // replaces it; padding never takes part (it acts as -infinity).
    REAL best = -INFINITY;
    int best_at = -1;
    for (int kd = 0; kd < KD; ++kd) {
        const int id = od * SD - PD + kd * DD;
        if (id < 0 || id >= D) continue;
        for (int kh = 0; kh < KH; ++kh) {
            const int ih = oh * SH - PH + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                const int iw = ow * SW - PW + kw * DW;
                if (iw < 0 || iw >= W) continue;
                const int at = (id * H + ih) * W + iw;
                const REAL value = x_plane[at];
                if (best_at < 0 || value > best || isnan(value)) {
                    best = value;
                    best_at = at;
                }
            }
        }
    }
    y[index] = best;
    if (write_indices)
        indices[index] = best_at;
}

// PyTorch's divisor of average-pooling output (od, oh, ow): divisor_override if set, else the
// window's size clipped to the padded input (count_include_pad) or to the input itself.
inline int avg_pool_divisor(int od, int oh, int ow, int D, int H, int W, int KD, int KH, int KW,
                            int SD, int SH, int SW, int PD, int PH, int PW,
                            int count_include_pad, int divisor_override)
{
    if (divisor_override)
        return divisor_override;
    const int d0 = od * SD - PD, h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int d1 = min(d0 + KD, D + PD), h1 = min(h0 + KH, H + PH), w1 = min(w0 + KW, W + PW);
    if (count_include_pad)
        return (d1 - d0) * (h1 - h0) * (w1 - w0);
    return (min(d1, D) - max(d0, 0)) * (min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0));
}

__kernel void avg_pool_forward(
    __global const REAL *restrict x, __global REAL *restrict y,
    POOL_WINDOW_ARGS,
    const int count_include_pad, const int divisor_override)
{
    const int index = get_global_id(0);
    if (index >= planes * OD * OH * OW)
        return;
    SPLIT_OUTPUT_INDEX(index);
    // The window clipped to the input.
    const int d0 = od * SD - PD, h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int ds = max(d0, 0), hs = max(h0, 0), ws = max(w0, 0);
    const int de = min(d0 + KD, D), he = min(h0 + KH, H), we = min(w0 + KW, W);
    const __global REAL *x_plane = x + (size_t)plane * D * H * W;
    REAL total = 0;
    for (int id = ds; id < de; ++id)
        for (int ih = hs; ih < he; ++ih)
            for (int iw = ws; iw < we; ++iw)
                total += x_plane[(id * H + ih) * W + iw];
    y[index] = total / (REAL)avg_pool_divisor(od, oh, ow, D, H, W, KD, KH, KW, SD, SH, SW,
                                              PD, PH, PW, count_include_pad, divisor_override);
}

// Global average pooling on CPUs: y[p] = the mean of plane p's `length` elements. A work-item
// per plane: VW-wide loads into two accumulators, their lanes summed pairwise, a scalar tail.
__kernel void global_avg_pool(__global const REAL *restrict x, __global REAL *restrict y,
                              const int planes, const int length)
{
    const int p = get_global_id(0);
    if (p >= planes)
        return;
    const __global REAL *plane = x + (size_t)p * length;
    VREAL first = 0, second = 0;
    int i = 0;
    for (; i + 2 * VW <= length; i += 2 * VW) {
        first += VLOAD(0, plane + i);
        second += VLOAD(1, plane + i);
    }
    if (i + VW <= length) {
        first += VLOAD(0, plane + i);
        i += VW;
    }
    const VREAL both = first + second;
    REAL total = LANE_SUM(both);
    for (; i < length; ++i)
        total += plane[i];
    y[p] = total / (REAL)length;
}

// Output o of each dimension averages input [floor(o*size/out), ceil((o+1)*size/out)).
__kernel void adaptive_avg_pool_forward(
    __global const REAL *restrict x, __global REAL *restrict y,
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW)
{
    const int index = get_global_id(0);
    if (index >= planes * OD * OH * OW)
        return;
    SPLIT_OUTPUT_INDEX(index);
    const int ds = od * D / OD, de = ((od + 1) * D + OD - 1) / OD;
    const int hs = oh * H / OH, he = ((oh + 1) * H + OH - 1) / OH;
    const int ws = ow * W / OW, we = ((ow + 1) * W + OW - 1) / OW;
    const __global REAL *x_plane = x + (size_t)plane * D * H * W;
    REAL total = 0;
    for (int id = ds; id < de; ++id)
        for (int ih = hs; ih < he; ++ih)
            for (int iw = ws; iw < we; ++iw)
                total += x_plane[(id * H + ih) * W + iw];
    y[index] = total / (REAL)((de - ds) * (he - hs) * (we - ws));
}

// Output o of each dimension is the maximum of input [floor(o*size/out), ceil((o+1)*size/out)),
// its position (flat in the plane) in `indices`: the first maximum, a NaN taking over, as
// max_pool_forward does.
__kernel void adaptive_max_pool_forward(
    __global const REAL *restrict x, __global REAL *restrict y, __global long *restrict indices,
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW)
{
    const int index = get_global_id(0);
    if (index >= planes * OD * OH * OW)
        return;
    SPLIT_OUTPUT_INDEX(index);
    const int ds = od * D / OD, de = ((od + 1) * D + OD - 1) / OD;
    const int hs = oh * H / OH, he = ((oh + 1) * H + OH - 1) / OH;
    const int ws = ow * W / OW, we = ((ow + 1) * W + OW - 1) / OW;
    const __global REAL *x_plane = x + (size_t)plane * D * H * W;
    REAL best = x_plane[(ds * H + hs) * W + ws];
    int best_at = (ds * H + hs) * W + ws;
    for (int id = ds; id < de; ++id)
        for (int ih = hs; ih < he; ++ih)
            for (int iw = ws; iw < we; ++iw) {
                const int at = (id * H + ih) * W + iw;
                const REAL v = x_plane[at];
                if (!isnan(best) && (v > best || isnan(v))) {
                    best = v;
                    best_at = at;
                }
            }
    y[index] = best;
    indices[index] = best_at;
}

// --- backward: one work-item per input element gathers from the outputs whose windows read it
// (no scatter, no atomics: deterministic even where windows overlap).

#define SPLIT_INPUT_INDEX(index)                                    \
    const int iw = (index) % W;                                     \
    const int ih = ((index) / W) % H;                               \
    const int id = ((index) / (W * H)) % D;                         \
    const int plane = (index) / (W * H * D)

// dx[i] = sum of dy[o] over the outputs o whose maximum was input element i.
__kernel void max_pool_backward(
    __global const REAL *restrict dy, __global const long *restrict indices,
    __global REAL *restrict dx,
    POOL_WINDOW_ARGS,
    const int DD, const int DH, const int DW)
{
    const int index = get_global_id(0);
    if (index >= planes * D * H * W)
        return;
    SPLIT_INPUT_INDEX(index);
    const long flat = (id * H + ih) * W + iw;
    const size_t plane_start = (size_t)plane * OD * OH * OW;
    REAL total = 0;
    for (int kd = 0; kd < KD; ++kd) {
        const int od = output_reading(id, kd, SD, PD, DD, OD);
        if (od < 0) continue;
        for (int kh = 0; kh < KH; ++kh) {
            const int oh = output_reading(ih, kh, SH, PH, DH, OH);
            if (oh < 0) continue;
            for (int kw = 0; kw < KW; ++kw) {
                const int ow = output_reading(iw, kw, SW, PW, DW, OW);
                if (ow < 0) continue;
                const size_t o = plane_start + (od * OH + oh) * OW + ow;
                if (indices[o] == flat)
                    total += dy[o];
            }
        }
    }
    dx[index] = total;
}

// dx[i] = sum of dy[o] / divisor(o) over the outputs o whose window holds input element i.
__kernel void avg_pool_backward(
    __global const REAL *restrict dy, __global REAL *restrict dx,
    POOL_WINDOW_ARGS,
    const int count_include_pad, const int divisor_override)
{
    const int index = get_global_id(0);
    if (index >= planes * D * H * W)
        return;
    SPLIT_INPUT_INDEX(index);
    const size_t plane_start = (size_t)plane * OD * OH * OW;
    REAL total = 0;
    for (int kd = 0; kd < KD; ++kd) {
        const int od = output_reading(id, kd, SD, PD, 1, OD);
        if (od < 0) continue;
        for (int kh = 0; kh < KH; ++kh) {
            const int oh = output_reading(ih, kh, SH, PH, 1, OH);
            if (oh < 0) continue;
            for (int kw = 0; kw < KW; ++kw) {
                const int ow = output_reading(iw, kw, SW, PW, 1, OW);
                if (ow < 0) continue;
                total += dy[plane_start + (od * OH + oh) * OW + ow]
                    / (REAL)avg_pool_divisor(od, oh, ow, D, H, W, KD, KH, KW, SD, SH, SW,
                                             PD, PH, PW, count_include_pad, divisor_override);
            }
        }
    }
    dx[index] = total;
}

// dx[i] = sum of dy[o] / (window size of o) over the adaptive windows o that hold input i.
__kernel void adaptive_avg_pool_backward(
    __global const REAL *restrict dy, __global REAL *restrict dx,
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW)
{
    const int index = get_global_id(0);
    if (index >= planes * D * H * W)
        return;
    SPLIT_INPUT_INDEX(index);
    const size_t plane_start = (size_t)plane * OD * OH * OW;
    REAL total = 0;
    // Window o spans [floor(o*size/out), ceil((o+1)*size/out)); those holding i lie in this range.
    for (int od = id * OD / D; od < min(OD, ((id + 1) * OD + D - 1) / D); ++od) {
        const int ds = od * D / OD, de = ((od + 1) * D + OD - 1) / OD;
        if (id < ds || id >= de) continue;
        for (int oh = ih * OH / H; oh < min(OH, ((ih + 1) * OH + H - 1) / H); ++oh) {
            const int hs = oh * H / OH, he = ((oh + 1) * H + OH - 1) / OH;
            if (ih < hs || ih >= he) continue;
            for (int ow = iw * OW / W; ow < min(OW, ((iw + 1) * OW + W - 1) / W); ++ow) {
                const int ws = ow * W / OW, we = ((ow + 1) * W + OW - 1) / OW;
                if (iw < ws || iw >= we) continue;
                total += dy[plane_start + (od * OH + oh) * OW + ow] / (REAL)((de - ds) * (he - hs) * (we - ws));
            }
        }
    }
    dx[index] = total;
}

// dx[i] = sum of dy[o] over the adaptive windows o holding i whose maximum was i.
__kernel void adaptive_max_pool_backward(
    __global const REAL *restrict dy, __global const long *restrict indices,
    __global REAL *restrict dx, const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW)
{
    const int index = get_global_id(0);
    if (index >= planes * D * H * W)
        return;
    SPLIT_INPUT_INDEX(index);
    const long flat = (id * H + ih) * W + iw;
    const size_t plane_start = (size_t)plane * OD * OH * OW;
    REAL total = 0;
    for (int od = id * OD / D; od < min(OD, ((id + 1) * OD + D - 1) / D); ++od)
        for (int oh = ih * OH / H; oh < min(OH, ((ih + 1) * OH + H - 1) / H); ++oh)
            for (int ow = iw * OW / W; ow < min(OW, ((iw + 1) * OW + W - 1) / W); ++ow) {
                const size_t o = plane_start + (od * OH + oh) * OW + ow;
                if (indices[o] == flat)
                    total += dy[o];
            }
    dx[index] = total;
}
