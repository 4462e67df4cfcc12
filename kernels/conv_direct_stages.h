// conv_direct's stages (conv_direct.cl, which defines the blocking first): the
// multiply-accumulate over every input channel and tap, where a tile starts, and the stores.
// --- conv_direct's multiply-accumulate stage --------------------------------------------------
// Vector v of a tile reads VECTOR_OFFSET(v) after its start. In row mode a vector that would
// pass the row's end moves back to end there (row_end_offset), re-computing lanes of the
// work-item's previous vector (when the tile has VW outputs), so that it is stored whole.
#define VECTOR_OFFSET(v) \
    ((v) * VW > row_end_offset && row_end_offset >= 0 ? row_end_offset : (v) * X_VECTOR)

// With INPUT_SCALE, input channel c's values are multiplied by scale_row[c] as they are
// loaded (a squeeze-excitation's scaling of the convolution's input, fused).
#if INPUT_SCALE
#define SCALED_INPUT(v) ((v) * scale_row[c])
#else
#define SCALED_INPUT(v) (v)
#endif

// BLOCK_V input vectors of channel c times BLOCK_K weights (WEIGHT(k)) into the accumulators.
#define ACCUMULATE(x_tap, WEIGHT)                                       \
    do {                                                                \
        VREAL in[BLOCK_V];                                              \
        _Pragma("unroll")                                               \
        for (int v = 0; v < BLOCK_V; ++v)                               \
            in[v] = SCALED_INPUT(VLOAD(0, (x_tap) + VECTOR_OFFSET(v))); \
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

// Every input channel and tap of one tile into acc (inlined: acc stays in registers), each
// channel's inputs scaled by scale_row[c] with INPUT_SCALE. The weights are packed
// (conv_pack_weights: BLOCK_K adjacent per channel and tap, from w_tap), or with
// WEIGHTS_IN_PLACE read as given (K x CG x taps, rows k_rows.. of `weights`, channels past the
// group's end repeating its last: their outputs are not stored). Tap kw reads phase (kw DW) %
// SW at column (kw DW) / SW, stepped rather than divided.
STAGE void multiply_accumulate(
    VREAL acc[BLOCK_K][BLOCK_V], const __global REAL *x_channel, const __global REAL *w_tap,
    const __global REAL *weights, const __global REAL *scale_row, const int k_rows,
    const int k_count, const int CG,
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
#undef SCALED_INPUT
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
STAGE void store_whole(__global REAL *y, VREAL out, const REAL act_a, const REAL act_b)
{
    VSTORE(activate_vector(out, act_a, act_b), 0, y);
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

// The lanes of one vector of sums that have an output (lane_outputs), one by one (with
// RESIDUAL, plus the residual's values at their outputs, r_plane).
STAGE void store_lanes(__global REAL *y_plane, const __global REAL *r_plane, const REAL *sums,
                       const int *lane_index, const REAL b, const REAL act_a, const REAL act_b)
{
    for (int l = 0; l < VW; ++l)
        if (lane_index[l] >= 0)
            y_plane[lane_index[l]] = activate(
                sums[l] + b + (RESIDUAL ? r_plane[lane_index[l]] : (REAL)0), act_a, act_b);
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
// never leaves its row. y_block: the block's first output plane; b_block: its first bias, or 0;
// r_block (RESIDUAL): the residual's plane of y_block's, added before the activation.
STAGE void store_tile(REAL sums[BLOCK_K][BLOCK_P], __global REAL *y_block,
                      const __global REAL *b_block, const __global REAL *r_block,
                      const REAL act_a, const REAL act_b, const int k_count, const int tile,
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
            const __global REAL *r_plane = r_block + (size_t)k * OUT_PLANE;
            if (whole)
                store_whole(y_plane + out_first, VLOAD(v, sums[k]) + b
                            + (RESIDUAL ? VLOAD(0, r_plane + out_first) : (VREAL)0),
                            act_a, act_b);
            else
                store_lanes(y_plane, r_plane, sums[k] + v * VW, lane_index, b, act_a, act_b);
        }
        next_vector(&od, &oh, &ow, width, HP);
    }
}
