// Normalization: the update of running statistics from a batch's (batch and instance norm).
#include "common.h"

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
