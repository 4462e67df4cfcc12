// max pooling's rule for taking a candidate, for the vector kernels (pool_k2s2.cl, pool_rows.cl).
#ifndef POOL_MAX_H
#define POOL_MAX_H

// The max-pool rule for one candidate: the first seeds `best` (best_at < 0), a larger value or
// a NaN replaces it.
#define TAKE_MAX(best, best_at, value, value_at)                  \
    if (best_at < 0 || (value) > best || isnan(value)) {          \
        best = (value);                                           \
        best_at = (value_at);                                     \
    }

// The same rule for VW windows at once (lanes); every lane is already seeded.
#define TAKE_MAX_LANES(best, best_at, value, value_at)                      \
    {                                                                       \
        const VMASK take = isgreater(value, best) | isnan(value);           \
        best = select(best, value, take);                                   \
        best_at = select(best_at, value_at, take);                          \
    }

#endif
