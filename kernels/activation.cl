// Pointwise activations of one input, forward and backward from the input: one work-item per
// element, the activation a build option (ACT, as clconv/ops/activation.py numbers them) with
// two real parameters (a, b: hardtanh's bounds, elu's alpha). NaN passes through every one, as
// in PyTorch (comparisons with NaN are false, so no branch replaces it).
#include "common.h"

#ifndef ACT
#define ACT 1
#endif
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_SILU 3
#define ACT_HARDSIGMOID 4
#define ACT_HARDSWISH 5
#define ACT_HARDTANH 6  // relu6 is hardtanh(0, 6)
#define ACT_ELU 7

inline REAL sigmoid_of(const REAL x)
{
    return (REAL)1 / ((REAL)1 + exp(-x));
}

inline REAL act_forward(const REAL x, const REAL a, const REAL b)
{
#if ACT == ACT_SIGMOID
    return sigmoid_of(x);
#elif ACT == ACT_TANH
    return tanh(x);
#elif ACT == ACT_SILU
    return x * sigmoid_of(x);
#elif ACT == ACT_HARDSIGMOID
    return x <= -3 ? (REAL)0 : x >= 3 ? (REAL)1 : x / 6 + (REAL)0.5;
#elif ACT == ACT_HARDSWISH
    return x <= -3 ? (REAL)0 : x >= 3 ? x : x * (x + 3) / 6;
#elif ACT == ACT_HARDTANH
    return x < a ? a : x > b ? b : x;
#elif ACT == ACT_ELU
    return x > 0 ? x : a * expm1(x);
#endif
}

// d act / dx at x (PyTorch's choices at the kinks).
inline REAL act_derivative(const REAL x, const REAL a, const REAL b)
{
#if ACT == ACT_SIGMOID
    const REAL s = sigmoid_of(x);
    return s * (1 - s);
#elif ACT == ACT_TANH
    const REAL t = tanh(x);
    return 1 - t * t;
#elif ACT == ACT_SILU
    const REAL s = sigmoid_of(x);
    return s * (1 + x * (1 - s));
#elif ACT == ACT_HARDSIGMOID
    return x > -3 && x < 3 ? (REAL)1 / 6 : (REAL)0;
#elif ACT == ACT_HARDSWISH
    return x < -3 ? (REAL)0 : x <= 3 ? x / 3 + (REAL)0.5 : (REAL)1;
#elif ACT == ACT_HARDTANH
    return x > a && x < b ? (REAL)1 : (REAL)0;
#elif ACT == ACT_ELU
    return x > 0 ? (REAL)1 : a * exp(x);
#endif
}

// y and x may be one buffer (inplace=True): no restrict.
__kernel void activation_forward(__global const REAL *x, __global REAL *y, const REAL a,
                                 const REAL b, const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        y[i] = act_forward(x[i], a, b);
}

__kernel void activation_backward(__global const REAL *restrict x,
                                  __global const REAL *restrict dy, __global REAL *restrict dx,
                                  const REAL a, const REAL b, const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        dx[i] = dy[i] * act_derivative(x[i], a, b);
}
