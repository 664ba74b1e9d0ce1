// The authors' SCAMP-5 program, re-created against the SDK API (see release_chip_program.hpp and
// scamp5/README.md, "The release's chip program"). Display coordinates throughout (row 0 top,
// column 0 left); device column = 255 - display column. Per frame:
//
//  1. input:  the host's 4 bit planes rebuilt as v = -120 + 15 b0 + 31 b1 + 63 b2 + 127 b3, bit = v > 1
//             (pixel >= 128); the host tiles the 64x64 frame 16 times.
//  2. conv:   C[r, d] = 10 * sum_{a,b} W[a][b] * s(r - 4 + a, d + b), accumulated tap by tap with
//             saturation; s = +-1, -1 outside the array (so the window reads the neighbouring tile,
//             not zero padding); PEs on array rows/columns that are multiples of 64 stay 0; the
//             kernel of display cell (gy, gx) is channel 4 gx + gy.
//  3. pool:   ReLU; three rounds of max with the north then the east neighbour (a sliding 4x4 max over
//             rows r-3..r, columns d..d+3); each block (rows 4m-1..4m+2, columns 4k..4k+3) takes the
//             value of its anchor (row 4m+2, column 4k+3); the map moves one row north and one
//             column west (display-left).
//  4. mosaic: bit = value > 10 (one count); mosaic pixel (R, D) = bit at (4R + kMosaicRowPhase,
//             4D + kMosaicColPhase) (the release's 2-px re-centring and two half-scalings are pure
//             selection); placed one row off: display rows 63..126, columns 64..127 (only rows
//             64..126 are used: quadrant 6 starts at row 64; its row 127 reads -1).
//  5. cell:   s = -1 everywhere except x (rows 64..127, cols 64..127) and h (cols 128..191), copied
//             64 rows down; the same one-sided convolution with Wfi / Wfh (cells 5, 6) and Woi / Woh
//             (cells 9, 10); outside array rows 64..190 and display columns 65..191 the value becomes
//             -80; a copy moved 64 columns (64 single-column analogue moves) adds the x half to the
//             h half: f in rows 64..127, o in rows 128..190 of columns 128..191.
//             g = f > 10; h := XNOR(g, h) (h = +1 everywhere at frame 0).
//  6. output: after the last frame, rows 127..190 of columns 128..191 hold the sum (0 elsewhere), read
//             out as value + 128 (8-bit clip).
// Digital: R5 shifted input, R6 weight plane, R7 accumulate mask, R8 scratch, R9 scratch / the
// recurrent input, R10 x, R11 h.
// Analogue: A accumulator, C unit, E/F scratch.
#include "release_chip_program.hpp"

#include <scamp5.hpp>

#include "sensor_kernels.hpp"

using namespace SCAMP5_PE;

namespace {

constexpr int kTaps = 5;
using Kernel = const int (*)[5];  // a 5x5 kernel (rows of 5); nullptr: no +1 taps

using sensor_kernels::accumulate_tap_into_a;
using sensor_kernels::add_unit_where_plane;
using sensor_kernels::load_display_rect;

// The release's rebuild of the 4-bit load: v = -120 + sum of these where bit k is set.
constexpr int kPlaneValue[kHostImageBits] = {15, 31, 63, 127};

// R7 := PEs that accumulate: not on an array row or column that is a multiple of 64. Uses R5/R6 as
// scratch (rebuilt at every tap); R9 holds the recurrent input.
void load_alive_mask() {
    scamp5_load_pattern(R5, 0, 0, 192, 255);
    scamp5_load_pattern(R6, 0, 0, 255, 192);
    scamp5_kernel_begin(); NOR(R7, R5, R6); scamp5_kernel_end();
}

// R5 := source shifted so that R5(r, d) = source(r + di, d + dj) (zeros enter: -1 outside the array).
void load_shifted(bool from_r9, int di, int dj) {
    if (from_r9) {
        scamp5_kernel_begin(); MOV(R5, R9); scamp5_kernel_end();
    } else {
        scamp5_kernel_begin(); MOV(R5, R10); scamp5_kernel_end();
    }
    if (di != 0 || dj != 0) scamp5_shift(R5, -dj, di);
}

// R6 := the union of the 64x64 display cells (gy, gx) whose kernel has +1 at this tap.
void load_weight_plane(Kernel kernel_of_cell[4][4], int a, int b) {
    scamp5_kernel_begin(); CLR(R6); scamp5_kernel_end();
    for (int gy = 0; gy < 4; ++gy)
        for (int gx = 0; gx < 4; ++gx) {
            const Kernel k = kernel_of_cell[gy][gx];
            if (k == nullptr || k[a][b] <= 0) continue;
            load_display_rect(R8, 64 * gy, 64 * gx, 64 * gy + 63, 64 * gx + 63);
            scamp5_kernel_begin(); OR(R6, R6, R8); scamp5_kernel_end();
        }
}

// The one-sided 5x5 binary convolution of the release (A := 10 * sum, tap by tap, saturating).
void one_sided_conv(Kernel kernel_of_cell[4][4], bool from_r9) {
    scamp5_kernel_begin(); all(); bus(A); scamp5_kernel_end();
    scamp5_in(C, ReleaseChipProgram::kInputWhite);
    load_alive_mask();
    for (int a = 0; a < kTaps; ++a)
        for (int b = 0; b < kTaps; ++b) {
            load_weight_plane(kernel_of_cell, a, b);
            load_shifted(from_r9, a - 4, b);
            accumulate_tap_into_a();
        }
}

// A := max(A, neighbour's A) for the north / east neighbour (subtract, conditional copy).
void max_with_north() {
    scamp5_kernel_begin(); movx(E, A, north); sub(F, E, A); where(F); mov(A, E); all(); scamp5_kernel_end();
}
void max_with_east() {
    scamp5_kernel_begin(); movx(E, A, east); sub(F, E, A); where(F); mov(A, E); all(); scamp5_kernel_end();
}
// A := the east (display-right) neighbour's A where R8; A := the south neighbour's A where R8.
void copy_from_east_where_r8() {
    scamp5_kernel_begin(); movx(E, A, east); WHERE(R8); mov(A, E); all(); scamp5_kernel_end();
}
void copy_from_south_where_r8() {
    scamp5_kernel_begin(); movx(E, A, south); WHERE(R8); mov(A, E); all(); scamp5_kernel_end();
}

}  // namespace

bool ReleaseChipProgram::receive_host_frame() {
    const PixelRNNClip& clip = clips_.clips[clip_index_];
    char path[256];
    pixelrnn_frame_path(path, sizeof path, clips_.root, clip.name, frame_in_clip_);
    if (!host_frame_.fetch(path)) {
        running_ = false;
        return false;
    }
    binarise_input();
    return true;
}

// v = -120 + 15 b0 + 31 b1 + 63 b2 + 127 b3; R10 := v - img_threshold > 0.
void ReleaseChipProgram::binarise_input() {
    scamp5_kernel_begin(); all(); scamp5_kernel_end();
    scamp5_in(A, -120);
    for (int k = 0; k < kHostImageBits; ++k) {
        scamp5_in(C, kPlaneValue[k]);
        add_unit_where_plane(k);
    }
    scamp5_in(F, kImgThreshold);
    scamp5_kernel_begin(); sub(E, A, F); where(E); MOV(R10, FLAG); all(); scamp5_kernel_end();
}

void ReleaseChipProgram::conv_layer() {
    Kernel cells[4][4] = {};
    for (int gy = 0; gy < 4; ++gy)
        for (int gx = 0; gx < 4; ++gx) cells[gy][gx] = weights_.cnn_kernels[4 * gx + gy];
    one_sided_conv(cells, false);
}

void ReleaseChipProgram::relu_pool_block_move() {
    scamp5_kernel_begin(); neg(E, A); where(E); bus(A); all(); scamp5_kernel_end();  // ReLU
    for (int round = 0; round < 3; ++round) {
        max_with_north();
        max_with_east();
    }
    // Columns: display columns 4k+2, 4k+1, 4k (device 4j+1, 4j+2, 4j+3) take their east neighbour in turn.
    for (int device_phase = 1; device_phase <= 3; ++device_phase) {
        scamp5_load_pattern(R8, 0, device_phase, 255, 252);
        copy_from_east_where_r8();
    }
    // Rows: 4m+1, 4m, 4m-1 take their south neighbour in turn (anchor row 4m+2).
    const int row_phases[3] = {1, 0, 3};
    for (int phase : row_phases) {
        scamp5_load_pattern(R8, phase, 0, 252, 255);
        copy_from_south_where_r8();
    }
    // One row north, one column west (content moves; PEs read their south, then east neighbour).
    scamp5_kernel_begin(); movx(A, A, south); movx(A, A, east); scamp5_kernel_end();
}

// Two half-scalings per axis (row 2i -> i), each step moving the groups of 2^b rows with bit b+1 set
// by 2^b: rows/columns 4a end at a (the same selection as the project's compaction).
static void compact_quarter_r10() {
    for (int pass = 0; pass < 2; ++pass) {
        for (int b = 0; b < 7; ++b) {
            const int dont_care = 255 & ~(3 << b);
            scamp5_load_pattern(R8, 0, 0, dont_care, 255);
            scamp5_load_pattern(R9, 2 << b, 0, dont_care, 255);
            scamp5_kernel_begin();
                NOT(R1, R10); NOT(R2, R9); NOR(R9, R1, R2);
                NOT(R2, R8); NOR(R10, R1, R2);
            scamp5_kernel_end();
            scamp5_shift(R9, 0, 1 << b);
            scamp5_kernel_begin(); OR(R10, R10, R9); scamp5_kernel_end();
        }
    }
    for (int pass = 0; pass < 2; ++pass) {
        for (int b = 0; b < 7; ++b) {
            const int dont_care = 255 & ~(3 << b);
            scamp5_load_pattern(R8, 0, 3 << b, 255, dont_care);
            scamp5_load_pattern(R9, 0, 1 << b, 255, dont_care);
            scamp5_kernel_begin();
                NOT(R1, R10); NOT(R2, R9); NOR(R9, R1, R2);
                NOT(R2, R8); NOR(R10, R1, R2);
            scamp5_kernel_end();
            scamp5_shift(R9, -(1 << b), 0);
            scamp5_kernel_begin(); OR(R10, R10, R9); scamp5_kernel_end();
        }
    }
}

void ReleaseChipProgram::threshold_and_mosaic() {
    scamp5_in(F, kConv1Threshold);
    scamp5_kernel_begin(); sub(E, A, F); where(E); MOV(R10, FLAG); all(); scamp5_kernel_end();
    // Bring the selected pixel of each block to (4R, 4D), keep every fourth row and column.
    scamp5_shift(R10, -kMosaicColPhase, kMosaicRowPhase);
    compact_quarter_r10();
    // Mosaic one row off: display rows 63..126, columns 64..127; quadrant 6 keeps rows 64..126.
    scamp5_shift(R10, 64, -63);
    load_display_rect(R8, 64, 64, 126, 127);
    scamp5_kernel_begin(); NOT(R1, R10); NOT(R2, R8); NOR(R10, R1, R2); scamp5_kernel_end();
}

void ReleaseChipProgram::recurrent_step() {
    // R9 := x (quadrant 6) | h (quadrant 7), and the same 64 rows down.
    load_display_rect(R8, 64, 128, 127, 191);
    scamp5_kernel_begin(); NOT(R1, R11); NOT(R2, R8); NOR(R9, R1, R2); OR(R9, R9, R10); MOV(R8, R9); scamp5_kernel_end();
    scamp5_shift(R8, 0, -64);
    scamp5_kernel_begin(); OR(R9, R9, R8); scamp5_kernel_end();

    Kernel cells[4][4] = {};
    cells[1][1] = weights_.rnn_kernels[0];  // Wfi on x
    cells[1][2] = weights_.rnn_kernels[1];  // Wfh on h
    cells[2][1] = weights_.rnn_kernels[2];  // Woi on x
    cells[2][2] = weights_.rnn_kernels[3];  // Woh on h
    one_sided_conv(cells, true);

    // -80 outside array rows/columns 64..190 (display columns 65..191).
    load_display_rect(R8, 64, 65, 190, 191);
    scamp5_kernel_begin(); NOT(R8, R8); WHERE(R8); scamp5_kernel_end();
    scamp5_in(A, -80);
    // E := A moved 64 columns towards display-right (64 single moves), A := A + E.
    scamp5_kernel_begin(); all(); mov(E, A); scamp5_kernel_end();
    for (int step = 0; step < 64; ++step) {
        scamp5_kernel_begin(); movx(E, E, west); scamp5_kernel_end();
    }
    scamp5_kernel_begin(); add(A, A, E); scamp5_kernel_end();

    // g = f > 1 count in quadrant 7; h := XNOR(g, h) there.
    scamp5_in(F, kRnnThreshold);
    load_display_rect(R7, 64, 128, 127, 191);
    scamp5_kernel_begin();
        sub(E, A, F); where(E); MOV(R8, FLAG); all();
        NOT(R1, R8); NOT(R2, R11); NOR(R3, R1, R2); NOR(R4, R8, R11); OR(R1, R3, R4);
        NOT(R2, R7); NOT(R3, R1); NOR(R11, R3, R2);
    scamp5_kernel_end();
}

// F := the sum in rows 127..190 of columns 128..191, 0 elsewhere; read out and saved.
void ReleaseChipProgram::finish_clip() {
    load_display_rect(R8, 127, 128, 190, 191);
    scamp5_kernel_begin(); all(); bus(F); WHERE(R8); mov(F, A); all(); scamp5_kernel_end();
    scamp5_output_image(F, display_output_);
    if (save_outputs_) {
        char name[256];
        std::snprintf(name, sizeof name, "%s/%d_output.BMP", clips_.clips[clip_index_].name, frame_in_clip_ - 1);
        vs_gui_save_image(display_output_, name);
    }
    frame_in_clip_ = 0;
    if (++clip_index_ >= clips_.count) {
        vs_post_text("all %d clips done\n", clips_.count);
        clip_index_ = 0;
        running_ = false;
    }
}

void ReleaseChipProgram::process_frame() {
    if (clip_index_ >= clips_.count) {
        vs_post_text("no clip list: the release program runs on host-fed clips only\n");
        running_ = false;
        return;
    }
    if (frame_in_clip_ == 0) load_display_rect(R11, 64, 128, 127, 191);  // h_0 = +1
    if (!receive_host_frame()) return;
    if (output_intermediates_) scamp5_output_image(R10, display_input_);
    conv_layer();
    relu_pool_block_move();
    threshold_and_mosaic();
    if (output_intermediates_) {
        scamp5_output_image(R10, display_encoded_);
        scamp5_output_image(R11, display_hidden_);  // h_{t-1}
    }
    recurrent_step();
    ++frame_in_clip_;
    if (frame_in_clip_ >= clips_.clips[clip_index_].frames) finish_clip();
}

void ReleaseChipProgram::load_weights() {
    static PixelRNNWeights staging;
    char error[160] = "no weights loader";
    if (!loader_ || !loader_(staging, error, sizeof error)) {
        vs_post_text("load weights failed: %s\n", error);
        return;
    }
    if (!validate_pixelrnn_weights(staging, error, sizeof error)) {
        vs_post_text("load weights rejected: %s\n", error);
        return;
    }
    weights_ = staging;
    frame_in_clip_ = 0;
    vs_post_text("weights loaded (release chip program: iw 10, thresholds 1 count)\n");
}

void ReleaseChipProgram::run() {
    vs_init();
    vs_post_bind_io_agent(vs_usb);
    scamp5_bind_io_agent(vs_usb);
    display_input_ = vs_gui_add_display(kDisplayInput, 0, 0);
    display_encoded_ = vs_gui_add_display(kDisplayEncoded, 0, 1);
    display_hidden_ = vs_gui_add_display(kDisplayHidden, 0, 2);
    display_output_ = vs_gui_add_display(kDisplayOutput, 1, 2);
    load_weights();
    vs_gui_add_switch(kSwitchSaveOutputs, false, &save_outputs_);
    vs_gui_add_switch(kSwitchIntermediates, false, &output_intermediates_);
    vs_on_gui_update(vs_gui_add_button(kButtonLoadWeights), [this](int32_t) { load_weights(); });
    vs_on_gui_update(vs_gui_add_button(kButtonLoadImageStop), [this](int32_t) {
        running_ = !running_;
        frame_in_clip_ = 0;
    });
    while (true) {
        vs_frame_loop_control();
        if (running_) process_frame();
    }
}
