// softmax and log_softmax over one dimension, forward and backward: one work-group per row
// (the `length` elements `inner` apart that share every other coordinate), a fixed-order tree
// for the maximum and the sums (reduce.h), so reruns agree bit for bit. LOG selects
// log_softmax. Row r = (o, i): its elements start at o * length * inner + i.
#include "common.h"
#include "reduce.h"

#ifndef LOG
#define LOG 0
#endif

// The larger of a and b, NaN if either is (a NaN anywhere in a row makes the whole row NaN,
// as in PyTorch).
inline REAL nan_max(const REAL a, const REAL b)
{
    return isnan(a) || a > b ? a : b;
}

inline REAL group_max(REAL value, __local REAL *scratch)
{
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = GROUP_SIZE / 2; width > 0; width >>= 1) {
        if (lid < width)
            scratch[lid] = nan_max(scratch[lid], scratch[lid + width]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const REAL result = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

#define ROW_START(row) ((size_t)((row) / inner) * length * inner + (row) % inner)

__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void softmax_forward(__global const REAL *restrict x, __global REAL *restrict y,
                     const int length, const int inner)
{
    __local REAL scratch[GROUP_SIZE];
    const int lid = get_local_id(0);
    const size_t start = ROW_START(get_group_id(0));
    REAL m = -INFINITY;
    for (int j = lid; j < length; j += GROUP_SIZE)
        m = nan_max(x[start + (size_t)j * inner], m);
    m = group_max(m, scratch);
    REAL partial = 0;
    for (int j = lid; j < length; j += GROUP_SIZE)
        partial += exp(x[start + (size_t)j * inner] - m);
    const REAL total = group_sum(partial, scratch);
#if LOG
    const REAL shift = m + log(total);
    for (int j = lid; j < length; j += GROUP_SIZE)
        y[start + (size_t)j * inner] = x[start + (size_t)j * inner] - shift;
#else
    const REAL inverse = (REAL)1 / total;
    for (int j = lid; j < length; j += GROUP_SIZE)
        y[start + (size_t)j * inner] = exp(x[start + (size_t)j * inner] - m) * inverse;
#endif
}

// From the output y: softmax dx = y (dy - sum(dy y)); log_softmax dx = dy - exp(y) sum(dy).
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void softmax_backward(__global const REAL *restrict y, __global const REAL *restrict dy,
                      __global REAL *restrict dx, const int length, const int inner)
{
    __local REAL scratch[GROUP_SIZE];
    const int lid = get_local_id(0);
    const size_t start = ROW_START(get_group_id(0));
    REAL partial = 0;
    for (int j = lid; j < length; j += GROUP_SIZE) {
        const size_t at = start + (size_t)j * inner;
#if LOG
        partial += dy[at];
#else
        partial += dy[at] * y[at];
#endif
    }
    const REAL total = group_sum(partial, scratch);
    for (int j = lid; j < length; j += GROUP_SIZE) {
        const size_t at = start + (size_t)j * inner;
#if LOG
        dx[at] = dy[at] - exp(y[at]) * total;
#else
        dx[at] = y[at] * (dy[at] - total);
#endif
    }
}
