// Dense products for GPUs: out[m][n] = sum_k a[m][k] * b[k][n] (+ bias[n]), the operands read
// through (row, column) element strides as gemm.cl's (linear's forward and gradients, matmul
// with `a_batch` / `b_batch` elements per entry of get_global_id(2)).
//
// A work-group computes a BM x BN block of `out` in local_block.h's blocking: for each slice
// of BK along k, its items load the slice's BM x BK of `a` and BK x BN of `b` into local memory
// together (consecutive items on consecutive addresses of whichever dimension the operand has
// contiguous: A_K_FAST / B_K_FAST), then each accumulates its RM x RN results from there. The
// tiles are padded by one word per row (the k-major stores of a K_FAST operand then fall in
// distinct banks). Past M, N or K the loads give zeros and the stores are skipped.
// Accumulation runs k in ascending order for every result: reruns are bit-identical.
#include "local_block.h"

#ifndef A_K_FAST
#define A_K_FAST 1
#endif
#ifndef B_K_FAST
#define B_K_FAST 0
#endif

__kernel __attribute__((reqd_work_group_size(WG_N, WG_M, 1)))
void gemm_local(__global const REAL *restrict a, const int a_row, const int a_col,
                __global const REAL *restrict b, const int b_row, const int b_col,
                __global const REAL *restrict bias, const int has_bias,
                __global REAL *restrict out, const int M, const int N, const int K,
                const int a_batch, const int b_batch)
{
    __local REAL a_tile[BK][BM + 1];
    __local REAL b_tile[BK][BN + 1];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int item = ty * WG_N + tx;
    const int n_base = get_group_id(0) * BN, m_base = get_group_id(1) * BM;
    const size_t batch = get_global_id(2);
    a += batch * a_batch;
    b += batch * b_batch;
    out += batch * (size_t)M * N;
    REAL acc[RM][RN];
    BLOCK_ZERO()
    for (int k0 = 0; k0 < K; k0 += BK) {
#if A_K_FAST
#define A_AT(e) const int kk = (e) % BK, mm = (e) / BK;
#else
#define A_AT(e) const int mm = (e) % BM, kk = (e) / BM;
#endif
#define LOAD_A(t, _)                                                                     \
        {                                                                                \
            A_AT(item + (t) * ITEMS)                                                     \
            const int m = m_base + mm, k = k0 + kk;                                      \
            a_tile[kk][mm] = m < M && k < K ? a[(size_t)m * a_row + (size_t)k * a_col]   \
                                            : (REAL)0;                                   \
        }
        UNROLL_A(A_LOADS, LOAD_A, _)
#if B_K_FAST
#define B_AT(e) const int kk = (e) % BK, nn = (e) / BK;
#else
#define B_AT(e) const int nn = (e) % BN, kk = (e) / BN;
#endif
#define LOAD_B(t, _)                                                                     \
        {                                                                                \
            B_AT(item + (t) * ITEMS)                                                     \
            const int n = n_base + nn, k = k0 + kk;                                      \
            b_tile[kk][nn] = n < N && k < K ? b[(size_t)k * b_row + (size_t)n * b_col]   \
                                            : (REAL)0;                                   \
        }
        UNROLL_A(B_LOADS, LOAD_B, _)
        barrier(CLK_LOCAL_MEM_FENCE);
        BLOCK_MULTIPLY_SLICE()
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#define STORE_ONE(j, i)                                                                  \
    {                                                                                    \
        const int n = n_base + tx + (j) * WG_N;                                          \
        if (n < N)                                                                       \
            out[(size_t)m * N + n] = acc[i][j] + (has_bias ? bias[n] : (REAL)0);         \
    }
#define STORE_ROW(i, _)                                                                  \
    {                                                                                    \
        const int m = m_base + ty + (i) * WG_M;                                          \
        if (m < M) { UNROLL_B(RN, STORE_ONE, i) }                                        \
    }
    UNROLL_A(RM, STORE_ROW, _)
}
