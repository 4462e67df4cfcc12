// Normalization, forward, the rows algorithm (see norm_runs.h).
#include "norm_runs.h"

// One work-item per row: its mean and biased variance (written to mean_out, var_out), then
// y = (x - mean) / sqrt(var + eps) * weight[p] + bias[p] over the row (see normalize_run).
__kernel void row_normalize(__global const REAL *restrict x, __global REAL *restrict y,
                            __global REAL *restrict mean_out, __global REAL *restrict var_out,
                            __global const REAL *restrict weight,
                            __global const REAL *restrict bias,
                            const int has_weight, const int has_bias, const REAL eps,
                            const int rows, const int row_stride, const int segments,
                            const int segment_stride, const int segment_len,
                            const int param_div, const int param_mod)
{
    const int row = get_global_id(0);
    if (row >= rows)
        return;
    const int start = row * row_stride;
    REAL count = 0, mean = 0, m2 = 0;
    for (int s = 0; s < segments; ++s)
        add_run_stats(x + start + s * segment_stride, segment_len, &count, &mean, &m2);
    const REAL var = m2 / count;
    mean_out[row] = mean;
    var_out[row] = var;
    const REAL invstd = rsqrt(var + eps);
    for (int s = 0; s < segments; ++s) {
        const int first = start + s * segment_stride;
        normalize_run(x, y, first, first + segment_len, mean, invstd, weight, bias, has_weight,
                      has_bias, param_div, param_mod);
    }
}
