// Work-group tree reduction shared by the reducing kernels (norm_*.cl, reduce.cl).
#ifndef GROUP_SIZE
#define GROUP_SIZE 64  // work-items per group; a power of two
#endif

// Sum of `value` over the work-group, returned to every work-item.
inline REAL group_sum(REAL value, __local REAL *scratch)
{
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = GROUP_SIZE / 2; width > 0; width >>= 1) {
        if (lid < width)
            scratch[lid] += scratch[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const REAL total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);  // scratch is reused by the next call
    return total;
}
