// Normalization, backward (rows as in norm_runs.h). With g = dy * weight[p] and
// xhat = (x - mean[row]) * invstd[row]:
//   statistics from the batch:  dx = invstd * (g - (sum_row(g) + xhat * sum_row(g * xhat)) / count)
//   fixed (running) statistics: dx = invstd * g
//   dweight[p] = sum over p's elements of dy * xhat,  dbias[p] = sum of dy
// Two ways (clconv/ops/norm_backward.py chooses; this file the first, norm_backward_general.cl
// the second):
// - CPUs: row_normalize_backward, one work-item per statistics row, reads the row's x and dy once
//   from memory for its two sums and once more from the core's cache to write dx; the parameter
//   gradients are per-block partial sums it leaves behind, added up by column_sums.
// - GPUs: row_backward_sums (a work-group per row), normalize_backward (a work-item per
//   element) and param_backward_sums (a work-group per parameter): coalesced, no long loops.
#include "common.h"
#include "vector.h"
#include "reduce.h"

// Over the n elements at x, dy (one statistics row with mean m), with g = dy * w[k] for
// consecutive parameters w (has_weight; else g = dy): sums of g and of g * (x - m), in VW lanes
// with two chains each, then a scalar tail.
inline void run_g_sums(const __global REAL *restrict x, const __global REAL *restrict dy,
                       const __global REAL *restrict w, const int has_weight, const int n,
                       const REAL m, REAL *sum_g, REAL *sum_g_xc)
{
    VREAL a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        VREAL g0 = VLOAD(0, dy + i), g1 = VLOAD(1, dy + i);
        if (has_weight) {
            g0 *= VLOAD(0, w + i);
            g1 *= VLOAD(1, w + i);
        }
        a0 += g0;
        a1 += g1;
        b0 += g0 * (VLOAD(0, x + i) - m);
        b1 += g1 * (VLOAD(1, x + i) - m);
    }
    for (; i + VW <= n; i += VW) {
        VREAL g = VLOAD(0, dy + i);
        if (has_weight)
            g *= VLOAD(0, w + i);
        a0 += g;
        b0 += g * (VLOAD(0, x + i) - m);
    }
    REAL tail_g = 0, tail_g_xc = 0;
    for (; i < n; ++i) {
        const REAL g = has_weight ? dy[i] * w[i] : dy[i];
        tail_g += g;
        tail_g_xc += g * (x[i] - m);
    }
    *sum_g = LANE_SUM(a0 + a1) + tail_g;
    *sum_g_xc = LANE_SUM(b0 + b1) + tail_g_xc;
}

// One work-item per statistics row (see the layouts at the top; `param_div`, `param_mod` give
// parameter p = (i / param_div) % param_mod of element i, constant over runs of param_div > 1
// or consecutive where param_div = 1):
// 1. where the statistics came from this input (batch_statistics), the row's sums of g and of
//    g * (x - mean); per run of one parameter, block_dy[b] and block_dy_xhat[b], the sums of dy
//    and of dy * xhat over block b = i / param_div (when write_blocks);
// 2. dx (when write_dx) = invstd * g - c1 * (x - mean) - c0, c0 and c1 from the row's sums;
//    with consecutive parameters, block_dy_xhat[i] = dy * xhat (when write_blocks: each element
//    is a block and dy itself is block_dy).
// Blocks never straddle rows (clconv/ops/norm.py checks): each is written by one work-item.
// row_normalize_backward's first pass: over one statistics row, the sums of g and of
// g * (x - m) (*sum_g, *sum_g_xc), and, with write_blocks and runs of one parameter, each
// run's sums of dy and dy * xhat for column_sums.
STAGE void row_gradient_sums(const __global REAL *x, const __global REAL *dy,
                             const __global REAL *weight, const int has_weight,
                             const REAL m, const REAL invstd, __global REAL *block_dy,
                             __global REAL *block_dy_xhat, const int write_blocks,
                             const int start, const int segments, const int segment_stride,
                             const int segment_len, const int param_div, const int param_mod,
                             REAL *sum_g_out, REAL *sum_g_xc_out)
{
    const bool runs_of_one = param_div > 1;  // else consecutive parameters
    REAL sum_g = 0, sum_g_xc = 0;
    for (int s = 0; s < segments; ++s) {
        const int last = start + s * segment_stride + segment_len;
        for (int i = start + s * segment_stride; i < last;) {
            const int p = i / param_div % param_mod;
            REAL run_g, run_g_xc;
            int end;
            if (runs_of_one) {
                end = i + min(last - i, param_div - i % param_div);
                REAL run_dy, run_dy_xc;
                run_g_sums(x + i, dy + i, weight, 0, end - i, m, &run_dy, &run_dy_xc);
                if (write_blocks) {
                    block_dy[i / param_div] = run_dy;
                    block_dy_xhat[i / param_div] = run_dy_xc * invstd;
                }
                const REAL w = has_weight ? weight[p] : 1;
                run_g = w * run_dy;
                run_g_xc = w * run_dy_xc;
            } else {
                end = i + min(last - i, param_mod - p);
                run_g_sums(x + i, dy + i, weight + p, has_weight, end - i, m, &run_g,
                           &run_g_xc);
            }
            sum_g += run_g;
            sum_g_xc += run_g_xc;
            i = end;
        }
    }
    *sum_g_out = sum_g;
    *sum_g_xc_out = sum_g_xc;
}

// row_normalize_backward's second pass: dx = a dy - c1 (x - m) - c0 over the row (a: invstd
// times the weight), and with write_blocks and consecutive parameters dy * xhat per element.
STAGE void row_input_gradient(const __global REAL *x, const __global REAL *dy,
                              __global REAL *dx, const __global REAL *weight,
                              const int has_weight, const REAL m, const REAL invstd,
                              const REAL c0, const REAL c1, const int write_dx,
                              __global REAL *block_dy_xhat, const int write_blocks,
                              const int start, const int segments, const int segment_stride,
                              const int segment_len, const int param_div, const int param_mod)
{
    const bool runs_of_one = param_div > 1;
    for (int s = 0; s < segments; ++s) {
        const int last = start + s * segment_stride + segment_len;
        for (int i = start + s * segment_stride; i < last;) {
            const int p = i / param_div % param_mod;
            int k = 0, end;
            if (runs_of_one) {
                end = i + min(last - i, param_div - i % param_div);
                const REAL a = has_weight ? invstd * weight[p] : invstd;
                for (; k + VW <= end - i; k += VW)
                    VSTORE(a * VLOAD(0, dy + i + k) - c1 * (VLOAD(0, x + i + k) - m) - c0,
                             0, dx + i + k);
                for (; i + k < end; ++k)
                    dx[i + k] = a * dy[i + k] - c1 * (x[i + k] - m) - c0;
            } else {
                end = i + min(last - i, param_mod - p);
                for (; k + VW <= end - i; k += VW) {
                    const VREAL g = VLOAD(0, dy + i + k);
                    const VREAL xc = VLOAD(0, x + i + k) - m;
                    if (write_dx) {
                        const VREAL a = has_weight ? invstd * VLOAD(0, weight + p + k)
                                                    : (VREAL)invstd;
                        VSTORE(a * g - c1 * xc - c0, 0, dx + i + k);
                    }
                    if (write_blocks)
                        VSTORE(g * xc * invstd, 0, block_dy_xhat + i + k);
                }
                for (; i + k < end; ++k) {
                    const REAL xc = x[i + k] - m;
                    if (write_dx) {
                        const REAL a = has_weight ? invstd * weight[p + k] : invstd;
                        dx[i + k] = a * dy[i + k] - c1 * xc - c0;
                    }
                    if (write_blocks)
                        block_dy_xhat[i + k] = dy[i + k] * xc * invstd;
                }
            }
            i = end;
        }
    }
}

__kernel void row_normalize_backward(
    __global const REAL *restrict x, __global const REAL *restrict dy, __global REAL *restrict dx,
    __global const REAL *restrict mean, __global const REAL *restrict var,
    __global const REAL *restrict weight, const int has_weight, const REAL eps,
    const int batch_statistics, const int write_dx,
    __global REAL *restrict block_dy, __global REAL *restrict block_dy_xhat,
    const int write_blocks, const int rows, const int row_stride, const int segments,
    const int segment_stride, const int segment_len, const int param_div, const int param_mod)
{
    const int row = get_global_id(0);
    if (row >= rows)
        return;
    const int start = row * row_stride;
    const REAL m = mean[row], invstd = rsqrt(var[row] + eps);
    const bool runs_of_one = param_div > 1;  // else consecutive parameters
    REAL sum_g = 0, sum_g_xc = 0;
    if (batch_statistics || (write_blocks && runs_of_one))
        row_gradient_sums(x, dy, weight, has_weight, m, invstd, block_dy, block_dy_xhat,
                          write_blocks, start, segments, segment_stride, segment_len, param_div,
                          param_mod, &sum_g, &sum_g_xc);
    if (!write_dx && (runs_of_one || !write_blocks))
        return;
    const REAL count = segments * segment_len;
    const REAL c0 = batch_statistics ? invstd * sum_g / count : 0;
    const REAL c1 = batch_statistics ? invstd * invstd * invstd * sum_g_xc / count : 0;
    row_input_gradient(x, dy, dx, weight, has_weight, m, invstd, c0, c1, write_dx, block_dy_xhat,
                       write_blocks, start, segments, segment_stride, segment_len, param_div,
                       param_mod);
}

// sums_a[c] = sum over rows r of a[r][c], sums_b[c] likewise of b (each where wanted): the
// parameter gradients from row_normalize_backward's blocks, whose parameter is the column.
// One work-item per VW columns, walking down the rows with vector loads (consecutive
// work-items read consecutive memory); scalar where fewer than VW columns remain.
__kernel void column_sums(__global const REAL *restrict a, __global const REAL *restrict b,
                          __global REAL *restrict sums_a, __global REAL *restrict sums_b,
                          const int want_a, const int want_b, const int rows, const int columns)
{
    const int first = get_global_id(0) * VW;
    if (first >= columns)
        return;
    if (first + VW <= columns) {
        VREAL total_a = 0, total_b = 0;
        for (int r = 0; r < rows; ++r) {
            const size_t at = (size_t)r * columns + first;
            if (want_a)
                total_a += VLOAD(0, a + at);
            if (want_b)
                total_b += VLOAD(0, b + at);
        }
        if (want_a)
            VSTORE(total_a, 0, sums_a + first);
        if (want_b)
            VSTORE(total_b, 0, sums_b + first);
        return;
    }
    for (int c = first; c < columns; ++c) {
        REAL total_a = 0, total_b = 0;
        for (int r = 0; r < rows; ++r) {
            const size_t at = (size_t)r * columns + c;
            if (want_a)
                total_a += a[at];
            if (want_b)
                total_b += b[at];
        }
        if (want_a)
            sums_a[c] = total_a;
        if (want_b)
            sums_b[c] = total_b;
    }
}
