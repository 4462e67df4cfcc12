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
