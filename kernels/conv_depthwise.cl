// Convolution, forward: depthwise 2D convolution for CPUs. Each output channel k reads input
// channel k / (K / C) alone, stride 1, no dilation (clconv/ops/conv.py: _depthwise_applies). With
// one input channel per output there is little arithmetic per byte, so no copy of the input is
// made: a work-item owns VW consecutive output columns of one output plane and walks down its
// rows, each tap a VW-wide load of an input row (from L1 after the first) and a vector multiply-
// add. Rows of at least VW outputs; the last work-item of a row also does the VW ending at the
// row's end when OW is not a multiple of VW (rewriting some of its own outputs with equal values
// rather than racing another work-item).
#include "common.h"
#include "vector.h"

// The kernel's size is a build option (DEPTHWISE_KH x DEPTHWISE_KW: constant loops, weights in registers).
#ifndef DEPTHWISE_KH
#define DEPTHWISE_KH 3
#endif
#ifndef DEPTHWISE_KW
#define DEPTHWISE_KW 3
#endif

// Output columns start .. start + VW - 1 of one plane, walking down the input rows: each row's
// KW shifted vectors are loaded once and feed the KH output rows that read it, whose sums are
// in flight in acc[] (acc[j]: output row base + j; row base is complete after this input row).
inline void depthwise_columns(const __global REAL *restrict x_plane,
                              const __global REAL *restrict w_k, const REAL b,
                              __global REAL *restrict y_plane, const int start, const int H,
                              const int W, const int OH, const int OW, const int PH,
                              const int PW, const REAL act_a,
                              const REAL act_b)
{
    REAL taps[DEPTHWISE_KH * DEPTHWISE_KW];
    for (int t = 0; t < DEPTHWISE_KH * DEPTHWISE_KW; ++t)
        taps[t] = w_k[t];
    VREAL acc[DEPTHWISE_KH];
    #pragma unroll
    for (int j = 0; j < DEPTHWISE_KH; ++j)
        acc[j] = b;
    // Input row ih feeds output rows ih + PH - kh; from output 0's first row to OH - 1's last.
    for (int ih = -PH; ih < OH - PH + DEPTHWISE_KH - 1; ++ih) {
        if (ih >= 0 && ih < H) {
            const __global REAL *row = x_plane + ih * W;
            VREAL shifted[DEPTHWISE_KW];
            #pragma unroll
            for (int kw = 0; kw < DEPTHWISE_KW; ++kw)
                shifted[kw] = row_lanes(row, start - PW + kw, W);
            #pragma unroll
            for (int j = 0; j < DEPTHWISE_KH; ++j)  // output row base + j takes kernel row KH-1-j
                #pragma unroll
                for (int kw = 0; kw < DEPTHWISE_KW; ++kw)
                    acc[j] = fma((VREAL)taps[(DEPTHWISE_KH - 1 - j) * DEPTHWISE_KW + kw], shifted[kw],
                                 acc[j]);
        }
        const int base = ih + PH - (DEPTHWISE_KH - 1);
        if (base >= 0) {
            VSTORE(activate_vector(acc[0], act_a, act_b), 0,
                   y_plane + base * OW + start);
        }
        #pragma unroll
        for (int j = 0; j < DEPTHWISE_KH - 1; ++j)
            acc[j] = acc[j + 1];
        acc[DEPTHWISE_KH - 1] = b;
    }
}

__kernel void depthwise_conv2d(
    __global const REAL *restrict x,       // N x C x H x W
    __global const REAL *restrict weight,  // K x 1 x DEPTHWISE_KH x DEPTHWISE_KW
    __global const REAL *restrict bias, const int has_bias,
    const REAL act_a, const REAL act_b,  // the epilogue (common.h)
    __global REAL *restrict y,             // N x K x OH x OW
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int PH, const int PW)
{
    const int blocks = OW / VW;
    const int item = get_global_id(0);
    if (item >= N * K * blocks)
        return;
    const int out_plane = item / blocks, block = item % blocks;  // out_plane: n K + k
    const int k = out_plane % K, n = out_plane / K;
    const int c = k / (K / C);
    const __global REAL *x_plane = x + ((size_t)n * C + c) * H * W;
    const __global REAL *w_k = weight + (size_t)k * DEPTHWISE_KH * DEPTHWISE_KW;
    __global REAL *y_plane = y + (size_t)out_plane * OH * OW;
    const REAL b = has_bias ? bias[k] : (REAL)0;
    depthwise_columns(x_plane, w_k, b, y_plane, block * VW, H, W, OH, OW, PH, PW, act_a, act_b);
    if (block == blocks - 1 && OW % VW)
        depthwise_columns(x_plane, w_k, b, y_plane, OW - VW, H, W, OH, OW, PH, PW, act_a, act_b);
}
