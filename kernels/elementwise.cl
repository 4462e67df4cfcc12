// Elementwise ops: one work-item per element. The activations run in place too (inplace=True:
// x and y are one buffer), so their pointers are not restrict.
#include "common.h"

__kernel void relu_forward(__global const REAL *x, __global REAL *y, const int total)
{
    const int i = get_global_id(0);
    if (i < total) {
        const REAL v = x[i];
        y[i] = v < 0 ? (REAL)0 : v;  // NaN is not < 0: it passes through, as in PyTorch
    }
}

__kernel void leaky_relu_forward(__global const REAL *x, __global REAL *y,
                                 const REAL negative_slope, const int total)
{
    const int i = get_global_id(0);
    if (i < total) {
        const REAL v = x[i];
        y[i] = v < 0 ? v * negative_slope : v;
    }
}

// Binary arithmetic: BINARY picks add, sub, mul or div (as clconv/ops/elementwise.py numbers
// them).
#ifndef BINARY
#define BINARY 1
#endif
#if BINARY == 1
#define COMBINE(a, b) ((a) + (b))
#elif BINARY == 2
#define COMBINE(a, b) ((a) - (b))
#elif BINARY == 3
#define COMBINE(a, b) ((a) * (b))
#elif BINARY == 4
#define COMBINE(a, b) ((a) / (b))
#elif BINARY == 5  // maximum: NaN if either is NaN
#define COMBINE(a, b) (isnan(a) || (a) > (b) ? (a) : (b))
#elif BINARY == 6  // minimum
#define COMBINE(a, b) (isnan(a) || (a) < (b) ? (a) : (b))
#endif

__kernel void binary_same_shape(__global const REAL *a, __global const REAL *b, __global REAL *y,
                                const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        y[i] = COMBINE(a[i], b[i]);
}

// y = a (op) b with NumPy broadcasting over at most three (merged) dimensions, the output
// (n2, n1, n0) with n0 innermost: one work-item per element over a 3-D range, no divisions.
// Each operand steps through the outer dimensions by its strides (0 where it broadcasts) and
// through the innermost by A_INNER / B_INNER (1, or 0 where it broadcasts): build options, so
// that neighbouring work-items read neighbouring elements (or one) and CPUs vectorize them.
// (N, C, H, W) * (N, C, 1, 1), a squeeze-excitation's scaling, is (N*C, H*W) * (N*C, 1).
#ifndef A_INNER
#define A_INNER 1
#endif
#ifndef B_INNER
#define B_INNER 1
#endif
__kernel void binary_grid(__global const REAL *a, __global const REAL *b, __global REAL *y,
                          const int n0, const int n1, const int n2, const int a1, const int a2,
                          const int b1, const int b2)
{
    const int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);
    if (i0 >= n0 || i1 >= n1 || i2 >= n2)
        return;
    const size_t a_at = (size_t)i2 * a2 + (size_t)i1 * a1 + A_INNER * i0;
    const size_t b_at = (size_t)i2 * b2 + (size_t)i1 * b1 + B_INNER * i0;
    y[((size_t)i2 * n1 + i1) * n0 + i0] = COMBINE(a[a_at], b[b_at]);
}

// y = a (op) b with NumPy broadcasting over four or more (merged) dimensions. `layout` holds,
// for each of the `ndim` output dimensions, its size, then a's strides, then b's strides (in
// elements; 0 where that operand broadcasts).
__kernel void binary_broadcast(__global const REAL *a, __global const REAL *b, __global REAL *y,
                               const int total, const int ndim, __global const int *restrict layout)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    int rest = i, a_at = 0, b_at = 0;
    for (int d = ndim - 1; d >= 0; --d) {
        const int coordinate = rest % layout[d];
        rest /= layout[d];
        a_at += coordinate * layout[ndim + d];
        b_at += coordinate * layout[2 * ndim + d];
    }
    y[i] = COMBINE(a[a_at], b[b_at]);
}

// The gradient of maximum (BINARY 5) or minimum (6) over the output's index space: to the
// winning operand, half to each where they are equal, all to a NaN operand (a first). `layout`
// as binary_broadcast's; da and db have the output's shape (clconv then sums them to the
// operands' shapes).
__kernel void extremum_backward(__global const REAL *restrict a, __global const REAL *restrict b,
                                __global const REAL *restrict dy, __global REAL *restrict da,
                                __global REAL *restrict db, const int total, const int ndim,
                                __global const int *restrict layout)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    int rest = i, a_at = 0, b_at = 0;
    for (int d = ndim - 1; d >= 0; --d) {
        const int coordinate = rest % layout[d];
        rest /= layout[d];
        a_at += coordinate * layout[ndim + d];
        b_at += coordinate * layout[2 * ndim + d];
    }
    const REAL x = a[a_at], y = b[b_at];
#if BINARY == 5
    const bool wins = x > y;
#else
    const bool wins = x < y;
#endif
    const REAL share = isnan(x) ? (REAL)1 : isnan(y) ? (REAL)0 : wins ? (REAL)1 :
                       x == y ? (REAL)0.5 : (REAL)0;
    da[i] = dy[i] * share;
    db[i] = dy[i] * ((REAL)1 - share);
}

__kernel void scale(__global const REAL *restrict x, __global REAL *restrict y, const REAL factor,
                    const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        y[i] = x[i] * factor;
}

// Backward of relu / leaky_relu from the output y: y > 0 exactly where x > 0 (slope >= 0), so
// an in-place activation that overwrote x still has what its gradient needs.
__kernel void leaky_relu_backward(__global const REAL *restrict y, __global const REAL *restrict dy,
                                  __global REAL *restrict dx, const REAL negative_slope,
                                  const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        dx[i] = y[i] > 0 ? dy[i] : dy[i] * negative_slope;
}
