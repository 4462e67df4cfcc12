// Normalization: per-row statistics by work-group tree reductions, then an elementwise
// normalize-and-affine pass, plus the update of running statistics.
//
// A "row" is the set of elements one mean and variance describe. It is `segments` runs of
// `segment_len` contiguous elements, `segment_stride` apart, starting at row * row_stride:
//   batch norm:    row = channel c, N runs of H*W (stride C*H*W)
//   instance norm: row = (n, c), one run of H*W;  group norm: row = (n, g), one run of C/G*H*W
//   layer norm:    row = sample, one run of prod(normalized_shape)
#include "common.h"

#ifndef GROUP_SIZE
#define GROUP_SIZE 64  // work-items per row; a power of two
#endif

// Sum of `value` over the work-group, returned to every work-item.
inline REAL group_sum(REAL value, __local REAL *scratch)
{
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = GROUP_SIZE / 2; width > 0; width >>= 1) {
        if (lid < width)
            scratch[lid] += scratch[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const REAL total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);  // scratch is reused by the next call
    return total;
}

// Two passes (mean, then the mean squared deviation from it): as stable as Welford without a
// division per element. Writes the mean and the biased variance of each row.
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void row_stats(__global const REAL *restrict x,
               __global REAL *restrict mean_out, __global REAL *restrict var_out,
               const int row_stride, const int segments, const int segment_stride,
               const int segment_len)
{
    __local REAL scratch[GROUP_SIZE];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const __global REAL *x_row = x + (size_t)row * row_stride;
    const REAL count = (REAL)segments * segment_len;

    REAL partial = 0;
    for (int s = 0; s < segments; ++s)
        for (int i = lid; i < segment_len; i += GROUP_SIZE)
            partial += x_row[(size_t)s * segment_stride + i];
    const REAL mean = group_sum(partial, scratch) / count;

    partial = 0;
    for (int s = 0; s < segments; ++s)
        for (int i = lid; i < segment_len; i += GROUP_SIZE) {
            const REAL d = x_row[(size_t)s * segment_stride + i] - mean;
            partial += d * d;
        }
    const REAL var = group_sum(partial, scratch) / count;
    if (lid == 0) {
        mean_out[row] = mean;
        var_out[row] = var;
    }
}

// y = (x - mean[row]) / sqrt(var[row] + eps) * weight[p] + bias[p] where
// row = (i / row_div) % row_mod and p = (i / param_div) % param_mod.
__kernel void normalize_rows(__global const REAL *restrict x, __global REAL *restrict y,
                        __global const REAL *restrict mean, __global const REAL *restrict var,
                        __global const REAL *restrict weight, __global const REAL *restrict bias,
                        const int has_weight, const int has_bias, const REAL eps, const int total,
                        const int row_div, const int row_mod,
                        const int param_div, const int param_mod)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int row = (i / row_div) % row_mod;
    const int p = (i / param_div) % param_mod;
    REAL value = (x[i] - mean[row]) * rsqrt(var[row] + eps);
    if (has_weight)
        value *= weight[p];
    if (has_bias)
        value += bias[p];
    y[i] = value;
}

// running <- (1 - momentum) * running + momentum * statistic, the statistic averaged over
// `instances` rows per channel (instance norm; 1 for batch norm) and the variance unbiased.
__kernel void update_running(__global const REAL *restrict mean, __global const REAL *restrict var,
                             __global REAL *restrict running_mean,
                             __global REAL *restrict running_var,
                             const int has_mean, const int has_var,
                             const int channels, const int instances,
                             const REAL momentum, const REAL unbias)
{
    const int c = get_global_id(0);
    if (c >= channels)
        return;
    REAL mean_sum = 0, var_sum = 0;
    for (int n = 0; n < instances; ++n) {
        mean_sum += mean[n * channels + c];
        var_sum += var[n * channels + c];
    }
    if (has_mean)
        running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean_sum / instances;
    if (has_var)
        running_var[c] = (1 - momentum) * running_var[c] + momentum * unbias * var_sum / instances;
}
