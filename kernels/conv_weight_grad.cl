// Convolution, backward: the weight gradient's general algorithm (GPUs; any device, every
// option), split-K. Same conventions as conv_general.cl and the same register tiling. No
// atomics: every result is written by one work-item, so gradients are bit-identical.
#include "common.h"
#include "conv_geometry.h"
#include "unroll.h"

#ifndef TILE_C
#define TILE_C 8  // input channels per work-item
#endif
#ifndef TILE_K
#define TILE_K 8  // output channels per work-item
#endif

// conv_backward_weight's stages (macros over its locals, so that its tiles stay in registers):
#define ZERO_ONE(c, k) acc[k][c] = 0;
#define ZERO_ROW(k, _) UNROLL_B(TILE_C, ZERO_ONE, k)
#define LOAD_INPUT(c, _) xv[c] = x_at[(size_t)min(c, c_count - 1) * in_plane];
#define LOAD_GRADIENT(k, _) gv[k] = dy_at[(size_t)min(k, k_count - 1) * out_plane];
#define FMA_ONE(c, k) acc[k][c] = fma(gv[k], xv[c], acc[k][c]);
#define FMA_ROW(k, _) UNROLL_B(TILE_C, FMA_ONE, k)
#define STORE_ONE(c, k)                                                                    \
    if (c < c_count)                                                                       \
        out[((size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c) * taps \
            + tap] = acc[k][c];
#define STORE_ROW(k, _) if (k < k_count) { UNROLL_B(TILE_C, STORE_ONE, k) }

// dw[k, c, t] = sum over n and output positions o of dy[n, k, o] * x[n, c + group start, i(o, t)]
// One work-item: TILE_K output channels x TILE_C input channels of one group, one tap, and one
// of `splits` runs of `chunk` consecutive (sample, output position) pairs: the reduction is
// split across work-items (no work-item loops over a whole batch: GPU drivers' watchdogs end
// such kernels, and llvmpipe stops long loops), each writing its partial tile to slice `split`
// of `partial` (splits x K x C/groups x taps; dw itself when splits is 1). sum_slices
// (reduce.cl) then adds the slices in order: deterministic, no atomics.
__kernel void conv_backward_weight(
    __global const REAL *restrict x, __global const REAL *restrict dy,
    __global REAL *restrict partial, const int N, const int chunk, const int splits,
    CONV_GEOMETRY_ARGS)
{
    const int in_plane = D * H * W, out_plane = OD * OH * OW, taps = KD * KH * KW;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int k_tiles = (out_per_group + TILE_K - 1) / TILE_K;
    const int tap = get_global_id(0) % taps, split = get_global_id(0) / taps;
    const int first_c = get_global_id(1) * TILE_C;
    const int group = get_global_id(2) / k_tiles;
    const int first_k = (get_global_id(2) % k_tiles) * TILE_K;  // within the group
    if (split >= splits || first_c >= in_per_group || group >= groups)
        return;
    const int c_count = min(TILE_C, in_per_group - first_c);
    const int k_count = min(TILE_K, out_per_group - first_k);
    const int kw = tap % KW, kh = (tap / KW) % KH, kd = tap / (KW * KH);

    REAL acc[TILE_K][TILE_C];
    UNROLL_A(TILE_K, ZERO_ROW, _)

    // Pairs [first, last) of the N x out_plane (sample, position) pairs, walked with carries.
    const int first = split * chunk;
    const int last = min(first + chunk, N * out_plane);
    int n = first / out_plane, ow = first % out_plane % OW, oh = first % out_plane / OW % OH;
    int od = first % out_plane / (OW * OH);
    for (int q = first; q < last; ++q) {
        const int i_d = od * SD - PD + kd * DD, i_h = oh * SH - PH + kh * DH;
        const int i_w = ow * SW - PW + kw * DW;
        if (i_d >= 0 && i_d < D && i_h >= 0 && i_h < H && i_w >= 0 && i_w < W) {
            const __global REAL *x_at = x + ((size_t)n * C + group * in_per_group + first_c) * in_plane
                + (i_d * H + i_h) * W + i_w;
            const __global REAL *dy_at = dy + ((size_t)n * K + group * out_per_group + first_k) * out_plane
                + (od * OH + oh) * OW + ow;
            REAL xv[TILE_C], gv[TILE_K];
            UNROLL_A(TILE_C, LOAD_INPUT, _)
            UNROLL_A(TILE_K, LOAD_GRADIENT, _)
            UNROLL_A(TILE_K, FMA_ROW, _)
        }
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                if (++od == OD) {
                    od = 0;
                    ++n;
                }
            }
        }
    }
    __global REAL *out = partial + (size_t)split * K * in_per_group * taps;
    UNROLL_A(TILE_K, STORE_ROW, _)
}
#undef ZERO_ONE
#undef ZERO_ROW
#undef LOAD_INPUT
#undef LOAD_GRADIENT
#undef FMA_ONE
#undef FMA_ROW
#undef STORE_ONE
#undef STORE_ROW
