// Convolution, backward: gradients of the input and of the weight. Same conventions as
// conv_general.cl (1D/2D run as 3D; sizes are arguments) and the same register tiling: each work-item
// keeps a tile of results in registers. No atomics: every result is written by one work-item,
// so gradients are bit-identical from run to run.
#include "common.h"
#include "unroll.h"
#include "vector.h"

#ifndef TILE_C
#define TILE_C 8  // input channels per work-item
#endif
#ifndef TILE_P
#define TILE_P 8  // input positions per work-item (input gradient)
#endif
#ifndef TILE_K
#define TILE_K 8  // output channels per work-item (weight gradient)
#endif

// dx[n, c, i] = sum over k in c's group and taps t with i = o*stride - pad + t*dilation of
//               w[k, c - group start, t] * dy[n, k, o]
// A work-item owns TILE_C input channels x TILE_P input positions (register tiles written out
// by unroll.h).
__kernel void conv_backward_input(
    __global const REAL *restrict dy, __global const REAL *restrict weight,
    __global REAL *restrict dx,
    const int C, const int D, const int H, const int W,
    const int K, const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
    const int DD, const int DH, const int DW,
    const int groups)
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
#define POSITION(t, _)                                                  \
    {                                                                   \
        const int pos = min(first_pos + t, in_plane - 1);               \
        iw[t] = pos % W;                                                \
        ih[t] = (pos / W) % H;                                          \
        id[t] = pos / (W * H);                                          \
    }
    UNROLL_A(TILE_P, POSITION, _)
    REAL acc[TILE_C][TILE_P];
#define ZERO_ONE(t, c) acc[c][t] = 0;
#define ZERO_ROW(c, _) UNROLL_B(TILE_P, ZERO_ONE, c)
    UNROLL_A(TILE_C, ZERO_ROW, _)

    const __global REAL *dy_group = dy + ((size_t)n * K + group * out_per_group) * out_plane;
    for (int kd = 0; kd < KD; ++kd)
    for (int kh = 0; kh < KH; ++kh)
    for (int kw = 0; kw < KW; ++kw) {
        int offset[TILE_P];
        bool reads[TILE_P];
#define READING(t, _)                                                   \
        {                                                               \
            const int od = output_reading(id[t], kd, SD, PD, DD, OD);   \
            const int oh = output_reading(ih[t], kh, SH, PH, DH, OH);   \
            const int ow = output_reading(iw[t], kw, SW, PW, DW, OW);   \
            reads[t] = od >= 0 && oh >= 0 && ow >= 0;                   \
            offset[t] = reads[t] ? (od * OH + oh) * OW + ow : 0;        \
        }
        UNROLL_A(TILE_P, READING, _)
        const int tap = (kd * KH + kh) * KW + kw;
        for (int k = 0; k < out_per_group; ++k) {
            const __global REAL *dy_channel = dy_group + (size_t)k * out_plane;
            REAL gv[TILE_P];
#define LOAD_GRADIENT(t, _) gv[t] = reads[t] ? dy_channel[offset[t]] : (REAL)0;
            UNROLL_A(TILE_P, LOAD_GRADIENT, _)
            const __global REAL *w_row = weight + (size_t)(group * out_per_group + k) * in_per_group * taps;
#define FMA_ONE(t, c) acc[c][t] = fma(wv, gv[t], acc[c][t]);
#define FMA_ROW(c, _)                                                               \
            {                                                                       \
                const REAL wv = w_row[(first_c + min(c, c_count - 1)) * taps + tap]; \
                UNROLL_B(TILE_P, FMA_ONE, c)                                        \
            }
            UNROLL_A(TILE_C, FMA_ROW, _)
        }
    }
#define STORE_ONE(t, c)                                                                    \
    if (first_pos + t < in_plane)                                                          \
        dx_row[first_pos + t] = acc[c][t];
#define STORE_ROW(c, _)                                                                    \
    if (c < c_count) {                                                                     \
        __global REAL *dx_row = dx + ((size_t)n * C + group * in_per_group + first_c + c) * in_plane; \
        UNROLL_B(TILE_P, STORE_ONE, c)                                                     \
    }
    UNROLL_A(TILE_C, STORE_ROW, _)
#undef POSITION
#undef READING
#undef LOAD_GRADIENT
#undef ZERO_ONE
#undef ZERO_ROW
#undef FMA_ONE
#undef FMA_ROW
#undef STORE_ONE
#undef STORE_ROW
}

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
    const int C, const int D, const int H, const int W,
    const int K, const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
    const int DD, const int DH, const int DW,
    const int groups)
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
#define ZERO_ONE(c, k) acc[k][c] = 0;
#define ZERO_ROW(k, _) UNROLL_B(TILE_C, ZERO_ONE, k)
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
#define LOAD_INPUT(c, _) xv[c] = x_at[(size_t)min(c, c_count - 1) * in_plane];
            UNROLL_A(TILE_C, LOAD_INPUT, _)
#define LOAD_GRADIENT(k, _) gv[k] = dy_at[(size_t)min(k, k_count - 1) * out_plane];
            UNROLL_A(TILE_K, LOAD_GRADIENT, _)
#define FMA_ONE(c, k) acc[k][c] = fma(gv[k], xv[c], acc[k][c]);
#define FMA_ROW(k, _) UNROLL_B(TILE_C, FMA_ONE, k)
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
#define STORE_ONE(c, k)                                                                    \
    if (c < c_count)                                                                       \
        out[((size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c) * taps \
            + tap] = acc[k][c];
#define STORE_ROW(k, _) if (k < k_count) { UNROLL_B(TILE_C, STORE_ONE, k) }
    UNROLL_A(TILE_K, STORE_ROW, _)
#undef ZERO_ONE
#undef ZERO_ROW
#undef LOAD_INPUT
#undef LOAD_GRADIENT
#undef FMA_ONE
#undef FMA_ROW
#undef STORE_ONE
#undef STORE_ROW
}

// --- weight gradient with wide vectors (CPUs) -------------------------------------------------
// x and dy are first copied into zero-padded volumes of rows WP wide and slices of x_slice
// elements (pad_volumes): dy row (od, oh) at od x_slice + oh WP, x row (id, ih) at
// (id + PD) x_slice + (ih + PH) WP + PW. Then output position q = od x_slice + oh WP + ow reads
// x at q + kd DD x_slice + kh DH WP + kw DW for tap (kd, kh, kw), for every q alike, so
//     dw[k][c][tap] = sum over n and q of dyp[n][k][q] * xp[n][c][q + offset(tap)]
// runs over whole volumes in wide unmasked vector loads (padding rows and columns of dy are
// zero). With strides, x is split into SD x SH x SW phases (pad_volumes), each `x_phase`
// elements, and tap (kd, kh, kw) reads phase ((kd DD) % SD, (kh DH) % SH, (kw DW) % SW) at
// ((kd DD) / SD) x_slice + ((kh DH) / SH) WP + (kw DW) / SW: a stride-1 correlation again.
// (1D and 2D are one slice deep.) A work-item of conv_backward_weight_flat owns WG_K output
// channels x WG_C input channels of one tap: WG_K x WG_C accumulator vectors of VW lanes,
// summed once at the end.
//
// The reduction over samples and positions is split into runs that the cache holds (SPLIT, as
// in clconv/ops/conv_grad.py: `split` x `samples` samples, positions [chunk q, chunk (q + 1))
// of each, for chunk q = split % q_chunks): every tile's work-item for one run is consecutive
// (the split is the slowest index), so x's and dy's planes of the run are read from memory once
// for all of them instead of once per tile. Each run's partial tile goes to slice `split` of
// `dw` (splits x the weight's size), summed in order afterwards (reduce.cl: sum_slices).
#ifndef WG_K
#define WG_K 4
#endif
#ifndef WG_C
#define WG_C 4
#endif
#ifndef WG_TAPS
#define WG_TAPS 9
#endif

// The column step of the phases is a build option (PAD_COL_STEP): a constant stride lets the
// row copies vectorize.
#ifndef PAD_COL_STEP
#define PAD_COL_STEP 1
#endif

// Where a padded, phase-split volume comes from: input volumes of depth_in x rows_in x
// cols_in, placed at (depth_shift, row_shift, col_shift) of a zero grid, split into depth_step
// x row_step x col_step phases, each a grid of depth_out x rows_out x cols_out. (Built inside
// kernels from their int arguments.)
typedef struct {
    int depth_in, rows_in, cols_in, depth_out, rows_out, cols_out;
    int depth_shift, row_shift, col_shift, depth_step, row_step;
} PadShape;

// A row of phase (pd, ph, pw) of one padded volume: out_row[col] = grid[slice depth_step +
// pd][row row_step + ph][col col_step + pw], from the input volume. col_step is a constant at
// every call (the copy then vectorizes).
typedef struct {
    int first, end;       // the row's columns [first, end) come from the input, the rest are 0
    size_t source;        // where column `first` is in the input volume
} PadRow;

// The columns of column phase pw that come from the input, in any row that does; `source`
// relative to the input row.
inline PadRow pad_columns(const PadShape s, const int col_step, const int pw)
{
    // Column col holds input column col * col_step + source_first.
    const int source_first = pw - s.col_shift;
    PadRow row;
    row.first = min((max(-source_first, 0) + col_step - 1) / col_step, s.cols_out);
    row.end = clamp((s.cols_in - source_first + col_step - 1) / col_step, row.first, s.cols_out);
    row.source = row.first < row.end ? row.first * col_step + source_first : 0;
    return row;
}

// Where tap `tap` (of KD x KH x KW) reads a padded, phase-split x: see the comment above.
inline int tap_offset(const int tap, const int KH, const int KW, const int DD, const int DH,
                      const int DW, const int SD, const int SH, const int SW, const int WP,
                      const int x_slice, const int x_phase)
{
    const int reach_d = (tap / (KH * KW)) * DD, reach_h = ((tap / KW) % KH) * DH;
    const int reach_w = (tap % KW) * DW;
    const int phase = ((reach_d % SD) * SH + reach_h % SH) * SW + reach_w % SW;
    return phase * x_phase + (reach_d / SD) * x_slice + (reach_h / SH) * WP + reach_w / SW;
}

// The run of the reduction that work-item dimension 2 index `item2` (group, output tile and
// split, the split slowest) takes: its samples [n0, n1) and positions [q0, q1) of each.
#define SPLIT_RUN(item2, tiles)                                                       \
    const int split = (item2) / (tiles);                                              \
    const int n0 = split / q_chunks * samples, n1 = min(n0 + samples, N);              \
    const int q0 = split % q_chunks * chunk, q1 = min(q0 + chunk, dy_plane)

__kernel void conv_backward_weight_flat(
    __global const REAL *restrict xp, __global const REAL *restrict dyp,
    __global REAL *restrict dw, const int N, const int C, const int K, const int groups,
    const int KD, const int KH, const int KW, const int DD, const int DH, const int DW,
    const int SD, const int SH, const int SW, const int WP, const int x_slice,
    const int x_phase, const int x_plane, const int dy_plane, const int samples,
    const int chunk, const int q_chunks, const int splits)
{
    const int taps = KD * KH * KW;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int k_tiles = (out_per_group + WG_K - 1) / WG_K;
    const int tap = get_global_id(0);
    const int first_c = get_global_id(1) * WG_C;
    const int group = get_global_id(2) % (groups * k_tiles) / k_tiles;
    const int first_k = (get_global_id(2) % k_tiles) * WG_K;
    SPLIT_RUN(get_global_id(2), groups * k_tiles);
    if (tap >= taps || first_c >= in_per_group || split >= splits)
        return;
    const int c_count = min(WG_C, in_per_group - first_c);
    const int k_count = min(WG_K, out_per_group - first_k);
    const int offset = tap_offset(tap, KH, KW, DD, DH, DW, SD, SH, SW, WP, x_slice, x_phase);

    VREAL acc[WG_K][WG_C];
    #pragma unroll
    for (int k = 0; k < WG_K; ++k)
        #pragma unroll
        for (int c = 0; c < WG_C; ++c)
            acc[k][c] = (VREAL)0;
    for (int n = n0; n < n1; ++n) {
        const __global REAL *x_n = xp + ((size_t)n * C + group * in_per_group + first_c) * x_plane + offset;
        const __global REAL *dy_n = dyp + ((size_t)n * K + group * out_per_group + first_k) * dy_plane;
        for (int q = q0; q < q1; q += VW) {
            VREAL xv[WG_C], gv[WG_K];
            #pragma unroll
            for (int c = 0; c < WG_C; ++c)
                xv[c] = VLOAD(0, x_n + (size_t)min(c, c_count - 1) * x_plane + q);
            #pragma unroll
            for (int k = 0; k < WG_K; ++k)
                gv[k] = VLOAD(0, dy_n + (size_t)min(k, k_count - 1) * dy_plane + q);
            #pragma unroll
            for (int k = 0; k < WG_K; ++k)
                #pragma unroll
                for (int c = 0; c < WG_C; ++c)
                    acc[k][c] = fma(gv[k], xv[c], acc[k][c]);
        }
    }
    __global REAL *out = dw + (size_t)split * K * in_per_group * taps;
    for (int k = 0; k < k_count; ++k)
        for (int c = 0; c < c_count; ++c)
            out[((size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c) * taps + tap] = LANE_SUM(acc[k][c]);
}

// conv_backward_weight_flat with WG_T taps of one kernel row per work-item (row r: taps
// r KW .. r KW + KW - 1, in blocks of WG_T; the last block of a row may repeat its last tap):
// each dy vector then feeds WG_T x WG_K x WG_C multiply-adds, and the row's taps read x at
// neighbouring offsets, the same cache lines. With few channels (3 in, 16 out) the flat
// kernel's one tap per work-item streams x and dy once per tap; here once per row block.
#ifndef WG_T
#define WG_T 3
#endif
__kernel void conv_backward_weight_rows(
    __global const REAL *restrict xp, __global const REAL *restrict dyp,
    __global REAL *restrict dw, const int N, const int C, const int K, const int groups,
    const int KD, const int KH, const int KW, const int DD, const int DH, const int DW,
    const int SD, const int SH, const int SW, const int WP, const int x_slice,
    const int x_phase, const int x_plane, const int dy_plane, const int samples,
    const int chunk, const int q_chunks, const int splits)
{
    const int taps = KD * KH * KW, row_blocks = (KW + WG_T - 1) / WG_T;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int k_tiles = (out_per_group + WG_K - 1) / WG_K;
    const int row = get_global_id(0) / row_blocks;
    const int first_kw = (get_global_id(0) % row_blocks) * WG_T;
    const int first_c = get_global_id(1) * WG_C;
    const int group = get_global_id(2) % (groups * k_tiles) / k_tiles;
    const int first_k = (get_global_id(2) % k_tiles) * WG_K;
    SPLIT_RUN(get_global_id(2), groups * k_tiles);
    if (row >= KD * KH || first_c >= in_per_group || split >= splits)
        return;
    const int c_count = min(WG_C, in_per_group - first_c);
    const int k_count = min(WG_K, out_per_group - first_k);
    const int t_count = min(WG_T, KW - first_kw);
    int offset[WG_T];
    #pragma unroll
    for (int t = 0; t < WG_T; ++t)
        offset[t] = tap_offset(row * KW + first_kw + min(t, t_count - 1), KH, KW, DD, DH, DW,
                               SD, SH, SW, WP, x_slice, x_phase);

    VREAL acc[WG_T][WG_K][WG_C];
    #pragma unroll
    for (int t = 0; t < WG_T; ++t)
        #pragma unroll
        for (int k = 0; k < WG_K; ++k)
            #pragma unroll
            for (int c = 0; c < WG_C; ++c)
                acc[t][k][c] = (VREAL)0;
    for (int n = n0; n < n1; ++n) {
        const __global REAL *x_n = xp + ((size_t)n * C + group * in_per_group + first_c) * x_plane;
        const __global REAL *dy_n = dyp + ((size_t)n * K + group * out_per_group + first_k) * dy_plane;
        for (int q = q0; q < q1; q += VW) {
            VREAL gv[WG_K];
            #pragma unroll
            for (int k = 0; k < WG_K; ++k)
                gv[k] = VLOAD(0, dy_n + (size_t)min(k, k_count - 1) * dy_plane + q);
            #pragma unroll
            for (int t = 0; t < WG_T; ++t)
                #pragma unroll
                for (int c = 0; c < WG_C; ++c) {
                    const VREAL xv = VLOAD(0, x_n + (size_t)min(c, c_count - 1) * x_plane + offset[t] + q);
                    #pragma unroll
                    for (int k = 0; k < WG_K; ++k)
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
// in dy. A work-item owns WG_K output x WG_C input channels of one group. Work-items run in
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
    const int c_tiles = (in_per_group + WG_C - 1) / WG_C;
    const int k_tiles = (out_per_group + WG_K - 1) / WG_K;
    const int item = get_global_id(0);
    const int group = item / (c_tiles * k_tiles), in_group = item % (c_tiles * k_tiles);
    const int band = in_group / (K_BAND * c_tiles), in_band = in_group % (K_BAND * c_tiles);
    const int band_tiles = min(K_BAND, k_tiles - band * K_BAND);
    const int first_c = (in_band / band_tiles) * WG_C;
    const int first_k = (band * K_BAND + in_band % band_tiles) * WG_K;
    if (group >= groups)
        return;
    const int c_count = min(WG_C, in_per_group - first_c);
    const int k_count = min(WG_K, out_per_group - first_k);
    const int whole = P / VW * VW, tail = P - VW;  // the last vector starts at tail
    REAL keep[VW];
    #pragma unroll
    for (int j = 0; j < VW; ++j)
        keep[j] = j + tail >= whole ? (REAL)1 : (REAL)0;
    const VREAL tail_mask = VLOAD(0, keep);

    VREAL acc[WG_K][WG_C];
    #pragma unroll
    for (int k = 0; k < WG_K; ++k)
        #pragma unroll
        for (int c = 0; c < WG_C; ++c)
            acc[k][c] = (VREAL)0;
    for (int n = 0; n < N; ++n) {
        const __global REAL *x_n = x + ((size_t)n * C + group * in_per_group + first_c) * P;
        const __global REAL *dy_n = dy + ((size_t)n * K + group * out_per_group + first_k) * P;
        for (int q = 0; q < P; q += VW) {
            const int at = min(q, tail);
            VREAL xv[WG_C], gv[WG_K];
            #pragma unroll
            for (int c = 0; c < WG_C; ++c)
                xv[c] = VLOAD(0, x_n + (size_t)min(c, c_count - 1) * P + at);
            #pragma unroll
            for (int k = 0; k < WG_K; ++k) {
                gv[k] = VLOAD(0, dy_n + (size_t)min(k, k_count - 1) * P + at);
                if (q >= whole)
                    gv[k] *= tail_mask;
            }
            #pragma unroll
            for (int k = 0; k < WG_K; ++k)
                #pragma unroll
                for (int c = 0; c < WG_C; ++c)
                    acc[k][c] = fma(gv[k], xv[c], acc[k][c]);
        }
    }
    for (int k = 0; k < k_count; ++k)
        for (int c = 0; c < c_count; ++c)
            dw[(size_t)(group * out_per_group + first_k + k) * in_per_group + first_c + c] = LANE_SUM(acc[k][c]);
}

// --- weight gradient of depthwise convolutions (one input channel per group), CPUs -----------
// With one input channel per group, a work-item of conv_backward_weight_flat holds a single
// accumulator, and each tap streams x and dy from memory again. Here a work-item owns one
// output channel k (its input channel: k's group) and WG_TAPS taps (all of a small kernel):
// per sample it pads its plane of x and of dy into its own scratch, in the layout of
// pad_volumes (two planes: tens of KiB, they stay in cache), then loads each dy vector once for
// WG_TAPS multiply-adds with x at the taps' offsets. x and dy are read from memory once, and
// no padded copy of the whole batch is made. Work-item (tap block, first_k + k) uses scratch
// item_scratch elements at (k x tap blocks + tap block) item_scratch: its x phases, then its
// dy plane.
// A padded row's values (not its zeros): with col_step 1, in whole vectors, the last one
// stepped back to end at the row's end (rewriting a few values) or scalars in a row shorter
// than a vector.
inline void copy_row_values(const __global REAL *restrict in, __global REAL *restrict out_row,
                            const PadRow row, const int col_step)
{
    const int count = row.end - row.first;
    const __global REAL *in_row = in + row.source;
    __global REAL *out = out_row + row.first;
    if (col_step == 1 && count >= VW) {
        for (int col = 0; col < count; col += VW) {
            const int at = min(col, count - VW);
            VSTORE(VLOAD(0, in_row + at), 0, out + at);
        }
        return;
    }
    for (int col = 0; col < count; ++col)
        out[col] = in_row[col * col_step];
}

// Phase `phase` of a padded volume's values (PadShape; not its zeros, already in place), slice
// by slice and row by row: no per-row divisions (they would cost more than the row's copy).
inline void copy_phase_values(const __global REAL *restrict in, __global REAL *restrict out_phase,
                              const PadShape s, const int col_step, const int phase)
{
    const int row_phases = s.row_step * col_step;
    const PadRow columns = pad_columns(s, col_step, phase % col_step);
    if (columns.first >= columns.end)
        return;
    for (int slice = 0; slice < s.depth_out; ++slice) {
        const int source_slice = slice * s.depth_step + phase / row_phases - s.depth_shift;
        if (source_slice < 0 || source_slice >= s.depth_in)
            continue;
        for (int row = 0; row < s.rows_out; ++row) {
            const int source_row = row * s.row_step + (phase % row_phases) / col_step - s.row_shift;
            if (source_row < 0 || source_row >= s.rows_in)
                continue;
            PadRow values = columns;
            values.source += ((size_t)source_slice * s.rows_in + source_row) * s.cols_in;
            copy_row_values(in, out_phase + (slice * s.rows_out + row) * s.cols_out, values,
                            col_step);
        }
    }
}

// `count` zeros from p: whole vectors, the last one stepped back (scalars under a vector).
inline void zero_fill(__global REAL *restrict p, const int count)
{
    if (count < VW) {
        for (int i = 0; i < count; ++i)
            p[i] = 0;
        return;
    }
    for (int i = 0; i < count; i += VW)
        VSTORE((VREAL)0, 0, p + min(i, count - VW));
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
    const int taps = KD * KH * KW, tap_blocks = (taps + WG_TAPS - 1) / WG_TAPS;
    const int block = get_global_id(0), item_k = get_global_id(1);
    if (block >= tap_blocks || item_k >= k_count)
        return;
    const int k = first_k + item_k, c = k / (K / C);
    const int first_tap = block * WG_TAPS, tap_count = min(WG_TAPS, taps - first_tap);
    const int x_slice = x_rows * WP, phases = SD * SH * PAD_COL_STEP;
    __global REAL *xs = scratch + ((size_t)item_k * tap_blocks + block) * item_scratch;
    __global REAL *dys = xs + (size_t)phases * x_phase;
    const int x_volume = D * H * W, dy_volume = OD * OH * OW;

    // The padding lies at the same places for every sample: zeros once, then the values only.
    for (int i = 0; i < item_scratch; i += VW)
        VSTORE((VREAL)0, 0, xs + min(i, item_scratch - VW));

    int offset[WG_TAPS];
    VREAL acc[WG_TAPS];
    #pragma unroll
    for (int t = 0; t < WG_TAPS; ++t) {
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
            for (int t = 0; t < WG_TAPS; ++t)
                acc[t] = fma(gv, VLOAD(0, xs + offset[t] + q), acc[t]);
        }
    }
    for (int t = 0; t < tap_count; ++t)
        dw[(size_t)k * taps + first_tap + t] = LANE_SUM(acc[t]);
}

// The weights of the transposed convolution that computes a stride-1 input gradient:
// w_t[g*Cg + c][k][t] = w[g*Kg + k][c][taps - 1 - t] (in/out channels swapped within each
// group, kernel flipped). One work-item per element of w_t.
__kernel void flip_transpose_weight(__global const REAL *restrict w, __global REAL *restrict w_t,
                                    const int in_per_group, const int out_per_group,
                                    const int groups, const int taps)
{
    const int i = get_global_id(0);
    if (i >= groups * in_per_group * out_per_group * taps)
        return;
    const int t = i % taps;
    const int k = (i / taps) % out_per_group;
    const int c = (i / (taps * out_per_group)) % in_per_group;
    const int group = i / (taps * out_per_group * in_per_group);
    w_t[i] = w[((size_t)(group * out_per_group + k) * in_per_group + c) * taps + taps - 1 - t];
}

// dy spread out by the stride, zeros between: up[n][k][u] = dy[n][k][u / S] where every
// coordinate of u is a multiple of its stride, else 0 (the input of a strided convolution's
// input gradient, computed as a stride-1 convolution). One work-item per element of up.
__kernel void zero_upsample(__global const REAL *restrict dy, __global REAL *restrict up,
                            const int planes, const int OD, const int OH, const int OW,
                            const int UD, const int UH, const int UW,
                            const int SD, const int SH, const int SW)
{
    const int i = get_global_id(0);
    if (i >= planes * UD * UH * UW)
        return;
    const int uw = i % UW, uh = (i / UW) % UH, ud = (i / (UW * UH)) % UD;
    const int plane = i / (UW * UH * UD);
    const bool on_grid = uw % SW == 0 && uh % SH == 0 && ud % SD == 0;
    up[i] = on_grid ? dy[(((size_t)plane * OD + ud / SD) * OH + uh / SH) * OW + uw / SW] : (REAL)0;
}

// --- input gradient of strided convolutions, phase by phase ----------------------------------
// Phase (rh, rw) of dx (rows rh, rh + SH, ..., columns rw, rw + SW, ...) gets only the taps
// (kh, kw) with kh DH = rh + PH (mod SH) and kw DW = rw + PW (mod SW): a stride-1 convolution
// of dy with that sub-kernel, flipped, channels transposed (clconv/ops/conv_grad.py derives it).

// w_sub[g*Cg + c][k][jh][jw] = w[g*Kg + k][c][th][tw] with th = first_h + step_h (JH - 1 - jh),
// tw = first_w + step_w (JW - 1 - jw): a phase's taps of the 2D kernel (KH x KW), flipped,
// in and out channels swapped within each group. One work-item per (k, g*Cg + c): its taps in
// a loop (per element, the index arithmetic would cost more than the copy).
__kernel void phase_transpose_weight(__global const REAL *restrict w, __global REAL *restrict w_sub,
                                     const int in_per_group, const int out_per_group,
                                     const int groups, const int KH, const int KW,
                                     const int first_h, const int step_h, const int JH,
                                     const int first_w, const int step_w, const int JW)
{
    const int k = get_global_id(0), channel = get_global_id(1);  // channel: g*Cg + c
    if (k >= out_per_group || channel >= groups * in_per_group)
        return;
    const int group = channel / in_per_group, c = channel % in_per_group;
    const __global REAL *w_taps = w + ((size_t)(group * out_per_group + k) * in_per_group + c) * KH * KW;
    __global REAL *out = w_sub + ((size_t)channel * out_per_group + k) * JH * JW;
    for (int jh = 0; jh < JH; ++jh)
        for (int jw = 0; jw < JW; ++jw)
            out[jh * JW + jw] = w_taps[(first_h + step_h * (JH - 1 - jh)) * KW
                                       + first_w + step_w * (JW - 1 - jw)];
}

// dx[first_plane + plane][i SH + rh][j SW + rw] = part[plane][i + shift_h][j + shift_w] (part:
// part_h x part_w planes), or 0 where the phase has no taps (has_part 0: part is not read).
// One work-item per (phase row i, plane).
__kernel void phase_scatter(__global const REAL *restrict part, __global REAL *restrict dx,
                            const int has_part, const int planes, const int first_plane,
                            const int H, const int W, const int SH, const int SW,
                            const int rh, const int rw, const int part_h, const int part_w,
                            const int shift_h, const int shift_w)
{
    const int i = get_global_id(0), plane = get_global_id(1);
    const int rows = (H - rh + SH - 1) / SH, cols = (W - rw + SW - 1) / SW;
    if (i >= rows || plane >= planes)
        return;
    __global REAL *dx_row = dx + ((size_t)(first_plane + plane) * H + i * SH + rh) * W + rw;
    if (!has_part) {
        for (int j = 0; j < cols; ++j)
            dx_row[j * SW] = 0;
        return;
    }
    const __global REAL *part_row = part + ((size_t)plane * part_h + i + shift_h) * part_w + shift_w;
    for (int j = 0; j < cols; ++j)
        dx_row[j * SW] = part_row[j];
}
