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

// Activations a convolution applies in its epilogue (clconv.fused): ACTIVATION_RELU is
// x < 0 ? 0 : x, ACTIVATION_LEAKY_RELU x < 0 ? slope x : x; NaN passes through both, as in
// PyTorch's relu and leaky_relu.
#define ACTIVATION_NONE 0
#define ACTIVATION_RELU 1
#define ACTIVATION_LEAKY_RELU 2

inline REAL activate(const REAL v, const int activation, const REAL slope)
{
    if (activation == ACTIVATION_NONE || !(v < 0))
        return v;
    return activation == ACTIVATION_RELU ? (REAL)0 : v * slope;
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
