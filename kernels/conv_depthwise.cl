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

// Both kernels' first arguments: x (N x C x H x W), the weights (K x 1 x DEPTHWISE_KH x
// DEPTHWISE_KW), the bias, the epilogue's parameters (common.h) and y (N x K x OH x OW).
#define DEPTHWISE_BUFFERS                                                                   \
    __global const REAL *restrict x, __global const REAL *restrict weight,                  \
    __global const REAL *restrict bias, const int has_bias, const REAL act_a,               \
    const REAL act_b, __global REAL *restrict y

// Both kernels' work-item: block `block` of the BLOCKS per plane of output plane `out_plane`
// (n K + k), reading input plane x_plane (channel k / (K / C)) with the weights w_k and bias b.
#define DEPTHWISE_WORK_ITEM(BLOCKS)                                                         \
    const int blocks = (BLOCKS);                                                            \
    const int item = get_global_id(0);                                                      \
    if (item >= N * K * blocks)                                                             \
        return;                                                                             \
    const int out_plane = item / blocks, block = item % blocks;                             \
    const int k = out_plane % K, n = out_plane / K;                                         \
    const __global REAL *x_plane = x + ((size_t)n * C + k / (K / C)) * H * W;               \
    const __global REAL *w_k = weight + (size_t)k * DEPTHWISE_KH * DEPTHWISE_KW;            \
    const REAL b = has_bias ? bias[k] : (REAL)0

__kernel void depthwise_conv2d(
    DEPTHWISE_BUFFERS,
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int PH, const int PW)
{
    DEPTHWISE_WORK_ITEM(OW / VW);  // blocks of VW output columns
    __global REAL *y_plane = y + (size_t)out_plane * OH * OW;
    depthwise_columns(x_plane, w_k, b, y_plane, block * VW, H, W, OH, OW, PH, PW, act_a, act_b);
    if (block == blocks - 1 && OW % VW)
        depthwise_columns(x_plane, w_k, b, y_plane, OW - VW, H, W, OH, OW, PH, PW, act_a, act_b);
}

// Strided depthwise convolution (stride SH down the columns, DEPTHWISE_SW = 1 or 2 along the
// rows; MobileNet's and EfficientNet's downsampling layers), no dilation: a work-item computes
// VW consecutive outputs of each output row, each tap a vector of every DEPTHWISE_SW-th input
// (two loads and their even lanes at stride 2), lane by lane where the taps pass the row's
// edges; it computes a whole output plane, row after row, so that the input is read in order
// (a work-item per block of columns walking down the rows read two cache lines of each input
// row at a time, which the prefetchers did not follow; one per vector and row cost more in
// scheduling than in arithmetic). Rows of at least VW outputs (clconv picks VW as wide as the
// row allows); a row not a multiple of VW also takes the VW ending at the row's end.
#ifndef DEPTHWISE_SW
#define DEPTHWISE_SW 2
#endif

#define ROW_STEP DEPTHWISE_SW
#include "row_step.h"  // strided_lanes

// (A STAGE's pointers without `restrict`: inlined, they would become noalias scope
// declarations, which Oclgrind cannot run.)
STAGE void depthwise_strided_vector(const __global REAL *x_plane, const __global REAL *w_k,
                                     const REAL b, __global REAL *y_row, const int start,
                                     const int oh, const int H, const int W, const int SH,
                                     const int PH, const int PW, const REAL act_a,
                                     const REAL act_b)
{
    VREAL acc = b;
    #pragma unroll
    for (int kh = 0; kh < DEPTHWISE_KH; ++kh) {
        const int ih = oh * SH - PH + kh;
        if (ih < 0 || ih >= H)
            continue;
        const __global REAL *row = x_plane + ih * W;
        #pragma unroll
        for (int kw = 0; kw < DEPTHWISE_KW; ++kw)
            acc = fma((VREAL)w_k[kh * DEPTHWISE_KW + kw],
                      strided_lanes(row, start * DEPTHWISE_SW - PW + kw, W), acc);
    }
    VSTORE(activate_vector(acc, act_a, act_b), 0, y_row + start);
}

__kernel void depthwise_conv2d_strided(
    DEPTHWISE_BUFFERS,
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int SH, const int PH, const int PW)
{
    DEPTHWISE_WORK_ITEM(1);  // a whole plane, row after row: the input is read in order
    for (int oh = 0; oh < OH; ++oh) {
        __global REAL *y_row = y + ((size_t)out_plane * OH + oh) * OW;
        for (int start = 0; start + VW <= OW; start += VW)
            depthwise_strided_vector(x_plane, w_k, b, y_row, start, oh, H, W, SH, PH, PW,
                                     act_a, act_b);
        if (OW % VW)
            depthwise_strided_vector(x_plane, w_k, b, y_row, OW - VW, oh, H, W, SH, PH, PW,
                                     act_a, act_b);
    }
}

// Depthwise convolution with the channels in the vector lanes, for small planes (14x14, 7x7:
// rows too short for vectors along them, edges on every vector): a work-item takes VW
// consecutive channels of one image (one output channel per input channel), copies their
// planes, zero-padded, into local memory with the channels innermost, and then every tap of
// every output is one vector multiply-add of a local load and the tap's VW weights, with no
// edge cases; the sums go back to the output planes through local memory. Any strides and
// padding, no dilation. `block` (local, sized by clconv/ops/conv_depthwise.py): the padded
// inputs HP x WP x VW (the rows and columns the outputs read, from -PH and -PW), the weights
// taps x VW, the sums OH x OW x VW.
__kernel void depthwise_conv2d_lanes(
    DEPTHWISE_BUFFERS,
    const int N, const int C, const int H, const int W, const int OH, const int OW,
    const int SH, const int SW, const int PH, const int PW, const int HP, const int WP,
    __local REAL *block)
{
    const int blocks = (C + VW - 1) / VW, item = get_global_id(0);
    if (item >= N * blocks)
        return;
    const int n = item / blocks, c0 = (item % blocks) * VW, count = min(VW, C - c0);
    const int TAPS = DEPTHWISE_KH * DEPTHWISE_KW;
    const int rows = min(H, HP - PH), columns = min(W, WP - PW);  // of x that are read
    __local REAL *in = block, *taps = in + HP * WP * VW, *sums = taps + TAPS * VW;
    for (int i = 0; i < HP * WP; ++i)  // zeros: the padding, and lanes past the channels
        VSTORE((VREAL)0, i, in);
    for (int i = 0; i < TAPS; ++i)
        VSTORE((VREAL)0, i, taps);
    const __global REAL *x_block = x + ((size_t)n * C + c0) * H * W;
    for (int lane = 0; lane < count; ++lane) {
        const __global REAL *plane = x_block + lane * H * W;
        for (int ih = 0; ih < rows; ++ih) {
            __local REAL *in_row = in + ((ih + PH) * WP + PW) * VW + lane;
            for (int iw = 0; iw < columns; ++iw)
                in_row[iw * VW] = plane[ih * W + iw];
        }
        for (int t = 0; t < TAPS; ++t)
            taps[t * VW + lane] = weight[(size_t)(c0 + lane) * TAPS + t];
    }
    for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
            const __local REAL *window = in + (oh * SH * WP + ow * SW) * VW;
            VREAL acc = 0;
            #pragma unroll
            for (int kh = 0; kh < DEPTHWISE_KH; ++kh)
                #pragma unroll
                for (int kw = 0; kw < DEPTHWISE_KW; ++kw)
                    acc = fma(VLOAD(kh * DEPTHWISE_KW + kw, taps),
                              VLOAD(0, window + (kh * WP + kw) * VW), acc);
            VSTORE(acc, oh * OW + ow, sums);
        }
    for (int lane = 0; lane < count; ++lane) {
        const REAL b = has_bias ? bias[c0 + lane] : (REAL)0;
        __global REAL *y_plane = y + ((size_t)n * C + c0 + lane) * OH * OW;
        for (int p = 0; p < OH * OW; ++p)
            y_plane[p] = activate(sums[p * VW + lane] + b, act_a, act_b);
    }
}
