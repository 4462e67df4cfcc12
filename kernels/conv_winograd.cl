// Convolution, forward: Winograd F(2x2, 3x3) for CPUs: 3x3 convolutions at stride 1 without
// dilation or groups (clconv/ops/conv.py: _winograd_fits). Each 2x2 block of outputs (a tile)
// comes from a 4x4 block of input: Y = A^T [ (G g G^T) .* (B^T d B) ] A, 16 multiplies per tile
// and channel pair instead of 36. Per tile position xi (16 of them) the products summed over input
// channels form a matrix product, M[xi][k][tile] = sum_c U[xi][k][c] V[xi][c][tile], which is
// where the time goes; the transforms are adds.
//
// A work-item owns VW WINO_TV tiles along one row of tiles of one image (lanes = tiles) and every
// output channel: it transforms its input once into V (local memory, which PoCL keeps per work-
// group: in cache), then per block of WINO_BK output channels runs the 16 products with WINO_BK x
// WINO_TV vector accumulators, U streamed from the packed weights (winograd_weights), writes M to
// local memory and transforms it into 2x2 outputs (bias, activation) stored as interleaved
// columns. Input outside the image (padding, lanes past the row) reads as zero. (vector.h:
// TAP_COLUMN_j picks the input columns of tap column j of VW tiles 2 columns apart;
// INTERLEAVE_LOW/HIGH put a tile's two output columns side by side.)
#include "common.h"
#include "vector.h"

#ifndef WINO_BK
#define WINO_BK 8
#endif
#ifndef WINO_TV
#define WINO_TV 2
#endif
#ifndef RESIDUAL
#define RESIDUAL 0  // add residual (y's shape) to the outputs before the activation
#endif

// U = G g G^T for every (output channel, input channel): u[((xi K_BLOCKS + kb) C + c) WINO_BK + k]
// for output channel kb WINO_BK + k (zero past K), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
// One work-item per (output channel of the padded blocks, input channel).
__kernel void winograd_weights(__global const REAL *restrict w, __global REAL *restrict u,
                               const int K, const int C, const int k_blocks)
{
    const int k = get_global_id(0), c = get_global_id(1);
    if (k >= k_blocks * WINO_BK || c >= C)
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
    const int kb = k / WINO_BK, lane = k % WINO_BK;
    for (int i = 0; i < 4; ++i) {
        const REAL row[4] = {gg[i][0], (gg[i][0] + gg[i][1] + gg[i][2]) / 2,
                             (gg[i][0] - gg[i][1] + gg[i][2]) / 2, gg[i][2]};
        for (int j = 0; j < 4; ++j)
            u[(((size_t)(i * 4 + j) * k_blocks + kb) * C + c) * WINO_BK + lane] = row[j];
    }
}

// --- winograd_conv2d's stages ------------------------------------------------------------------

// 1. V = B^T d B for every input channel and tile of the work-item, B^T = [1 0 -1 0; 0 1 1 0;
//    0 -1 1 0; 0 1 0 -1]: rows first (t = B^T d), then columns, into v_tiles.
STAGE void transform_input(const __global REAL *x_image, __local REAL *v_tiles, const int C,
                           const int H, const int W, const int PH, const int PW,
                           const int tile_row, const int first_tile)
{
    const int lanes = VW * WINO_TV;
    for (int c = 0; c < C; ++c) {
        const __global REAL *x_channel = x_image + (size_t)c * H * W;
        for (int tv = 0; tv < WINO_TV; ++tv) {
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
}

// 2. Tile position xi's product for output-channel block kb: M[xi][k] = sum over c of
//    U[xi][kb][c][k] V[xi][c], WINO_BK x WINO_TV vector accumulators, into m_tiles.
STAGE void block_product(const __global REAL *u_block, const __local REAL *v_xi,
                         __local REAL *m_xi, const int C)
{
    const int lanes = VW * WINO_TV;
    VREAL acc[WINO_BK][WINO_TV];
    #pragma unroll
    for (int k = 0; k < WINO_BK; ++k)
        #pragma unroll
        for (int tv = 0; tv < WINO_TV; ++tv)
            acc[k][tv] = 0;
    for (int c = 0; c < C; ++c) {
        VREAL v[WINO_TV];
        #pragma unroll
        for (int tv = 0; tv < WINO_TV; ++tv)
            v[tv] = VLOAD(tv, v_xi + (size_t)c * 16 * lanes);
        #pragma unroll
        for (int k = 0; k < WINO_BK; ++k) {
            const REAL weight = u_block[c * WINO_BK + k];
            #pragma unroll
            for (int tv = 0; tv < WINO_TV; ++tv)
                acc[k][tv] = fma((VREAL)weight, v[tv], acc[k][tv]);
        }
    }
    #pragma unroll
    for (int k = 0; k < WINO_BK; ++k)
        #pragma unroll
        for (int tv = 0; tv < WINO_TV; ++tv)
            VSTORE(acc[k][tv], tv, m_xi + k * lanes);
}

// Two output columns of VW tiles, interleaved (a tile's pair side by side), into a row from
// `column`, cut at the row's end OW.
STAGE void store_tile_row(__global REAL *y_row, const VREAL left, const VREAL right,
                          const int column, const int OW)
{
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

// The residual's values at a row's outputs from `column` (2 VW of them, zero past the row's
// end OW) added to the tiles' left and right output columns.
STAGE void add_residual(const __global REAL *r_row, const int column, const int OW,
                        VREAL *left, VREAL *right)
{
    VREAL a, b;
    if (column + 2 * VW <= OW) {
        a = VLOAD(0, r_row + column);
        b = VLOAD(1, r_row + column);
    } else {
        REAL values[2 * VW];
        for (int l = 0; l < 2 * VW; ++l)
            values[l] = column + l < OW ? r_row[column + l] : (REAL)0;
        a = VLOAD(0, values);
        b = VLOAD(1, values);
    }
    *left += EVEN_LANES(a, b);
    *right += ODD_LANES(a, b);
}

// 3. Y = A^T M A for output channel k of the block, A^T = [1 1 1 0; 0 1 -1 -1]; bias (and
//    with RESIDUAL the residual's plane r_plane), activation, store.
STAGE void transform_output(const __local REAL *m_tiles, __global REAL *y_plane,
                            const __global REAL *r_plane, const int k, const REAL b,
                            const REAL act_a, const REAL act_b, const int tile_row,
                            const int first_tile, const int OH, const int OW)
{
    const int lanes = VW * WINO_TV;
    for (int tv = 0; tv < WINO_TV; ++tv) {
        VREAL m[16];
        #pragma unroll
        for (int xi = 0; xi < 16; ++xi)
            m[xi] = VLOAD(tv, m_tiles + (xi * WINO_BK + k) * lanes);
        VREAL s[2][4];
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            s[0][j] = m[j] + m[4 + j] + m[8 + j];
            s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
        }
        const int column = 2 * (first_tile + VW * tv);
        for (int i = 0; i < 2 && 2 * tile_row + i < OH; ++i) {
            VREAL left = s[i][0] + s[i][1] + s[i][2] + b;
            VREAL right = s[i][1] - s[i][2] - s[i][3] + b;
            if (RESIDUAL)
                add_residual(r_plane + (2 * tile_row + i) * OW, column, OW, &left, &right);
            store_tile_row(y_plane + (2 * tile_row + i) * OW, activate_vector(left, act_a, act_b),
                           activate_vector(right, act_a, act_b), column, OW);
        }
    }
}

__kernel void winograd_conv2d(
    __global const REAL *restrict x,      // N x C x H x W
    __global const REAL *restrict u,      // winograd_weights
    __global const REAL *restrict bias, const int has_bias,
    const REAL act_a, const REAL act_b,  // the epilogue (common.h)
    __global REAL *restrict y,            // N x K x OH x OW
    __global const REAL *restrict residual,  // y's shape (RESIDUAL only)
    __local REAL *restrict v_tiles,       // C x 16 x VW WINO_TV: the transformed input
    __local REAL *restrict m_tiles,       // 16 x WINO_BK x VW WINO_TV: one block's products
    const int N, const int C, const int H, const int W, const int K, const int OH,
    const int OW, const int PH, const int PW, const int tile_rows, const int column_blocks)
{
    const int item = get_global_id(0);
    if (item >= N * tile_rows * column_blocks)
        return;
    const int block = item % column_blocks, tile_row = (item / column_blocks) % tile_rows;
    const int n = item / (column_blocks * tile_rows);
    const int first_tile = block * VW * WINO_TV;
    const int lanes = VW * WINO_TV;

    transform_input(x + (size_t)n * C * H * W, v_tiles, C, H, W, PH, PW, tile_row, first_tile);
    const int k_blocks = (K + WINO_BK - 1) / WINO_BK;
    for (int kb = 0; kb < k_blocks; ++kb) {
        for (int xi = 0; xi < 16; ++xi)
            block_product(u + ((size_t)xi * k_blocks + kb) * C * WINO_BK, v_tiles + xi * lanes,
                          m_tiles + xi * WINO_BK * lanes, C);
        for (int k = 0; k < WINO_BK && kb * WINO_BK + k < K; ++k) {
            const int channel = kb * WINO_BK + k;
            const size_t plane = ((size_t)n * K + channel) * OH * OW;
            transform_output(m_tiles, y + plane, residual + plane, k,
                             has_bias ? bias[channel] : (REAL)0, act_a, act_b,
                             tile_row, first_tile, OH, OW);
        }
    }
}
