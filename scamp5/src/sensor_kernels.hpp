// Kernel helpers both sensor programs (the project's and the release's) use, on the same register
// conventions: display coordinates (row 0 top, column 0 left; device column = 255 - display column),
// R5 = shifted input, R6 = weight plane, R7 = accumulate mask, R5..R8 = the host image's bit planes,
// A = accumulator, C = its unit. R1..R4 are scratch. Static kernels: the registers are fixed in each
// recorded kernel, so a choice of register is a switch over kernels, not a parameter.
#pragma once

#include <scamp5.hpp>

namespace sensor_kernels {

using namespace SCAMP5_PE;

// Device column of a display column (column 0 is the right-hand column on SCAMP-5).
inline int device_col(int display_col) { return 255 - display_col; }

// Rectangle given in display coordinates (inclusive).
inline void load_display_rect(dreg_t r, int row0, int dcol0, int row1, int dcol1) {
    scamp5_load_rect(r, row0, device_col(dcol1), row1, device_col(dcol0));
}

// One tap: P = XNOR(R5, R6); A += C where P & R7, A -= C where !P & R7.
inline void accumulate_tap_into_a() {
    scamp5_kernel_begin();
        NOT(R1, R5); NOT(R2, R6); NOR(R3, R1, R2); NOR(R4, R5, R6); OR(R1, R3, R4);  // R1 = P
        NOT(R2, R7); NOT(R3, R1); NOR(R4, R3, R2);                                   // R4 = P & M
        NOR(R3, R1, R2);                                                             // R3 = !P & M
        WHERE(R4); add(A, A, C);
        WHERE(R3); sub(A, A, C);
        ALL();
    scamp5_kernel_end();
}

// A += C where bit plane k of the host image (in R5 + k) is 1.
inline void add_unit_where_plane(int k) {
    switch (k) {
        case 0: scamp5_kernel_begin(); WHERE(R5); add(A, A, C); all(); scamp5_kernel_end(); break;
        case 1: scamp5_kernel_begin(); WHERE(R6); add(A, A, C); all(); scamp5_kernel_end(); break;
        case 2: scamp5_kernel_begin(); WHERE(R7); add(A, A, C); all(); scamp5_kernel_end(); break;
        default: scamp5_kernel_begin(); WHERE(R8); add(A, A, C); all(); scamp5_kernel_end(); break;
    }
}

}  // namespace sensor_kernels
