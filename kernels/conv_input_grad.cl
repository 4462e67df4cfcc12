// Convolution, backward: the input gradient's general algorithm (GPUs; any device, every
// option). Same conventions as conv_general.cl (1D/2D run as 3D; sizes are arguments) and the
// same register tiling: each work-item keeps a tile of results in registers. No atomics: every
// result is written by one work-item, so gradients are bit-identical from run to run.
#include "common.h"
#include "conv_geometry.h"
#include "unroll.h"

#ifndef TILE_C
#define TILE_C 8  // input channels per work-item
#endif
#ifndef TILE_P
#define TILE_P 8  // input positions per work-item
#endif

// conv_backward_input's stages (macros over its locals, so that its tiles stay in registers):
#define POSITION(t, _)                                                  \
    {                                                                   \
        const int pos = min(first_pos + t, in_plane - 1);               \
        iw[t] = pos % W;                                                \
        ih[t] = (pos / W) % H;                                          \
        id[t] = pos / (W * H);                                          \
    }
#define ZERO_ONE(t, c) acc[c][t] = 0;
#define ZERO_ROW(c, _) UNROLL_B(TILE_P, ZERO_ONE, c)
#define READING(t, _)                                                   \
        {                                                               \
            const int od = output_reading(id[t], kd, SD, PD, DD, OD);   \
            const int oh = output_reading(ih[t], kh, SH, PH, DH, OH);   \
            const int ow = output_reading(iw[t], kw, SW, PW, DW, OW);   \
            reads[t] = od >= 0 && oh >= 0 && ow >= 0;                   \
            offset[t] = reads[t] ? (od * OH + oh) * OW + ow : 0;        \
        }
#define LOAD_GRADIENT(t, _) gv[t] = reads[t] ? dy_channel[offset[t]] : (REAL)0;
#define FMA_ONE(t, c) acc[c][t] = fma(wv, gv[t], acc[c][t]);
#define FMA_ROW(c, _)                                                               \
            {                                                                       \
                const REAL wv = w_row[(first_c + min(c, c_count - 1)) * taps + tap]; \
                UNROLL_B(TILE_P, FMA_ONE, c)                                        \
            }
#define STORE_ONE(t, c)                                                                    \
    if (first_pos + t < in_plane)                                                          \
        dx_row[first_pos + t] = acc[c][t];
#define STORE_ROW(c, _)                                                                    \
    if (c < c_count) {                                                                     \
        __global REAL *dx_row = dx + ((size_t)n * C + group * in_per_group + first_c + c) * in_plane; \
        UNROLL_B(TILE_P, STORE_ONE, c)                                                     \
    }

// dx[n, c, i] = sum over k in c's group and taps t with i = o*stride - pad + t*dilation of
//               w[k, c - group start, t] * dy[n, k, o]
// A work-item owns TILE_C input channels x TILE_P input positions (register tiles written out
// by unroll.h).
__kernel void conv_backward_input(
    __global const REAL *restrict dy, __global const REAL *restrict weight,
    __global REAL *restrict dx,
    CONV_GEOMETRY_ARGS)
{
    const int in_plane = D * H * W, out_plane = OD * OH * OW, taps = KD * KH * KW;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int tiles_per_group = (in_per_group + TILE_C - 1) / TILE_C;
    const int first_pos = get_global_id(0) * TILE_P;
    const int group = get_global_id(1) / tiles_per_group;
    const int first_c = (get_global_id(1) % tiles_per_group) * TILE_C;  // within the group
    const int n = get_global_id(2);
    if (first_pos >= in_plane || group >= groups)
        return;
    const int c_count = min(TILE_C, in_per_group - first_c);

    int id[TILE_P], ih[TILE_P], iw[TILE_P];
    UNROLL_A(TILE_P, POSITION, _)
    REAL acc[TILE_C][TILE_P];
    UNROLL_A(TILE_C, ZERO_ROW, _)

    const __global REAL *dy_group = dy + ((size_t)n * K + group * out_per_group) * out_plane;
    for (int kd = 0; kd < KD; ++kd)
    for (int kh = 0; kh < KH; ++kh)
    for (int kw = 0; kw < KW; ++kw) {
        int offset[TILE_P];
        bool reads[TILE_P];
        UNROLL_A(TILE_P, READING, _)
        const int tap = (kd * KH + kh) * KW + kw;
        for (int k = 0; k < out_per_group; ++k) {
            const __global REAL *dy_channel = dy_group + (size_t)k * out_plane;
            REAL gv[TILE_P];
            UNROLL_A(TILE_P, LOAD_GRADIENT, _)
            const __global REAL *w_row = weight + (size_t)(group * out_per_group + k) * in_per_group * taps;
            UNROLL_A(TILE_C, FMA_ROW, _)
        }
    }
    UNROLL_A(TILE_C, STORE_ROW, _)
}
#undef POSITION
#undef READING
#undef LOAD_GRADIENT
#undef ZERO_ONE
#undef ZERO_ROW
#undef FMA_ONE
#undef FMA_ROW
#undef STORE_ONE
#undef STORE_ROW
