// Dense products: out[m][n] = sum_k a[m][k] * b[k][n] (+ bias[n]), where each operand is read
// through (row, column) element strides, so transposed operands need no copy:
//   linear forward  y  = x  w^T + b :  a = x,    b = w^T
//   linear backward dx = dy w       :  a = dy,   b = w
//                   dw = dy^T x     :  a = dy^T, b = x
//   matmul            out[i] = a[i] @ b[i] over get_global_id(2), the operands `a_batch` and
//                     `b_batch` elements apart (0: one matrix for every batch entry)
// Register-tiled: each work-item owns TILE_M x TILE_N results (written out by unroll.h). The
// reduction over k runs K iterations in one work-item (K is in_features or out_features of a
// linear layer, or its batch of rows for dw).
#include "common.h"
#include "unroll.h"

#ifndef TILE_M
#define TILE_M 4
#endif
#ifndef TILE_N
#define TILE_N 8
#endif

__kernel void gemm(__global const REAL *restrict a, const int a_row, const int a_col,
                   __global const REAL *restrict b, const int b_row, const int b_col,
                   __global const REAL *restrict bias, const int has_bias,
                   __global REAL *restrict out, const int M, const int N, const int K,
                   const int a_batch, const int b_batch)
{
    const int n0 = get_global_id(0) * TILE_N;
    const int m0 = get_global_id(1) * TILE_M;
    if (n0 >= N || m0 >= M)
        return;
    const size_t batch = get_global_id(2);
    a += batch * a_batch;
    b += batch * b_batch;
    out += batch * M * N;
    REAL acc[TILE_M][TILE_N];
#define ZERO_ONE(j, i) acc[i][j] = 0;
#define ZERO_ROW(i, _) UNROLL_B(TILE_N, ZERO_ONE, i)
    UNROLL_A(TILE_M, ZERO_ROW, _)
    // Rows and columns past the edge repeat the last valid one; their results are not stored.
    for (int k = 0; k < K; ++k) {
        REAL av[TILE_M], bv[TILE_N];
#define LOAD_A(i, _) av[i] = a[(size_t)min(m0 + i, M - 1) * a_row + (size_t)k * a_col];
        UNROLL_A(TILE_M, LOAD_A, _)
#define LOAD_B(j, _) bv[j] = b[(size_t)k * b_row + (size_t)min(n0 + j, N - 1) * b_col];
        UNROLL_A(TILE_N, LOAD_B, _)
#define FMA_ONE(j, i) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
#define FMA_ROW(i, _) UNROLL_B(TILE_N, FMA_ONE, i)
        UNROLL_A(TILE_M, FMA_ROW, _)
    }
#define STORE_ONE(j, i)                                                                  \
    if (n0 + j < N)                                                                      \
        out[(size_t)(m0 + i) * N + n0 + j] = acc[i][j] + (has_bias ? bias[n0 + j] : (REAL)0);
#define STORE_ROW(i, _) if (m0 + i < M) { UNROLL_B(TILE_N, STORE_ONE, i) }
    UNROLL_A(TILE_M, STORE_ROW, _)
}

// Products whose operands both run along k (a's rows and b's columns contiguous: linear's
// forward, x w^T), where gemm reads b's columns element by element (and, for a classifier's
// batch of one, its tiles compute rows past the end): each work-item takes DOT_M rows x
// DOT_N columns, vectors of VW along k into DOT_M x DOT_N accumulator vectors, summed across
// the lanes at the end (k past the last whole vector element by element), then the bias and
// the epilogue's activation (common.h; a 1x1 convolution of 1x1 planes is such a product).
// Rows and columns past the edge repeat the last valid one; their results are not stored.
#ifdef VW
#include "vector.h"
#ifndef DOT_M
#define DOT_M 1
#endif
#ifndef DOT_N
#define DOT_N 8
#endif

__kernel void gemm_dot(__global const REAL *restrict a, const int a_row,
                       __global const REAL *restrict b, const int b_col,
                       __global const REAL *restrict bias, const int has_bias,
                       const REAL act_a, const REAL act_b, __global REAL *restrict out,
                       const int M, const int N, const int K, const int a_batch,
                       const int b_batch)
{
    const int n0 = get_global_id(0) * DOT_N, m0 = get_global_id(1) * DOT_M;
    if (n0 >= N || m0 >= M)
        return;
    const size_t batch = get_global_id(2);
    const __global REAL *a_rows[DOT_M], *b_columns[DOT_N];
    #pragma unroll
    for (int i = 0; i < DOT_M; ++i)
        a_rows[i] = a + batch * a_batch + (size_t)min(m0 + i, M - 1) * a_row;
    #pragma unroll
    for (int j = 0; j < DOT_N; ++j)
        b_columns[j] = b + batch * b_batch + (size_t)min(n0 + j, N - 1) * b_col;
    out += batch * M * N;
    VREAL acc[DOT_M][DOT_N];
    #pragma unroll
    for (int i = 0; i < DOT_M; ++i)
        #pragma unroll
        for (int j = 0; j < DOT_N; ++j)
            acc[i][j] = 0;
    int k = 0;
    for (; k + VW <= K; k += VW) {
        VREAL av[DOT_M], bv[DOT_N];
        #pragma unroll
        for (int i = 0; i < DOT_M; ++i)
            av[i] = VLOAD(0, a_rows[i] + k);
        #pragma unroll
        for (int j = 0; j < DOT_N; ++j)
            bv[j] = VLOAD(0, b_columns[j] + k);
        #pragma unroll
        for (int i = 0; i < DOT_M; ++i)
            #pragma unroll
            for (int j = 0; j < DOT_N; ++j)
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    #pragma unroll
    for (int i = 0; i < DOT_M; ++i)
        #pragma unroll
        for (int j = 0; j < DOT_N; ++j) {
            REAL sum = LANE_SUM(acc[i][j]);
            for (int kk = k; kk < K; ++kk)
                sum = fma(a_rows[i][kk], b_columns[j][kk], sum);
            if (m0 + i < M && n0 + j < N)
                out[(size_t)(m0 + i) * N + n0 + j] =
                    activate(sum + (has_bias ? bias[n0 + j] : (REAL)0), act_a, act_b);
        }
}
#endif
