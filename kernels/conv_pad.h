// Padded, phase-split volumes, shared by the CPU weight gradients (conv_weight_grad_cpu.cl
// reads what pad_volumes writes; conv_weight_grad_depthwise.cl pads per work-item): their
// shape, the columns of a row that come from the input, row copies and zero fills, and where
// a tap reads such a volume (the layout: conv_weight_grad_cpu.cl's opening comment).
#ifndef CONV_PAD_H
#define CONV_PAD_H
#include "common.h"
#include "vector.h"

// The column step of the phases is a build option (PAD_COL_STEP): a constant stride lets the
// row copies vectorize.
#ifndef PAD_COL_STEP
#define PAD_COL_STEP 1
#endif

// Where a padded, phase-split volume comes from: input volumes of depth_in x rows_in x
// cols_in, placed at (depth_shift, row_shift, col_shift) of a zero grid, split into depth_step
// x row_step x col_step phases, each a grid of depth_out x rows_out x cols_out. (Built inside
// kernels from their int arguments.)
typedef struct {
    int depth_in, rows_in, cols_in, depth_out, rows_out, cols_out;
    int depth_shift, row_shift, col_shift, depth_step, row_step;
} PadShape;

// A row of phase (pd, ph, pw) of one padded volume: out_row[col] = grid[slice depth_step +
// pd][row row_step + ph][col col_step + pw], from the input volume. col_step is a constant at
// every call (the copy then vectorizes).
typedef struct {
    int first, end;       // the row's columns [first, end) come from the input, the rest are 0
    size_t source;        // where column `first` is in the input volume
} PadRow;

// The columns of column phase pw that come from the input, in any row that does; `source`
// relative to the input row.
inline PadRow pad_columns(const PadShape s, const int col_step, const int pw)
{
    // Column col holds input column col * col_step + source_first.
    const int source_first = pw - s.col_shift;
    PadRow row;
    row.first = min((max(-source_first, 0) + col_step - 1) / col_step, s.cols_out);
    row.end = clamp((s.cols_in - source_first + col_step - 1) / col_step, row.first, s.cols_out);
    row.source = row.first < row.end ? row.first * col_step + source_first : 0;
    return row;
}

// Where tap `tap` (of KD x KH x KW) reads a padded, phase-split x: see the comment above.
inline int tap_offset(const int tap, const int KH, const int KW, const int DD, const int DH,
                      const int DW, const int SD, const int SH, const int SW, const int WP,
                      const int x_slice, const int x_phase)
{
    const int reach_d = (tap / (KH * KW)) * DD, reach_h = ((tap / KW) % KH) * DH;
    const int reach_w = (tap % KW) * DW;
    const int phase = ((reach_d % SD) * SH + reach_h % SH) * SW + reach_w % SW;
    return phase * x_phase + (reach_d / SD) * x_slice + (reach_h / SH) * WP + reach_w / SW;
}

// A padded row's values (not its zeros): with col_step 1, in whole vectors, the last one
// stepped back to end at the row's end (rewriting a few values) or scalars in a row shorter
// than a vector.
inline void copy_row_values(const __global REAL *restrict in, __global REAL *restrict out_row,
                            const PadRow row, const int col_step)
{
    const int count = row.end - row.first;
    const __global REAL *in_row = in + row.source;
    __global REAL *out = out_row + row.first;
    if (col_step == 1 && count >= VW) {
        for (int col = 0; col < count; col += VW) {
            const int at = min(col, count - VW);
            VSTORE(VLOAD(0, in_row + at), 0, out + at);
        }
        return;
    }
    for (int col = 0; col < count; ++col)
        out[col] = in_row[col * col_step];
}

// Phase `phase` of a padded volume's values (PadShape; not its zeros, already in place), slice
// by slice and row by row: no per-row divisions (they would cost more than the row's copy).
inline void copy_phase_values(const __global REAL *restrict in, __global REAL *restrict out_phase,
                              const PadShape s, const int col_step, const int phase)
{
    const int row_phases = s.row_step * col_step;
    const PadRow columns = pad_columns(s, col_step, phase % col_step);
    if (columns.first >= columns.end)
        return;
    for (int slice = 0; slice < s.depth_out; ++slice) {
        const int source_slice = slice * s.depth_step + phase / row_phases - s.depth_shift;
        if (source_slice < 0 || source_slice >= s.depth_in)
            continue;
        for (int row = 0; row < s.rows_out; ++row) {
            const int source_row = row * s.row_step + (phase % row_phases) / col_step - s.row_shift;
            if (source_row < 0 || source_row >= s.rows_in)
                continue;
            PadRow values = columns;
            values.source += ((size_t)source_slice * s.rows_in + source_row) * s.cols_in;
            copy_row_values(in, out_phase + (slice * s.rows_out + row) * s.cols_out, values,
                            col_step);
        }
    }
}

// `count` zeros from p: whole vectors, the last one stepped back (scalars under a vector).
inline void zero_fill(__global REAL *restrict p, const int count)
{
    if (count < VW) {
        for (int i = 0; i < count; ++i)
            p[i] = 0;
        return;
    }
    for (int i = 0; i < count; i += VW)
        VSTORE((VREAL)0, 0, p + min(i, count - VW));
}

#endif
