// Depthwise convolution for GPUs (one input channel per group, any channel multiplier, stride,
// padding and dilation; 1D and 2D): a work-group of TILE_W x TILE_H items computes a
// TILE_W x TILE_H tile of one output plane, one output per item. Its items first copy the
// input patch the tile reads (IN_W x IN_H, the padding as zeros) into local memory together,
// consecutive items on consecutive input columns; then each item runs all KH x KW taps from
// local memory, the channel's weights read once per item (the same address across the group:
// one broadcast load). Bias and activation in the epilogue. The kernel's size, stride and
// dilation are build options (the patch's size is then a constant); sizes and padding are
// arguments. No atomics; each output written once.
#include "common.h"

#ifndef TILE_W
#define TILE_W 16
#endif
#ifndef TILE_H
#define TILE_H 8
#endif
#ifndef KH
#define KH 3
#endif
#ifndef KW
#define KW 3
#endif
#ifndef SH
#define SH 1
#endif
#ifndef SW
#define SW 1
#endif
#ifndef DH
#define DH 1
#endif
#ifndef DW
#define DW 1
#endif
#define IN_W ((TILE_W - 1) * SW + (KW - 1) * DW + 1)
#define IN_H ((TILE_H - 1) * SH + (KH - 1) * DH + 1)

__kernel __attribute__((reqd_work_group_size(TILE_W, TILE_H, 1)))
void depthwise_conv2d_local(
    __global const REAL *restrict x,      // N x C x H x W
    __global const REAL *restrict weight, // K x 1 x KH x KW (K = C x multiplier)
    __global const REAL *restrict bias,   // K, read only when has_bias
    const int has_bias,
    const REAL act_a, const REAL act_b,  // the epilogue (common.h)
    __global REAL *restrict y,            // N x K x OH x OW
    const int C, const int H, const int W, const int K, const int OH, const int OW,
    const int PH, const int PW)
{
    __local REAL patch[IN_H][IN_W];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int ox0 = get_group_id(0) * TILE_W, oy0 = get_group_id(1) * TILE_H;
    const int plane = get_global_id(2);  // n * K + k
    const int k = plane % K, n = plane / K;
    const int c = k / (K / C);
    const __global REAL *x_plane = x + ((size_t)n * C + c) * H * W;
    const int ix0 = ox0 * SW - PW, iy0 = oy0 * SH - PH;
    for (int i = ly * TILE_W + lx; i < IN_H * IN_W; i += TILE_W * TILE_H) {
        const int py = i / IN_W, px = i % IN_W;
        const int iy = iy0 + py, ix = ix0 + px;
        patch[py][px] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x_plane[iy * W + ix] : (REAL)0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int ox = ox0 + lx, oy = oy0 + ly;
    if (ox >= OW || oy >= OH)
        return;
    const __global REAL *w = weight + (size_t)k * KH * KW;
    REAL acc = 0;
    #pragma unroll
    for (int kh = 0; kh < KH; ++kh) {
        #pragma unroll
        for (int kw = 0; kw < KW; ++kw)
            acc = fma(patch[ly * SH + kh * DH][lx * SW + kw * DW], w[kh * KW + kw], acc);
    }
    const REAL b = has_bias ? bias[k] : (REAL)0;
    y[((size_t)plane * OH + oy) * OW + ox] = activate(acc + b, act_a, act_b);
}
