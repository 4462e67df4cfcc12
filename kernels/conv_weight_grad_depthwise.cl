// Convolution, backward: the weight gradient of depthwise convolutions on CPUs.
//
// With one input channel per group, a work-item of conv_backward_weight_flat holds a single
// accumulator, and each tap streams x and dy from memory again. Here a work-item owns one
// output channel k (its input channel: k's group) and WGRAD_TAPS taps (all of a small kernel):
// per sample it pads its plane of x and of dy into its own scratch, in the layout of
// pad_volumes (two planes: tens of KiB, they stay in cache), then loads each dy vector once for
// WGRAD_TAPS multiply-adds with x at the taps' offsets. x and dy are read from memory once, and
// no padded copy of the whole batch is made. Work-item (tap block, first_k + k) uses scratch
// item_scratch elements at (k x tap blocks + tap block) item_scratch: its x phases, then its
// dy plane.
#include "conv_pad.h"
#ifndef WGRAD_TAPS
#define WGRAD_TAPS 9
#endif

__kernel void conv_backward_weight_depthwise(
    __global const REAL *restrict x, __global const REAL *restrict dy,
    __global REAL *restrict dw, __global REAL *restrict scratch, const int N, const int C,
    const int K, const int first_k, const int k_count,
    const int D, const int H, const int W, const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW, const int DD, const int DH, const int DW,
    const int SD, const int SH, const int SW, const int PD, const int PH, const int PW,
    const int x_slices, const int x_rows, const int WP, const int dy_rows, const int x_phase,
    const int dy_plane, const int item_scratch)
{
    // x: each phase x_slices x x_rows x WP; dy: OD x dy_rows x WP, one phase.
    const PadShape x_shape = {D, H, W, x_slices, x_rows, WP, PD, PH, PW, SD, SH};
    const PadShape dy_shape = {OD, OH, OW, OD, dy_rows, WP, 0, 0, 0, 1, 1};
    const int taps = KD * KH * KW, tap_blocks = (taps + WGRAD_TAPS - 1) / WGRAD_TAPS;
    const int block = get_global_id(0), item_k = get_global_id(1);
    if (block >= tap_blocks || item_k >= k_count)
        return;
    const int k = first_k + item_k, c = k / (K / C);
    const int first_tap = block * WGRAD_TAPS, tap_count = min(WGRAD_TAPS, taps - first_tap);
    const int x_slice = x_rows * WP, phases = SD * SH * PAD_COL_STEP;
    __global REAL *xs = scratch + ((size_t)item_k * tap_blocks + block) * item_scratch;
    __global REAL *dys = xs + (size_t)phases * x_phase;
    const int x_volume = D * H * W, dy_volume = OD * OH * OW;

    // The padding lies at the same places for every sample: zeros once, then the values only.
    for (int i = 0; i < item_scratch; i += VW)
        VSTORE((VREAL)0, 0, xs + min(i, item_scratch - VW));

    int offset[WGRAD_TAPS];
    VREAL acc[WGRAD_TAPS];
    #pragma unroll
    for (int t = 0; t < WGRAD_TAPS; ++t) {
        offset[t] = tap_offset(first_tap + min(t, tap_count - 1), KH, KW, DD, DH, DW, SD, SH,
                               SW, WP, x_slice, x_phase);
        acc[t] = (VREAL)0;
    }
    for (int n = 0; n < N; ++n) {
        const __global REAL *x_plane = x + ((size_t)n * C + c) * x_volume;
        for (int phase = 0; phase < phases; ++phase)
            copy_phase_values(x_plane, xs + (size_t)phase * x_phase, x_shape, PAD_COL_STEP, phase);
        copy_phase_values(dy + ((size_t)n * K + k) * dy_volume, dys, dy_shape, 1, 0);
        for (int q = 0; q < dy_plane; q += VW) {
            const VREAL gv = VLOAD(0, dys + q);
            #pragma unroll
            for (int t = 0; t < WGRAD_TAPS; ++t)
                acc[t] = fma(gv, VLOAD(0, xs + offset[t] + q), acc[t]);
        }
    }
    for (int t = 0; t < tap_count; ++t)
        dw[(size_t)k * taps + first_tap + t] = LANE_SUM(acc[t]);
}
