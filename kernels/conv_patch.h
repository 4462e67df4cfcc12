// The im2col gather of the local-memory convolutions (conv_local.cl, conv_weight_grad_local.cl):
// the input value that tap `tap` (of KD x KH x KW, build options, so that the tap arithmetic
// divides by constants) of input channel c reads for an output position whose window starts at
// (od0, oh0, ow0); zero in the padding, and where `ok` is false (past the problem's end).
#ifndef CONV_PATCH_H
#define CONV_PATCH_H
#include "common.h"

#ifndef KD
#define KD 1
#endif
#ifndef KH
#define KH 3
#endif
#ifndef KW
#define KW 3
#endif
#define TAPS (KD * KH * KW)
// tap `tap`'s position in the kernel (depth, row, column)
#define TAP_D(tap) ((tap) / (KH * KW))
#define TAP_H(tap) (((tap) / KW) % KH)
#define TAP_W(tap) ((tap) % KW)

inline REAL patch_value(const __global REAL *restrict x_group, const int in_plane, const int c,
                        const int tap, const int od0, const int oh0, const int ow0,
                        const bool ok, const int D, const int H, const int W, const int DD,
                        const int DH, const int DW)
{
    const int id = od0 + TAP_D(tap) * DD, ih = oh0 + TAP_H(tap) * DH, iw = ow0 + TAP_W(tap) * DW;
    return ok && id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W
        ? x_group[(size_t)c * in_plane + (id * H + ih) * W + iw] : (REAL)0;
}
#endif
