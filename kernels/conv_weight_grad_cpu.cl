// Convolution, backward: the weight gradient's CPU algorithms (flat, rows, pointwise,
// depthwise) and the padded copies they read (pad_volumes), with wide vectors.
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
#include "common.h"
#include "vector.h"
#ifndef WGRAD_K
#define WGRAD_K 4
#endif
#ifndef WGRAD_C
#define WGRAD_C 4
#endif
#ifndef WGRAD_TAPS
#define WGRAD_TAPS 9
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

// --- weight gradient of depthwise convolutions (one input channel per group), CPUs -----------
// With one input channel per group, a work-item of conv_backward_weight_flat holds a single
// accumulator, and each tap streams x and dy from memory again. Here a work-item owns one
// output channel k (its input channel: k's group) and WGRAD_TAPS taps (all of a small kernel):
// per sample it pads its plane of x and of dy into its own scratch, in the layout of
// pad_volumes (two planes: tens of KiB, they stay in cache), then loads each dy vector once for
// WGRAD_TAPS multiply-adds with x at the taps' offsets. x and dy are read from memory once, and
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
