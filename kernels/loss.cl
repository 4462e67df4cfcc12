// Losses. The forwards reduce in two stages, each in a fixed order (bit-identical reruns):
// every work-group of the launch sums a grid-stride share of the rows or elements (consecutive
// work-items on consecutive ones) into `partials`, then loss_finish, one work-group, sums the
// groups' partials; a launch of one work-group writes the result itself.
#include "common.h"
#include "reduce.h"

#define REDUCE_NONE 0
#define REDUCE_SUM 1
#define REDUCE_MEAN 2

// Cross entropy of logits (N x C) against class indices, through a numerically stable
// log-softmax: loss_n = weight[t] * (logsumexp(x_n) - x_n[t]); ignored targets weigh 0.
// Writes per-sample losses (reduction none) or their sum / weighted mean to loss[0], the
// log-sum-exp of each row (for the backward) and the total weight to total_weight[0].
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void cross_entropy_forward(__global const REAL *restrict logits, __global const long *restrict target,
                           __global const REAL *restrict class_weight, const int has_weight,
                           const long ignore_index, const int reduction,
                           __global REAL *restrict loss, __global REAL *restrict log_sum_exp,
                           __global REAL *restrict total_weight,
                           __global REAL *restrict partials, const int N, const int C)
{
    __local REAL scratch[GROUP_SIZE];
    const int lid = get_local_id(0);
    REAL partial_loss = 0, partial_weight = 0;
    for (int n = get_global_id(0); n < N; n += get_global_size(0)) {
        const __global REAL *row = logits + (size_t)n * C;
        REAL largest = row[0];
        for (int c = 1; c < C; ++c)
            largest = fmax(largest, row[c]);
        REAL sum = 0;
        for (int c = 0; c < C; ++c)
            sum += exp(row[c] - largest);
        const REAL lse = largest + log(sum);
        log_sum_exp[n] = lse;
        const long t = target[n];
        const REAL w = t == ignore_index ? (REAL)0 : has_weight ? class_weight[t] : (REAL)1;
        const REAL sample_loss = t == ignore_index ? (REAL)0 : w * (lse - row[t]);
        if (reduction == REDUCE_NONE)
            loss[n] = sample_loss;
        partial_loss += sample_loss;
        partial_weight += w;
    }
    const REAL sum_loss = group_sum(partial_loss, scratch);
    const REAL sum_weight = group_sum(partial_weight, scratch);
    if (lid != 0)
        return;
    if (get_num_groups(0) > 1) {
        partials[2 * get_group_id(0)] = sum_loss;
        partials[2 * get_group_id(0) + 1] = sum_weight;
        return;
    }
    total_weight[0] = sum_weight;
    if (reduction != REDUCE_NONE)
        loss[0] = reduction == REDUCE_MEAN ? sum_loss / sum_weight : sum_loss;
}

// dlogits[n][c] = scale_n * (softmax(x_n)[c] - [c == t_n]), scale_n = weight[t_n] * upstream
// gradient (per sample, or the scalar's, divided by the total weight for the mean).
__kernel void cross_entropy_backward(__global const REAL *restrict logits,
                                     __global const long *restrict target,
                                     __global const REAL *restrict class_weight, const int has_weight,
                                     const long ignore_index, const int reduction,
                                     __global const REAL *restrict log_sum_exp,
                                     __global const REAL *restrict total_weight,
                                     __global const REAL *restrict dloss,
                                     __global REAL *restrict dlogits, const int N, const int C)
{
    const int i = get_global_id(0);
    if (i >= N * C)
        return;
    const int n = i / C, c = i % C;
    const long t = target[n];
    REAL scale = t == ignore_index ? (REAL)0 : has_weight ? class_weight[t] : (REAL)1;
    scale *= reduction == REDUCE_NONE ? dloss[n] : dloss[0];
    if (reduction == REDUCE_MEAN)
        scale /= total_weight[0];
    dlogits[i] = scale * (exp(logits[i] - log_sum_exp[n]) - (c == t ? (REAL)1 : (REAL)0));
}

// Mean squared error: loss = (x - y)^2 elementwise, or its sum / mean in loss[0].
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void mse_loss_forward(__global const REAL *restrict x, __global const REAL *restrict y,
                      __global REAL *restrict loss, __global REAL *restrict partials,
                      const int reduction, const int total)
{
    __local REAL scratch[GROUP_SIZE];
    REAL partial = 0;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        const REAL d = x[i] - y[i];
        if (reduction == REDUCE_NONE)
            loss[i] = d * d;
        partial += d * d;
    }
    const REAL sum = group_sum(partial, scratch);
    if (get_local_id(0) != 0 || reduction == REDUCE_NONE)
        return;  // (elementwise only: no partials)
    if (get_num_groups(0) > 1)
        partials[get_group_id(0)] = sum;
    else
        loss[0] = reduction == REDUCE_MEAN ? sum / total : sum;
}

// The second stage: the sum of `count` groups' partials (`width` 1: a loss each, 2: a loss and
// a weight each), in group order; loss[0] = the sum, or its mean over `total` elements (width
// 1) or over the summed weights (width 2, also written to total_weight[0]).
__kernel __attribute__((reqd_work_group_size(GROUP_SIZE, 1, 1)))
void loss_finish(__global const REAL *restrict partials, const int count, const int width,
                 __global REAL *restrict loss, __global REAL *restrict total_weight,
                 const int reduction, const int total)
{
    __local REAL scratch[GROUP_SIZE];
    REAL partial_loss = 0, partial_weight = 0;
    for (int g = get_local_id(0); g < count; g += GROUP_SIZE) {
        partial_loss += partials[g * width];
        if (width == 2)
            partial_weight += partials[g * width + 1];
    }
    const REAL sum_loss = group_sum(partial_loss, scratch);
    const REAL sum_weight = group_sum(partial_weight, scratch);
    if (get_local_id(0) != 0)
        return;
    if (width == 2)
        total_weight[0] = sum_weight;
    if (reduction != REDUCE_NONE)
        loss[0] = reduction != REDUCE_MEAN ? sum_loss
                  : sum_loss / (width == 2 ? sum_weight : (REAL)total);
}

// dx = 2 (x - y) * upstream gradient (elementwise, or the scalar's / count for the mean).
__kernel void mse_loss_backward(__global const REAL *restrict x, __global const REAL *restrict y,
                                __global const REAL *restrict dloss, __global REAL *restrict dx,
                                const int reduction, const int total)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    REAL upstream = reduction == REDUCE_NONE ? dloss[i] : dloss[0];
    if (reduction == REDUCE_MEAN)
        upstream /= total;
    dx[i] = 2 * (x[i] - y[i]) * upstream;
}
