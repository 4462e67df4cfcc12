// Pointwise activations of one input, forward and backward from the input: one work-item per
// element, the activation a build option (ACT, as clconv/ops/activation.py numbers them) with
// two real parameters (a, b: hardtanh's and clamp's bounds, elu's alpha). NaN passes through every one, as
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
#define ACT_CLAMP 8      // bounds a <= x <= b, either of them infinite; a > b gives b
#define ACT_GELU 9       // x Phi(x), Phi the standard normal CDF
#define ACT_GELU_TANH 10 // gelu's tanh approximation
// Pointwise math (PyTorch's gradients: abs' is 0 at 0, floor's and ceil's 0 everywhere)
#define ACT_ERF 11
#define ACT_EXP 12
#define ACT_LOG 13
#define ACT_SQRT 14
#define ACT_ABS 15
#define ACT_FLOOR 16
#define ACT_CEIL 17

#define SQRT_HALF (REAL)0.70710678118654752440
#define SQRT_2_OVER_PI (REAL)0.79788456080286535588
#define INV_SQRT_2PI (REAL)0.39894228040143267794
#define GELU_CUBIC (REAL)0.044715

inline REAL act_forward(const REAL x, const REAL a, const REAL b)
{
#if ACT == ACT_SIGMOID
    return sigmoid_of(x);
#elif ACT == ACT_TANH
    return tanh(x);
#elif ACT == ACT_SILU
    return x * sigmoid_of(x);
#elif ACT == ACT_HARDSIGMOID
    return hardsigmoid_of(x);
#elif ACT == ACT_HARDSWISH
    return hardswish_of(x);
#elif ACT == ACT_HARDTANH
    return hardtanh_of(x, a, b);
#elif ACT == ACT_ELU
    return x > 0 ? x : a * expm1(x);
#elif ACT == ACT_CLAMP
    const REAL low = x < a || isnan(a) ? a : x;  // a NaN bound gives NaN, as in PyTorch
    return low > b || isnan(b) ? b : low;
#elif ACT == ACT_GELU
    return x * (REAL)0.5 * ((REAL)1 + erf(x * SQRT_HALF));
#elif ACT == ACT_GELU_TANH
    // 0.5 x (1 + tanh(u)) = x sigmoid(2u): exact at the tails, where 1 + tanh(u) would cancel
    // (PoCL's tanh(-inf) is one ulp above -1).
    return x * sigmoid_of(2 * SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
#elif ACT == ACT_ERF
    return erf(x);
#elif ACT == ACT_EXP
    return exp(x);
#elif ACT == ACT_LOG
    return log(x);
#elif ACT == ACT_SQRT
    return sqrt(x);
#elif ACT == ACT_ABS
    return fabs(x);
#elif ACT == ACT_FLOOR
    return floor(x);
#elif ACT == ACT_CEIL
    return ceil(x);
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
#elif ACT == ACT_CLAMP
    return x >= a && x <= b ? (REAL)1 : (REAL)0;  // the bounds pass the gradient, as in PyTorch
#elif ACT == ACT_GELU
    return (REAL)0.5 * ((REAL)1 + erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * exp((REAL)-0.5 * x * x);
#elif ACT == ACT_GELU_TANH
    // With s = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 (1 + tanh u) = s and
    // 1 - tanh^2 u = 4 s (1 - s).
    const REAL s = sigmoid_of(2 * SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
    return s + 2 * x * s * ((REAL)1 - s) * SQRT_2_OVER_PI * ((REAL)1 + 3 * GELU_CUBIC * x * x);
#elif ACT == ACT_ERF
    return 2 * INV_SQRT_2PI * (REAL)1.41421356237309504880 * exp(-x * x);  // 2 / sqrt(pi)
#elif ACT == ACT_EXP
    return exp(x);
#elif ACT == ACT_LOG
    return (REAL)1 / x;
#elif ACT == ACT_SQRT
    return (REAL)0.5 / sqrt(x);
#elif ACT == ACT_ABS
    return x > 0 ? (REAL)1 : x < 0 ? (REAL)-1 : (REAL)0;  // (0 at NaN too, as PyTorch)
#elif ACT == ACT_FLOOR || ACT == ACT_CEIL
    return 0;
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
