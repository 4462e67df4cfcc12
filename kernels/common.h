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
