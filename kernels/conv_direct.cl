// Convolution, forward: the direct algorithm for CPUs (PoCL): explicit wide vectors, many
// independent accumulators.
//
// Each work-item owns BLOCK_K output channels (of one group) x BLOCK_V vectors of VW positions:
// BLOCK_K x BLOCK_V accumulator vectors. For each input channel and tap it loads BLOCK_V input
// vectors and BLOCK_K weights (conv_pack_weights stores them adjacent, zero for channels past
// the group's end), then does BLOCK_K x BLOCK_V independent vector FMAs.
//
// The input is read from a copy laid out so that every tap reads VW consecutive elements:
// - Planes (conv_pad_input): zero padding is materialized, and each padded row is split into
//   SW phases (columns p, p + SW, p + 2 SW, ... for phase p), so a strided row becomes SW
//   contiguous ones. A padded plane holds DP x HP rows of ROW = SW x WQ elements; for output
//   (od, oh, ow) and tap (kd, kh, kw) the element read is at
//       (od SD + kd DD) HP ROW + (oh SH + kh DH) ROW + ((kw DW) % SW) WQ + ow + (kw DW) / SW,
//   so consecutive ow read consecutive elements. When every stride is 1, positions are
//   numbered over the whole padded plane (FLAT): position q reads q + (offset of the tap), so
//   tiles run across rows and only the grid's padding is wasted; otherwise (rows) each tile
//   lies in one output row and the tail of each row is wasted. Without padding or strides x
//   itself has this layout and is read in place (IN_PLACE).
// - Panels (conv_pack_input, 1x1 kernels only): for each vector of VW output positions, the
//   VW input values of every channel are adjacent (strides and padding applied by the copy),
//   so a work-item reads one contiguous panel, as a matrix product's packed operand.
// Both are addressed as image n, channel c, vector v of tile start q:
//     n X_IMAGE + c X_CHANNEL + (q / VW + v) X_VECTOR + q % VW (+ the tap's offset).
// Lanes without an output may read past their row or plane: into the next one, or at the end
// into the BLOCK_P zeros that end a copy (read in place, the last FLAT tile moves back to end
// at the last position instead), never outside the buffer. Stores are guarded lane
// by lane where a vector is not whole; in row mode a vector that would pass the row's end
// moves back to end there (its lanes recomputed by the same work-item), so rows of at least
// VW outputs store whole vectors only.
//
// Problem sizes are kernel arguments (NAME_arg) unless FIXED_SHAPE is defined, in which case
// each is a -DCONV_NAME=value define: constant loop bounds and offsets, one build per shape.
#include "common.h"
#include "vector.h"

#ifndef BLOCK_K
#define BLOCK_K 8
#endif
#ifndef BLOCK_V
#define BLOCK_V 2
#endif
#define BLOCK_P (VW * BLOCK_V)  // positions per work-item
#ifndef K_FASTEST
#define K_FASTEST 1  // global dimension 0 runs over channel blocks (else over position tiles)
#endif
#ifndef TAPS_OUTER
#define TAPS_OUTER 0  // loop over taps outside the loop over input channels (else inside)
#endif
#ifndef WEIGHTS_IN_PLACE
#define WEIGHTS_IN_PLACE 0  // read K x CG x taps weights as given (TAPS_OUTER only), unpacked
#endif

#ifdef FIXED_SHAPE
#define SIZE(name) CONV_##name
#else
#define SIZE(name) name##_arg
#endif

// Padded, phase-split copy of x (N*C planes of D x H x W) into xp (N*C planes of
// DP x HP x SW x WQ, `plane_stride` apart, zeros between), followed by `slack` zeros that
// over-reading tail tiles may touch. One work-item per padded depth slice of a plane.
__kernel void conv_pad_input(
    __global const REAL *restrict x, __global REAL *restrict xp,
    const int plane_stride, const int slack,
    const int planes, const int D, const int H, const int W,
    const int DP, const int HP, const int SW, const int WQ,
    const int PD, const int PH, const int PW)
{
    const int dp = get_global_id(0), plane = get_global_id(1);
    if (dp >= DP || plane >= planes)
        return;
    const int row_length = SW * WQ, id = dp - PD;
    __global REAL *out = xp + (size_t)plane * plane_stride + dp * HP * row_length;
    for (int hp = 0; hp < HP; ++hp, out += row_length) {
        const int ih = hp - PH;
        if (id < 0 || id >= D || ih < 0 || ih >= H) {
            for (int i = 0; i < row_length; ++i)
                out[i] = 0;
            continue;
        }
        const __global REAL *in = x + (((size_t)plane * D + id) * H + ih) * W;
        for (int phase = 0; phase < SW; ++phase) {
            // Column wq holds iw = wq SW + phase - PW: inside the row for wq in [first, end).
            __global REAL *out_phase = out + phase * WQ;
            const int first = min((PW - phase + SW - 1) / SW, WQ);
            const int end = clamp((W + PW - phase + SW - 1) / SW, first, WQ);
            const __global REAL *in_phase = in + first * SW + phase - PW;
            for (int wq = 0; wq < first; ++wq)
                out_phase[wq] = 0;
            if (SW == 1) {
                for (int wq = first; wq < end; ++wq)
                    out_phase[wq] = in_phase[wq - first];
            } else {
                for (int wq = first; wq < end; ++wq)
                    out_phase[wq] = in_phase[(wq - first) * SW];
            }
            for (int wq = end; wq < WQ; ++wq)
                out_phase[wq] = 0;
        }
    }
    if (dp == DP - 1) {  // after the plane's last row: zeros up to the next plane
        const int gap = plane_stride - DP * HP * row_length + (plane == planes - 1 ? slack : 0);
        for (int i = 0; i < gap; ++i)
            out[i] = 0;
    }
}

// Panels of a 1x1 convolution's input: xp[n][vector][c][lane] = the input that output position
// vector * VW + lane of image n reads in channel c, or 0 (padding, positions past the end).
// vectors per image: a multiple of BLOCK_V. One work-item per (vector, image).
__kernel void conv_pack_input(
    __global const REAL *restrict x, __global REAL *restrict xp,
    const int batch, const int C, const int D, const int H, const int W,
    const int OD, const int OH, const int OW, const int vectors,
    const int SD, const int SH, const int SW, const int PD, const int PH, const int PW)
{
    const int vector = get_global_id(0), n = get_global_id(1);
    if (vector >= vectors || n >= batch)
        return;
    int source[VW];  // offset of each lane's input in a channel plane, -1 for zero
    for (int lane = 0; lane < VW; ++lane) {
        const int q = vector * VW + lane;
        const int ow = q % OW, oh = (q / OW) % OH, od = q / (OW * OH);
        const int id = od * SD - PD, ih = oh * SH - PH, iw = ow * SW - PW;
        source[lane] = od < OD && id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W
            ? (id * H + ih) * W + iw : -1;
    }
    bool consecutive = source[0] >= 0;  // then one vector load per channel
    for (int lane = 1; lane < VW; ++lane)
        consecutive = consecutive && source[lane] == source[0] + lane;
    const __global REAL *in = x + (size_t)n * C * D * H * W;
    __global REAL *out = xp + ((size_t)n * vectors + vector) * C * VW;
    if (consecutive) {
        for (int c = 0; c < C; ++c, in += D * H * W, out += VW)
            VSTORE(VLOAD(0, in + source[0]), 0, out);
    } else {
        for (int c = 0; c < C; ++c, in += D * H * W, out += VW)
            for (int lane = 0; lane < VW; ++lane)
                out[lane] = source[lane] >= 0 ? in[source[lane]] : (REAL)0;
    }
}

// Weights K x CG x taps, rearranged to (groups * k_tiles) x CG x taps x BLOCK_K (or, with
// TAPS_OUTER, x taps x CG x BLOCK_K): conv_direct's order. For each block of BLOCK_K output
// channels, the BLOCK_K weights of one input channel and tap are adjacent.
// Channels past a group's end get zeros. One work-item per (input channel, block).
__kernel void conv_pack_weights(
    __global const REAL *restrict weight, __global REAL *restrict packed,
    const int CG, const int KG, const int k_tiles, const int blocks, const int taps)
{
    const int c = get_global_id(0), block = get_global_id(1);
    if (c >= CG || block >= blocks)
        return;
    const int group = block / k_tiles;
    const int first_k = (block % k_tiles) * BLOCK_K;
    for (int tap = 0; tap < taps; ++tap)
        for (int k = 0; k < BLOCK_K; ++k) {
            const int k_in_group = first_k + k;
#if TAPS_OUTER
            __global REAL *out = packed + (((size_t)block * taps + tap) * CG + c) * BLOCK_K;
#else
            __global REAL *out = packed + (((size_t)block * CG + c) * taps + tap) * BLOCK_K;
#endif
            out[k] = k_in_group < KG
                ? weight[(((size_t)group * KG + k_in_group) * CG + c) * taps + tap] : (REAL)0;
        }
}

// --- conv_direct's multiply-accumulate stage --------------------------------------------------
// Vector v of a tile reads VECTOR_OFFSET(v) after its start. In row mode a vector that would
// pass the row's end moves back to end there (row_end_offset), re-computing lanes of the
// work-item's previous vector (when the tile has VW outputs), so that it is stored whole.
#define VECTOR_OFFSET(v) \
    ((v) * VW > row_end_offset && row_end_offset >= 0 ? row_end_offset : (v) * X_VECTOR)

// BLOCK_V input vectors times BLOCK_K weights (WEIGHT(k)) into the accumulators.
#define ACCUMULATE(x_tap, WEIGHT)                                       \
    do {                                                                \
        VREAL in[BLOCK_V];                                              \
        _Pragma("unroll")                                               \
        for (int v = 0; v < BLOCK_V; ++v)                               \
            in[v] = VLOAD(0, (x_tap) + VECTOR_OFFSET(v));               \
        _Pragma("unroll")                                               \
        for (int k = 0; k < BLOCK_K; ++k) {                             \
            const VREAL wk = (VREAL)(WEIGHT(k));                        \
            _Pragma("unroll")                                           \
            for (int v = 0; v < BLOCK_V; ++v)                           \
                acc[k][v] = fma(wk, in[v], acc[k][v]);                  \
        }                                                               \
    } while (0)
#define PACKED_WEIGHT(k) w_tap[k]
#define ROW_WEIGHT(k) w_rows[k][w_at]

// Every input channel and tap of one tile into acc (inlined: acc stays in registers). The
// weights are packed (conv_pack_weights: BLOCK_K adjacent per channel and tap, from w_tap),
// or with WEIGHTS_IN_PLACE read as given (K x CG x taps, rows k_rows.. of `weights`, channels
// past the group's end repeating its last: their outputs are not stored). Tap kw reads phase
// (kw DW) % SW at column (kw DW) / SW, stepped rather than divided.
STAGE void multiply_accumulate(
    VREAL acc[BLOCK_K][BLOCK_V], const __global REAL *x_channel, const __global REAL *w_tap,
    const __global REAL *weights, const int k_rows, const int k_count, const int CG,
    const int KD, const int KH, const int KW, const int DD, const int DH, const int DW,
    const int HP, const int WQ, const int SW, const int X_CHANNEL, const int X_VECTOR,
    const int row_end_offset)
{
    const int ROW = SW * WQ, TAPS = KD * KH * KW;
    const int phase_step = DW % SW, column_step = DW / SW;
#if TAPS_OUTER
#if WEIGHTS_IN_PLACE
    const __global REAL *w_rows[BLOCK_K];
    #pragma unroll
    for (int k = 0; k < BLOCK_K; ++k)
        w_rows[k] = weights + ((size_t)k_rows + min(k, k_count - 1)) * CG * TAPS;
    int tap = 0;
#endif
    for (int kd = 0; kd < KD; ++kd)
    for (int kh = 0; kh < KH; ++kh) {
        const __global REAL *x_row = x_channel + (kd * DD * HP + kh * DH) * ROW;
        int phase = 0, tap_column = 0;
        for (int kw = 0; kw < KW; ++kw) {
            const __global REAL *x_tap = x_row + phase * WQ + tap_column;
#if WEIGHTS_IN_PLACE
            for (int c = 0, w_at = tap; c < CG; ++c, x_tap += X_CHANNEL, w_at += TAPS)
                ACCUMULATE(x_tap, ROW_WEIGHT);
            ++tap;
#else
            for (int c = 0; c < CG; ++c, x_tap += X_CHANNEL, w_tap += BLOCK_K)
                ACCUMULATE(x_tap, PACKED_WEIGHT);
#endif
            phase += phase_step;
            tap_column += column_step + (phase >= SW);
            phase -= phase >= SW ? SW : 0;
        }
    }
#else
    for (int c = 0; c < CG; ++c, x_channel += X_CHANNEL) {
        for (int kd = 0; kd < KD; ++kd)
        for (int kh = 0; kh < KH; ++kh) {
            const __global REAL *x_row = x_channel + (kd * DD * HP + kh * DH) * ROW;
            int phase = 0, tap_column = 0;
            for (int kw = 0; kw < KW; ++kw, w_tap += BLOCK_K) {
                ACCUMULATE(x_row + phase * WQ + tap_column, PACKED_WEIGHT);
                phase += phase_step;
                tap_column += column_step + (phase >= SW);
                phase -= phase >= SW ? SW : 0;
            }
        }
    }
#endif
}
#undef ACCUMULATE
#undef PACKED_WEIGHT
#undef ROW_WEIGHT

// --- conv_direct's stages ---------------------------------------------------------------------

// Where a tile's first position reads (tap 0) in its plane. Read in place, the last FLAT tile
// moves back to end at the last position, so no read passes the plane; its stores skip the
// positions before *start, which the previous tile wrote. (A copy has room after it.)
STAGE int tile_read_start(const int tile, const int first_column, const int FLAT,
                          const int IN_PLACE, const int ROW_TILES, const int OD, const int OH,
                          const int OW, const int HP, const int WQ, const int SD, const int SH,
                          const int ROW, int *start)
{
    *start = 0;
    if (FLAT) {
        const int positions = ((OD - 1) * HP + OH - 1) * WQ + OW;
        *start = tile * BLOCK_P;
        return IN_PLACE ? min(*start, max(positions - BLOCK_P, 0)) : *start;
    }
    const int row = tile / ROW_TILES, od = row / OH, oh = row % OH;
    return (od * SD * HP + oh * SH) * ROW + first_column;
}

// A whole vector of consecutive outputs, with the epilogue's activation.
STAGE void store_whole(__global REAL *y, VREAL out, const int activation,
                       const REAL negative_slope)
{
    VSTORE(activate_vector(out, activation, negative_slope), 0, y);
}

// The output index of each lane of a vector whose first position is grid coordinate
// (od, oh, ow), or -1 where a lane has no output: in the grid's padding (rows `width` wide,
// planes HP high), past the end, or among the first `skip` lanes (which an earlier tile
// stored).
STAGE void lane_outputs(int *lane_index, const int skip, int ld, int lh, int lw, const int OD,
                        const int OH, const int OW, const int width, const int HP)
{
    for (int l = 0; l < VW; ++l) {
        lane_index[l] = l >= skip && lw < OW && lh < OH && ld < OD ? (ld * OH + lh) * OW + lw
                                                                   : -1;
        if (++lw == width) {
            lw = 0;
            if (++lh == HP) {
                lh = 0;
                ++ld;
            }
        }
    }
}

// The lanes of one vector of sums that have an output (lane_outputs), one by one.
STAGE void store_lanes(__global REAL *y_plane, const REAL *sums, const int *lane_index,
                       const REAL b, const int activation, const REAL negative_slope)
{
    for (int l = 0; l < VW; ++l)
        if (lane_index[l] >= 0)
            y_plane[lane_index[l]] = activate(sums[l] + b, activation, negative_slope);
}

// (od, oh, ow) moved on by a vector of VW positions in a grid of rows `width` wide.
STAGE void next_vector(int *od, int *oh, int *ow, const int width, const int HP)
{
    *ow += VW;
    while (*ow >= width) {
        *ow -= width;
        if (++*oh == HP) {
            *oh = 0;
            ++*od;
        }
    }
}

// The tile's outputs, with bias and activation, from its sums. A vector whose positions are
// consecutive outputs goes out whole; others (at row ends, in the grid's padding, past the end,
// before `start`) lane by lane. (od, oh, ow) are the grid coordinates of a vector's first
// position; in FLAT mode the grid's rows are WQ wide and its planes HP high, in row mode a tile
// never leaves its row. y_block: the block's first output plane; b_block: its first bias, or 0.
STAGE void store_tile(REAL sums[BLOCK_K][BLOCK_P], __global REAL *y_block,
                      const __global REAL *b_block, const int activation,
                      const REAL negative_slope, const int k_count, const int tile,
                      const int read_start, const int start, const int first_column,
                      const int row_end_offset, const int FLAT, const int ROW_TILES,
                      const int OD, const int OH, const int OW, const int HP, const int WQ,
                      const int X_VECTOR)
{
    const int OUT_PLANE = OD * OH * OW;
    int od, oh, ow;
    if (FLAT) {
        ow = read_start % WQ;
        oh = (read_start / WQ) % HP;
        od = read_start / (WQ * HP);
    } else {
        const int row = tile / ROW_TILES;
        od = row / OH;
        oh = row % OH;
        ow = first_column;
    }
    const int width = FLAT ? WQ : INT_MAX;
    const int skip = FLAT ? start - read_start : 0;  // positions the previous tile stored
    // A FLAT grid without padding (WQ >= OW, HP >= OH): consecutive positions, outputs.
    const bool dense = FLAT ? (WQ - OW) + (HP - OH) == 0 : false;
    for (int v = 0; v < BLOCK_V; ++v) {
        if (!FLAT)
            ow = first_column + VECTOR_OFFSET(v);
        const int out_first = (od * OH + oh) * OW + ow;
        const bool whole = v * VW >= skip && (dense ? out_first + VW <= OUT_PLANE
                                                    : ow + VW <= OW && oh < OH && od < OD);
        int lane_index[VW];  // (lane by lane only) output index of each lane, or -1
        if (!whole)
            lane_outputs(lane_index, skip - v * VW, od, oh, ow, OD, OH, OW, width, HP);
        for (int k = 0; k < k_count; ++k) {
            const REAL b = b_block ? b_block[k] : (REAL)0;
            __global REAL *y_plane = y_block + (size_t)k * OUT_PLANE;
            if (whole)
                store_whole(y_plane + out_first, VLOAD(v, sums[k]) + b, activation,
                            negative_slope);
            else
                store_lanes(y_plane, sums[k] + v * VW, lane_index, b, activation,
                            negative_slope);
        }
        next_vector(&od, &oh, &ow, width, HP);
    }
}

__kernel void conv_direct(
    __global const REAL *restrict xp,      // the input, laid out as above
    __global const REAL *restrict packed,  // conv_pack_weights
    __global const REAL *restrict bias, const int has_bias,
    const int activation, const REAL negative_slope,  // the epilogue's (common.h: activate)
    __global REAL *restrict y,             // N x K x OD x OH x OW
    const int GROUPS_arg, const int CG_arg, const int KG_arg, const int K_TILES_arg,
    const int OD_arg, const int OH_arg, const int OW_arg,
    const int DP_arg, const int HP_arg, const int WQ_arg,
    const int KD_arg, const int KH_arg, const int KW_arg,
    const int SD_arg, const int SH_arg, const int SW_arg,
    const int DD_arg, const int DH_arg, const int DW_arg,
    const int X_IMAGE_arg, const int X_CHANNEL_arg, const int X_VECTOR_arg,
    const int FLAT_arg, const int IN_PLACE_arg, const int ROWS_arg, const int ROW_TILES_arg)
{
    const int GROUPS = SIZE(GROUPS), CG = SIZE(CG), KG = SIZE(KG), K_TILES = SIZE(K_TILES);
    const int OD = SIZE(OD), OH = SIZE(OH), OW = SIZE(OW);
    const int DP = SIZE(DP), HP = SIZE(HP), WQ = SIZE(WQ);
    const int KD = SIZE(KD), KH = SIZE(KH), KW = SIZE(KW);
    const int SD = SIZE(SD), SH = SIZE(SH), SW = SIZE(SW);
    const int DD = SIZE(DD), DH = SIZE(DH), DW = SIZE(DW);
    const int X_IMAGE = SIZE(X_IMAGE), X_CHANNEL = SIZE(X_CHANNEL), X_VECTOR = SIZE(X_VECTOR);
    const int FLAT = SIZE(FLAT), IN_PLACE = SIZE(IN_PLACE);
    const int ROWS = SIZE(ROWS), ROW_TILES = SIZE(ROW_TILES);
    const int ROW = SW * WQ;
    const int TAPS = KD * KH * KW;
    const int OUT_PLANE = OD * OH * OW;

#if K_FASTEST
    const int block = get_global_id(0), tile = get_global_id(1);
#else
    const int block = get_global_id(1), tile = get_global_id(0);
#endif
    const int n = get_global_id(2);
    if (block >= GROUPS * K_TILES || tile >= ROWS * ROW_TILES)
        return;
    const int group = block / K_TILES;
    const int first_k = (block % K_TILES) * BLOCK_K;  // within the group
    const int k_count = min(BLOCK_K, KG - first_k);

    const int first_column = (tile % ROW_TILES) * BLOCK_P;  // row mode: the tile's
    int start;
    const int read_start = tile_read_start(tile, first_column, FLAT, IN_PLACE, ROW_TILES, OD, OH,
                                           OW, HP, WQ, SD, SH, ROW, &start);
    const int row_end_offset = FLAT ? -1 : OW - VW - first_column;  // (VECTOR_OFFSET)

    VREAL acc[BLOCK_K][BLOCK_V];
    #pragma unroll
    for (int k = 0; k < BLOCK_K; ++k)
        #pragma unroll
        for (int v = 0; v < BLOCK_V; ++v)
            acc[k][v] = 0;

    // The products, over every input channel and tap, into the accumulators.
    const __global REAL *x_channel = xp + (size_t)n * X_IMAGE + group * CG * X_CHANNEL
        + (read_start / VW) * X_VECTOR + read_start % VW;
    const int k_rows = group * KG + first_k;  // (WEIGHTS_IN_PLACE: the block's first row)
    multiply_accumulate(acc, x_channel, packed + (size_t)block * CG * TAPS * BLOCK_K, packed,
                        k_rows, k_count, CG, KD, KH, KW, DD, DH, DW, HP, WQ, SW, X_CHANNEL,
                        X_VECTOR, row_end_offset);


    // The sums, moved to memory where the stores may index them freely: indexed with anything
    // but constants, the accumulators would not stay in registers.
    REAL sums[BLOCK_K][BLOCK_P];
    #pragma unroll
    for (int k = 0; k < BLOCK_K; ++k)
        #pragma unroll
        for (int v = 0; v < BLOCK_V; ++v)
            VSTORE(acc[k][v], v, sums[k]);
    __global REAL *y_block = y + ((size_t)n * GROUPS * KG + group * KG + first_k) * OUT_PLANE;
    const __global REAL *b_block = has_bias ? bias + group * KG + first_k : 0;
    store_tile(sums, y_block, b_block, activation, negative_slope, k_count, tile, read_start,
               start, first_column, row_end_offset, FLAT, ROW_TILES, OD, OH, OW, HP, WQ,
               X_VECTOR);
}
#undef VECTOR_OFFSET
