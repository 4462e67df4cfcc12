// The blocking the local-memory kernels share (gemm_local.cl, conv_local.cl,
// conv_weight_grad_local.cl): a work-group of WG_N x WG_M items computes a BM x BN block of
// results (BM = WG_M * RM, BN = WG_N * RN), each item RM x RN of them in `acc` - rows ty,
// ty + WG_M, ... and columns tx, tx + WG_N, ... (neighbouring items read neighbouring local
// words: no bank conflicts; one row value is broadcast to the items of a row) - from slices of
// BK along the reduction that the group's items first load together into padded local memory,
// a_tile[BK][BM + 1] and b_tile[BK][BN + 1] (each kernel loads them its own way: A_LOADS and
// B_LOADS elements per item). The macros work on those locals by name.
#ifndef LOCAL_BLOCK_H
#define LOCAL_BLOCK_H
#include "common.h"
#include "unroll.h"

#ifndef WG_M
#define WG_M 16
#endif
#ifndef WG_N
#define WG_N 16
#endif
#ifndef RM
#define RM 4
#endif
#ifndef RN
#define RN 4
#endif
#ifndef BK
#define BK 16
#endif
#define BM (WG_M * RM)
#define BN (WG_N * RN)
#define ITEMS (WG_M * WG_N)
#ifndef A_LOADS
#define A_LOADS 4  // BM * BK / ITEMS (the host passes it: a literal for UNROLL_A)
#endif
#ifndef B_LOADS
#define B_LOADS 4  // BN * BK / ITEMS
#endif

// acc[RM][RN] = 0
#define BLOCK_ZERO_ONE(j, i) acc[i][j] = 0;
#define BLOCK_ZERO_ROW(i, _) UNROLL_B(RN, BLOCK_ZERO_ONE, i)
#define BLOCK_ZERO() UNROLL_A(RM, BLOCK_ZERO_ROW, _)

// acc += the loaded slice's products, s = 0 .. BK - 1 in order (reruns are bit-identical).
// (GPU compilers unroll the loop; llvmpipe counts its iterations: see dispatch.loop_reason.)
#define BLOCK_READ_A(i, s) av[i] = a_tile[s][ty + (i) * WG_M];
#define BLOCK_READ_B(j, s) bv[j] = b_tile[s][tx + (j) * WG_N];
#define BLOCK_FMA_ONE(j, i) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
#define BLOCK_FMA_ROW(i, _) UNROLL_B(RN, BLOCK_FMA_ONE, i)
#define BLOCK_MULTIPLY_SLICE()                      \
    _Pragma("unroll")                               \
    for (int s_ = 0; s_ < BK; ++s_) {               \
        REAL av[RM], bv[RN];                        \
        UNROLL_A(RM, BLOCK_READ_A, s_)              \
        UNROLL_A(RN, BLOCK_READ_B, s_)              \
        UNROLL_A(RM, BLOCK_FMA_ROW, _)              \
    }
#endif
