// dropout: element i is kept where uniform(key, i) >= p, and scaled by 1 / (1 - p). The uniform
// number is a hash of the call's key and the element's index (murmur3's finalizer, twice), the
// same on every device and for every work-group size; clconv.reference.dropout_mask computes it
// in NumPy. The backward regenerates the mask instead of storing it.
#include "common.h"

inline uint mix32(uint h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

// A uniform number in [0, 1) with 24 random bits.
inline float uniform(const uint key, const uint i)
{
    const uint h = mix32(mix32(i * 0x9E3779B9u + key) ^ key);
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

// x and y may be one buffer (inplace=True): no restrict.
__kernel void dropout_forward(__global const REAL *x, __global REAL *y, const uint key,
                              const float p, const REAL scale, const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        y[i] = uniform(key, (uint)i) >= p ? x[i] * scale : (REAL)0;
}

__kernel void dropout_backward(__global const REAL *restrict dy, __global REAL *restrict dx,
                               const uint key, const float p, const REAL scale, const int total)
{
    const int i = get_global_id(0);
    if (i < total)
        dx[i] = uniform(key, (uint)i) >= p ? dy[i] * scale : (REAL)0;
}
