// Normalization, forward, the chunked algorithm (see norm_runs.h), and normalize_rows, its
// normalizing pass, which also normalizes with fixed (running) statistics.
#include "norm_runs.h"

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
