// Convolution, backward: the rearrangements with which the input gradient's transposed and
// phases algorithms run as forward convolutions (flipped and transposed weights, zero
// upsampling, phase weights and the scatter of each phase's result).
#include "common.h"

// The weights of the transposed convolution that computes a stride-1 input gradient:
// w_t[g*Cg + c][k][t] = w[g*Kg + k][c][taps - 1 - t] (in/out channels swapped within each
// group, kernel flipped). One work-item per element of w_t.
__kernel void flip_transpose_weight(__global const REAL *restrict w, __global REAL *restrict w_t,
                                    const int in_per_group, const int out_per_group,
                                    const int groups, const int taps)
{
    const int i = get_global_id(0);
    if (i >= groups * in_per_group * out_per_group * taps)
        return;
    const int t = i % taps;
    const int k = (i / taps) % out_per_group;
    const int c = (i / (taps * out_per_group)) % in_per_group;
    const int group = i / (taps * out_per_group * in_per_group);
    w_t[i] = w[((size_t)(group * out_per_group + k) * in_per_group + c) * taps + taps - 1 - t];
}

// dy spread out by the stride, zeros between: up[n][k][u] = dy[n][k][u / S] where every
// coordinate of u is a multiple of its stride, else 0 (the input of a strided convolution's
// input gradient, computed as a stride-1 convolution). One work-item per element of up.
__kernel void zero_upsample(__global const REAL *restrict dy, __global REAL *restrict up,
                            const int planes, const int OD, const int OH, const int OW,
                            const int UD, const int UH, const int UW,
                            const int SD, const int SH, const int SW)
{
    const int i = get_global_id(0);
    if (i >= planes * UD * UH * UW)
        return;
    const int uw = i % UW, uh = (i / UW) % UH, ud = (i / (UW * UH)) % UD;
    const int plane = i / (UW * UH * UD);
    const bool on_grid = uw % SW == 0 && uh % SH == 0 && ud % SD == 0;
    up[i] = on_grid ? dy[(((size_t)plane * OD + ud / SD) * OH + uh / SH) * OW + uw / SW] : (REAL)0;
}

// --- input gradient of strided convolutions, phase by phase ----------------------------------
// Phase (rd, rh, rw) of dx (depths rd, rd + SD, ..., rows rh, rh + SH, ..., columns rw,
// rw + SW, ...) gets only the taps (kd, kh, kw) with kd DD = rd + PD (mod SD), kh DH = rh + PH
// (mod SH) and kw DW = rw + PW (mod SW): a stride-1 convolution of dy with that sub-kernel,
// flipped, channels transposed (clconv/ops/conv_input_grad.py derives it). 1D and 2D
// convolutions have one depth phase of one tap.

// w_sub[g*Cg + c][k][jd][jh][jw] = w[g*Kg + k][c][td][th][tw] with td = first_d + step_d
// (JD - 1 - jd), th = first_h + step_h (JH - 1 - jh), tw = first_w + step_w (JW - 1 - jw): a
// phase's taps of the KD x KH x KW kernel, flipped, in and out channels swapped within each
// group. One work-item per (k, g*Cg + c): its taps in a loop (per element, the index
// arithmetic would cost more than the copy).
__kernel void phase_transpose_weight(__global const REAL *restrict w, __global REAL *restrict w_sub,
                                     const int in_per_group, const int out_per_group,
                                     const int groups, const int KD, const int KH, const int KW,
                                     const int first_d, const int step_d, const int JD,
                                     const int first_h, const int step_h, const int JH,
                                     const int first_w, const int step_w, const int JW)
{
    const int k = get_global_id(0), channel = get_global_id(1);  // channel: g*Cg + c
    if (k >= out_per_group || channel >= groups * in_per_group)
        return;
    const int group = channel / in_per_group, c = channel % in_per_group;
    const __global REAL *w_taps =
        w + ((size_t)(group * out_per_group + k) * in_per_group + c) * KD * KH * KW;
    __global REAL *out = w_sub + ((size_t)channel * out_per_group + k) * JD * JH * JW;
    for (int jd = 0; jd < JD; ++jd)
        for (int jh = 0; jh < JH; ++jh)
            for (int jw = 0; jw < JW; ++jw)
                out[(jd * JH + jh) * JW + jw] =
                    w_taps[((first_d + step_d * (JD - 1 - jd)) * KH
                            + first_h + step_h * (JH - 1 - jh)) * KW
                           + first_w + step_w * (JW - 1 - jw)];
}

// dx[first_plane + plane][z SD + rd][i SH + rh][j SW + rw] =
//     part[plane][z + shift_d][i + shift_h][j + shift_w]
// (part: part_d x part_h x part_w volumes), or 0 where the phase has no taps (has_part 0: part
// is not read). One work-item per (phase row i, phase depth z, plane).
__kernel void phase_scatter(__global const REAL *restrict part, __global REAL *restrict dx,
                            const int has_part, const int planes, const int first_plane,
                            const int D, const int H, const int W,
                            const int SD, const int SH, const int SW,
                            const int rd, const int rh, const int rw,
                            const int part_d, const int part_h, const int part_w,
                            const int shift_d, const int shift_h, const int shift_w)
{
    const int i = get_global_id(0), z = get_global_id(1), plane = get_global_id(2);
    const int depths = (D - rd + SD - 1) / SD, rows = (H - rh + SH - 1) / SH,
              cols = (W - rw + SW - 1) / SW;
    if (i >= rows || z >= depths || plane >= planes)
        return;
    __global REAL *dx_row =
        dx + (((size_t)(first_plane + plane) * D + z * SD + rd) * H + i * SH + rh) * W + rw;
    if (!has_part) {
        for (int j = 0; j < cols; ++j)
            dx_row[j * SW] = 0;
        return;
    }
    const __global REAL *part_row =
        part + (((size_t)plane * part_d + z + shift_d) * part_h + i + shift_h) * part_w + shift_w;
    for (int j = 0; j < cols; ++j)
        dx_row[j * SW] = part_row[j];
}

// phase_scatter for GPUs: one work-item per phase column j (consecutive items read consecutive
// part elements and write dx at stride SW), phase row i, and (phase depth, plane) zp.
__kernel void phase_scatter_columns(__global const REAL *restrict part,
                                    __global REAL *restrict dx, const int has_part,
                                    const int planes, const int first_plane,
                                    const int D, const int H, const int W,
                                    const int SD, const int SH, const int SW,
                                    const int rd, const int rh, const int rw,
                                    const int part_d, const int part_h, const int part_w,
                                    const int shift_d, const int shift_h, const int shift_w)
{
    const int j = get_global_id(0), i = get_global_id(1), zp = get_global_id(2);
    const int depths = (D - rd + SD - 1) / SD, rows = (H - rh + SH - 1) / SH,
              cols = (W - rw + SW - 1) / SW;
    if (j >= cols || i >= rows || zp >= depths * planes)
        return;
    const int z = zp % depths, plane = zp / depths;
    dx[(((size_t)(first_plane + plane) * D + z * SD + rd) * H + i * SH + rh) * W + j * SW + rw] =
        has_part ? part[(((size_t)plane * part_d + z + shift_d) * part_h + i + shift_h) * part_w
                        + j + shift_w]
                 : (REAL)0;
}
