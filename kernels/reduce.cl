// Sums for gradients: per-row sums (bias gradients, sums over a batch) and the reduction of a
// broadcast result back to an operand's shape. Deterministic: fixed-order tree reductions.
#include "common.h"
#include "reduce.h"

// out[row] = factor * the sum of a row laid out as in norm_runs.h: `segments` runs of
// `segment_len` contiguous elements, `segment_stride` apart, starting at row * row_stride.
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void row_sum(__global const REAL *restrict x, __global REAL *restrict out,
             const int row_stride, const int segments, const int segment_stride,
             const int segment_len, const REAL factor)
{
    __local REAL scratch[GROUP_SIZE];
    const int lid = get_local_id(0);
    const __global REAL *x_row = x + (size_t)get_group_id(0) * row_stride;
    REAL partial = 0;
    if (segment_len >= GROUP_SIZE) {  // segment by segment, neighbouring items neighbours
        for (int s = 0; s < segments; ++s) {
            const __global REAL *segment = x_row + (size_t)s * segment_stride;
            for (int j = lid; j < segment_len; j += GROUP_SIZE)
                partial += segment[j];
        }
    } else {  // one flat loop over the row, so that short segments still use every work-item
        for (int j = lid; j < segments * segment_len; j += GROUP_SIZE)
            partial += x_row[(size_t)(j / segment_len) * segment_stride + j % segment_len];
    }
    const REAL total = group_sum(partial, scratch);
    if (lid == 0)
        out[get_group_id(0)] = total * factor;
}

// out = x summed over the dimensions where out has size 1 and x does not (the backward of a
// broadcast). `layout` holds x's `ndim` sizes, then 1 for each dimension that is summed.
__kernel void sum_to_shape(__global const REAL *restrict x, __global REAL *restrict out,
                           const int out_total, const int summed_total, const int ndim,
                           __global const int *restrict layout)
{
    const int o = get_global_id(0);
    if (o >= out_total)
        return;
    REAL total = 0;
    for (int r = 0; r < summed_total; ++r) {
        int kept_rest = o, summed_rest = r, at = 0, stride = 1;
        for (int d = ndim - 1; d >= 0; --d) {
            const int size = layout[d];
            int coordinate;
            if (layout[ndim + d]) {
                coordinate = summed_rest % size;
                summed_rest /= size;
            } else {
                coordinate = kept_rest % size;
                kept_rest /= size;
            }
            at += coordinate * stride;
            stride *= size;
        }
        total += x[at];
    }
    out[o] = total;
}

// out[i] = slices[0][i] + slices[1][i] + ... + slices[n - 1][i], in that order, for the `count`
// elements of each slice (the second stage of a reduction split across work-groups: fixed
// order, so the sum is the same bit for bit on every run).
__kernel void sum_slices(__global const REAL *restrict slices, __global REAL *restrict out,
                         const int count, const int n)
{
    const int i = get_global_id(0);
    if (i >= count)
        return;
    REAL total = slices[i];
    for (int s = 1; s < n; ++s)
        total += slices[(size_t)s * count + i];
    out[i] = total;
}
