// strided_lanes: a vector of every ROW_STEP-th element of a row (ROW_STEP 1 or 2, defined by
// the includer: the stride along the rows of a convolution that reads its input in place),
// x[first + ROW_STEP * l] for lanes l, zero outside [0, W); inside_lanes: the same without
// tests, where every lane is inside. conv_depthwise.cl's strided kernel and conv_rows.cl.
#include "vector.h"

// x[at + ROW_STEP * l] for lanes l, all inside the row (no tests).
STAGE VREAL inside_lanes(const __global REAL *at)
{
#if ROW_STEP == 2
    const VREAL a = VLOAD(0, at), b = VLOAD(1, at);
    return EVEN_LANES(a, b);
#else
    return VLOAD(0, at);
#endif
}

STAGE VREAL strided_lanes(const __global REAL *row, const int first, const int W)
{
    // (Loads into variables before their lanes are picked: the permutation macros name their
    // arguments once per lane.)
    if (first >= 0 && first + ROW_STEP * VW <= W)
        return inside_lanes(row + first);
#if ROW_STEP == 2 && VW > 3
    // One or two columns of padding on the left (3x3 and 5x5 kernels): lanes of the loads at
    // the row's start moved up; the last vector of a row ending one or two columns short of two
    // vectors (the right padding of 3x3 and 5x5 kernels): the second load one or two columns
    // back, its lanes moved down (a zero into the last lane, which is past the row).
    if (first >= -2 && first < 0 && 2 * VW <= W) {
        const VREAL a = VLOAD(0, row), b = VLOAD(1, row);
        const VREAL picked = first == -1 ? ODD_LANES(a, b) : EVEN_LANES(a, b);
        return LANES_UP_1(picked);
    }
    if (first >= 0 && first + 2 * VW == W + 1) {
        const VREAL a = VLOAD(0, row + first), back = VLOAD(0, row + first + VW - 1);
        const VREAL b = LANES_DOWN_1(back);
        return EVEN_LANES(a, b);
    }
    if (first >= 0 && first + 2 * VW == W + 2) {
        const VREAL a = VLOAD(0, row + first), back = VLOAD(0, row + first + VW - 2);
        const VREAL b = LANES_DOWN_2(back);
        return EVEN_LANES(a, b);
    }
#endif
    REAL lanes[VW];
    for (int l = 0; l < VW; ++l) {
        const int at = first + ROW_STEP * l;
        lanes[l] = at >= 0 && at < W ? row[at] : (REAL)0;
    }
    return VLOAD(0, lanes);
}
