// The geometry of a convolution as the general kernels take it: 21 ints, every 1D/2D/3D problem
// as a 3D one (clconv/ops/conv_geometry.py: geometry_args passes them in this order).
//   C, K            input and output channels; groups split both
//   D, H, W         input size;  OD, OH, OW  output size
//   KD, KH, KW      kernel size; SD, SH, SW  stride; PD, PH, PW  padding (before);
//   DD, DH, DW      dilation
#ifndef CONV_GEOMETRY_H
#define CONV_GEOMETRY_H
#define CONV_GEOMETRY_ARGS                                \
    const int C, const int D, const int H, const int W,   \
    const int K, const int OD, const int OH, const int OW, \
    const int KD, const int KH, const int KW,             \
    const int SD, const int SH, const int SW,             \
    const int PD, const int PH, const int PW,             \
    const int DD, const int DH, const int DW,             \
    const int groups
#endif
