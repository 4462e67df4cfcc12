// Convolution, backward: the weight gradient's CPU algorithms flat, rows and pointwise, and
// the padded copies flat and rows read (pad_volumes), with wide vectors (depthwise:
// conv_weight_grad_depthwise.cl).
//
// x and dy are first copied into zero-padded volumes of rows WP wide and slices of x_slice
// elements (pad_volumes): dy row (od, oh) at od x_slice + oh WP, x row (id, ih) at
// (id + PD) x_slice + (ih + PH) WP + PW. Then output position q = od x_slice + oh WP + ow reads
// x at q + kd DD x_slice + kh DH WP + kw DW for tap (kd, kh, kw), for every q alike, so
//     dw[k][c][tap] = sum over n and q of dyp[n][k][q] * xp[n][c][q + offset(tap)]
// runs over whole volumes in wide unmasked vector loads (padding rows and columns of dy are
// zero). With strides, x is split into SD x SH x SW phases (pad_volumes), each `x_phase`
// elements, and tap (kd, kh, kw) reads phase ((kd DD) % SD, (kh DH) % SH, (kw DW) % SW) at
// ((kd DD) / SD) x_slice + ((kh DH) / SH) WP + (kw DW) / SW: a stride-1 correlation again.
// (1D and 2D are one slice deep.) A work-item of conv_backward_weight_flat owns WGRAD_K output
// channels x WGRAD_C input channels of one tap: WGRAD_K x WGRAD_C accumulator vectors of VW lanes,
// summed once at the end.
//
// The reduction over samples and positions is split into runs that the cache holds (SPLIT, as
// in clconv/ops/conv_grad.py: `split` x `samples` samples, positions [chunk q, chunk (q + 1))
// of each, for chunk q = split % q_chunks): every tile's work-item for one run is consecutive
// (the split is the slowest index), so x's and dy's planes of the run are read from memory once
// for all of them instead of once per tile. Each run's partial tile goes to slice `split` of
// `dw` (splits x the weight's size), summed in order afterwards (reduce.cl: sum_slices).
#include "conv_pad.h"
#ifndef WGRAD_K
#define WGRAD_K 4
#endif
#ifndef WGRAD_C
#define WGRAD_C 4
#endif
#ifndef WGRAD_TAPS
#define WGRAD_TAPS 9
#endif

// The sizes the flat and rows kernels take (clconv/ops/conv_weight_grad_cpu.py passes them in
// this order): batch, channels, groups; kernel, dilation, stride; the padded planes' row width
// WP, slice, phase and plane sizes (x's and dy's); the runs of the reduction (SPLIT_RUN).
#define PADDED_PLANES_ARGS                                                                   \
    const int N, const int C, const int K, const int groups,                                 \
    const int KD, const int KH, const int KW, const int DD, const int DH, const int DW,      \
    const int SD, const int SH, const int SW, const int WP, const int x_slice,               \
    const int x_phase, const int x_plane, const int dy_plane, const int samples,             \
    const int chunk, const int q_chunks, const int splits

// The run of the reduction that work-item dimension 2 index `item2` (group, output tile and
// split, the split slowest) takes: its samples [n0, n1) and positions [q0, q1) of each.
#define SPLIT_RUN(item2, tiles)                                                       \
    const int split = (item2) / (tiles);                                              \
    const int n0 = split / q_chunks * samples, n1 = min(n0 + samples, N);              \
    const int q0 = split % q_chunks * chunk, q1 = min(q0 + chunk, dy_plane)

__kernel void conv_backward_weight_flat(
    __global const REAL *restrict xp, __global const REAL *restrict dyp,
    __global REAL *restrict dw, PADDED_PLANES_ARGS)
{
    const int taps = KD * KH * KW;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int k_tiles = (out_per_group + WGRAD_K - 1) / WGRAD_K;
    const int tap = get_global_id(0);
    const int first_c = get_global_id(1) * WGRAD_C;
    const int group = get_global_id(2) % (groups * k_tiles) / k_tiles;
    const int first_k = (get_global_id(2) % k_tiles) * WGRAD_K;
    SPLIT_RUN(get_global_id(2), groups * k_tiles);
    if (tap >= taps || first_c >= in_per_group || split >= splits)
        return;
    const int c_count = min(WGRAD_C, in_per_group - first_c);
    const int k_count = min(WGRAD_K, out_per_group - first_k);
    const int offset = tap_offset(tap, KH, KW, DD, DH, DW, SD, SH, SW, WP, x_slice, x_phase);

    VREAL acc[WGRAD_K][WGRAD_C];
    #pragma unroll
    for (int k = 0; k < WGRAD_K; ++k)
        #pragma unroll
        for (int c = 0; c < WGRAD_C; ++c)
            acc[k][c] = (VREAL)0;
    for (int n = n0; n < n1; ++n) {
        const __global REAL *x_n = xp + ((size_t)n * C + group * in_per_group + first_c) * x_plane + offset;
        const __global REAL *dy_n = dyp + ((size_t)n * K + group * out_per_group + first_k) * dy_plane;
        for (int q = q0; q < q1; q += VW) {
            VREAL xv[WGRAD_C], gv[WGRAD_K];
            #pragma unroll
            for (int c = 0; c < WGRAD_C; ++c)
                xv[c] = VLOAD(0, x_n + (size_t)min(c, c_count - 1) * x_plane + q);
            #pragma unroll
            for (int k = 0; k < WGRAD_K; ++k)
                gv[k] = VLOAD(0, dy_n + (size_t)min(k, k_count - 1) * dy_plane + q);
            #pragma unroll
            for (int k = 0; k < WGRAD_K; ++k)
                #pragma unroll
                for (int c = 0; c < WGRAD_C; ++c)
                    acc[k][c] = fma(gv[k], xv[c], acc[k][c]);
        }
    }
    __global REAL *out = dw + (size_t)split * K * in_per_group * taps;
    for (int k = 0; k < k_count; ++k)
        for (int c = 0; c < c_count; ++c)
            out[((size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c) * taps + tap] = LANE_SUM(acc[k][c]);
}

// conv_backward_weight_flat with WGRAD_T taps of one kernel row per work-item (row r: taps
// r KW .. r KW + KW - 1, in blocks of WGRAD_T; the last block of a row may repeat its last tap):
// each dy vector then feeds WGRAD_T x WGRAD_K x WGRAD_C multiply-adds, and the row's taps read x at
// neighbouring offsets, the same cache lines. With few channels (3 in, 16 out) the flat
// kernel's one tap per work-item streams x and dy once per tap; here once per row block.
#ifndef WGRAD_T
#define WGRAD_T 3
#endif
__kernel void conv_backward_weight_rows(
    __global const REAL *restrict xp, __global const REAL *restrict dyp,
    __global REAL *restrict dw, PADDED_PLANES_ARGS)
{
    const int taps = KD * KH * KW, row_blocks = (KW + WGRAD_T - 1) / WGRAD_T;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int k_tiles = (out_per_group + WGRAD_K - 1) / WGRAD_K;
    const int row = get_global_id(0) / row_blocks;
    const int first_kw = (get_global_id(0) % row_blocks) * WGRAD_T;
    const int first_c = get_global_id(1) * WGRAD_C;
    const int group = get_global_id(2) % (groups * k_tiles) / k_tiles;
    const int first_k = (get_global_id(2) % k_tiles) * WGRAD_K;
    SPLIT_RUN(get_global_id(2), groups * k_tiles);
    if (row >= KD * KH || first_c >= in_per_group || split >= splits)
        return;
    const int c_count = min(WGRAD_C, in_per_group - first_c);
    const int k_count = min(WGRAD_K, out_per_group - first_k);
    const int t_count = min(WGRAD_T, KW - first_kw);
    int offset[WGRAD_T];
    #pragma unroll
    for (int t = 0; t < WGRAD_T; ++t)
        offset[t] = tap_offset(row * KW + first_kw + min(t, t_count - 1), KH, KW, DD, DH, DW,
                               SD, SH, SW, WP, x_slice, x_phase);

    VREAL acc[WGRAD_T][WGRAD_K][WGRAD_C];
    #pragma unroll
    for (int t = 0; t < WGRAD_T; ++t)
        #pragma unroll
        for (int k = 0; k < WGRAD_K; ++k)
            #pragma unroll
            for (int c = 0; c < WGRAD_C; ++c)
                acc[t][k][c] = (VREAL)0;
    for (int n = n0; n < n1; ++n) {
        const __global REAL *x_n = xp + ((size_t)n * C + group * in_per_group + first_c) * x_plane;
        const __global REAL *dy_n = dyp + ((size_t)n * K + group * out_per_group + first_k) * dy_plane;
        for (int q = q0; q < q1; q += VW) {
            VREAL gv[WGRAD_K];
            #pragma unroll
            for (int k = 0; k < WGRAD_K; ++k)
                gv[k] = VLOAD(0, dy_n + (size_t)min(k, k_count - 1) * dy_plane + q);
            #pragma unroll
            for (int t = 0; t < WGRAD_T; ++t)
                #pragma unroll
                for (int c = 0; c < WGRAD_C; ++c) {
                    const VREAL xv = VLOAD(0, x_n + (size_t)min(c, c_count - 1) * x_plane + offset[t] + q);
                    #pragma unroll
                    for (int k = 0; k < WGRAD_K; ++k)
                        acc[t][k][c] = fma(gv[k], xv, acc[t][k][c]);
                }
        }
    }
    __global REAL *out = dw + (size_t)split * K * in_per_group * taps;
    for (int t = 0; t < t_count; ++t)
        for (int k = 0; k < k_count; ++k)
            for (int c = 0; c < c_count; ++c)
                out[((size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c) * taps
                    + row * KW + first_kw + t] = LANE_SUM(acc[t][k][c]);
}

// --- weight gradient of 1x1 convolutions at stride 1 without padding, CPUs ------------------
// dw[k][c] = sum over n and p of dy[n][k][p] x[n][c][p]: a plain matrix product. The flat
// kernel's padded copies of x and dy would only round each plane up to whole vectors (and cost
// about a third of the time), so here the planes are read in place: whole vectors, then one
// last vector ending at the plane's end (P >= VW) whose lanes already counted are masked off
// in dy. A work-item owns WGRAD_K output x WGRAD_C input channels of one group. Work-items run in
// bands of K_BAND output tiles: consecutive ones take the band's output tiles with one input
// tile, then the next input tile, so the band's dy (K_BAND tiles) stays in cache and each x
// tile is read from memory once per band, not once per output tile.
#ifndef K_BAND
#define K_BAND 8
#endif
__kernel void conv_backward_weight_pointwise(
    __global const REAL *restrict x, __global const REAL *restrict dy,
    __global REAL *restrict dw, const int N, const int C, const int K, const int groups,
    const int P)
{
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int c_tiles = (in_per_group + WGRAD_C - 1) / WGRAD_C;
    const int k_tiles = (out_per_group + WGRAD_K - 1) / WGRAD_K;
    const int item = get_global_id(0);
    const int group = item / (c_tiles * k_tiles), in_group = item % (c_tiles * k_tiles);
    const int band = in_group / (K_BAND * c_tiles), in_band = in_group % (K_BAND * c_tiles);
    const int band_tiles = min(K_BAND, k_tiles - band * K_BAND);
    const int first_c = (in_band / band_tiles) * WGRAD_C;
    const int first_k = (band * K_BAND + in_band % band_tiles) * WGRAD_K;
    if (group >= groups)
        return;
    const int c_count = min(WGRAD_C, in_per_group - first_c);
    const int k_count = min(WGRAD_K, out_per_group - first_k);
    const int whole = P / VW * VW, tail = P - VW;  // the last vector starts at tail
    REAL keep[VW];
    #pragma unroll
    for (int j = 0; j < VW; ++j)
        keep[j] = j + tail >= whole ? (REAL)1 : (REAL)0;
    const VREAL tail_mask = VLOAD(0, keep);

    VREAL acc[WGRAD_K][WGRAD_C];
    #pragma unroll
    for (int k = 0; k < WGRAD_K; ++k)
        #pragma unroll
        for (int c = 0; c < WGRAD_C; ++c)
            acc[k][c] = (VREAL)0;
    for (int n = 0; n < N; ++n) {
        const __global REAL *x_n = x + ((size_t)n * C + group * in_per_group + first_c) * P;
        const __global REAL *dy_n = dy + ((size_t)n * K + group * out_per_group + first_k) * P;
        for (int q = 0; q < P; q += VW) {
            const int at = min(q, tail);
            VREAL xv[WGRAD_C], gv[WGRAD_K];
            #pragma unroll
            for (int c = 0; c < WGRAD_C; ++c)
                xv[c] = VLOAD(0, x_n + (size_t)min(c, c_count - 1) * P + at);
            #pragma unroll
            for (int k = 0; k < WGRAD_K; ++k) {
                gv[k] = VLOAD(0, dy_n + (size_t)min(k, k_count - 1) * P + at);
                if (q >= whole)
                    gv[k] *= tail_mask;
            }
            #pragma unroll
            for (int k = 0; k < WGRAD_K; ++k)
                #pragma unroll
                for (int c = 0; c < WGRAD_C; ++c)
                    acc[k][c] = fma(gv[k], xv[c], acc[k][c]);
        }
    }
    for (int k = 0; k < k_count; ++k)
        for (int c = 0; c < c_count; ++c)
            dw[(size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c] = LANE_SUM(acc[k][c]);
}

// out = in[plane] padded and split into phases (PadShape); each phase's grid is followed by
// zeros up to `phase_out` elements, a plane's phases are back to back, and the last plane's
// last phase is followed by `tail` zeros. (Steps 1: one phase, the grid itself.) Strided taps
// then read a phase at a fixed offset, as stride-1 taps read the grid. One work-item per phase
// of a plane, row after row: no per-row divisions, and vector copies within the work-item (one
// row per work-item took 1.3 to 1.9 times as long).
__kernel void pad_volumes(__global const REAL *restrict in, __global REAL *restrict out,
                          const int planes, const int depth_in, const int rows_in,
                          const int cols_in, const int depth_out, const int rows_out,
                          const int cols_out, const int depth_shift, const int row_shift,
                          const int col_shift, const int depth_step, const int row_step,
                          const int phase_out, const int tail)
{
    const PadShape s = {depth_in, rows_in, cols_in, depth_out, rows_out, cols_out,
                        depth_shift, row_shift, col_shift, depth_step, row_step};
    const int phases = depth_step * row_step * PAD_COL_STEP, row_phases = row_step * PAD_COL_STEP;
    const int phase_plane = get_global_id(0);
    if (phase_plane >= planes * phases)
        return;
    const int plane = phase_plane / phases, phase = phase_plane % phases;
    const __global REAL *in_plane = in + (size_t)plane * depth_in * rows_in * cols_in;
    __global REAL *out_phase = out + (size_t)phase_plane * phase_out;
    const PadRow columns = pad_columns(s, PAD_COL_STEP, phase % PAD_COL_STEP);
    for (int slice = 0; slice < depth_out; ++slice) {
        const int source_slice = slice * depth_step + phase / row_phases - depth_shift;
        for (int row = 0; row < rows_out; ++row) {
            const int source_row = row * row_step + (phase % row_phases) / PAD_COL_STEP - row_shift;
            __global REAL *out_row = out_phase + (slice * rows_out + row) * cols_out;
            if (source_slice < 0 || source_slice >= depth_in || source_row < 0
                || source_row >= rows_in || columns.first >= columns.end) {
                zero_fill(out_row, cols_out);
                continue;
            }
            PadRow values = columns;
            values.source += ((size_t)source_slice * rows_in + source_row) * cols_in;
            zero_fill(out_row, columns.first);
            copy_row_values(in_plane, out_row, values, PAD_COL_STEP);
            zero_fill(out_row + columns.end, cols_out - columns.end);
        }
    }
    const int grid = depth_out * rows_out * cols_out;
    const bool last = phase_plane == planes * phases - 1;
    zero_fill(out_phase + grid, phase_out - grid + (last ? tail : 0));
}
