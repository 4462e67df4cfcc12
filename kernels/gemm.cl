// Dense products: out[m][n] = sum_k a[m][k] * b[k][n] (+ bias[n]), where each operand is read
// through (row, column) element strides, so transposed operands need no copy:
//   linear forward  y  = x  w^T + b :  a = x,    b = w^T
//   linear backward dx = dy w       :  a = dy,   b = w
//                   dw = dy^T x     :  a = dy^T, b = x
// Register-tiled: each work-item owns TILE_M x TILE_N results.
#include "common.h"

#ifndef TILE_M
#define TILE_M 4
#endif
#ifndef TILE_N
#define TILE_N 8
#endif

__kernel void gemm(__global const REAL *restrict a, const int a_row, const int a_col,
                   __global const REAL *restrict b, const int b_row, const int b_col,
                   __global const REAL *restrict bias, const int has_bias,
                   __global REAL *restrict out, const int M, const int N, const int K)
{
    const int n0 = get_global_id(0) * TILE_N;
    const int m0 = get_global_id(1) * TILE_M;
    if (n0 >= N || m0 >= M)
        return;
    REAL acc[TILE_M][TILE_N];
    #pragma unroll
    for (int i = 0; i < TILE_M; ++i)
        #pragma unroll
        for (int j = 0; j < TILE_N; ++j)
            acc[i][j] = 0;
    // Rows and columns past the edge repeat the last valid one; their results are not stored.
    for (int k = 0; k < K; ++k) {
        REAL av[TILE_M], bv[TILE_N];
        #pragma unroll
        for (int i = 0; i < TILE_M; ++i)
            av[i] = a[(size_t)min(m0 + i, M - 1) * a_row + (size_t)k * a_col];
        #pragma unroll
        for (int j = 0; j < TILE_N; ++j)
            bv[j] = b[(size_t)k * b_row + (size_t)min(n0 + j, N - 1) * b_col];
        #pragma unroll
        for (int i = 0; i < TILE_M; ++i)
            #pragma unroll
            for (int j = 0; j < TILE_N; ++j)
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    for (int i = 0; i < TILE_M && m0 + i < M; ++i)
        for (int j = 0; j < TILE_N && n0 + j < N; ++j)
            out[(size_t)(m0 + i) * N + n0 + j] = acc[i][j] + (has_bias ? bias[n0 + j] : (REAL)0);
}
