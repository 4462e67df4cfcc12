// Normalization: per-row statistics by work-group tree reductions, then an elementwise
// normalize-and-affine pass, plus the update of running statistics.
//
// A "row" is the set of elements one mean and variance describe. It is `segments` runs of
// `segment_len` contiguous elements, `segment_stride` apart, starting at row * row_stride:
//   batch norm:    row = channel c, N runs of H*W (stride C*H*W)
//   instance norm: row = (n, c), one run of H*W;  group norm: row = (n, g), one run of C/G*H*W
//   layer norm:    row = sample, one run of prod(normalized_shape)
#include "common.h"

#include "reduce.h"

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

// --- backward. With g = dy * weight[p] and xhat = (x - mean[row]) * invstd[row]:
//   statistics from the batch:  dx = invstd * (g - (sum_row(g) + xhat * sum_row(g * xhat)) / count)
//   fixed (running) statistics: dx = invstd * g
//   dweight[p] = sum over p's elements of dy * xhat,  dbias[p] = sum of dy

#define PARAM_OF(at) (((at) / param_div) % param_mod)

// Per statistics row: sum of g and of g * xhat (the two sums dx needs).
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void row_backward_sums(__global const REAL *restrict x, __global const REAL *restrict dy,
                       __global const REAL *restrict mean, __global const REAL *restrict var,
                       __global const REAL *restrict weight, const int has_weight, const REAL eps,
                       __global REAL *restrict sum_g, __global REAL *restrict sum_g_xhat,
                       const int row_stride, const int segments, const int segment_stride,
                       const int segment_len, const int param_div, const int param_mod)
{
    __local REAL scratch[GROUP_SIZE];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const REAL m = mean[row], invstd = rsqrt(var[row] + eps);
    REAL partial_g = 0, partial_g_xhat = 0;
    for (int s = 0; s < segments; ++s)
        for (int i = lid; i < segment_len; i += GROUP_SIZE) {
            const int at = row * row_stride + s * segment_stride + i;
            const REAL g = has_weight ? dy[at] * weight[PARAM_OF(at)] : dy[at];
            partial_g += g;
            partial_g_xhat += g * (x[at] - m) * invstd;
        }
    const REAL total_g = group_sum(partial_g, scratch);
    const REAL total_g_xhat = group_sum(partial_g_xhat, scratch);
    if (lid == 0) {
        sum_g[row] = total_g;
        sum_g_xhat[row] = total_g_xhat;
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
// which form a row (same layout as row_stats) of the parameter layout.
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void param_backward_sums(__global const REAL *restrict x, __global const REAL *restrict dy,
                         __global const REAL *restrict mean, __global const REAL *restrict var,
                         const REAL eps, __global REAL *restrict dweight,
                         __global REAL *restrict dbias, const int has_weight, const int has_bias,
                         const int row_stride, const int segments, const int segment_stride,
                         const int segment_len, const int row_div, const int row_mod)
{
    __local REAL scratch[GROUP_SIZE];
    const int p = get_group_id(0);
    const int lid = get_local_id(0);
    REAL partial_w = 0, partial_b = 0;
    // One flat loop over the p's elements, so that short segments still use every work-item.
    for (int j = lid; j < segments * segment_len; j += GROUP_SIZE) {
        const int at = p * row_stride + (j / segment_len) * segment_stride + j % segment_len;
        const int row = (at / row_div) % row_mod;
        partial_w += dy[at] * (x[at] - mean[row]) * rsqrt(var[row] + eps);
        partial_b += dy[at];
    }
    const REAL total_w = group_sum(partial_w, scratch);
    const REAL total_b = group_sum(partial_b, scratch);
    if (lid == 0) {
        if (has_weight)
            dweight[p] = total_w;
        if (has_bias)
            dbias[p] = total_b;
    }
}
