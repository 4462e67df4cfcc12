// Normalization, backward, the general algorithm for GPUs (see norm_backward_rows.cl for the
// formulas): work-group reductions per row and per parameter, dx per element.
#include "common.h"
#include "vector.h"
#include "reduce.h"

#define PARAM_OF(at) (((at) / param_div) % param_mod)

// Per statistics row: sum of g and of g * xhat (the two sums dx needs). A row's elements are
// split into `parts` consecutive shares, a work-group each (group = row * parts + part); each
// writes its sums to slice `part` of sum_g / sum_g_xhat (parts x rows), which sum_slices then
// adds in order (sum_g itself where parts is 1): a few channels over a large batch still fill
// a GPU, and the sums stay the same bit for bit on every run.
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void row_backward_sums(__global const REAL *restrict x, __global const REAL *restrict dy,
                       __global const REAL *restrict mean, __global const REAL *restrict var,
                       __global const REAL *restrict weight, const int has_weight, const REAL eps,
                       __global REAL *restrict sum_g, __global REAL *restrict sum_g_xhat,
                       const int row_stride, const int segments, const int segment_stride,
                       const int segment_len, const int param_div, const int param_mod,
                       const int rows, const int parts)
{
    __local REAL scratch[GROUP_SIZE];
    const int row = get_group_id(0) / parts, part = get_group_id(0) % parts;
    const int lid = get_local_id(0);
    const int length = segments * segment_len, share = (length + parts - 1) / parts;
    const int first = part * share, last = min(length, first + share);
    const REAL m = mean[row], invstd = rsqrt(var[row] + eps);
    REAL partial_g = 0, partial_g_xhat = 0;
    for (int j = first + lid; j < last; j += GROUP_SIZE) {
        const int at = row * row_stride + (j / segment_len) * segment_stride + j % segment_len;
        const REAL g = has_weight ? dy[at] * weight[PARAM_OF(at)] : dy[at];
        partial_g += g;
        partial_g_xhat += g * (x[at] - m) * invstd;
    }
    const REAL total_g = group_sum(partial_g, scratch);
    const REAL total_g_xhat = group_sum(partial_g_xhat, scratch);
    if (lid == 0) {
        sum_g[part * rows + row] = total_g;
        sum_g_xhat[part * rows + row] = total_g_xhat;
    }
}

__kernel void normalize_backward(__global const REAL *restrict x, __global const REAL *restrict dy,
                                 __global REAL *restrict dx,
                                 __global const REAL *restrict mean, __global const REAL *restrict var,
                                 __global const REAL *restrict weight, const int has_weight,
                                 __global const REAL *restrict sum_g,
                                 __global const REAL *restrict sum_g_xhat,
                                 const int batch_statistics, const REAL count, const REAL eps,
                                 const int total, const int row_div, const int row_mod,
                                 const int param_div, const int param_mod)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int row = (i / row_div) % row_mod;
    const REAL invstd = rsqrt(var[row] + eps);
    const REAL g = has_weight ? dy[i] * weight[PARAM_OF(i)] : dy[i];
    if (batch_statistics) {
        const REAL xhat = (x[i] - mean[row]) * invstd;
        dx[i] = invstd * (g - (sum_g[row] + xhat * sum_g_xhat[row]) / count);
    } else {
        dx[i] = invstd * g;
    }
}

// Per parameter p: dweight[p] = sum of dy * xhat and dbias[p] = sum of dy over p's elements,
// which form a row (same layout as row_stats) of the parameter layout; split into `parts`
// shares as row_backward_sums' rows (slices of count, added by sum_slices).
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void param_backward_sums(__global const REAL *restrict x, __global const REAL *restrict dy,
                         __global const REAL *restrict mean, __global const REAL *restrict var,
                         const REAL eps, __global REAL *restrict dweight,
                         __global REAL *restrict dbias, const int has_weight, const int has_bias,
                         const int row_stride, const int segments, const int segment_stride,
                         const int segment_len, const int row_div, const int row_mod,
                         const int count, const int parts)
{
    __local REAL scratch[GROUP_SIZE];
    const int p = get_group_id(0) / parts, part = get_group_id(0) % parts;
    const int lid = get_local_id(0);
    const int length = segments * segment_len, share = (length + parts - 1) / parts;
    const int first = part * share, last = min(length, first + share);
    REAL partial_w = 0, partial_b = 0;
    // One flat loop over the p's elements, so that short segments still use every work-item.
    for (int j = first + lid; j < last; j += GROUP_SIZE) {
        const int at = p * row_stride + (j / segment_len) * segment_stride + j % segment_len;
        const int row = (at / row_div) % row_mod;
        partial_w += dy[at] * (x[at] - mean[row]) * rsqrt(var[row] + eps);
        partial_b += dy[at];
    }
    const REAL total_w = group_sum(partial_w, scratch);
    const REAL total_b = group_sum(partial_b, scratch);
    if (lid == 0) {
        if (has_weight)
            dweight[part * count + p] = total_w;
        if (has_bias)
            dbias[part * count + p] = total_b;
    }
}

// Parameter gradients when each parameter p owns one element of every row (layer norm: p
// indexes the normalized shape, rows the samples): dweight[p] = sum over rows r of
// dy[r][p] * xhat[r][p], dbias[p] = sum of dy[r][p]. One work-item per VW parameters, walking
// down the rows with vector loads (consecutive work-items read consecutive memory; no
// barrier); scalar where fewer than VW remain.
__kernel void column_backward_sums(__global const REAL *restrict x, __global const REAL *restrict dy,
                                   __global const REAL *restrict mean, __global const REAL *restrict var,
                                   const REAL eps, __global REAL *restrict dweight,
                                   __global REAL *restrict dbias, const int has_weight,
                                   const int has_bias, const int rows, const int columns)
{
    const int first = get_global_id(0) * VW;
    if (first >= columns)
        return;
    if (first + VW <= columns) {
        VREAL total_w = 0, total_b = 0;
        for (int r = 0; r < rows; ++r) {
            const size_t at = (size_t)r * columns + first;
            const VREAL g = VLOAD(0, dy + at);
            total_w += g * (VLOAD(0, x + at) - mean[r]) * rsqrt(var[r] + eps);
            total_b += g;
        }
        if (has_weight)
            VSTORE(total_w, 0, dweight + first);
        if (has_bias)
            VSTORE(total_b, 0, dbias + first);
        return;
    }
    for (int p = first; p < columns; ++p) {
        REAL total_w = 0, total_b = 0;
        for (int r = 0; r < rows; ++r) {
            const size_t at = (size_t)r * columns + p;
            total_w += dy[at] * (x[at] - mean[r]) * rsqrt(var[r] + eps);
            total_b += dy[at];
        }
        if (has_weight)
            dweight[p] = total_w;
        if (has_bias)
            dbias[p] = total_b;
    }
}
