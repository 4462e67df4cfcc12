// Shared by every kernel family: the element type. Each .cl file builds on its own with these
// defaults; clconv passes -DREAL=double -DREAL_IS_DOUBLE=1 for float64 tensors.
#ifndef REAL
#define REAL float
#endif
#ifndef REAL_IS_DOUBLE
#define REAL_IS_DOUBLE 0
#endif
#if REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

// A named stage of a long kernel (load, multiply-accumulate, store, as CLBlast writes its
// kernels): always inlined, so that register tiles passed to it stay in registers (left to the
// inliner's judgement, PoCL kept conv_direct's accumulators in memory, at half the speed).
// Its pointer parameters carry no `restrict`: Oclgrind 21.10 (the sanitizer, which builds with
// -cl-opt-disable) crashes on a stage with restrict parameters.
#define STAGE inline __attribute__((always_inline))

// Token pasting with its arguments expanded first (CAT(vload, VW) -> vload16).
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

// The activations' formulas, shared by activation.cl and the convolutions' epilogues. NaN
// passes through every one, as in PyTorch (comparisons with NaN are false, so no branch
// replaces it).
inline REAL sigmoid_of(const REAL x)
{
    return (REAL)1 / ((REAL)1 + exp(-x));
}

inline REAL hardtanh_of(const REAL x, const REAL low, const REAL high)
{
    return x < low ? low : x > high ? high : x;
}

inline REAL hardsigmoid_of(const REAL x)
{
    return x <= -3 ? (REAL)0 : x >= 3 ? (REAL)1 : x / 6 + (REAL)0.5;
}

inline REAL hardswish_of(const REAL x)
{
    return x <= -3 ? (REAL)0 : x >= 3 ? x : x * (x + 3) / 6;
}

// The activation a convolution applies in its epilogue (clconv.fused), after the bias: a build
// option, ACTIVATION (clconv/ops/conv.py's _ACTIVATIONS number them), so that each build holds
// only its own, and two parameters a, b: leaky_relu's slope (a), hardtanh's bounds (a, b;
// relu6 is (0, 6)).
#define ACTIVATION_NONE 0
#define ACTIVATION_RELU 1
#define ACTIVATION_LEAKY_RELU 2
#define ACTIVATION_HARDTANH 3
#define ACTIVATION_SIGMOID 4
#define ACTIVATION_SILU 5
#define ACTIVATION_HARDSWISH 6
#define ACTIVATION_HARDSIGMOID 7
#ifndef ACTIVATION
#define ACTIVATION ACTIVATION_NONE
#endif

inline REAL activate(const REAL v, const REAL a, const REAL b)
{
#if ACTIVATION == ACTIVATION_RELU
    return v < 0 ? (REAL)0 : v;
#elif ACTIVATION == ACTIVATION_LEAKY_RELU
    return v < 0 ? v * a : v;
#elif ACTIVATION == ACTIVATION_HARDTANH
    return hardtanh_of(v, a, b);
#elif ACTIVATION == ACTIVATION_SIGMOID
    return sigmoid_of(v);
#elif ACTIVATION == ACTIVATION_SILU
    return v * sigmoid_of(v);
#elif ACTIVATION == ACTIVATION_HARDSWISH
    return hardswish_of(v);
#elif ACTIVATION == ACTIVATION_HARDSIGMOID
    return hardsigmoid_of(v);
#else
    return v;
#endif
}

// The output coordinate whose window reads input coordinate `i` through tap `t`, or -1 when
// none does: i = o * stride - pad + t * dilation must have an integer solution o in [0, out).
// (Backward passes gather through it instead of scattering.)
inline int output_reading(int i, int t, int stride, int pad, int dilation, int out)
{
    const int scaled = i + pad - t * dilation;
    if (scaled < 0 || scaled % stride)
        return -1;
    const int o = scaled / stride;
    return o < out ? o : -1;
}
