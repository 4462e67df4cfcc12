// Conversions between element types, for Tensor.to and for float16 storage: out[i] = in[i] as
// TARGET. SOURCE and TARGET are float, double or half. Half values are only read and written
// with vload_half / vstore_half (core OpenCL: every device has them, no cl_khr_fp16 needed),
// vstore_half rounding to nearest even like NumPy's astype(np.float16). VW elements per
// work-item in vectors (VW: as many of the wider type as one vector register holds), the last
// few one by one.
#include "common.h"  // (CAT)
#ifndef SOURCE
#define SOURCE float
#endif
#ifndef TARGET
#define TARGET half
#endif
#ifndef SOURCE_IS_HALF
#define SOURCE_IS_HALF 0
#endif
#ifndef TARGET_IS_HALF
#define TARGET_IS_HALF 1
#endif
#ifndef USES_DOUBLE
#define USES_DOUBLE 0
#endif
#if USES_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifndef VW
#define VW 16
#endif

// Reading: half as float; else the source type itself.
#if SOURCE_IS_HALF
#define READ_VECTOR(p) CAT(vload_half, VW)(0, (p))
#define READ1(p) vload_half(0, (p))
#else
#define READ_VECTOR(p) CAT(vload, VW)(0, (p))
#define READ1(p) (*(p))
#endif

// Writing: half from float or double (vstore_half converts); else a conversion to TARGET.
#if TARGET_IS_HALF
#define WRITE_VECTOR(v, p) CAT(vstore_half, VW)((v), 0, (p))
#define WRITE1(v, p) vstore_half((v), 0, (p))
#else
#define WRITE_VECTOR(v, p) CAT(vstore, VW)(CAT(convert_, CAT(TARGET, VW))(v), 0, (p))
#define WRITE1(v, p) (*(p) = (TARGET)(v))
#endif

__kernel void cast(__global const SOURCE *restrict in, __global TARGET *restrict out, const int n)
{
    const int first = get_global_id(0) * VW;
    if (first >= n)
        return;
    if (first + VW <= n) {
        WRITE_VECTOR(READ_VECTOR(in + first), out + first);
        return;
    }
    for (int i = first; i < n; ++i)
        WRITE1(READ1(in + i), out + i);
}
