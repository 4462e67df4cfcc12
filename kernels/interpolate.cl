// interpolate: nearest (MODE 1) or linear (MODE 2: linear, bilinear, trilinear) resampling of
// the last three dimensions of an (outer, D, H, W) view, each dimension separately: `scale_*`
// maps an output coordinate to an input one (PyTorch's rules, computed in REAL as PyTorch
// computes them in the tensor's type; ALIGN is align_corners). Forward: one work-item per
// output element. Backward: one work-item per input element sums, in a fixed order, the output
// elements that read it (no atomics), finding them in a window around i / scale and keeping
// those the forward's own index arithmetic sends to it.
#include "common.h"

#ifndef MODE
#define MODE 1
#endif
#ifndef ALIGN
#define ALIGN 0
#endif

#if MODE == 1
// The input index output index o reads.
inline int nearest_index(const int o, const REAL scale, const int n)
{
    return min((int)floor((REAL)o * scale), n - 1);
}
#else
// The input coordinate output index o samples.
inline REAL source(const int o, const REAL scale)
{
#if ALIGN
    return (REAL)o * scale;
#else
    const REAL s = ((REAL)o + (REAL)0.5) * scale - (REAL)0.5;
    return s < 0 ? (REAL)0 : s;
#endif
}
#endif

// The weight with which output index o reads input index i along one dimension.
inline REAL weight(const int o, const int i, const REAL scale, const int n)
{
#if MODE == 1
    return nearest_index(o, scale, n) == i ? (REAL)1 : (REAL)0;
#else
    const REAL s = source(o, scale);
    const int i0 = min((int)s, n - 1), i1 = min(i0 + 1, n - 1);
    const REAL l = s - (REAL)i0;
    return (i0 == i ? (REAL)1 - l : (REAL)0) + (i1 == i ? l : (REAL)0);
#endif
}

__kernel void interpolate_forward(__global const REAL *restrict x, __global REAL *restrict y,
                                  const int total, const int in_d, const int in_h,
                                  const int in_w, const int out_d, const int out_h,
                                  const int out_w, const REAL scale_d, const REAL scale_h,
                                  const REAL scale_w)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int w = i % out_w, h = i / out_w % out_h, d = i / (out_w * out_h) % out_d;
    const __global REAL *plane = x + (size_t)(i / (out_w * out_h * out_d)) * in_d * in_h * in_w;
#if MODE == 1
    y[i] = plane[((size_t)nearest_index(d, scale_d, in_d) * in_h +
                  nearest_index(h, scale_h, in_h)) * in_w + nearest_index(w, scale_w, in_w)];
#else
    // The 2 x 2 x 2 neighbours (repeated at the edges, where their weights still sum to 1).
    const REAL sd = source(d, scale_d), sh = source(h, scale_h), sw = source(w, scale_w);
    const int d0 = min((int)sd, in_d - 1), h0 = min((int)sh, in_h - 1), w0 = min((int)sw, in_w - 1);
    const int d1 = min(d0 + 1, in_d - 1), h1 = min(h0 + 1, in_h - 1), w1 = min(w0 + 1, in_w - 1);
    const REAL ld = sd - d0, lh = sh - h0, lw = sw - w0;
#define AT(a, b, c) plane[((size_t)(a) * in_h + (b)) * in_w + (c)]
    const REAL top = ((REAL)1 - lh) * (((REAL)1 - lw) * AT(d0, h0, w0) + lw * AT(d0, h0, w1)) +
                     lh * (((REAL)1 - lw) * AT(d0, h1, w0) + lw * AT(d0, h1, w1));
    const REAL bottom = ((REAL)1 - lh) * (((REAL)1 - lw) * AT(d1, h0, w0) + lw * AT(d1, h0, w1)) +
                        lh * (((REAL)1 - lw) * AT(d1, h1, w0) + lw * AT(d1, h1, w1));
#undef AT
    y[i] = ((REAL)1 - ld) * top + ld * bottom;
#endif
}

// The output indices [*first, *last) that may read input index i (a superset).
inline int window_first(const int i, const REAL scale)
{
    if (scale <= 0)
        return 0;
#if MODE == 1
    return max(0, (int)floor((REAL)i / scale) - 2);
#elif ALIGN
    return max(0, (int)floor((REAL)(i - 1) / scale) - 2);
#else
    return max(0, (int)floor(((REAL)i - (REAL)0.5) / scale - (REAL)0.5) - 2);
#endif
}

inline int window_last(const int i, const REAL scale, const int out)
{
    if (scale <= 0)
        return out;
#if MODE == 1
    return min(out, (int)ceil((REAL)(i + 1) / scale) + 2);
#elif ALIGN
    return min(out, (int)ceil((REAL)(i + 1) / scale) + 2);
#else
    return min(out, (int)ceil(((REAL)i + (REAL)1.5) / scale - (REAL)0.5) + 2);
#endif
}

__kernel void interpolate_backward(__global const REAL *restrict dy, __global REAL *restrict dx,
                                   const int total, const int in_d, const int in_h,
                                   const int in_w, const int out_d, const int out_h,
                                   const int out_w, const REAL scale_d, const REAL scale_h,
                                   const REAL scale_w)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int w = i % in_w, h = i / in_w % in_h, d = i / (in_w * in_h) % in_d;
    const __global REAL *plane = dy + (size_t)(i / (in_w * in_h * in_d)) * out_d * out_h * out_w;
    const int last_d = window_last(d, scale_d, out_d), last_h = window_last(h, scale_h, out_h);
    const int last_w = window_last(w, scale_w, out_w);
    REAL sum = 0;
    for (int od = window_first(d, scale_d); od < last_d; ++od) {
        const REAL wd = weight(od, d, scale_d, in_d);
        if (wd == 0)
            continue;
        for (int oh = window_first(h, scale_h); oh < last_h; ++oh) {
            const REAL wh = weight(oh, h, scale_h, in_h);
            if (wh == 0)
                continue;
            REAL row = 0;
            for (int ow = window_first(w, scale_w); ow < last_w; ++ow)
                row += weight(ow, w, scale_w, in_w) * plane[((size_t)od * out_h + oh) * out_w + ow];
            sum += wd * wh * row;
        }
    }
    dx[i] = sum;
}
