// The CPU kernels' explicit vectors: VW lanes of REAL. VW is a build option that clconv derives
// from the device's profile (as many lanes as one vector register holds: 16 floats with AVX-512,
// 8 with AVX2) or takes from the tuning table, so that no vector is wider than a register: a
// wider one passed by value to a function (vload, fma, ...) changes the calling convention, which
// clang warns about on AVX2 targets, and its operations spill. Lane permutations are spelled out
// for each width: PoCL's shuffle and shuffle2 are loops, and Oclgrind 21.10 reports .even/.odd
// and .lo/.hi of wide vectors as uninitialized.
#include "common.h"  // (CAT)
#ifndef VW
#define VW 16
#endif
#define VREAL CAT(REAL, VW)
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)
#if REAL_IS_DOUBLE
#define VMASK CAT(long, VW)   // what comparisons of two VREAL give
#else
#define VMASK CAT(int, VW)
#endif
#define VINT CAT(int, VW)
#define VLONG CAT(long, VW)
#define CONVERT_VMASK CAT(convert_, VMASK)
#define CONVERT_VLONG CAT(convert_, VLONG)
#define CONVERT_VREAL CAT(convert_, VREAL)

// LANE_SUM(v): the sum of v's lanes, pairwise. LANES_UP_n(v) / LANES_DOWN_n(v): v's lanes moved
// up (down) by n, zeros shifted in. EVEN_LANES(a, b) / ODD_LANES(a, b): the even (odd) lanes of
// the 2 VW elements a, b. INTERLEAVE_LOW(a, b) / INTERLEAVE_HIGH(a, b): the inverse, lanes of the
// lower (upper) halves of a and b alternating. TAP_COLUMN_j(a, b, c): element 2 l + j of the
// 3 VW elements a, b, c for lane l. LANE_IDS: 0, 1, ..., VW - 1 (for a vector literal).
#if VW == 16
#define LANE_IDS 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
#define LANE_SUM(v) \
    (((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7))) + \
    ((((v).s8 + (v).s9) + ((v).sa + (v).sb)) + (((v).sc + (v).sd) + ((v).se + (v).sf))))
#define LANES_UP_1(v) \
    (VREAL)(0, v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, v.s8, v.s9, v.sa, v.sb, v.sc, \
    v.sd, v.se)
#define LANES_DOWN_1(v) \
    (VREAL)(v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, v.s8, v.s9, v.sa, v.sb, v.sc, v.sd, \
    v.se, v.sf, 0)
#define LANES_UP_2(v) \
    (VREAL)(0, 0, v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, v.s8, v.s9, v.sa, v.sb, \
    v.sc, v.sd)
#define LANES_DOWN_2(v) \
    (VREAL)(v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, v.s8, v.s9, v.sa, v.sb, v.sc, v.sd, v.se, \
    v.sf, 0, 0)
#define LANES_UP_3(v) \
    (VREAL)(0, 0, 0, v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, v.s8, v.s9, v.sa, v.sb, \
    v.sc)
#define LANES_DOWN_3(v) \
    (VREAL)(v.s3, v.s4, v.s5, v.s6, v.s7, v.s8, v.s9, v.sa, v.sb, v.sc, v.sd, v.se, v.sf, 0, \
    0, 0)
#define EVEN_LANES(a, b) \
    (VREAL)(a.s0, a.s2, a.s4, a.s6, a.s8, a.sa, a.sc, a.se, b.s0, b.s2, b.s4, b.s6, b.s8, \
    b.sa, b.sc, b.se)
#define ODD_LANES(a, b) \
    (VREAL)(a.s1, a.s3, a.s5, a.s7, a.s9, a.sb, a.sd, a.sf, b.s1, b.s3, b.s5, b.s7, b.s9, \
    b.sb, b.sd, b.sf)
#define INTERLEAVE_LOW(a, b) \
    (VREAL)(a.s0, b.s0, a.s1, b.s1, a.s2, b.s2, a.s3, b.s3, a.s4, b.s4, a.s5, b.s5, a.s6, \
    b.s6, a.s7, b.s7)
#define INTERLEAVE_HIGH(a, b) \
    (VREAL)(a.s8, b.s8, a.s9, b.s9, a.sa, b.sa, a.sb, b.sb, a.sc, b.sc, a.sd, b.sd, a.se, \
    b.se, a.sf, b.sf)
#define TAP_COLUMN_0(a, b, c) \
    (VREAL)(a.s0, a.s2, a.s4, a.s6, a.s8, a.sa, a.sc, a.se, b.s0, b.s2, b.s4, b.s6, b.s8, \
    b.sa, b.sc, b.se)
#define TAP_COLUMN_1(a, b, c) \
    (VREAL)(a.s1, a.s3, a.s5, a.s7, a.s9, a.sb, a.sd, a.sf, b.s1, b.s3, b.s5, b.s7, b.s9, \
    b.sb, b.sd, b.sf)
#define TAP_COLUMN_2(a, b, c) \
    (VREAL)(a.s2, a.s4, a.s6, a.s8, a.sa, a.sc, a.se, b.s0, b.s2, b.s4, b.s6, b.s8, b.sa, \
    b.sc, b.se, c.s0)
#define TAP_COLUMN_3(a, b, c) \
    (VREAL)(a.s3, a.s5, a.s7, a.s9, a.sb, a.sd, a.sf, b.s1, b.s3, b.s5, b.s7, b.s9, b.sb, \
    b.sd, b.sf, c.s1)
#elif VW == 8
#define LANE_IDS 0, 1, 2, 3, 4, 5, 6, 7
#define LANE_SUM(v) \
    ((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7)))
#define LANES_UP_1(v) (VREAL)(0, v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6)
#define LANES_DOWN_1(v) (VREAL)(v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, 0)
#define LANES_UP_2(v) (VREAL)(0, 0, v.s0, v.s1, v.s2, v.s3, v.s4, v.s5)
#define LANES_DOWN_2(v) (VREAL)(v.s2, v.s3, v.s4, v.s5, v.s6, v.s7, 0, 0)
#define LANES_UP_3(v) (VREAL)(0, 0, 0, v.s0, v.s1, v.s2, v.s3, v.s4)
#define LANES_DOWN_3(v) (VREAL)(v.s3, v.s4, v.s5, v.s6, v.s7, 0, 0, 0)
#define EVEN_LANES(a, b) (VREAL)(a.s0, a.s2, a.s4, a.s6, b.s0, b.s2, b.s4, b.s6)
#define ODD_LANES(a, b) (VREAL)(a.s1, a.s3, a.s5, a.s7, b.s1, b.s3, b.s5, b.s7)
#define INTERLEAVE_LOW(a, b) (VREAL)(a.s0, b.s0, a.s1, b.s1, a.s2, b.s2, a.s3, b.s3)
#define INTERLEAVE_HIGH(a, b) (VREAL)(a.s4, b.s4, a.s5, b.s5, a.s6, b.s6, a.s7, b.s7)
#define TAP_COLUMN_0(a, b, c) (VREAL)(a.s0, a.s2, a.s4, a.s6, b.s0, b.s2, b.s4, b.s6)
#define TAP_COLUMN_1(a, b, c) (VREAL)(a.s1, a.s3, a.s5, a.s7, b.s1, b.s3, b.s5, b.s7)
#define TAP_COLUMN_2(a, b, c) (VREAL)(a.s2, a.s4, a.s6, b.s0, b.s2, b.s4, b.s6, c.s0)
#define TAP_COLUMN_3(a, b, c) (VREAL)(a.s3, a.s5, a.s7, b.s1, b.s3, b.s5, b.s7, c.s1)
#elif VW == 4
#define LANE_IDS 0, 1, 2, 3
#define LANE_SUM(v) (((v).s0 + (v).s1) + ((v).s2 + (v).s3))
#define LANES_UP_1(v) (VREAL)(0, v.s0, v.s1, v.s2)
#define LANES_DOWN_1(v) (VREAL)(v.s1, v.s2, v.s3, 0)
#define LANES_UP_2(v) (VREAL)(0, 0, v.s0, v.s1)
#define LANES_DOWN_2(v) (VREAL)(v.s2, v.s3, 0, 0)
#define LANES_UP_3(v) (VREAL)(0, 0, 0, v.s0)
#define LANES_DOWN_3(v) (VREAL)(v.s3, 0, 0, 0)
#define EVEN_LANES(a, b) (VREAL)(a.s0, a.s2, b.s0, b.s2)
#define ODD_LANES(a, b) (VREAL)(a.s1, a.s3, b.s1, b.s3)
#define INTERLEAVE_LOW(a, b) (VREAL)(a.s0, b.s0, a.s1, b.s1)
#define INTERLEAVE_HIGH(a, b) (VREAL)(a.s2, b.s2, a.s3, b.s3)
#define TAP_COLUMN_0(a, b, c) (VREAL)(a.s0, a.s2, b.s0, b.s2)
#define TAP_COLUMN_1(a, b, c) (VREAL)(a.s1, a.s3, b.s1, b.s3)
#define TAP_COLUMN_2(a, b, c) (VREAL)(a.s2, b.s0, b.s2, c.s0)
#define TAP_COLUMN_3(a, b, c) (VREAL)(a.s3, b.s1, b.s3, c.s1)
#elif VW == 2
#define LANE_IDS 0, 1
#define LANE_SUM(v) ((v).s0 + (v).s1)
#define LANES_UP_1(v) (VREAL)(0, v.s0)
#define LANES_DOWN_1(v) (VREAL)(v.s1, 0)
#define EVEN_LANES(a, b) (VREAL)(a.s0, b.s0)
#define ODD_LANES(a, b) (VREAL)(a.s1, b.s1)
#define INTERLEAVE_LOW(a, b) (VREAL)(a.s0, b.s0)
#define INTERLEAVE_HIGH(a, b) (VREAL)(a.s1, b.s1)
#define TAP_COLUMN_0(a, b, c) (VREAL)(a.s0, b.s0)
#define TAP_COLUMN_1(a, b, c) (VREAL)(a.s1, b.s1)
#define TAP_COLUMN_2(a, b, c) (VREAL)(b.s0, c.s0)
#define TAP_COLUMN_3(a, b, c) (VREAL)(b.s1, c.s1)
#else
#error "VW must be 2, 4, 8 or 16"
#endif

// x[start .. start + VW - 1] of one input row, zero outside [0, W) (W >= VW). Past an edge by up
// to 3 lanes (padding up to 3), an inside load with its lanes moved; farther, lane by lane.
inline VREAL row_lanes(const __global REAL *row, const int start, const int W)
{
    if (start >= 0 && start + VW <= W)
        return VLOAD(0, row + start);
    const int over = start + VW - W;
#if VW > 3
    if (start < 0 && start >= -3) {
        const VREAL v = VLOAD(0, row);
        return start == -1 ? LANES_UP_1(v) : start == -2 ? LANES_UP_2(v) : LANES_UP_3(v);
    }
    if (start >= 0 && over <= 3) {
        const VREAL v = VLOAD(0, row + W - VW);
        return over == 1 ? LANES_DOWN_1(v) : over == 2 ? LANES_DOWN_2(v) : LANES_DOWN_3(v);
    }
#endif
    REAL lanes[VW];
    for (int l = 0; l < VW; ++l)
        lanes[l] = start + l >= 0 && start + l < W ? row[start + l] : (REAL)0;
    return VLOAD(0, lanes);
}

// The epilogue's activation (common.h: activate) on a vector, lane for lane the same.
inline VREAL activate_vector(const VREAL v, const REAL a, const REAL b)
{
#if ACTIVATION == ACTIVATION_RELU
    return select(v, (VREAL)0, isless(v, (VREAL)0));
#elif ACTIVATION == ACTIVATION_LEAKY_RELU
    return select(v, v * a, isless(v, (VREAL)0));
#elif ACTIVATION == ACTIVATION_HARDTANH
    return select(select(v, (VREAL)b, isgreater(v, (VREAL)b)), (VREAL)a, isless(v, (VREAL)a));
#elif ACTIVATION == ACTIVATION_SIGMOID
    return (VREAL)1 / ((VREAL)1 + exp(-v));
#elif ACTIVATION == ACTIVATION_SILU
    return v * ((VREAL)1 / ((VREAL)1 + exp(-v)));
#elif ACTIVATION == ACTIVATION_HARDSWISH
    return select(select(v * (v + 3) / 6, v, isgreaterequal(v, (VREAL)3)), (VREAL)0,
                  islessequal(v, (VREAL)-3));
#elif ACTIVATION == ACTIVATION_HARDSIGMOID
    return select(select(v / 6 + (REAL)0.5, (VREAL)1, isgreaterequal(v, (VREAL)3)), (VREAL)0,
                  islessequal(v, (VREAL)-3));
#else
    return v;
#endif
}
