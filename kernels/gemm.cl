// Dense products for `linear`: y[m][n] = sum_k x[m][k] * w[n][k] + bias[n] (y = x w^T + b).
// Register-tiled: each work-item owns TILE_M x TILE_N outputs.
#include "common.h"

#ifndef TILE_M
#define TILE_M 4
#endif
#ifndef TILE_N
#define TILE_N 8
#endif

__kernel void linear_forward(__global const REAL *restrict x, __global const REAL *restrict w,
                             __global const REAL *restrict bias, const int has_bias,
                             __global REAL *restrict y, const int M, const int N, const int K)
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
        REAL xv[TILE_M], wv[TILE_N];
        #pragma unroll
        for (int i = 0; i < TILE_M; ++i)
            xv[i] = x[(size_t)min(m0 + i, M - 1) * K + k];
        #pragma unroll
        for (int j = 0; j < TILE_N; ++j)
            wv[j] = w[(size_t)min(n0 + j, N - 1) * K + k];
        #pragma unroll
        for (int i = 0; i < TILE_M; ++i)
            #pragma unroll
            for (int j = 0; j < TILE_N; ++j)
                acc[i][j] = fma(xv[i], wv[j], acc[i][j]);
    }
    for (int i = 0; i < TILE_M && m0 + i < M; ++i)
        for (int j = 0; j < TILE_N && n0 + j < N; ++j)
            y[(size_t)(m0 + i) * N + n0 + j] = acc[i][j] + (has_bias ? bias[n0 + j] : (REAL)0);
}
