// Convolution, forward: Winograd F(2x2, 3x3) for GPUs, in four launches (clconv/ops/
// conv_winograd_local.py): 3x3 convolutions at stride 1 without dilation or groups. Each 2x2
// block of outputs (a tile) comes from a 4x4 block of input d: Y = A^T [(G g G^T) .* (B^T d B)] A.
// Per tile position xi (16 of them) the products summed over input channels form a matrix
// product, M[xi][k][t] = sum_c U[xi][k][c] V[xi][c][t], which gemm_local runs as 16 batched
// products in its local-memory blocking (the multiplies: 16 per tile and channel pair against
// conv_local's 36); these kernels are the transforms around it, one work-item per element of
// their result, consecutive items on consecutive tiles (V and M rows: coalesced).
//   U = G g G^T    (winograd_local_weights: once per weight version, clconv/ops/prepared.py)
//   V = B^T d B    (winograd_local_input: the tiles' input, zeros in the padding)
//   y = A^T M A    (winograd_local_output: bias and activation in the epilogue)
// T: the tiles of the batch, image after image, tile rows of tiles_w tiles.
#include "common.h"

// U[xi][k][c], G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]; one work-item per (c, k).
__kernel void winograd_local_weights(__global const REAL *restrict w, __global REAL *restrict u,
                                     const int K, const int C)
{
    const int c = get_global_id(0), k = get_global_id(1);
    if (c >= C || k >= K)
        return;
    const __global REAL *g = w + ((size_t)k * C + c) * 9;
#define G_COLUMN(j)                                                                      \
    const REAL g0##j = g[j], g1##j = (g[j] + g[3 + j] + g[6 + j]) / 2,                   \
               g2##j = (g[j] - g[3 + j] + g[6 + j]) / 2, g3##j = g[6 + j];
    G_COLUMN(0) G_COLUMN(1) G_COLUMN(2)
    const size_t plane = (size_t)K * C, at = (size_t)k * C + c;
#define U_ROW(i)                                                                         \
    u[(i * 4 + 0) * plane + at] = g##i##0;                                               \
    u[(i * 4 + 1) * plane + at] = (g##i##0 + g##i##1 + g##i##2) / 2;                     \
    u[(i * 4 + 2) * plane + at] = (g##i##0 - g##i##1 + g##i##2) / 2;                     \
    u[(i * 4 + 3) * plane + at] = g##i##2;
    U_ROW(0) U_ROW(1) U_ROW(2) U_ROW(3)
}

// V[xi][c][t], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; one work-item per (t, c).
__kernel void winograd_local_input(__global const REAL *restrict x, __global REAL *restrict v,
                                   const int C, const int H, const int W, const int PH,
                                   const int PW, const int tiles_h, const int tiles_w,
                                   const int T)
{
    const int t = get_global_id(0), c = get_global_id(1);
    if (t >= T || c >= C)
        return;
    const int per_image = tiles_h * tiles_w, image = t / per_image, tile = t % per_image;
    const int h0 = (tile / tiles_w) * 2 - PH, w0 = (tile % tiles_w) * 2 - PW;
    const __global REAL *plane = x + ((size_t)image * C + c) * H * W;
    // d: the tile's 4x4 input block, rows i, columns j (zeros outside the image)
#define D_AT(i, j)                                                                       \
    const REAL d##i##j = h0 + i >= 0 && h0 + i < H && w0 + j >= 0 && w0 + j < W          \
        ? plane[(h0 + i) * W + w0 + j] : (REAL)0;
#define D_ROW(i) D_AT(i, 0) D_AT(i, 1) D_AT(i, 2) D_AT(i, 3)
    D_ROW(0) D_ROW(1) D_ROW(2) D_ROW(3)
    // e = B^T d (rows), then e B (columns)
#define E_COLUMN(j)                                                                      \
    const REAL e0##j = d0##j - d2##j, e1##j = d1##j + d2##j, e2##j = d2##j - d1##j,      \
               e3##j = d1##j - d3##j;
    E_COLUMN(0) E_COLUMN(1) E_COLUMN(2) E_COLUMN(3)
    const size_t plane_v = (size_t)C * T, at = (size_t)c * T + t;
#define V_ROW(i)                                                                         \
    v[(i * 4 + 0) * plane_v + at] = e##i##0 - e##i##2;                                   \
    v[(i * 4 + 1) * plane_v + at] = e##i##1 + e##i##2;                                   \
    v[(i * 4 + 2) * plane_v + at] = e##i##2 - e##i##1;                                   \
    v[(i * 4 + 3) * plane_v + at] = e##i##1 - e##i##3;
    V_ROW(0) V_ROW(1) V_ROW(2) V_ROW(3)
}

// y from M[xi][k][t], A^T = [1 1 1 0; 0 1 -1 -1]; one work-item per (t, k); outputs past the
// plane (odd sizes: the last tile's second row or column) are not stored.
__kernel void winograd_local_output(__global const REAL *restrict m,
                                    __global const REAL *restrict bias, const int has_bias,
                                    const REAL act_a, const REAL act_b,  // (common.h)
                                    __global REAL *restrict y, const int K, const int OH,
                                    const int OW, const int tiles_h, const int tiles_w,
                                    const int T)
{
    const int t = get_global_id(0), k = get_global_id(1);
    if (t >= T || k >= K)
        return;
    const size_t plane_m = (size_t)K * T, at = (size_t)k * T + t;
#define M_AT(i, j) const REAL m##i##j = m[(i * 4 + j) * plane_m + at];
#define M_ROW(i) M_AT(i, 0) M_AT(i, 1) M_AT(i, 2) M_AT(i, 3)
    M_ROW(0) M_ROW(1) M_ROW(2) M_ROW(3)
    // s = A^T m (rows), then s A (columns)
#define S_COLUMN(j)                                                                      \
    const REAL s0##j = m0##j + m1##j + m2##j, s1##j = m1##j - m2##j - m3##j;
    S_COLUMN(0) S_COLUMN(1) S_COLUMN(2) S_COLUMN(3)
    const REAL b = has_bias ? bias[k] : (REAL)0;
    const int per_image = tiles_h * tiles_w, image = t / per_image, tile = t % per_image;
    const int oh = (tile / tiles_w) * 2, ow = (tile % tiles_w) * 2;
    __global REAL *out = y + ((size_t)image * K + k) * OH * OW + oh * OW + ow;
#define Y_ROW(i)                                                                         \
    if (oh + i < OH) {                                                                   \
        out[i * OW] = activate(s##i##0 + s##i##1 + s##i##2 + b, act_a, act_b);           \
        if (ow + 1 < OW)                                                                 \
            out[i * OW + 1] = activate(s##i##1 - s##i##2 - s##i##3 + b, act_a, act_b);   \
    }
    Y_ROW(0) Y_ROW(1)
}
