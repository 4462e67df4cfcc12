// Convolution, forward, the general algorithm (GPUs; any device, every option: stride,
// padding, dilation, groups): scalar, sizes as arguments, one launch. 1D and 2D convolutions
// run as 3D ones with unit depth (and height). The CPU algorithms are conv_direct.cl,
// conv_depthwise.cl and conv_winograd.cl.
//
// conv_forward is a register-tiled implicit GEMM: the product is (out channels) x (output
// positions) with the reduction over (in channels of the group) x (kernel taps). Each work-item
// owns a TILE_K x TILE_P block of outputs (TILE_K output channels of one group, TILE_P
// consecutive output positions of one image) in registers, so each loaded input value feeds
// TILE_K multiply-adds and each loaded weight TILE_P of them. Problem sizes are arguments: one
// build serves every shape.
#include "common.h"
#include "conv_geometry.h"
#include "unroll.h"

#ifndef TILE_K
#define TILE_K 8
#endif
#ifndef TILE_P
#define TILE_P 8
#endif

// conv_forward's stages (macros over its locals, so that its tiles stay in registers):
#define FIRST_TAP(t, _)                                                 \
    {                                                                   \
        const int pos = min(first_pos + t, out_plane - 1);              \
        ow0[t] = (pos % OW) * SW - PW;                                  \
        oh0[t] = ((pos / OW) % OH) * SH - PH;                           \
        od0[t] = (pos / (OW * OH)) * SD - PD;                           \
    }
#define ZERO_ONE(t, k) acc[k][t] = 0;
#define ZERO_ROW(k, _) UNROLL_B(TILE_P, ZERO_ONE, k)
#define TAP_OFFSET(t, _)                                                                 \
        {                                                                                \
            const int id = od0[t] + kd * DD, ih = oh0[t] + kh * DH, iw = ow0[t] + kw * DW; \
            inside[t] = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;     \
            offset[t] = inside[t] ? (id * H + ih) * W + iw : 0;                          \
        }
#define LOAD_INPUT(t, _) xv[t] = inside[t] ? x_channel[offset[t]] : (REAL)0;
#define FMA_ONE(t, k) acc[k][t] = fma(wv, xv[t], acc[k][t]);
#define FMA_ROW(k, _)                                                                     \
            {                                                                             \
                const int row = first_k + min(k, k_count - 1);                            \
                const REAL wv = weight[((size_t)row * in_per_group + c) * taps + tap];    \
                UNROLL_B(TILE_P, FMA_ONE, k)                                              \
            }
#define STORE_ONE(t, k)                                                                   \
    if (first_pos + t < out_plane)                                                        \
        y_row[first_pos + t] = activate(acc[k][t] + b, act_a, act_b);
#define STORE_ROW(k, _)                                                                   \
    if (k < k_count) {                                                                    \
        const REAL b = has_bias ? bias[first_k + k] : (REAL)0;                            \
        __global REAL *y_row = y + ((size_t)n * K + first_k + k) * out_plane;             \
        UNROLL_B(TILE_P, STORE_ONE, k)                                                    \
    }

__kernel void conv_forward(
    __global const REAL *restrict x,      // N x C x D x H x W
    __global const REAL *restrict weight, // K x C/groups x KD x KH x KW
    __global const REAL *restrict bias,   // K, read only when has_bias
    const int has_bias,
    const REAL act_a, const REAL act_b,  // the epilogue (common.h)
    __global REAL *restrict y,            // N x K x OD x OH x OW
    CONV_GEOMETRY_ARGS)
{
    const int out_plane = OD * OH * OW;
    const int in_plane = D * H * W;
    const int taps = KD * KH * KW;
    const int in_per_group = C / groups;
    const int out_per_group = K / groups;
    const int tiles_per_group = (out_per_group + TILE_K - 1) / TILE_K;

    const int first_pos = get_global_id(0) * TILE_P;
    const int group = get_global_id(1) / tiles_per_group;
    const int first_k = group * out_per_group + (get_global_id(1) % tiles_per_group) * TILE_K;
    const int n = get_global_id(2);
    if (first_pos >= out_plane || group >= groups)
        return;
    // Channels past the group's end are computed from a clamped (valid) weight row and dropped.
    const int k_count = min(TILE_K, (group + 1) * out_per_group - first_k);

    int od0[TILE_P], oh0[TILE_P], ow0[TILE_P];
    UNROLL_A(TILE_P, FIRST_TAP, _)

    REAL acc[TILE_K][TILE_P];
    UNROLL_A(TILE_K, ZERO_ROW, _)

    const __global REAL *x_group = x + ((size_t)n * C + group * in_per_group) * in_plane;
    for (int kd = 0; kd < KD; ++kd)
    for (int kh = 0; kh < KH; ++kh)
    for (int kw = 0; kw < KW; ++kw) {
        // Where each output position reads for this tap; taps in the padding read nothing.
        int offset[TILE_P];
        bool inside[TILE_P];
        UNROLL_A(TILE_P, TAP_OFFSET, _)
        const int tap = (kd * KH + kh) * KW + kw;
        for (int c = 0; c < in_per_group; ++c) {
            const __global REAL *x_channel = x_group + (size_t)c * in_plane;
            REAL xv[TILE_P];
            UNROLL_A(TILE_P, LOAD_INPUT, _)
            UNROLL_A(TILE_K, FMA_ROW, _)
        }
    }

    // Stores guarded output by output, every index a constant: the tile stays in registers.
    UNROLL_A(TILE_K, STORE_ROW, _)
}
#undef FIRST_TAP
#undef ZERO_ONE
#undef ZERO_ROW
#undef TAP_OFFSET
#undef LOAD_INPUT
#undef FMA_ONE
#undef FMA_ROW
#undef STORE_ONE
#undef STORE_ROW
