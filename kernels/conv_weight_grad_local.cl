// Convolution, backward: the weight gradient for GPUs, an implicit GEMM in gemm_local.cl's
// blocking (local_block.h) with its reduction split across work-groups (split-K):
//   dw[g, m, j] = sum over r = (image, output position) of dy[image, g, m, pos] * patch[r, j]
// with j = c * TAPS + tap (the weights' layout) and patch[r, j] the input value tap `tap` of
// input channel c reads for output position `pos` (zero in the padding).
//
// A work-group of WG_N x WG_M items computes BM output channels x BN (channel, tap) columns of
// one group over one split's run of `chunk` consecutive r (get_group_id(2) = split * groups +
// group), and writes them to slice `split` of `partial` (splits x K x C/groups x TAPS; dw itself
// when there is one split); sum_slices (reduce.cl) adds the slices in order. For each slice of
// BK along r its items load the BM x BK output gradients and the BK x BN patch values into
// padded local memory, consecutive items on consecutive r (consecutive addresses of both at
// stride 1); every item's loads share one r per slice, so its image and position are worked out
// once per slice. Then each item accumulates its RM x RN results from local memory as
// gemm_local does. No atomics, r ascending within a split: reruns are bit-identical.
#include "local_block.h"
#include "conv_patch.h"

#define ROW_STEP (ITEMS / BK)  // tile rows between one item's loads (the host checks
                               // ITEMS % BK == 0 and that BM and BN divide by ROW_STEP)

__kernel __attribute__((reqd_work_group_size(WG_N, WG_M, 1)))
void conv_weight_grad_local(
    __global const REAL *restrict x,      // N x C x D x H x W
    __global const REAL *restrict dy,     // N x K x OD x OH x OW
    __global REAL *restrict partial,      // splits x K x C/groups x TAPS
    const int C, const int D, const int H, const int W,
    const int K, const int OD, const int OH, const int OW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
    const int DD, const int DH, const int DW,
    const int groups, const int pairs, const int chunk)  // pairs: N x OD x OH x OW
{
    __local REAL a_tile[BK][BM + 1];
    __local REAL b_tile[BK][BN + 1];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int item = ty * WG_N + tx;
    const int n_base = get_group_id(0) * BN, m_base = get_group_id(1) * BM;
    const int group = get_group_id(2) % groups, split = get_group_id(2) / groups;
    const int out_plane = OD * OH * OW, in_plane = D * H * W;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int columns = in_per_group * TAPS;
    const int r_begin = split * chunk, r_end = min(pairs, r_begin + chunk);
    // This item's place in each slice: one r (kk), rows mm and columns jj ROW_STEP apart.
    const int kk = item % BK, first_row = item / BK;

    REAL acc[RM][RN];
    BLOCK_ZERO()
    for (int k0 = r_begin; k0 < r_end; k0 += BK) {
        const int r = k0 + kk;
        const bool r_ok = r < r_end;
        const int image = r_ok ? r / out_plane : 0, pos = r_ok ? r % out_plane : 0;
        const int ow0 = (pos % OW) * SW - PW, oh0 = ((pos / OW) % OH) * SH - PH,
                  od0 = (pos / (OW * OH)) * SD - PD;
        const __global REAL *dy_at = dy + ((size_t)image * K + group * out_per_group) * out_plane
                                     + pos;
        const __global REAL *x_at = x + ((size_t)image * C + group * in_per_group) * in_plane;
#define LOAD_A(t, _)                                                                     \
        {                                                                                \
            const int mm = first_row + (t) * ROW_STEP, m = m_base + mm;                  \
            a_tile[kk][mm] = r_ok && m < out_per_group ? dy_at[(size_t)m * out_plane]     \
                                                      : (REAL)0;                         \
        }
        UNROLL_A(A_LOADS, LOAD_A, _)
#define LOAD_B(t, _)                                                                     \
        {                                                                                \
            const int jj = first_row + (t) * ROW_STEP, j = n_base + jj;                  \
            b_tile[kk][jj] = patch_value(x_at, in_plane, j / TAPS, j % TAPS, od0, oh0,   \
                                         ow0, r_ok && j < columns, D, H, W, DD, DH, DW); \
        }
        UNROLL_A(B_LOADS, LOAD_B, _)
        barrier(CLK_LOCAL_MEM_FENCE);
        BLOCK_MULTIPLY_SLICE()
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    __global REAL *out = partial + ((size_t)split * K + group * out_per_group) * columns;
#define STORE_ONE(j, i)                                                                  \
    {                                                                                    \
        const int col = n_base + tx + (j) * WG_N;                                        \
        if (col < columns)                                                               \
            out[(size_t)m * columns + col] = acc[i][j];                                  \
    }
#define STORE_ROW(i, _)                                                                  \
    {                                                                                    \
        const int m = m_base + ty + (i) * WG_M;                                          \
        if (m < out_per_group) { UNROLL_B(RN, STORE_ONE, i) }                            \
    }
    UNROLL_A(RM, STORE_ROW, _)
}
