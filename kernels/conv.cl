// Convolution, forward. 1D and 2D convolutions run as 3D ones with unit depth (and height).
// Two implementations, both for every option (stride, padding, dilation, groups):
// - conv_forward, the general one (GPUs; any device): scalar, sizes as arguments, one launch.
// - conv_direct, for CPUs (below): wide vectors over a laid-out copy of the input
//   (conv_pad_input or conv_pack_input) and packed weights (conv_pack_weights).
//
// conv_forward is a register-tiled implicit GEMM: the product is (out channels) x (output
// positions) with the reduction over (in channels of the group) x (kernel taps). Each work-item
// owns a TILE_K x TILE_P block of outputs (TILE_K output channels of one group, TILE_P
// consecutive output positions of one image) in registers, so each loaded input value feeds
// TILE_K multiply-adds and each loaded weight TILE_P of them. Problem sizes are arguments: one
// build serves every shape.
#include "common.h"
#include "unroll.h"
#include "vector.h"

#ifndef TILE_K
#define TILE_K 8
#endif
#ifndef TILE_P
#define TILE_P 8
#endif

__kernel void conv_forward(
    __global const REAL *restrict x,      // N x C x D x H x W
    __global const REAL *restrict weight, // K x C/groups x KD x KH x KW
    __global const REAL *restrict bias,   // K, read only when has_bias
    const int has_bias,
    const int activation, const REAL negative_slope,  // the epilogue's (common.h: activate)
    __global REAL *restrict y,            // N x K x OD x OH x OW
    const int C, const int D, const int H, const int W,
    const int K, const int OD, const int OH, const int OW,
    const int KD, const int KH, const int KW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
    const int DD, const int DH, const int DW,
    const int groups)
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
#define FIRST_TAP(t, _)                                                 \
    {                                                                   \
        const int pos = min(first_pos + t, out_plane - 1);              \
        ow0[t] = (pos % OW) * SW - PW;                                  \
        oh0[t] = ((pos / OW) % OH) * SH - PH;                           \
        od0[t] = (pos / (OW * OH)) * SD - PD;                           \
    }
    UNROLL_A(TILE_P, FIRST_TAP, _)

    REAL acc[TILE_K][TILE_P];
#define ZERO_ONE(t, k) acc[k][t] = 0;
#define ZERO_ROW(k, _) UNROLL_B(TILE_P, ZERO_ONE, k)
    UNROLL_A(TILE_K, ZERO_ROW, _)

    const __global REAL *x_group = x + ((size_t)n * C + group * in_per_group) * in_plane;
    for (int kd = 0; kd < KD; ++kd)
    for (int kh = 0; kh < KH; ++kh)
    for (int kw = 0; kw < KW; ++kw) {
        // Where each output position reads for this tap; taps in the padding read nothing.
        int offset[TILE_P];
        bool inside[TILE_P];
#define TAP_OFFSET(t, _)                                                                 \
        {                                                                                \
            const int id = od0[t] + kd * DD, ih = oh0[t] + kh * DH, iw = ow0[t] + kw * DW; \
            inside[t] = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;     \
            offset[t] = inside[t] ? (id * H + ih) * W + iw : 0;                          \
        }
        UNROLL_A(TILE_P, TAP_OFFSET, _)
        const int tap = (kd * KH + kh) * KW + kw;
        for (int c = 0; c < in_per_group; ++c) {
            const __global REAL *x_channel = x_group + (size_t)c * in_plane;
            REAL xv[TILE_P];
#define LOAD_INPUT(t, _) xv[t] = inside[t] ? x_channel[offset[t]] : (REAL)0;
            UNROLL_A(TILE_P, LOAD_INPUT, _)
#define FMA_ONE(t, k) acc[k][t] = fma(wv, xv[t], acc[k][t]);
#define FMA_ROW(k, _)                                                                     \
            {                                                                             \
                const int row = first_k + min(k, k_count - 1);                            \
                const REAL wv = weight[((size_t)row * in_per_group + c) * taps + tap];    \
                UNROLL_B(TILE_P, FMA_ONE, k)                                              \
            }
            UNROLL_A(TILE_K, FMA_ROW, _)
        }
    }

    // Stores guarded output by output, every index a constant: the tile stays in registers.
#define STORE_ONE(t, k)                                                                   \
    if (first_pos + t < out_plane)                                                        \
        y_row[first_pos + t] = activate(acc[k][t] + b, activation, negative_slope);
#define STORE_ROW(k, _)                                                                   \
    if (k < k_count) {                                                                    \
        const REAL b = has_bias ? bias[first_k + k] : (REAL)0;                            \
        __global REAL *y_row = y + ((size_t)n * K + first_k + k) * out_plane;             \
        UNROLL_B(TILE_P, STORE_ONE, k)                                                    \
    }
    UNROLL_A(TILE_K, STORE_ROW, _)
#undef FIRST_TAP
#undef ZERO_ONE
#undef ZERO_ROW
#undef TAP_OFFSET
#undef LOAD_INPUT
#undef FMA_ONE
#undef FMA_ROW
#undef STORE_ONE
#undef STORE_ROW
}

// ---------------------------------------------------------------------------------------------
// Direct convolution for CPUs (PoCL): explicit wide vectors, many independent accumulators.
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
// ---------------------------------------------------------------------------------------------
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

    // Where the tile's first position reads (tap 0) in its plane. Read in place, the last FLAT
    // tile moves back to end at the last position, so no read passes the plane; its stores skip
    // the positions before `start`, which the previous tile wrote. (A copy has room after it.)
    int start = 0, read_start;
    const int first_column = (tile % ROW_TILES) * BLOCK_P;  // row mode: the tile's
    if (FLAT) {
        const int positions = ((OD - 1) * HP + OH - 1) * WQ + OW;
        start = tile * BLOCK_P;
        read_start = IN_PLACE ? min(start, max(positions - BLOCK_P, 0)) : start;
    } else {
        const int row = tile / ROW_TILES, od = row / OH, oh = row % OH;
        read_start = (od * SD * HP + oh * SH) * ROW + first_column;
    }
    // Vector v reads VECTOR_OFFSET(v) after read_start. In row mode a vector that would pass
    // the row's end moves back to end there, re-computing lanes of this work-item's previous
    // vector (when the tile has VW outputs), so that it is stored whole.
    const int row_end_offset = FLAT ? -1 : OW - VW - first_column;
#define VECTOR_OFFSET(v) \
    ((v) * VW > row_end_offset && row_end_offset >= 0 ? row_end_offset : (v) * X_VECTOR)

    VREAL acc[BLOCK_K][BLOCK_V];
    #pragma unroll
    for (int k = 0; k < BLOCK_K; ++k)
        #pragma unroll
        for (int v = 0; v < BLOCK_V; ++v)
            acc[k][v] = 0;

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

    const __global REAL *x_channel = xp + (size_t)n * X_IMAGE + group * CG * X_CHANNEL
        + (read_start / VW) * X_VECTOR + read_start % VW;
    const __global REAL *w_tap = packed + (size_t)block * CG * TAPS * BLOCK_K;
    const int phase_step = DW % SW, column_step = DW / SW;
#if TAPS_OUTER
#if WEIGHTS_IN_PLACE
    // The weights as given (K x CG x taps), without conv_pack_weights (one launch less): the
    // BLOCK_K rows of this block, channels past the group's end repeating its last (their
    // outputs are not stored).
    const __global REAL *w_rows[BLOCK_K];
    #pragma unroll
    for (int k = 0; k < BLOCK_K; ++k)
        w_rows[k] = packed + ((size_t)group * KG + first_k + min(k, k_count - 1)) * CG * TAPS;
    int tap = 0;
#define ROW_WEIGHT(k) w_rows[k][w_at]
#endif
    for (int kd = 0; kd < KD; ++kd)
    for (int kh = 0; kh < KH; ++kh) {
        const __global REAL *x_row = x_channel + (kd * DD * HP + kh * DH) * ROW;
        // Tap kw reads phase (kw DW) % SW at column (kw DW) / SW; stepped, not divided.
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
#undef ACCUMULATE

    // Stores. A vector whose positions are consecutive outputs goes out whole; others (at row
    // ends, in the grid's padding, past the end, before `start`) lane by lane. (od, oh, ow) are
    // the grid coordinates of the vector's first position; in FLAT mode the grid's rows are
    // WQ wide and its planes HP high, in row mode a tile never leaves its row.
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
    // The sums, moved to memory where the stores may index them freely: indexed with anything
    // but constants, the accumulators would not stay in registers.
    REAL sums[BLOCK_K][BLOCK_P];
    #pragma unroll
    for (int k = 0; k < BLOCK_K; ++k)
        #pragma unroll
        for (int v = 0; v < BLOCK_V; ++v)
            VSTORE(acc[k][v], v, sums[k]);
    for (int v = 0; v < BLOCK_V; ++v) {
        if (!FLAT)
            ow = first_column + VECTOR_OFFSET(v);
        const int out_first = (od * OH + oh) * OW + ow;
        const bool whole = dense ? out_first + VW <= OUT_PLANE
                                 : ow + VW <= OW && oh < OH && od < OD;
        if (v * VW >= skip && whole) {
            for (int k = 0; k < k_count; ++k) {
                const int channel = group * KG + first_k + k;
                const REAL b = has_bias ? bias[channel] : (REAL)0;
                __global REAL *y_plane = y + ((size_t)n * GROUPS * KG + channel) * OUT_PLANE;
                VREAL out = VLOAD(v, sums[k]) + b;
                if (activation != ACTIVATION_NONE)
                    out = select(out, activation == ACTIVATION_RELU ? (VREAL)0
                                                                    : out * negative_slope,
                                 isless(out, (VREAL)0));
                VSTORE(out, 0, y_plane + out_first);
            }
        } else {
            int lane_index[VW];  // output index of each lane, -1 where there is no output
            int ld = od, lh = oh, lw = ow;
            for (int l = 0; l < VW; ++l) {
                lane_index[l] = v * VW + l >= skip && lw < OW && lh < OH && ld < OD
                    ? (ld * OH + lh) * OW + lw : -1;
                if (++lw == width) {
                    lw = 0;
                    if (++lh == HP) {
                        lh = 0;
                        ++ld;
                    }
                }
            }
            for (int k = 0; k < k_count; ++k) {
                const int channel = group * KG + first_k + k;
                const REAL b = has_bias ? bias[channel] : (REAL)0;
                __global REAL *y_plane = y + ((size_t)n * GROUPS * KG + channel) * OUT_PLANE;
                for (int l = 0; l < VW; ++l)
                    if (lane_index[l] >= 0)
                        y_plane[lane_index[l]] = activate(sums[k][v * VW + l] + b, activation,
                                                          negative_slope);
            }
        }
        // On to the next vector's first position.
        ow += VW;
        while (ow >= width) {
            ow -= width;
            if (++oh == HP) {
                oh = 0;
                ++od;
            }
        }
    }
}
#undef VECTOR_OFFSET

// ---------------------------------------------------------------------------------------------
// Depthwise 2D convolution for CPUs: each output channel k reads input channel k / (K / C)
// alone, stride 1, no dilation (clconv/ops/conv.py: _depthwise_applies). With one input channel
// per output there is little arithmetic per byte, so no copy of the input is made: a work-item
// owns VW consecutive output columns of one output plane and walks down its rows, each tap a
// VW-wide load of an input row (from L1 after the first) and a vector multiply-add. Rows of
// at least VW outputs; the last work-item of a row also does the VW ending at the row's end
// when OW is not a multiple of VW (rewriting some of its own outputs with equal values rather
// than racing another work-item).

// x[start .. start + VW - 1] of one input row, zero outside [0, W) (W >= VW). Past an edge by up
// to 3 lanes (padding up to 3), an inside load with its lanes moved; farther, lane by lane.
inline VREAL row_lanes(const __global REAL *row, const int start, const int W)
{
    if (start >= 0 && start + VW <= W)
        return VLOAD(0, row + start);
    const int over = start + VW - W;
#if VW > 3
    if (start < 0 && start >= -3) {
        const VREAL v = VLOAD(0, row);
        return start == -1 ? LANES_UP_1(v) : start == -2 ? LANES_UP_2(v) : LANES_UP_3(v);
    }
    if (start >= 0 && over <= 3) {
        const VREAL v = VLOAD(0, row + W - VW);
        return over == 1 ? LANES_DOWN_1(v) : over == 2 ? LANES_DOWN_2(v) : LANES_DOWN_3(v);
    }
#endif
    REAL lanes[VW];
    for (int l = 0; l < VW; ++l)
        lanes[l] = start + l >= 0 && start + l < W ? row[start + l] : (REAL)0;
    return VLOAD(0, lanes);
}

// The kernel's size is a build option (DW_KH x DW_KW: constant loops, weights in registers).
#ifndef DW_KH
#define DW_KH 3
#endif
#ifndef DW_KW
#define DW_KW 3
#endif

// Output columns start .. start + VW - 1 of one plane, walking down the input rows: each row's
// KW shifted vectors are loaded once and feed the KH output rows that read it, whose sums are
// in flight in acc[] (acc[j]: output row base + j; row base is complete after this input row).
inline void depthwise_columns(const __global REAL *restrict x_plane,
                              const __global REAL *restrict w_k, const REAL b,
                              __global REAL *restrict y_plane, const int start, const int H,
                              const int W, const int OH, const int OW, const int PH,
                              const int PW, const int activation, const REAL negative_slope)
{
    REAL taps[DW_KH * DW_KW];
    for (int t = 0; t < DW_KH * DW_KW; ++t)
        taps[t] = w_k[t];
    VREAL acc[DW_KH];
    #pragma unroll
    for (int j = 0; j < DW_KH; ++j)
        acc[j] = b;
    // Input row ih feeds output rows ih + PH - kh; from output 0's first row to OH - 1's last.
    for (int ih = -PH; ih < OH - PH + DW_KH - 1; ++ih) {
        if (ih >= 0 && ih < H) {
            const __global REAL *row = x_plane + ih * W;
            VREAL shifted[DW_KW];
            #pragma unroll
            for (int kw = 0; kw < DW_KW; ++kw)
                shifted[kw] = row_lanes(row, start - PW + kw, W);
            #pragma unroll
            for (int j = 0; j < DW_KH; ++j)  // output row base + j takes kernel row KH-1-j
                #pragma unroll
                for (int kw = 0; kw < DW_KW; ++kw)
                    acc[j] = fma((VREAL)taps[(DW_KH - 1 - j) * DW_KW + kw], shifted[kw],
                                 acc[j]);
        }
        const int base = ih + PH - (DW_KH - 1);
        if (base >= 0) {
            VREAL out = acc[0];
            if (activation != ACTIVATION_NONE)
                out = select(out, activation == ACTIVATION_RELU ? (VREAL)0
                                                                 : out * negative_slope,
                             isless(out, (VREAL)0));
            VSTORE(out, 0, y_plane + base * OW + start);
        }
        #pragma unroll
        for (int j = 0; j < DW_KH - 1; ++j)
            acc[j] = acc[j + 1];
        acc[DW_KH - 1] = b;
    }
}

__kernel void depthwise_conv2d(
    __global const REAL *restrict x,       // N x C x H x W
    __global const REAL *restrict weight,  // K x 1 x DW_KH x DW_KW
    __global const REAL *restrict bias, const int has_bias,
    const int activation, const REAL negative_slope,  // the epilogue's (common.h: activate)
    __global REAL *restrict y,             // N x K x OH x OW
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int PH, const int PW)
{
    const int blocks = OW / VW;
    const int item = get_global_id(0);
    if (item >= N * K * blocks)
        return;
    const int out_plane = item / blocks, block = item % blocks;  // out_plane: n K + k
    const int k = out_plane % K, n = out_plane / K;
    const int c = k / (K / C);
    const __global REAL *x_plane = x + ((size_t)n * C + c) * H * W;
    const __global REAL *w_k = weight + (size_t)k * DW_KH * DW_KW;
    __global REAL *y_plane = y + (size_t)out_plane * OH * OW;
    const REAL b = has_bias ? bias[k] : (REAL)0;
    depthwise_columns(x_plane, w_k, b, y_plane, block * VW, H, W, OH, OW, PH, PW, activation,
                      negative_slope);
    if (block == blocks - 1 && OW % VW)
        depthwise_columns(x_plane, w_k, b, y_plane, OW - VW, H, W, OH, OW, PH, PW, activation,
                          negative_slope);
}


// ---------------------------------------------------------------------------------------------
// Winograd F(2x2, 3x3) for CPUs: 3x3 convolutions at stride 1 without dilation or groups
// (clconv/ops/conv.py: _winograd_fits). Each 2x2 block of outputs (a tile) comes from a 4x4
// block of input: Y = A^T [ (G g G^T) .* (B^T d B) ] A, 16 multiplies per tile and channel pair
// instead of 36. Per tile position xi (16 of them) the products summed over input channels
// form a matrix product, M[xi][k][tile] = sum_c U[xi][k][c] V[xi][c][tile], which is where the
// time goes; the transforms are adds.
//
// A work-item owns VW WG_TV tiles along one row of tiles of one image (lanes = tiles) and every
// output channel: it transforms its input once into V (local memory, which PoCL keeps per
// work-group: in cache), then per block of WG_BK output channels runs the 16 products with
// WG_BK x WG_TV vector accumulators, U streamed from the packed weights (winograd_weights),
// writes M to local memory and transforms it into 2x2 outputs (bias, activation) stored as
// interleaved columns. Input outside the image (padding, lanes past the row) reads as zero.
// (vector.h: TAP_COLUMN_j picks the input columns of tap column j of VW tiles 2 columns apart;
// INTERLEAVE_LOW/HIGH put a tile's two output columns side by side.)
#ifndef WG_BK
#define WG_BK 8
#endif
#ifndef WG_TV
#define WG_TV 2
#endif

// U = G g G^T for every (output channel, input channel): u[((xi K_BLOCKS + kb) C + c) WG_BK + k]
// for output channel kb WG_BK + k (zero past K), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
// One work-item per (output channel of the padded blocks, input channel).
__kernel void winograd_weights(__global const REAL *restrict w, __global REAL *restrict u,
                               const int K, const int C, const int k_blocks)
{
    const int k = get_global_id(0), c = get_global_id(1);
    if (k >= k_blocks * WG_BK || c >= C)
        return;
    REAL g[9];
    for (int t = 0; t < 9; ++t)
        g[t] = k < K ? w[((size_t)k * C + c) * 9 + t] : (REAL)0;
    REAL gg[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
        gg[0][j] = g[j];
        gg[1][j] = (g[j] + g[3 + j] + g[6 + j]) / 2;
        gg[2][j] = (g[j] - g[3 + j] + g[6 + j]) / 2;
        gg[3][j] = g[6 + j];
    }
    const int kb = k / WG_BK, lane = k % WG_BK;
    for (int i = 0; i < 4; ++i) {
        const REAL row[4] = {gg[i][0], (gg[i][0] + gg[i][1] + gg[i][2]) / 2,
                             (gg[i][0] - gg[i][1] + gg[i][2]) / 2, gg[i][2]};
        for (int j = 0; j < 4; ++j)
            u[(((size_t)(i * 4 + j) * k_blocks + kb) * C + c) * WG_BK + lane] = row[j];
    }
}

__kernel void winograd_conv2d(
    __global const REAL *restrict x,      // N x C x H x W
    __global const REAL *restrict u,      // winograd_weights
    __global const REAL *restrict bias, const int has_bias,
    const int activation, const REAL negative_slope,  // the epilogue's (common.h: activate)
    __global REAL *restrict y,            // N x K x OH x OW
    __local REAL *restrict v_tiles,       // C x 16 x VW WG_TV: the transformed input
    __local REAL *restrict m_tiles,       // 16 x WG_BK x VW WG_TV: one block's products
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int PH, const int PW, const int tile_rows, const int column_blocks)
{
    const int item = get_global_id(0);
    if (item >= N * tile_rows * column_blocks)
        return;
    const int block = item % column_blocks, tile_row = (item / column_blocks) % tile_rows;
    const int n = item / (column_blocks * tile_rows);
    const int first_tile = block * VW * WG_TV;
    const int lanes = VW * WG_TV;

    // 1. V = B^T d B for every input channel and tile, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0;
    //    0 1 0 -1]: rows first (t = B^T d), then columns.
    for (int c = 0; c < C; ++c) {
        const __global REAL *x_channel = x + ((size_t)n * C + c) * H * W;
        for (int tv = 0; tv < WG_TV; ++tv) {
            const int first_column = 2 * (first_tile + VW * tv) - PW;
            VREAL d[4][4];
            #pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int r = 2 * tile_row - PH + i;
                if (r >= 0 && r < H) {
                    const __global REAL *row = x_channel + r * W;
                    const VREAL a = row_lanes(row, first_column, W);
                    const VREAL b = row_lanes(row, first_column + VW, W);
                    const VREAL e = row_lanes(row, first_column + 2 * VW, W);
                    d[i][0] = TAP_COLUMN_0(a, b, e);
                    d[i][1] = TAP_COLUMN_1(a, b, e);
                    d[i][2] = TAP_COLUMN_2(a, b, e);
                    d[i][3] = TAP_COLUMN_3(a, b, e);
                } else {
                    d[i][0] = d[i][1] = d[i][2] = d[i][3] = 0;
                }
            }
            #pragma unroll
            for (int j = 0; j < 4; ++j) {
                const VREAL t0 = d[0][j] - d[2][j], t1 = d[1][j] + d[2][j];
                const VREAL t2 = d[2][j] - d[1][j], t3 = d[1][j] - d[3][j];
                d[0][j] = t0;
                d[1][j] = t1;
                d[2][j] = t2;
                d[3][j] = t3;
            }
            __local REAL *v_c = v_tiles + (size_t)c * 16 * lanes + VW * tv;
            #pragma unroll
            for (int i = 0; i < 4; ++i) {
                VSTORE(d[i][0] - d[i][2], 0, v_c + (i * 4 + 0) * lanes);
                VSTORE(d[i][1] + d[i][2], 0, v_c + (i * 4 + 1) * lanes);
                VSTORE(d[i][2] - d[i][1], 0, v_c + (i * 4 + 2) * lanes);
                VSTORE(d[i][1] - d[i][3], 0, v_c + (i * 4 + 3) * lanes);
            }
        }
    }

    const int k_blocks = (K + WG_BK - 1) / WG_BK;
    for (int kb = 0; kb < k_blocks; ++kb) {
        // 2. The 16 products for WG_BK output channels.
        for (int xi = 0; xi < 16; ++xi) {
            VREAL acc[WG_BK][WG_TV];
            #pragma unroll
            for (int k = 0; k < WG_BK; ++k)
                #pragma unroll
                for (int tv = 0; tv < WG_TV; ++tv)
                    acc[k][tv] = 0;
            const __global REAL *u_block = u + ((size_t)xi * k_blocks + kb) * C * WG_BK;
            const __local REAL *v_xi = v_tiles + xi * lanes;
            for (int c = 0; c < C; ++c) {
                VREAL v[WG_TV];
                #pragma unroll
                for (int tv = 0; tv < WG_TV; ++tv)
                    v[tv] = VLOAD(tv, v_xi + (size_t)c * 16 * lanes);
                #pragma unroll
                for (int k = 0; k < WG_BK; ++k) {
                    const REAL weight = u_block[c * WG_BK + k];
                    #pragma unroll
                    for (int tv = 0; tv < WG_TV; ++tv)
                        acc[k][tv] = fma((VREAL)weight, v[tv], acc[k][tv]);
                }
            }
            #pragma unroll
            for (int k = 0; k < WG_BK; ++k)
                #pragma unroll
                for (int tv = 0; tv < WG_TV; ++tv)
                    VSTORE(acc[k][tv], tv, m_tiles + (xi * WG_BK + k) * lanes);
        }
        // 3. Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1]; bias, activation, store.
        for (int k = 0; k < WG_BK && kb * WG_BK + k < K; ++k) {
            const int channel = kb * WG_BK + k;
            const REAL b = has_bias ? bias[channel] : (REAL)0;
            __global REAL *y_plane = y + ((size_t)n * K + channel) * OH * OW;
            for (int tv = 0; tv < WG_TV; ++tv) {
                VREAL m[16];
                #pragma unroll
                for (int xi = 0; xi < 16; ++xi)
                    m[xi] = VLOAD(tv, m_tiles + (xi * WG_BK + k) * lanes);
                VREAL s[2][4];
                #pragma unroll
                for (int j = 0; j < 4; ++j) {
                    s[0][j] = m[j] + m[4 + j] + m[8 + j];
                    s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
                }
                const int column = 2 * (first_tile + VW * tv);
                for (int i = 0; i < 2; ++i) {
                    const int out_row = 2 * tile_row + i;
                    if (out_row >= OH)
                        break;
                    VREAL left = s[i][0] + s[i][1] + s[i][2] + b;
                    VREAL right = s[i][1] - s[i][2] - s[i][3] + b;
                    if (activation != ACTIVATION_NONE) {
                        const VREAL zero = 0;
                        left = select(left, activation == ACTIVATION_RELU ? zero
                                                                          : left * negative_slope,
                                      isless(left, zero));
                        right = select(right, activation == ACTIVATION_RELU ? zero
                                                                            : right * negative_slope,
                                       isless(right, zero));
                    }
                    __global REAL *y_row = y_plane + out_row * OW;
                    if (column + 2 * VW <= OW) {
                        VSTORE(INTERLEAVE_LOW(left, right), 0, y_row + column);
                        VSTORE(INTERLEAVE_HIGH(left, right), 0, y_row + column + VW);
                    } else if (column < OW) {
                        REAL values[2 * VW];
                        VSTORE(INTERLEAVE_LOW(left, right), 0, values);
                        VSTORE(INTERLEAVE_HIGH(left, right), 0, values + VW);
                        for (int l = 0; l < 2 * VW && column + l < OW; ++l)
                            y_row[column + l] = values[l];
                    }
                }
            }
        }
    }
}
