// Pooling, forward. 1D and 2D pooling run as 3D with unit depth (and height). The general
// kernels take one work-item per output element: a window is small and windows overlap little,
// so sharing loads across work-items through __local memory buys nothing over the caches.
// Common 2D windows have specialized kernels (clconv/ops/pool.py chooses) in which a work-item
// computes 8 or 16 neighbouring outputs along a row with vector loads, as PoCL turns explicit
// vectors into AVX-512.
#include "common.h"

// Vector types of REAL for the specialized kernels (REAL16 is common.h's), with the integer type
// that comparisons of 8 of them return.
#if REAL_IS_DOUBLE
#define REAL8 double8
#define MASK8 long8
#define CONVERT_MASK8(v) (v)
#define convert_REAL16 convert_double16
#else
#define REAL8 float8
#define MASK8 int8
#define CONVERT_MASK8 convert_int8
#define convert_REAL16 convert_float16
#endif

// Output position `index` of a planes x OD x OH x OW output, split into plane and coordinates.
#define SPLIT_OUTPUT_INDEX(index)                                   \
    const int ow = (index) % OW;                                    \
    const int oh = ((index) / OW) % OH;                             \
    const int od = ((index) / (OW * OH)) % OD;                      \
    const int plane = (index) / (OW * OH * OD)

__kernel void max_pool_forward(
    __global const REAL *restrict x, __global REAL *restrict y,
    __global long *restrict indices, const int write_indices,
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
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

// The even (odd) lanes of the 16 in a, b. (Spelled out: Oclgrind 21.10 reports .even/.odd of a
// 16-wide vector as uninitialized, and PoCL's shuffle2 is a loop.)
#define EVEN_LANES(a, b) (REAL8)(a.s0, a.s2, a.s4, a.s6, b.s0, b.s2, b.s4, b.s6)
#define ODD_LANES(a, b) (REAL8)(a.s1, a.s3, a.s5, a.s7, b.s1, b.s3, b.s5, b.s7)
// The inverse: a's lanes at the even positions of 16, b's at the odd ones.
#define INTERLEAVE(a, b) (REAL16)(a.s0, b.s0, a.s1, b.s1, a.s2, b.s2, a.s3, b.s3, \
                                  a.s4, b.s4, a.s5, b.s5, a.s6, b.s6, a.s7, b.s7)

// The max-pool rule for one candidate: the first seeds `best` (best_at < 0), a larger value or
// a NaN replaces it.
#define TAKE_MAX(best, best_at, value, value_at)                  \
    if (best_at < 0 || (value) > best || isnan(value)) {          \
        best = (value);                                           \
        best_at = (value_at);                                     \
    }

// The same rule for 8 windows at once (lanes); every lane is already seeded.
#define TAKE_MAX8(best, best_at, value, value_at)                           \
    {                                                                       \
        const MASK8 take = isgreater(value, best) | isnan(value);           \
        best = select(best, value, take);                                   \
        best_at = select(best_at, value_at, take);                          \
    }

// max_pool_forward for 2x2 windows at stride 2 without padding or dilation, in 2D (D = 1).
// One work-item per output row: 8 outputs per step from 16 elements of each of its two input
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
    if (whole >= 8) {
        const MASK8 lanes = (MASK8)(0, 2, 4, 6, 8, 10, 12, 14);
        for (int step = 0; step < whole; step += 8) {
            ow = min(step, whole - 8);
            const REAL8 top0 = vload8(0, x_plane + top_at + 2 * ow);
            const REAL8 top1 = vload8(1, x_plane + top_at + 2 * ow);
            const REAL8 bottom0 = vload8(0, x_plane + bottom_at + 2 * ow);
            const REAL8 bottom1 = vload8(1, x_plane + bottom_at + 2 * ow);
            REAL8 best = EVEN_LANES(top0, top1);
            MASK8 best_at = lanes + top_at + 2 * ow;
            TAKE_MAX8(best, best_at, ODD_LANES(top0, top1), lanes + (top_at + 2 * ow + 1));
            TAKE_MAX8(best, best_at, EVEN_LANES(bottom0, bottom1), lanes + (bottom_at + 2 * ow));
            TAKE_MAX8(best, best_at, ODD_LANES(bottom0, bottom1), lanes + (bottom_at + 2 * ow + 1));
            vstore8(best, 0, y_row + ow);
            if (write_indices)
                vstore8(convert_long8(best_at), 0, indices_row + ow);
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
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
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

// Sum of each of 16 outputs' three-wide window in one input row: x[w-1] + x[w] + x[w+1] for
// w = start .. start+15, with zero padding past either end of the row (0 <= start <= W - 16),
// each term first multiplied by the weight of its own column: weight_left for x[w-1],
// weight for x[w], weight_right for x[w+1] (all ones in the forward).
// (Shifts spelled out: PoCL's shuffle2 is a loop.)
inline REAL16 window_row_sum(const __global REAL *row, const int start, const int W,
                             const REAL16 weight_left, const REAL16 weight,
                             const REAL16 weight_right)
{
    const REAL16 c = vload16(0, row + start);
    const REAL16 left = start > 0 ? vload16(0, row + start - 1)
        : (REAL16)(0, c.s0, c.s1, c.s2, c.s3, c.s4, c.s5, c.s6,
                   c.s7, c.s8, c.s9, c.sa, c.sb, c.sc, c.sd, c.se);
    const REAL16 right = start + 16 < W ? vload16(0, row + start + 1)
        : (REAL16)(c.s1, c.s2, c.s3, c.s4, c.s5, c.s6, c.s7, c.s8,
                   c.s9, c.sa, c.sb, c.sc, c.sd, c.se, c.sf, 0);
    return left * weight_left + c * weight + right * weight_right;
}

// Input columns inside the 3-wide window centred on each of `column` (PyTorch's divisor
// without padding, per column): 2 at either edge of a row, else 3.
inline REAL16 window_columns(const int16 column, const int W)
{
    return convert_REAL16(3 + (column == 0) + (column == W - 1));  // (true is -1)
}

// Rows of the input inside the 3-high window centred on row r (0 <= r < H).
inline REAL window_rows(const int r, const int H)
{
    return 3 - (r == 0) - (r == H - 1);
}

// 16 columns from `start` of a 3x3, stride 1, padding 1 window sum over one plane, walking down
// the rows with each row's window sums kept for the next two outputs. The forward (backward = 0)
// divides each output's sum by its divisor. The backward gathers into input (h, w) the
// gradients of the outputs whose windows hold it, each divided by that output's divisor: the
// same 3x3 neighbourhood, so the same walk; with a constant divisor (count_include_pad or
// divisor_override) the backward is the forward of the gradient, else each gradient is divided
// by its own output's rows * columns before it is summed.
inline void avg_pool_3x3_columns(const __global REAL *restrict in_plane,
                                 __global REAL *restrict out_plane, const int start, const int H,
                                 const int W, const int count_include_pad,
                                 const int divisor_override, const int backward)
{
    const int16 column = start + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const REAL16 columns = window_columns(column, W);
    // Per-term weights: 1/columns of the term's own output where the backward divides first.
    const bool divide_terms = backward && !count_include_pad && !divisor_override;
    const REAL16 weight_left = divide_terms ? 1 / window_columns(column - 1, W) : (REAL16)1;
    const REAL16 weight = divide_terms ? 1 / columns : (REAL16)1;
    const REAL16 weight_right = divide_terms ? 1 / window_columns(column + 1, W) : (REAL16)1;
#define ROW_SUM(r) (divide_terms ? window_row_sum(in_plane + (r) * W, start, W, weight_left, \
                                                  weight, weight_right) / window_rows(r, H) \
                                 : window_row_sum(in_plane + (r) * W, start, W, weight_left, \
                                                  weight, weight_right))
    REAL16 above = 0;
    REAL16 here = ROW_SUM(0);
    for (int oh = 0; oh < H; ++oh) {
        const REAL16 below = oh + 1 < H ? ROW_SUM(oh + 1) : (REAL16)0;
        const REAL16 total = above + here + below;
        REAL16 result;
        if (divide_terms)
            result = total;
        else if (divisor_override)
            result = total / (REAL)divisor_override;
        else if (count_include_pad)
            result = total / (REAL)9;
        else
            result = total / ((REAL)(3 - (oh == 0) - (oh == H - 1)) * columns);
        vstore16(result, 0, out_plane + oh * W + start);
        above = here;
        here = below;
    }
#undef ROW_SUM
}

// avg_pool_forward for 3x3 windows at stride 1 with padding 1, in 2D (D = 1, output size =
// input size) on rows of at least 16, and (backward = 1) its input gradient, from dy. One
// work-item per plane and 16 columns; the last one of a plane also does the 16 ending at the
// row's end where W is not a multiple of 16 (rewriting some of its own outputs with equal
// values rather than racing another work-item).
__kernel void avg_pool2d_k3s1p1(
    __global const REAL *restrict in, __global REAL *restrict out,
    const int planes, const int H, const int W,
    const int count_include_pad, const int divisor_override, const int backward)
{
    const int blocks = W / 16;
    const int item = get_global_id(0);
    if (item >= planes * blocks)
        return;
    const int plane = item / blocks, block = item % blocks;
    const __global REAL *in_plane = in + (size_t)plane * H * W;
    __global REAL *out_plane = out + (size_t)plane * H * W;
    avg_pool_3x3_columns(in_plane, out_plane, block * 16, H, W, count_include_pad,
                         divisor_override, backward);
    if (block == blocks - 1 && W % 16)
        avg_pool_3x3_columns(in_plane, out_plane, W - 16, H, W, count_include_pad,
                             divisor_override, backward);
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
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
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
    const int planes, const int D, const int H, const int W,
    const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
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

// Backward of max_pool2d 2x2 / stride 2 (no padding or dilation): windows do not overlap, so
// each input element receives at most one gradient: its window's, where the window's maximum
// was, else zero (zero too in the last row or column where no window covers it). One
// work-item per pair of input rows (one window row, the last may be cut by the input's edge or
// cover nothing): 8 windows per step with vector loads, as in max_pool2d_k2s2, the last step
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
    if (whole >= 8) {
        const MASK8 lanes = (MASK8)(0, 2, 4, 6, 8, 10, 12, 14);
        for (int step = 0; step < whole; step += 8) {
            ow = min(step, whole - 8);
            const REAL8 g = vload8(0, dy_row + ow);
            const MASK8 chosen = CONVERT_MASK8(vload8(0, indices_row + ow));
            const MASK8 top_left = lanes + (top * W + 2 * ow);
            const REAL8 zero = 0;
            const REAL8 a = select(zero, g, chosen == top_left);
            const REAL8 b = select(zero, g, chosen == top_left + 1);
            vstore16(INTERLEAVE(a, b), 0, dx_top + 2 * ow);
            if (has_bottom) {
                const REAL8 c = select(zero, g, chosen == top_left + W);
                const REAL8 d = select(zero, g, chosen == top_left + W + 1);
                vstore16(INTERLEAVE(c, d), 0, dx_bottom + 2 * ow);
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
