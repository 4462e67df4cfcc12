// Convolution, forward: 1x1 kernels at stride 1 without padding or groups, for CPUs, as a
// product over each image's planes read in place: Y[n] (K x P) = W (K x C) X[n] (C x P), P the
// positions of a plane.
//
// A work-item owns SPAN positions of one image and ITEM_BLOCKS blocks of BLOCK_K output
// channels. It runs through the input channels CHUNK at a time; for each chunk and block it
// walks its span in tiles of BLOCK_V vectors of VW positions, BLOCK_K x BLOCK_V accumulator
// vectors in registers, taking the tile's partial sums from y and putting them back (the first
// chunk starts from zero, the last adds the bias and the epilogue's activation). So the input
// is read as CHUNK streams running along the span, which the prefetchers follow, and from the
// cache for every block after the first; the partial sums (ITEM_BLOCKS x BLOCK_K x SPAN) stay
// in the cache between chunks. (conv_direct's tiles read one short stream per input channel.)
// Positions past a plane's last whole vector (P % VW of them) are the last lanes of one more
// vector, the plane's last VW positions, which the work-item holding the plane's end computes in
// each pass with the other tiles but loads and stores only in those lanes (the others belong to
// whole vectors); in planes of fewer than VW positions, one by one over every channel at once.
// With INPUT_SCALE, input channel c of image n is multiplied by x_scale[n C + c] as it is read
// (a squeeze-excitation's gate, fused); with RESIDUAL, the last pass adds `residual` (y's
// shape: a residual connection's other branch) to the sums before the activation.
#include "common.h"
#include "vector.h"

#ifndef BLOCK_K
#define BLOCK_K 8
#endif
#ifndef BLOCK_V
#define BLOCK_V 2
#endif
#ifndef CHUNK
#define CHUNK 64
#endif
#ifndef ITEM_BLOCKS
#define ITEM_BLOCKS 4
#endif
#ifndef SPAN
#define SPAN 256  // positions per work-item: a multiple of BLOCK_V x VW
#endif
#ifndef INPUT_SCALE
#define INPUT_SCALE 0
#endif
#ifndef RESIDUAL
#define RESIDUAL 0  // add residual (y's shape) to the sums before the activation
#endif

#if INPUT_SCALE
#define SCALED(v, c) ((v) * scale[c])
#else
#define SCALED(v, c) (v)
#endif

// One tile of NV vectors at position p for output channels k0.. (rows w_rows, k_count of them
// real) over input channels c0 .. c_end - 1, into and out of y's partial sums; with SKIP > 0
// (NV = 1: the plane's last vector) only lanes SKIP.. are loaded and stored.
#define POINTWISE_TILE(NV, SKIP)                                                           \
    do {                                                                                   \
        VREAL acc[BLOCK_K][NV];                                                            \
        _Pragma("unroll")                                                                  \
        for (int k = 0; k < BLOCK_K; ++k)                                                  \
            _Pragma("unroll")                                                              \
            for (int v = 0; v < NV; ++v)                                                   \
                acc[k][v] = c0 > 0 && k < k_count                                          \
                    ? partial_sums(y_block + (size_t)k * P + p + v * VW, SKIP) : (VREAL)0; \
        const __global REAL *x_c = x_image + (size_t)c0 * P + p;                           \
        for (int c = c0; c < c_end; ++c, x_c += P) {                                       \
            VREAL in[NV];                                                                  \
            _Pragma("unroll")                                                              \
            for (int v = 0; v < NV; ++v)                                                   \
                in[v] = SCALED(VLOAD(v, x_c), c);                                          \
            _Pragma("unroll")                                                              \
            for (int k = 0; k < BLOCK_K; ++k) {                                            \
                const VREAL wk = (VREAL)(w_rows[k][c]);                                    \
                _Pragma("unroll")                                                          \
                for (int v = 0; v < NV; ++v)                                               \
                    acc[k][v] = fma(wk, in[v], acc[k][v]);                                 \
            }                                                                              \
        }                                                                                  \
        for (int k = 0; k < k_count; ++k)                                                  \
            _Pragma("unroll")                                                              \
            for (int v = 0; v < NV; ++v)                                                   \
                store_sums(y_block + (size_t)k * P + p + v * VW,                           \
                           last ? activate_vector(acc[k][v] + b_block[k]                   \
                                                  + RESIDUAL_AT((size_t)k * P + p + v * VW),\
                                                  act_a, act_b)                            \
                                : acc[k][v], SKIP);                                        \
    } while (0)

#if RESIDUAL
#define RESIDUAL_AT(offset) VLOAD(0, r_block + (size_t)(offset))
#else
#define RESIDUAL_AT(offset) (VREAL)0
#endif

// A vector of partial sums from y, lanes before `skip` zero (another tile's: not read).
STAGE VREAL partial_sums(const __global REAL *at, const int skip)
{
    if (!skip)
        return VLOAD(0, at);
    REAL lanes[VW];
    for (int l = 0; l < VW; ++l)
        lanes[l] = l >= skip ? at[l] : (REAL)0;
    return VLOAD(0, lanes);
}

// A vector of sums into y, lanes from `skip` on.
STAGE void store_sums(__global REAL *at, const VREAL sums, const int skip)
{
    if (!skip) {
        VSTORE(sums, 0, at);
        return;
    }
    REAL lanes[VW];
    VSTORE(sums, 0, lanes);
    for (int l = skip; l < VW; ++l)
        at[l] = lanes[l];
}

__kernel void conv_pointwise(
    __global const REAL *restrict x,       // N x C x P
    __global const REAL *restrict weight,  // K x C
    __global const REAL *restrict bias, const int has_bias,
    const REAL act_a, const REAL act_b,    // the epilogue (common.h)
    __global REAL *restrict y,             // N x K x P
    __global const REAL *restrict x_scale, // N x C (INPUT_SCALE only)
    __global const REAL *restrict residual, // N x K x P (RESIDUAL only)
    const int C, const int K, const int P)
{
    const int first = get_global_id(0) * SPAN, k_first = get_global_id(1) * ITEM_BLOCKS * BLOCK_K;
    const int n = get_global_id(2);
    if (first >= P || k_first >= K)
        return;
    const int k_end = min(k_first + ITEM_BLOCKS * BLOCK_K, K);
    const int whole_end = P / VW * VW;                   // positions in whole vectors
    const int span_end = min(first + SPAN, whole_end);  // (first is a multiple of VW)
    const int tiles_end = first + (max(span_end - first, 0) / (BLOCK_V * VW)) * (BLOCK_V * VW);
    // (this work-item's span holds the plane's end, which is not a whole vector)
    const bool tail = first + SPAN >= P && whole_end < P && P >= VW;
    const __global REAL *x_image = x + (size_t)n * C * P;
    const __global REAL *scale = x_scale + (size_t)n * C;
    for (int c0 = 0; c0 < C; c0 += CHUNK) {
        const int c_end = min(c0 + CHUNK, C);
        const bool last = c_end == C;
        for (int k0 = k_first; k0 < k_end; k0 += BLOCK_K) {
            const int k_count = min(BLOCK_K, K - k0);
            const __global REAL *w_rows[BLOCK_K];  // rows past K repeat the last: not stored
            REAL b_block[BLOCK_K];
            #pragma unroll
            for (int k = 0; k < BLOCK_K; ++k) {
                w_rows[k] = weight + (size_t)min(k0 + k, K - 1) * C;
                b_block[k] = has_bias ? bias[min(k0 + k, K - 1)] : (REAL)0;
            }
            const size_t block_at = ((size_t)n * K + k0) * P;
            __global REAL *y_block = y + block_at;
            const __global REAL *r_block = residual + block_at;
            int p = first;
            for (; p < tiles_end; p += BLOCK_V * VW)
                POINTWISE_TILE(BLOCK_V, 0);
            for (; p < span_end; p += VW)
                POINTWISE_TILE(1, 0);
            if (tail) {  // the plane's last VW positions, lanes past the last whole vector
                p = P - VW;
                POINTWISE_TILE(1, whole_end - p);
            }
        }
    }
    if (first + SPAN < P || whole_end == P || P >= VW)
        return;
    // A plane of fewer than VW positions: one by one.
    for (int p = whole_end; p < P; ++p)
        for (int k = k_first; k < k_end; ++k) {
            const __global REAL *w_row = weight + (size_t)k * C;
            REAL sum = 0;
            for (int c = 0; c < C; ++c)
                sum = fma(w_row[c], SCALED(x_image[(size_t)c * P + p], c), sum);
            const size_t at = ((size_t)n * K + k) * P + p;
            y[at] = activate(sum + (has_bias ? bias[k] : (REAL)0)
                             + (RESIDUAL ? residual[at] : (REAL)0), act_a, act_b);
        }
}
#undef POINTWISE_TILE
#undef RESIDUAL_AT
#undef SCALED
