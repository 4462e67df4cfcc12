// Average pooling of 3x3 windows at stride 1 with padding 1 (CPUs; clconv/ops/pool.py
// chooses it): a work-item computes VW neighbouring outputs along a row with vector loads and
// walks down the rows; the backward is the same walk over the output gradient.
#include "common.h"
#include "vector.h"

// Sum of each of VW outputs' three-wide window in one input row: x[w-1] + x[w] + x[w+1] for
// w = start .. start + VW - 1, with zero padding past either end of the row (0 <= start <=
// W - VW), each term first multiplied by the weight of its own column: weight_left for x[w-1],
// weight for x[w], weight_right for x[w+1] (all ones in the forward).
inline VREAL window_row_sum(const __global REAL *row, const int start, const int W,
                            const VREAL weight_left, const VREAL weight,
                            const VREAL weight_right)
{
    const VREAL c = VLOAD(0, row + start);
    const VREAL left = start > 0 ? VLOAD(0, row + start - 1) : LANES_UP_1(c);
    const VREAL right = start + VW < W ? VLOAD(0, row + start + 1) : LANES_DOWN_1(c);
    return left * weight_left + c * weight + right * weight_right;
}

// Input columns inside the 3-wide window centred on each of `column` (PyTorch's divisor
// without padding, per column): 2 at either edge of a row, else 3.
inline VREAL window_columns(const VINT column, const int W)
{
    return CONVERT_VREAL(3 + (column == 0) + (column == W - 1));  // (true is -1)
}

// Rows of the input inside the 3-high window centred on row r (0 <= r < H).
inline REAL window_rows(const int r, const int H)
{
    return 3 - (r == 0) - (r == H - 1);
}

// VW columns from `start` of a 3x3, stride 1, padding 1 window sum over one plane, walking down
// the rows with each row's window sums kept for the next two outputs. The forward (backward = 0)
// divides each output's sum by its divisor. The backward gathers into input (h, w) the
// gradients of the outputs whose windows hold it, each divided by that output's divisor: the
// same 3x3 neighbourhood, so the same walk; with a constant divisor (count_include_pad or
// divisor_override) the backward is the forward of the gradient, else each gradient is divided
// by its own output's rows * columns before it is summed.
inline void avg_pool_3x3_columns(const __global REAL *restrict in_plane,
                                 __global REAL *restrict out_plane, const int start, const int H,
                                 const int W, const int count_include_pad,
                                 const int divisor_override, const int backward)
{
    const VINT column = start + (VINT)(LANE_IDS);
    const VREAL columns = window_columns(column, W);
    // Per-term weights: 1/columns of the term's own output where the backward divides first.
    const bool divide_terms = backward && !count_include_pad && !divisor_override;
    const VREAL weight_left = divide_terms ? 1 / window_columns(column - 1, W) : (VREAL)1;
    const VREAL weight = divide_terms ? 1 / columns : (VREAL)1;
    const VREAL weight_right = divide_terms ? 1 / window_columns(column + 1, W) : (VREAL)1;
#define ROW_SUM(r) (divide_terms ? window_row_sum(in_plane + (r) * W, start, W, weight_left, \
                                                  weight, weight_right) / window_rows(r, H) \
                                 : window_row_sum(in_plane + (r) * W, start, W, weight_left, \
                                                  weight, weight_right))
    VREAL above = 0;
    VREAL here = ROW_SUM(0);
    for (int oh = 0; oh < H; ++oh) {
        const VREAL below = oh + 1 < H ? ROW_SUM(oh + 1) : (VREAL)0;
        const VREAL total = above + here + below;
        VREAL result;
        if (divide_terms)
            result = total;
        else if (divisor_override)
            result = total / (REAL)divisor_override;
        else if (count_include_pad)
            result = total / (REAL)9;
        else
            result = total / ((REAL)(3 - (oh == 0) - (oh == H - 1)) * columns);
        VSTORE(result, 0, out_plane + oh * W + start);
        above = here;
        here = below;
    }
#undef ROW_SUM
}

// avg_pool_forward for 3x3 windows at stride 1 with padding 1, in 2D (D = 1, output size =
// input size) on rows of at least VW, and (backward = 1) its input gradient, from dy. One
// work-item per plane and VW columns; the last one of a plane also does the VW ending at the
// row's end where W is not a multiple of VW (rewriting some of its own outputs with equal
// values rather than racing another work-item).
__kernel void avg_pool2d_k3s1p1(
    __global const REAL *restrict in, __global REAL *restrict out,
    const int planes, const int H, const int W,
    const int count_include_pad, const int divisor_override, const int backward)
{
    const int blocks = W / VW;
    const int item = get_global_id(0);
    if (item >= planes * blocks)
        return;
    const int plane = item / blocks, block = item % blocks;
    const __global REAL *in_plane = in + (size_t)plane * H * W;
    __global REAL *out_plane = out + (size_t)plane * H * W;
    avg_pool_3x3_columns(in_plane, out_plane, block * VW, H, W, count_include_pad,
                         divisor_override, backward);
    if (block == blocks - 1 && W % VW)
        avg_pool_3x3_columns(in_plane, out_plane, W - VW, H, W, count_include_pad,
                             divisor_override, backward);
}
