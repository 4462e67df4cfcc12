// Normalization: statistics rows and the runs they are read in, shared by the forward
// algorithms (norm_rows.cl, norm_chunked.cl) and the update of running statistics
// (norm_running.cl; the backward: norm_backward_rows.cl, norm_backward_general.cl).
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
// Forward, two ways (clconv/ops/norm_forward.py chooses):
// - row_normalize: one work-item per row does all of it (statistics, then normalize), reading
//   the row from memory once: the second pass finds it in the core's cache. For rows enough to
//   share among the cores, each fitting the cache.
// - chunk_stats, combine_stats, then normalize_rows: a row's chunks are described in parallel
//   and merged per row; for a few rows, or rows too long for the cache.
#ifndef NORM_RUNS_H
#define NORM_RUNS_H
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
#endif
