// Convolution, forward, for GPUs (and, through the transposed and phase geometries of
// conv_input_grad, the input gradient): an implicit GEMM in gemm_local.cl's blocking. The
// product is (output channels of a group) x (batch x output positions), the reduction over
// (input channels of the group) x (kernel taps), k = c * TAPS + tap as the weights are laid out
// (local_block.h: the blocking gemm_local.cl and conv_weight_grad_local.cl share).
//
// A work-group of WG_N x WG_M items computes BM output channels x BN columns (image, position)
// of one group (get_group_id(2)). For each slice of BK along the reduction its items load the
// slice's BM x BK weights (A_LOADS each, consecutive items on consecutive k: the weights' rows
// are contiguous) and the BK x BN patch elements (B_LOADS each: the im2col gather, fused; each
// item keeps one column, so consecutive items read consecutive output positions, which are
// consecutive input addresses at stride 1) into padded local memory, then accumulates its
// RM x RN outputs from local memory as gemm_local does. Taps in the padding, channels and
// columns past the end load zeros; stores past the end are skipped. The kernel's size is a
// build option (KD, KH, KW: the tap arithmetic divides by constants); the rest are arguments.
// The reduction runs in ascending k for every output: reruns are bit-identical.
//
// Interior and edge paths: the whole slices (all but a last partial one) of a block whose BM
// rows are all output channels load their weights without checks, as VEC_A-wide vectors where
// the host found the rows aligned (VEC_A 2 or 4: the reduction a multiple of it, so every row
// and slice starts on a vector's bytes of a buffer at offset 0; A_VECTORS = A_LOADS / VEC_A
// per item); the last partial slice, and the weights of blocks past the channels, take the
// checked loads. The gather tests one bit per tap of a mask each item computes once (the taps
// of its window inside the input: all of them away from the border; none past the columns'
// end) instead of six bounds, and in the last partial slice the reduction's end too.
#include "local_block.h"
#include "conv_patch.h"  // (TAPS, TAP_D/H/W)

#define B_ROW_STEP (ITEMS / BN)  // slice rows between one item's loads (the host checks
                                 // ITEMS % BN == 0 and BK % B_ROW_STEP == 0)
#ifndef VEC_A
#define VEC_A 1
#endif
#ifndef A_VECTORS
#define A_VECTORS A_LOADS
#endif
#if TAPS > 32
#error "conv_local keeps one bit per tap: at most 32 taps (the host checks)"
#endif

__kernel __attribute__((reqd_work_group_size(WG_N, WG_M, 1)))
void conv_local(
    __global const REAL *restrict x,      // N x C x D x H x W
    __global const REAL *restrict weight, // K x C/groups x KD x KH x KW
    __global const REAL *restrict bias,   // K, read only when has_bias
    const int has_bias,
    const REAL act_a, const REAL act_b,  // the epilogue (common.h)
    __global REAL *restrict y,            // N x K x OD x OH x OW
    const int C, const int D, const int H, const int W,
    const int K, const int OD, const int OH, const int OW,
    const int SD, const int SH, const int SW,
    const int PD, const int PH, const int PW,
    const int DD, const int DH, const int DW,
    const int groups, const int columns)  // columns: N x OD x OH x OW
{
    __local REAL a_tile[BK][BM + 1];
    __local REAL b_tile[BK][BN + 1];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int item = ty * WG_N + tx;
    const int n_base = get_group_id(0) * BN, m_base = get_group_id(1) * BM;
    const int group = get_group_id(2);
    const int out_plane = OD * OH * OW, in_plane = D * H * W;
    const int in_per_group = C / groups, out_per_group = K / groups;
    const int reduction = in_per_group * TAPS;
    const __global REAL *w_group = weight + (size_t)group * out_per_group * reduction;

    // The column whose patch this item loads in every slice, and where its taps start.
    const int b_col = item % BN, b_row = item / BN;
    const int col = n_base + b_col;
    const bool col_ok = col < columns;
    const int image = col_ok ? col / out_plane : 0, pos = col_ok ? col % out_plane : 0;
    const int ow0 = (pos % OW) * SW - PW, oh0 = ((pos / OW) % OH) * SH - PH,
              od0 = (pos / (OW * OH)) * SD - PD;
    const __global REAL *x_group = x + ((size_t)image * C + group * in_per_group) * in_plane;

    // Which taps of this item's window lie inside the input, bit `tap`; and where the window's
    // first tap would be (an offset within an input plane, negative at the border).
    uint inside = 0;
    if (col_ok) {
        for (int tap = 0; tap < TAPS; ++tap) {
            const int id = od0 + TAP_D(tap) * DD, ih = oh0 + TAP_H(tap) * DH,
                      iw = ow0 + TAP_W(tap) * DW;
            if (id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W)
                inside |= 1u << tap;
        }
    }
    const int window = (od0 * H + oh0) * W + ow0;
    const bool rows_inside = m_base + BM <= out_per_group;
    const int whole = reduction - reduction % BK;  // the end of the whole slices

    REAL acc[RM][RN];
    BLOCK_ZERO()
    // (checked) weights: zeros past the channels and the reduction
#define LOAD_A(t, _)                                                                     \
        {                                                                                \
            const int e = item + (t) * ITEMS, kk = e % BK, mm = e / BK;                  \
            const int m = m_base + mm, k = k0 + kk;                                      \
            a_tile[kk][mm] = m < out_per_group && k < reduction                          \
                ? w_group[(size_t)m * reduction + k] : (REAL)0;                          \
        }
#if VEC_A > 1
#define LOAD_A_INTERIOR(t, _)                                                            \
        {                                                                                \
            const int e = item + (t) * ITEMS, kk = e % (BK / VEC_A) * VEC_A,             \
                      mm = e / (BK / VEC_A);                                             \
            const CAT(REAL, VEC_A) v = *(const __global CAT(REAL, VEC_A) *)              \
                (w_group + (size_t)(m_base + mm) * reduction + k0 + kk);                 \
            a_tile[kk][mm] = v.s0;                                                       \
            a_tile[kk + 1][mm] = v.s1;                                                   \
            A_STORE_UPPER                                                                \
        }
#if VEC_A == 4
#define A_STORE_UPPER a_tile[kk + 2][mm] = v.s2; a_tile[kk + 3][mm] = v.s3;
#else
#define A_STORE_UPPER
#endif
#else
#define LOAD_A_INTERIOR(t, _)                                                            \
        {                                                                                \
            const int e = item + (t) * ITEMS, kk = e % BK, mm = e / BK;                  \
            a_tile[kk][mm] = w_group[(size_t)(m_base + mm) * reduction + k0 + kk];       \
        }
#endif
    // the gather: one mask bit per tap (past the column's end: no bits); `more`: what else a
    // value needs to be loaded (whole slices: nothing, 1; the last slice: k within the reduction)
#define LOAD_B(t, more)                                                                  \
        {                                                                                \
            const int kk = b_row + (t) * B_ROW_STEP, k = k0 + kk;                        \
            const int c = k / TAPS, tap = k % TAPS;                                      \
            b_tile[kk][b_col] = (more) && (inside >> tap) & 1u                           \
                ? x_group[(size_t)c * in_plane + (window + (TAP_D(tap) * DD * H          \
                                                  + TAP_H(tap) * DH) * W + TAP_W(tap) * DW)] \
                : (REAL)0;                                                               \
        }
#define SLICE(a_loads, load_a, b_more)                                                   \
    {                                                                                    \
        UNROLL_A(a_loads, load_a, _)                                                     \
        UNROLL_A(B_LOADS, LOAD_B, b_more)                                                \
        barrier(CLK_LOCAL_MEM_FENCE);                                                    \
        BLOCK_MULTIPLY_SLICE()                                                           \
        barrier(CLK_LOCAL_MEM_FENCE);                                                    \
    }
    int k0 = 0;
    if (rows_inside) {  // (the same for the whole work-group)
        for (; k0 < whole; k0 += BK)
            SLICE(A_VECTORS, LOAD_A_INTERIOR, 1)
    } else {
        for (; k0 < whole; k0 += BK)
            SLICE(A_LOADS, LOAD_A, 1)
    }
    if (k0 < reduction)
        SLICE(A_LOADS, LOAD_A, k < reduction)
    // The epilogue: bias and activation, each output stored once.
#define STORE_ONE(j, i)                                                                  \
    {                                                                                    \
        const int out_col = n_base + tx + (j) * WG_N;                                    \
        if (out_col < columns)                                                           \
            y[((size_t)(out_col / out_plane) * K + channel) * out_plane                  \
              + out_col % out_plane] = activate(acc[i][j] + b, act_a, act_b);            \
    }
#define STORE_ROW(i, _)                                                                  \
    {                                                                                    \
        const int m = m_base + ty + (i) * WG_M;                                          \
        if (m < out_per_group) {                                                         \
            const int channel = group * out_per_group + m;                               \
            const REAL b = has_bias ? bias[channel] : (REAL)0;                           \
            UNROLL_B(RN, STORE_ONE, i)                                                   \
        }                                                                                \
    }
    UNROLL_A(RM, STORE_ROW, _)
}
