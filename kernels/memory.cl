// Every element of a buffer set to one value (clconv.runtime.fill: tensors' NaN poisoning,
// padding fills, zeroed gradients). TYPE is the element type (float16 by its bit pattern, as
// ushort), so that a fill is a launch like any other: a recorded inference plan repeats it.
#ifndef TYPE
#define TYPE float
#endif
#if defined(cl_khr_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

__kernel void fill(__global TYPE *restrict x, const TYPE value, const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        x[i] = value;
}
