// pad's reflect, replicate and circular modes (PAD_MODE 1, 2, 3; constant padding is a fill and
// a strided copy), over up to three trailing dimensions: the tensor is viewed as
// (outer, D, H, W) with in_* and out_* the sizes of the last three, before_* the padding before
// each. Forward: one work-item per output element reads its source. Backward: one work-item per
// input element sums the output elements that read it (at most three runs per dimension), in a
// fixed order: no atomics, the same sums on every run.
#include "common.h"

#ifndef PAD_MODE
#define PAD_MODE 1
#endif
#define PAD_REFLECT 1
#define PAD_REPLICATE 2
#define PAD_CIRCULAR 3

// The input coordinate output coordinate o reads along a dimension of input size n.
inline int pad_source(const int o, const int n, const int before)
{
    const int i = o - before;
#if PAD_MODE == PAD_REFLECT
    return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
#elif PAD_MODE == PAD_REPLICATE
    return clamp(i, 0, n - 1);
#else
    return i < 0 ? i + n : i >= n ? i - n : i;
#endif
}

// Run k (0, 1, 2) of the output coordinates that read input coordinate c: its first
// coordinate and its length (0: no such run).
inline int run_start(const int c, const int n, const int before, const int out, const int k)
{
#if PAD_MODE == PAD_REFLECT
    return k == 0 ? c + before : k == 1 ? before - c : before + 2 * (n - 1) - c;
#elif PAD_MODE == PAD_REPLICATE
    return k == 0 ? c + before : k == 1 ? 0 : before + n;
#else
    return k == 0 ? c + before : k == 1 ? c + before - n : c + before + n;
#endif
}

inline int run_length(const int c, const int n, const int before, const int out, const int k)
{
    const int start = run_start(c, n, before, out, k);
    if (k == 0)
        return 1;
#if PAD_MODE == PAD_REFLECT
    return (k == 1 ? c >= 1 && start >= 0 : c <= n - 2 && start < out) ? 1 : 0;
#elif PAD_MODE == PAD_REPLICATE
    return k == 1 ? (c == 0 ? before : 0) : (c == n - 1 ? out - before - n : 0);
#else
    return start >= 0 && start < out ? 1 : 0;
#endif
}

__kernel void pad_forward(__global const REAL *restrict x, __global REAL *restrict y,
                          const int total, const int in_d, const int in_h, const int in_w,
                          const int out_d, const int out_h, const int out_w, const int before_d,
                          const int before_h, const int before_w)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int w = i % out_w, h = i / out_w % out_h, d = i / (out_w * out_h) % out_d;
    const int outer = i / (out_w * out_h * out_d);
    const int sd = pad_source(d, in_d, before_d), sh = pad_source(h, in_h, before_h);
    const int sw = pad_source(w, in_w, before_w);
    y[i] = x[(((size_t)outer * in_d + sd) * in_h + sh) * in_w + sw];
}

__kernel void pad_backward(__global const REAL *restrict dy, __global REAL *restrict dx,
                           const int total, const int in_d, const int in_h, const int in_w,
                           const int out_d, const int out_h, const int out_w, const int before_d,
                           const int before_h, const int before_w)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int w = i % in_w, h = i / in_w % in_h, d = i / (in_w * in_h) % in_d;
    const int outer = i / (in_w * in_h * in_d);
    const __global REAL *plane = dy + (size_t)outer * out_d * out_h * out_w;
    REAL sum = 0;
    for (int kd = 0; kd < 3; ++kd) {
        const int d0 = run_start(d, in_d, before_d, out_d, kd);
        const int nd = run_length(d, in_d, before_d, out_d, kd);
        for (int jd = d0; jd < d0 + nd; ++jd)
            for (int kh = 0; kh < 3; ++kh) {
                const int h0 = run_start(h, in_h, before_h, out_h, kh);
                const int nh = run_length(h, in_h, before_h, out_h, kh);
                for (int jh = h0; jh < h0 + nh; ++jh)
                    for (int kw = 0; kw < 3; ++kw) {
                        const int w0 = run_start(w, in_w, before_w, out_w, kw);
                        const int nw = run_length(w, in_w, before_w, out_w, kw);
                        for (int jw = w0; jw < w0 + nw; ++jw)
                            sum += plane[((size_t)jd * out_h + jh) * out_w + jw];
                    }
            }
    }
    dx[i] = sum;
}
