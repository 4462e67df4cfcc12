// Normalization, forward: per-row statistics, an elementwise normalize-and-affine pass, the
// update of running statistics (the backward: norm_backward.cl).
//
// A "row" is the set of elements one mean and variance describe. It is `segments` runs of
// `segment_len` contiguous elements, `segment_stride` apart, starting at row * row_stride:
//   batch norm:    row = channel c, N runs of H*W (stride C*H*W)
//   instance norm: row = (n, c), one run of H*W;  group norm: row = (n, g), one run of C/G*H*W
//   layer norm:    row = sample, one run of prod(normalized_shape)
// Statistics: a block of a row (up to STATS_BLOCK or chunk_len elements) takes two passes, the
// mean and then the squared deviations from it, the second from L1: as stable as Welford without
// a division per element. Blocks are merged by Chan et al.'s pairwise update in a fixed order
// (deterministic, no atomics). Vector loads with scalar tails, so any length and offset is safe.
//
// Forward, two ways (clconv/ops/norm.py chooses):
// - row_normalize: one work-item per row does all of it (statistics, then normalize), reading
//   the row from memory once: the second pass finds it in the core's cache. For rows enough to
//   share among the cores, each fitting the cache.
// - chunk_stats, combine_stats, then normalize_rows: a row's chunks are described in parallel
//   and merged per row; for a few rows, or rows too long for the cache.
#include "common.h"
#include "vector.h"

#include "reduce.h"

#ifndef STATS_BLOCK
#define STATS_BLOCK 512  // elements per block of add_run_stats (2 KiB of floats: in L1)
#endif

// Sum of the n elements at p: four VW-lane accumulators (independent chains), then one, then a
// scalar tail.
inline REAL run_sum(const __global REAL *p, const int n)
{
    VREAL a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        a0 += VLOAD(0, p + i);
        a1 += VLOAD(1, p + i);
        a2 += VLOAD(2, p + i);
        a3 += VLOAD(3, p + i);
    }
    for (; i + VW <= n; i += VW)
        a0 += VLOAD(0, p + i);
    REAL tail = 0;
    for (; i < n; ++i)
        tail += p[i];
    return LANE_SUM((a0 + a1) + (a2 + a3)) + tail;
}

// Sum of squared deviations from `mean` of the n elements at p, in the same order.
inline REAL run_squares(const __global REAL *p, const int n, const REAL mean)
{
    VREAL a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        const VREAL d0 = VLOAD(0, p + i) - mean, d1 = VLOAD(1, p + i) - mean;
        const VREAL d2 = VLOAD(2, p + i) - mean, d3 = VLOAD(3, p + i) - mean;
        a0 += d0 * d0;
        a1 += d1 * d1;
        a2 += d2 * d2;
        a3 += d3 * d3;
    }
    for (; i + VW <= n; i += VW) {
        const VREAL d = VLOAD(0, p + i) - mean;
        a0 += d * d;
    }
    REAL tail = 0;
    for (; i < n; ++i)
        tail += (p[i] - mean) * (p[i] - mean);
    return LANE_SUM((a0 + a1) + (a2 + a3)) + tail;
}

// y[i] = (x[i] - m) * invstd * weight[p] + bias[p], p = (i / param_div) % param_mod, for
// i in [first, last) (one statistics row). In runs of one parameter (param_div > 1) or of
// consecutive parameters (param_div = 1, as in layer norm): VW lanes, then a scalar tail.
inline void normalize_run(const __global REAL *restrict x, __global REAL *restrict y,
                          const int first, const int last, const REAL m, const REAL invstd,
                          const __global REAL *restrict weight,
                          const __global REAL *restrict bias, const int has_weight,
                          const int has_bias, const int param_div, const int param_mod)
{
    for (int i = first; i < last;) {
        const int p = i / param_div % param_mod;
        int end, k = 0;
        if (param_div > 1) {  // one scale and shift for the run
            end = i + min(last - i, param_div - i % param_div);
            const REAL scale = has_weight ? invstd * weight[p] : invstd;
            const REAL shift = has_bias ? bias[p] : 0;
            for (; k + VW <= end - i; k += VW)
                VSTORE((VLOAD(0, x + i + k) - m) * scale + shift, 0, y + i + k);
            for (; i + k < end; ++k)
                y[i + k] = (x[i + k] - m) * scale + shift;
        } else {  // parameters p, p + 1, ...
            end = i + min(last - i, param_mod - p);
            for (; k + VW <= end - i; k += VW) {
                VREAL value = (VLOAD(0, x + i + k) - m) * invstd;
                if (has_weight)
                    value *= VLOAD(0, weight + p + k);
                if (has_bias)
                    value += VLOAD(0, bias + p + k);
                VSTORE(value, 0, y + i + k);
            }
            for (; i + k < end; ++k) {
                REAL value = (x[i + k] - m) * invstd;
                if (has_weight)
                    value *= weight[p + k];
                if (has_bias)
                    value += bias[p + k];
                y[i + k] = value;
            }
        }
        i = end;
    }
}

// Merges the statistics of the n elements at p into (count, mean, m2), m2 being the sum of
// squared deviations from the mean: in blocks of STATS_BLOCK, each described by two passes (the
// second from L1), merged by Chan et al.'s pairwise update. One pass over memory.
inline void add_run_stats(const __global REAL *p, const int n, REAL *count, REAL *mean,
                          REAL *m2)
{
    for (int b = 0; b < n; b += STATS_BLOCK) {
        const int len = min(STATS_BLOCK, n - b);
        const REAL block_mean = run_sum(p + b, len) / len;
        const REAL block_m2 = run_squares(p + b, len, block_mean);
        const REAL merged = *count + len;
        const REAL delta = block_mean - *mean;
        *mean += delta * (len / merged);
        *m2 += block_m2 + delta * delta * (*count * len / merged);
        *count = merged;
    }
}

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

// Runs `STEP(pointer, n)` for each contiguous run of row elements [first, last), in order:
// element j of a row is x_row[j / segment_len * segment_stride + j % segment_len].
#define FOR_EACH_RUN(x_row, first, last, STEP)                                            \
    for (int j = (first); j < (last);) {                                                  \
        const int n = min(segment_len - j % segment_len, (last) - j);                     \
        STEP((x_row) + j / segment_len * segment_stride + j % segment_len, n);            \
        j += n;                                                                           \
    }

// Per chunk of `chunk_len` consecutive elements of a row (the row's last may be shorter): the
// mean of its elements and the sum of their squared deviations from it (the second pass reads
// the chunk from cache). One work-item per chunk.
__kernel void chunk_stats(__global const REAL *restrict x,
                          __global REAL *restrict chunk_mean, __global REAL *restrict chunk_m2,
                          const int rows, const int chunks_per_row, const int chunk_len,
                          const int row_stride, const int segments, const int segment_stride,
                          const int segment_len)
{
    const int chunk = get_global_id(0);
    if (chunk >= rows * chunks_per_row)
        return;
    const __global REAL *x_row = x + chunk / chunks_per_row * row_stride;
    const int first = chunk % chunks_per_row * chunk_len;
    const int last = min(first + chunk_len, segments * segment_len);
    REAL total = 0;
#define ADD_SUM(p, n) total += run_sum(p, n)
    FOR_EACH_RUN(x_row, first, last, ADD_SUM)
    const REAL mean = total / (last - first);
    REAL squares = 0;
#define ADD_SQUARES(p, n) squares += run_squares(p, n, mean)
    FOR_EACH_RUN(x_row, first, last, ADD_SQUARES)
    chunk_mean[chunk] = mean;
    chunk_m2[chunk] = squares;
}

// Per row: its chunks merged in order by Chan et al.'s pairwise update, then the mean and the
// biased variance. One work-item per row.
__kernel void combine_stats(__global const REAL *restrict chunk_mean,
                            __global const REAL *restrict chunk_m2,
                            __global REAL *restrict mean_out, __global REAL *restrict var_out,
                            const int rows, const int chunks_per_row, const int chunk_len,
                            const int row_len)
{
    const int row = get_global_id(0);
    if (row >= rows)
        return;
    REAL count = 0, mean = 0, m2 = 0;
    for (int c = 0; c < chunks_per_row; ++c) {
        const int at = row * chunks_per_row + c;
        const REAL chunk_count = min(chunk_len, row_len - c * chunk_len);
        const REAL merged = count + chunk_count;
        const REAL delta = chunk_mean[at] - mean;
        mean += delta * (chunk_count / merged);
        m2 += chunk_m2[at] + delta * delta * (count * chunk_count / merged);
        count = merged;
    }
    mean_out[row] = mean;
    var_out[row] = m2 / count;
}

// y = (x - mean[row]) / sqrt(var[row] + eps) * weight[p] + bias[p] for `span` consecutive
// elements per work-item, where row = (i / row_div) % row_mod (see normalize_run for p).
__kernel void normalize_rows(__global const REAL *restrict x, __global REAL *restrict y,
                        __global const REAL *restrict mean, __global const REAL *restrict var,
                        __global const REAL *restrict weight, __global const REAL *restrict bias,
                        const int has_weight, const int has_bias, const REAL eps, const int total,
                        const int row_div, const int row_mod,
                        const int param_div, const int param_mod, const int span)
{
    const int first = get_global_id(0) * span;
    if (first >= total)
        return;
    const int last = first + min(span, total - first);
    for (int i = first; i < last;) {
        const int row = i / row_div % row_mod;
        const int row_end = i + min(last - i, row_div - i % row_div);
        normalize_run(x, y, i, row_end, mean[row], rsqrt(var[row] + eps), weight, bias,
                      has_weight, has_bias, param_div, param_mod);
        i = row_end;
    }
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
