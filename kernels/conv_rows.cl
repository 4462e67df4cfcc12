// Convolution, forward, for CPUs: few input channels (a network's first layer: 3 colour
// channels, stride 2) read in place, no padded copy. A work-item computes one output row of one
// image for ROWS_K output channels, VW consecutive outputs at a time: for every input channel
// and tap it takes one vector of every ROW_STEP-th input of the tap's row (row_step.h: two loads
// and their even lanes at stride 2, lanes moved or picked one by one past the row's edges)
// times ROWS_K weights broadcast, into ROWS_K accumulator vectors. Any stride down the columns,
// 1 or 2 along the rows, any padding, no dilation or groups; the kernel's size is a build
// option (constant tap loops). A row not a multiple of VW also takes the VW ending at the row's
// end (the same work-item: its lanes computed twice, stored with equal values).
#include "common.h"
#include "vector.h"

#ifndef ROWS_K
#define ROWS_K 8  // output channels per work-item
#endif
#ifndef ROWS_KH
#define ROWS_KH 3
#endif
#ifndef ROWS_KW
#define ROWS_KW 3
#endif
#ifndef ROW_STEP
#define ROW_STEP 2
#endif
#include "row_step.h"  // strided_lanes

// VW outputs from column `start` of output row oh, output channels k0.. (k_count of them real;
// w_rows[k]: channel k0 + k's weights, C x ROWS_KH x ROWS_KW). INTERIOR (a constant at each
// call): every tap's inputs lie inside the row, loaded without the edges' tests.
// (A STAGE's pointers without `restrict`: inlined, they would become noalias scope
// declarations, which Oclgrind cannot run.)
STAGE void rows_vector(const __global REAL *x_image, const __global REAL *w_rows[ROWS_K],
                       const REAL *b_block, __global REAL *y_row, const int k_count,
                       const int start, const int oh, const int C, const int H, const int W,
                       const int OH, const int OW, const int SH, const int PH, const int PW,
                       const REAL act_a, const REAL act_b, const bool INTERIOR)
{
    VREAL acc[ROWS_K];
    #pragma unroll
    for (int k = 0; k < ROWS_K; ++k)
        acc[k] = 0;
    for (int c = 0; c < C; ++c) {
        const __global REAL *plane = x_image + (size_t)c * H * W;
        const int tap0 = c * ROWS_KH * ROWS_KW;
        #pragma unroll
        for (int kh = 0; kh < ROWS_KH; ++kh) {
            const int ih = oh * SH - PH + kh;
            if (ih < 0 || ih >= H)
                continue;
            const __global REAL *row = plane + (size_t)ih * W;
            #pragma unroll
            for (int kw = 0; kw < ROWS_KW; ++kw) {
                const int first = start * ROW_STEP - PW + kw;
                const VREAL in = INTERIOR ? inside_lanes(row + first)
                                          : strided_lanes(row, first, W);
                const int tap = tap0 + kh * ROWS_KW + kw;
                #pragma unroll
                for (int k = 0; k < ROWS_K; ++k)
                    acc[k] = fma((VREAL)w_rows[k][tap], in, acc[k]);
            }
        }
    }
    for (int k = 0; k < k_count; ++k)
        VSTORE(activate_vector(acc[k] + b_block[k], act_a, act_b), 0,
               y_row + (size_t)k * OH * OW + start);
}

__kernel void conv_rows(
    __global const REAL *restrict x,       // N x C x H x W
    __global const REAL *restrict weight,  // K x C x ROWS_KH x ROWS_KW
    __global const REAL *restrict bias, const int has_bias,
    const REAL act_a, const REAL act_b,    // the epilogue (common.h)
    __global REAL *restrict y,             // N x K x OH x OW
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int SH, const int PH, const int PW)
{
    const int oh = get_global_id(0), k0 = get_global_id(1) * ROWS_K, n = get_global_id(2);
    if (oh >= OH || k0 >= K || n >= N)
        return;
    const int k_count = min(ROWS_K, K - k0);
    const __global REAL *w_rows[ROWS_K];  // rows past K repeat the last: not stored
    REAL b_block[ROWS_K];
    #pragma unroll
    for (int k = 0; k < ROWS_K; ++k) {
        w_rows[k] = weight + (size_t)min(k0 + k, K - 1) * C * ROWS_KH * ROWS_KW;
        b_block[k] = has_bias ? bias[min(k0 + k, K - 1)] : (REAL)0;
    }
    const __global REAL *x_image = x + (size_t)n * C * H * W;
    __global REAL *y_row = y + ((size_t)n * K + k0) * OH * OW + (size_t)oh * OW;
    // Vectors from column `inside` to `inside_end` (exclusive) read no tap outside the row.
    const int inside = (PW + ROW_STEP - 1) / ROW_STEP;
    const int room = W + PW - ROWS_KW + 1 - ROW_STEP * VW;  // (the last inside start x ROW_STEP)
    const int inside_end = room < 0 ? 0 : room / ROW_STEP + 1;
    for (int start = 0; start + VW <= OW; start += VW) {
        if (start >= inside && start < inside_end)
            rows_vector(x_image, w_rows, b_block, y_row, k_count, start, oh, C, H, W, OH, OW,
                        SH, PH, PW, act_a, act_b, true);
        else
            rows_vector(x_image, w_rows, b_block, y_row, k_count, start, oh, C, H, W, OH, OW,
                        SH, PH, PW, act_a, act_b, false);
    }
    if (OW % VW)
        rows_vector(x_image, w_rows, b_block, y_row, k_count, OW - VW, oh, C, H, W, OH, OW, SH,
                    PH, PW, act_a, act_b, false);
}
