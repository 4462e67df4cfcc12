// Convolution, forward: the direct algorithm for CPUs (PoCL): explicit wide vectors, many
// independent accumulators.
//
// Each work-item owns BLOCK_K output channels (of one group) x BLOCK_V vectors of VW positions:
// BLOCK_K x BLOCK_V accumulator vectors. For each input channel and tap it loads BLOCK_V input
// vectors and BLOCK_K weights (conv_pack_weights stores them adjacent, zero for channels past
// the group's end), then does BLOCK_K x BLOCK_V independent vector FMAs. With BLOCKS_PER_ITEM
// a work-item computes that many blocks of channels for the same positions, one after another:
// from the second on, its inputs come from the cache.
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
#ifndef BLOCKS_PER_ITEM
#define BLOCKS_PER_ITEM 1  // blocks of output channels one work-item computes, one after another
#endif
#ifndef INPUT_SCALE
#define INPUT_SCALE 0  // multiply input channel c of image n by x_scale[n C + c] as it is read
#endif
#ifndef RESIDUAL
#define RESIDUAL 0  // add residual (y's shape) to the sums before the activation
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

#include "conv_direct_stages.h"  // conv_direct's stages (after the blocking defines above)

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
    const REAL act_a, const REAL act_b,  // the epilogue (common.h)
    __global REAL *restrict y,             // N x K x OD x OH x OW
    const int GROUPS_arg, const int CG_arg, const int KG_arg, const int K_TILES_arg,
    const int OD_arg, const int OH_arg, const int OW_arg,
    const int DP_arg, const int HP_arg, const int WQ_arg,
    const int KD_arg, const int KH_arg, const int KW_arg,
    const int SD_arg, const int SH_arg, const int SW_arg,
    const int DD_arg, const int DH_arg, const int DW_arg,
    const int X_IMAGE_arg, const int X_CHANNEL_arg, const int X_VECTOR_arg,
    const int FLAT_arg, const int IN_PLACE_arg, const int ROWS_arg, const int ROW_TILES_arg,
    __global const REAL *restrict x_scale,   // N x C (INPUT_SCALE only)
    __global const REAL *restrict residual)  // y's shape (RESIDUAL only)
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
    const int item = get_global_id(0), tile = get_global_id(1);
#else
    const int item = get_global_id(1), tile = get_global_id(0);
#endif
    const int n = get_global_id(2);
    const int last_block = min((item + 1) * BLOCKS_PER_ITEM, GROUPS * K_TILES);
    if (item * BLOCKS_PER_ITEM >= last_block || tile >= ROWS * ROW_TILES)
        return;
    const int first_column = (tile % ROW_TILES) * BLOCK_P;  // row mode: the tile's
    int start;
    const int read_start = tile_read_start(tile, first_column, FLAT, IN_PLACE, ROW_TILES, OD, OH,
                                           OW, HP, WQ, SD, SH, ROW, &start);
    const int row_end_offset = FLAT ? -1 : OW - VW - first_column;  // (VECTOR_OFFSET)

    // The work-item's blocks one after another: the tile's inputs stay in the cache.
    for (int block = item * BLOCKS_PER_ITEM; block < last_block; ++block) {
        const int group = block / K_TILES;
        const int first_k = (block % K_TILES) * BLOCK_K;  // within the group
        const int k_count = min(BLOCK_K, KG - first_k);

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
        const __global REAL *scale_row = x_scale + ((size_t)n * GROUPS + group) * CG;
        multiply_accumulate(acc, x_channel, packed + (size_t)block * CG * TAPS * BLOCK_K,
                            packed, scale_row, k_rows, k_count, CG, KD, KH, KW, DD, DH, DW, HP,
                            WQ, SW, X_CHANNEL, X_VECTOR, row_end_offset);

        // The sums, moved to memory where the stores may index them freely: indexed with
        // anything but constants, the accumulators would not stay in registers.
        REAL sums[BLOCK_K][BLOCK_P];
        #pragma unroll
        for (int k = 0; k < BLOCK_K; ++k)
            #pragma unroll
            for (int v = 0; v < BLOCK_V; ++v)
                VSTORE(acc[k][v], v, sums[k]);
        const size_t block_at = ((size_t)n * GROUPS * KG + group * KG + first_k) * OUT_PLANE;
        __global REAL *y_block = y + block_at;
        const __global REAL *b_block = has_bias ? bias + group * KG + first_k : 0;
        const __global REAL *r_block = residual + block_at;
        store_tile(sums, y_block, b_block, r_block, act_a, act_b, k_count, tile, read_start,
                   start, first_column, row_end_offset, FLAT, ROW_TILES, OD, OH, OW, HP, WQ,
                   X_VECTOR);
    }
}
#undef VECTOR_OFFSET
