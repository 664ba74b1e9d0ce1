// PixelRNN on SCAMP-5. Layout and scaling (see scamp5/README.md for the derivation):
//
// * Input (default, as in the paper's hardware experiment): every frame is requested from the host
//   (vs_gui_request_image, 4 bits), its planes drawn into R5..R8 (scamp5_draw_*), converted to the
//   analogue value kLevelUnit * level bit-plane by bit-plane, and binarised against the level
//   midpoint. The "live camera" switch takes the photodiode instead (get_image: full range).
//
// * The array is a 4 x 4 grid of 64 x 64 quadrants (display orientation). The host tiles the
//   64 x 64 frame into all 16; quadrant (grid row k % 4, grid column k / 4) convolves with CNN
//   kernel k, so pooling and a /4 compaction of the whole array give the column-major mosaic
//   directly. The recurrent state lives in quadrant (2, 2): display rows/columns 128..191,
//   which is where the release's decoder crops 15_output.BMP.
// * Binary maps are digital planes (1 = +1): shifting them (scamp5_shift, DNEWS) is exact, and a per-tap
//   validity mask gives the zero padding at the quadrant edge. Each tap adds or subtracts one
//   analogue unit under FLAG, chosen by XNOR(input, weight).
// * Analogue units keep every partial sum inside the +-128 range (no path-dependent saturation):
//   CNN unit min(iw, 5) (|c| <= 25), gate unit min(iw_rnn, 2) (|f| <= 50), o in unit 1
//   (|o| <= 50). Thresholds compare strictly against level = step * unit - ceil(unit / 2): exact
//   for integer sums and half a unit of margin for analogue error.
// * Readout: the output register holds iw_rnn * o - 1, built from o by same-sign additions
//   (saturating same-sign sums commute with the clamp), so the 8-bit ADC (value + 128) reads
//   exactly clip(o * iw_rnn + 127, 0, 255), the encoding of the PyTorch model.
#include "pixelrnn_program.hpp"

#include <scamp5.hpp>

#include "sensor_kernels.hpp"

using namespace SCAMP5_PE;

namespace {

constexpr int kQuadrant = 64;
constexpr int kStateRow0 = 128;  // display rows/columns 128..191 hold x mosaic, h, o
constexpr int kCnnUnitMax = 5;   // 25 taps * 5 = 125 <= 128
constexpr int kGateUnitMax = 2;  // 50 * 2 = 100
constexpr int kTaps = 5;

int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
int half_unit_up(int unit) { return (unit + 1) / 2; }
int min_int(int a, int b) { return a < b ? a : b; }
int max_int(int a, int b) { return a > b ? a : b; }
int clamp_int(int v, int lo, int hi) { return min_int(hi, max_int(lo, v)); }

using sensor_kernels::accumulate_tap_into_a;
using sensor_kernels::add_unit_where_plane;
using sensor_kernels::device_col;
using sensor_kernels::load_display_rect;

// ---- static kernels: fixed registers, recorded once, replayed ----------------------------------
// Analogue: A = CNN sum / f, B = o, C = unit of A, D = unit of B (1), E = scratch, F = level / readout.
// Digital: R5 = shifted input, R6 = weight plane, R7 = valid mask, R8/R9 = scratch,
//          R10 = x (binarised frame, then the mosaic), R11 = h. R1..R4 are macro scratch.

// S := source shifted so that S(r, s) = source(r + di, s + dj) (display rows/columns): the content
// moves di north and dj towards display-left (west). Restarting from the source at every tap
// loses nothing at the array edge.
void load_shifted_input(bool from_hidden, int di, int dj) {
    if (from_hidden) {
        scamp5_kernel_begin(); MOV(R5, R11); scamp5_kernel_end();
    } else {
        scamp5_kernel_begin(); MOV(R5, R10); scamp5_kernel_end();
    }
    if (di != 0 || dj != 0) scamp5_shift(R5, -dj, di);
}

// The same tap into B with unit D (the o convolutions).
void accumulate_tap_into_b() {
    scamp5_kernel_begin();
        NOT(R1, R5); NOT(R2, R6); NOR(R3, R1, R2); NOR(R4, R5, R6); OR(R1, R3, R4);
        NOT(R2, R7); NOT(R3, R1); NOR(R4, R3, R2);
        NOR(R3, R1, R2);
        WHERE(R4); add(B, B, D);
        WHERE(R3); sub(B, B, D);
        ALL();
    scamp5_kernel_end();
}

void set_weight_plane(bool plus) {
    if (plus) {
        scamp5_kernel_begin(); SET(R6); scamp5_kernel_end();
    } else {
        scamp5_kernel_begin(); CLR(R6); scamp5_kernel_end();
    }
}

// CNN validity of tap (di, dj) inside every quadrant: NOT(bad rows OR bad columns), where the bad
// rows/columns are those whose source PE lies outside the PE's own quadrant (zero padding).
void load_quadrant_valid_mask(int di, int dj) {
    // local display row (row & 63) + di must stay in 0..63.
    switch (di) {
        case -2: scamp5_load_pattern(R8, 0, 0, 193, 255); break;   // local rows 0, 1
        case -1: scamp5_load_pattern(R8, 0, 0, 192, 255); break;   // local row 0
        case 1: scamp5_load_pattern(R8, 63, 0, 192, 255); break;   // local row 63
        case 2: scamp5_load_pattern(R8, 62, 0, 193, 255); break;   // local rows 62, 63
        default: scamp5_kernel_begin(); CLR(R8); scamp5_kernel_end(); break;
    }
    // Columns in device coordinates: local device column = 63 - local display column.
    switch (dj) {
        case -2: scamp5_load_pattern(R9, 0, 62, 255, 193); break;  // display 0, 1
        case -1: scamp5_load_pattern(R9, 0, 63, 255, 192); break;  // display 0
        case 1: scamp5_load_pattern(R9, 0, 0, 255, 192); break;    // display 63
        case 2: scamp5_load_pattern(R9, 0, 0, 255, 193); break;    // display 62, 63
        default: scamp5_kernel_begin(); CLR(R9); scamp5_kernel_end(); break;
    }
    scamp5_kernel_begin(); NOR(R7, R8, R9); scamp5_kernel_end();
}

// Recurrent validity of tap (di, dj): PE and source both inside the state quadrant.
void load_state_valid_mask(int di, int dj) {
    const int last = kStateRow0 + kQuadrant - 1;
    load_display_rect(R7, kStateRow0 + max_int(0, -di), kStateRow0 + max_int(0, -dj), last - max_int(0, di),
                      last - max_int(0, dj));
}

// Bit k of vs_dotmat pixel (row, col), image orientation (SDK layout: one bit per pixel, row-major,
// lowest bit first within each byte). The one place that reads a vs_dotmat.
bool dotmat_bit(const vs_dotmat& m, int row, int col) {
    const int i = row * m.get_width() + col;
    const auto* bytes = static_cast<const std::uint8_t*>(m.get_buffer());  // the SDK's buffer is a void*
    return ((bytes[i >> 3] >> (i & 7)) & 1) != 0;
}

// Plane k of the host image goes to R5 + k (R5..R8 are free until the convolution).
void draw_plane(dreg_t target, const vs_dotmat& m) {
    scamp5_draw_begin(target);
    for (int row = 0; row < 256; ++row)
        for (int col = 0; col < 256; ++col)
            if (dotmat_bit(m, row, col)) scamp5_draw_pixel(row, device_col(col));
    scamp5_draw_end();
}
const dreg_t kPlaneRegister[kHostImageBits] = {R5, R6, R7, R8};

}  // namespace

// ---- input ----------------------------------------------------------------------------------------

void HostFrameRequest::on_plane(const vs_dotmat& plane, int bit) {
    if (bit < 0) {
        timed_out_ = true;
        return;
    }
    if (bit >= kHostImageBits || plane.get_width() != 256 || plane.get_height() != 256) return;
    draw_plane(kPlaneRegister[bit], plane);
    planes_received_ |= 1u << bit;
}

bool HostFrameRequest::fetch(const char* path) {
    planes_received_ = 0;
    timed_out_ = false;
    scamp5_kernel_begin(); CLR(R5, R6, R7); CLR(R8); scamp5_kernel_end();
    // Completion is judged by the callbacks (all planes, or a timeout), not by the return value.
    vs_gui_request_image(path, kHostImageBits, [this](vs_dotmat const& m, int k) { on_plane(m, k); });
    while (!vs_gui_request_done()) vs_process_message();
    if (timed_out_ || planes_received_ != (1u << kHostImageBits) - 1) {
        vs_post_text("frame request failed: %s (planes received 0x%x of 0x%x); stopped\n", path, planes_received_,
                     (1u << kHostImageBits) - 1);
        return false;
    }
    return true;
}

// Requests frame frame_in_clip_ of the current clip, waits for its 4 planes, rebuilds the level in A
// (A = kLevelUnit * level) and binarises it into R10. False (and stops running) when the host does not answer.
bool PixelRNNSensorProgram::receive_host_frame() {
    const PixelRNNClip& clip = clips_.clips[clip_index_];
    char path[256];
    pixelrnn_frame_path(path, sizeof path, clips_.root, clip.name, frame_in_clip_);
    if (!host_frame_.fetch(path)) {
        running_ = false;
        return false;
    }
    scamp5_kernel_begin(); all(); bus(A); scamp5_kernel_end();  // A := 0
    for (int k = 0; k < kHostImageBits; ++k) {
        scamp5_in(C, kLevelUnit << k);
        add_unit_where_plane(k);
    }
    // +1 iff level > img_threshold >> 4: compare against the midpoint between two levels.
    scamp5_in(F, kLevelUnit * (img_threshold_ >> 4) + kLevelUnit / 2);
    scamp5_kernel_begin();
        sub(E, A, F);
        where(E);
        MOV(R10, FLAG);
        all();
    scamp5_kernel_end();
    return true;
}

// Live photodiode: get_image(A, E) gives A = full-range image (pixel - 128), E = -half range.
void PixelRNNSensorProgram::capture_live() {
    scamp5_in(F, img_threshold_ - 128);  // pixel > T  <=>  value (pixel - 128) > T - 128
    scamp5_kernel_begin();
        get_image(A, E);
        sub(E, A, F);
        where(E);
        MOV(R10, FLAG);
        all();
    scamp5_kernel_end();
}

bool PixelRNNSensorProgram::take_input() {
    if (live_camera_) {
        capture_live();
        return true;
    }
    if (clip_index_ >= clips_.count) {
        vs_post_text("no clip list: the host-fed input needs clips (or switch on '%s')\n", kSwitchLiveCamera);
        running_ = false;
        return false;
    }
    return receive_host_frame();
}

void PixelRNNSensorProgram::cnn_convolution() {
    const int unit = min_int(input_white_, kCnnUnitMax);
    scamp5_kernel_begin(); all(); bus(A); bus(B); scamp5_kernel_end();
    scamp5_in(C, unit);
    scamp5_in(D, 1);
    for (int i = 0; i < kTaps; ++i) {
        for (int j = 0; j < kTaps; ++j) {
            const int di = i - 2, dj = j - 2;
            // Weight plane: +1 over the quadrants whose kernel has +1 at this tap.
            set_weight_plane(false);
            for (int k = 0; k < 16; ++k) {
                if (weights_.cnn_kernels[k][i][j] < 0) continue;
                const int row0 = (k % 4) * kQuadrant, col0 = (k / 4) * kQuadrant;
                load_display_rect(R8, row0, col0, row0 + kQuadrant - 1, col0 + kQuadrant - 1);
                scamp5_kernel_begin(); OR(R6, R6, R8); scamp5_kernel_end();
            }
            load_quadrant_valid_mask(di, dj);
            load_shifted_input(false, di, dj);
            accumulate_tap_into_a();
        }
    }
}

// ReLU, threshold, then 4x4 max pooling as an OR of the thresholded block: the threshold is
// monotone, so [max(relu(c)) >= step] = OR over the block of [relu(c) >= step], exactly.
void PixelRNNSensorProgram::relu_threshold_pool() {
    const int unit = min_int(input_white_, kCnnUnitMax);
    const int step = clamp_int(ceil_div(conv1_threshold_, input_white_), -25, 26);
    scamp5_in(F, step * unit - half_unit_up(unit));
    scamp5_kernel_begin();
        neg(E, A); where(E); bus(A); all();        // ReLU: A := 0 where A < 0
        sub(E, A, F); where(E); MOV(R10, FLAG); all();  // threshold
        // Block OR at the block's top-left PE: columns to the east (display right), rows south.
        DNEWS(R8, R10, east); OR(R10, R10, R8);
        DNEWS(R8, R10, east); DNEWS(R8, R8, east); OR(R10, R10, R8);
        DNEWS(R8, R10, south); OR(R10, R10, R8);
        DNEWS(R8, R10, south); DNEWS(R8, R8, south); OR(R10, R10, R8);
    scamp5_kernel_end();
}

// Two half-scalings per axis (row 2i -> i) move the block anchors (rows/columns 4a) to a, which
// tiles the 16 pooled maps into the 64 x 64 mosaic; then the mosaic moves to the state quadrant.
// Step b of a half-scaling moves the groups of 2^b rows with bit b+1 set by 2^b.
void PixelRNNSensorProgram::compact_to_mosaic() {
    for (int pass = 0; pass < 2; ++pass) {
        for (int b = 0; b < 7; ++b) {
            const int dont_care = 255 & ~(3 << b);
            scamp5_load_pattern(R8, 0, 0, dont_care, 255);        // keep: bits b, b+1 clear
            scamp5_load_pattern(R9, 2 << b, 0, dont_care, 255);   // move: bit b+1 set, bit b clear
            scamp5_kernel_begin();
                NOT(R1, R10); NOT(R2, R9); NOR(R9, R1, R2);   // R9 = x & move
                NOT(R2, R8); NOR(R10, R1, R2);                 // R10 = x & keep
            scamp5_kernel_end();
            scamp5_shift(R9, 0, 1 << b);  // content north
            scamp5_kernel_begin(); OR(R10, R10, R9); scamp5_kernel_end();
        }
    }
    // Columns: the same in display columns; device column bits are the complement.
    for (int pass = 0; pass < 2; ++pass) {
        for (int b = 0; b < 7; ++b) {
            const int dont_care = 255 & ~(3 << b);
            scamp5_load_pattern(R8, 0, 3 << b, 255, dont_care);
            scamp5_load_pattern(R9, 0, 1 << b, 255, dont_care);
            scamp5_kernel_begin();
                NOT(R1, R10); NOT(R2, R9); NOR(R9, R1, R2);
                NOT(R2, R8); NOR(R10, R1, R2);
            scamp5_kernel_end();
            scamp5_shift(R9, -(1 << b), 0);  // content west (display-left)
            scamp5_kernel_begin(); OR(R10, R10, R9); scamp5_kernel_end();
        }
    }
    scamp5_shift(R10, kStateRow0, -kStateRow0);  // content south and east (display-right)
}

void PixelRNNSensorProgram::reset_hidden() {
    const int last = kStateRow0 + kQuadrant - 1;
    load_display_rect(R11, kStateRow0, kStateRow0, last, last);  // h_0 = +1
}

// f = Wfi*x + Wfh*h, o = Woi*x + Woh*h (h from the start of the step); g = f >= step; h = g * h.
void PixelRNNSensorProgram::recurrent_update() {
    const int unit = min_int(input_rnn_white_, kGateUnitMax);
    scamp5_kernel_begin(); all(); bus(A); bus(B); scamp5_kernel_end();
    scamp5_in(C, unit);
    scamp5_in(D, 1);
    for (int kernel = 0; kernel < 4; ++kernel) {
        const bool from_hidden = kernel % 2 == 1;  // Wfi, Wfh, Woi, Woh
        for (int i = 0; i < kTaps; ++i) {
            for (int j = 0; j < kTaps; ++j) {
                const int di = i - 2, dj = j - 2;
                set_weight_plane(weights_.rnn_kernels[kernel][i][j] > 0);
                load_state_valid_mask(di, dj);
                load_shifted_input(from_hidden, di, dj);
                if (kernel < 2) accumulate_tap_into_a();
                else accumulate_tap_into_b();
            }
        }
    }
    const int step = clamp_int(ceil_div(rnn_threshold_, input_rnn_white_), -50, 51);
    scamp5_in(F, step * unit - half_unit_up(unit));
    const int last = kStateRow0 + kQuadrant - 1;
    load_display_rect(R7, kStateRow0, kStateRow0, last, last);
    scamp5_kernel_begin();
        sub(E, A, F); where(E); MOV(R8, FLAG); all();                                // R8 = g
        NOT(R1, R8); NOT(R2, R11); NOR(R3, R1, R2); NOR(R4, R8, R11); OR(R1, R3, R4); // XNOR(g, h)
        NOT(R2, R7); NOT(R3, R1); NOR(R11, R3, R2);                                   // h = XNOR & state
    scamp5_kernel_end();
}

// F := iw_rnn * o - 1 = (iw_rnn - 1) * o + (o - 1): every addition joins values of one sign.
// The multiplication runs only in the state quadrant (FLAG), so outside it the readout is a reset
// plane minus one unit (127 noise-free) and analogue error is not amplified there.
void PixelRNNSensorProgram::read_out_final() {
    const int multiple = input_rnn_white_ - 1;
    const int last = kStateRow0 + kQuadrant - 1;
    load_display_rect(R7, kStateRow0, kStateRow0, last, last);
    scamp5_kernel_begin(); all(); bus(F); WHERE(R7); scamp5_kernel_end();
    if (multiple > 0) {
        int top = 0;
        while ((multiple >> (top + 1)) != 0) ++top;
        scamp5_kernel_begin(); mov(F, B); scamp5_kernel_end();
        for (int bit = top - 1; bit >= 0; --bit) {
            scamp5_kernel_begin(); mov(E, F); add(F, F, E); scamp5_kernel_end();
            if ((multiple >> bit) & 1) {
                scamp5_kernel_begin(); add(F, F, B); scamp5_kernel_end();
            }
        }
    }
    scamp5_kernel_begin(); ALL(); sub(E, B, D); add(F, F, E); scamp5_kernel_end();
    scamp5_output_image(F, display_output_);
}

void PixelRNNSensorProgram::output_intermediates() {
    scamp5_output_image(R10, display_encoded_);
    scamp5_output_image(R8, display_gate_);
    scamp5_output_image(R11, display_hidden_);
    scamp5_output_image(B, display_ot_);  // o in unit 1: pixel = o + 128, exact for |o| <= 50
}

void PixelRNNSensorProgram::process_frame() {
    vs_stopwatch watch;
    if (frame_in_clip_ == 0) reset_hidden();
    if (!take_input()) return;
    if (output_intermediates_) scamp5_output_image(R10, display_input_);
    stage_usec_[0] += watch.get_usec();
    watch.reset();
    cnn_convolution();
    stage_usec_[1] += watch.get_usec();
    watch.reset();
    relu_threshold_pool();
    compact_to_mosaic();
    stage_usec_[2] += watch.get_usec();
    watch.reset();
    recurrent_update();
    if (output_intermediates_) output_intermediates();
    stage_usec_[3] += watch.get_usec();
    watch.reset();
    ++frame_in_clip_;
    ++frames_done_;
    const int frames = live_camera_ ? frames_per_clip_ : clips_.clips[clip_index_].frames;
    if (frame_in_clip_ >= frames) finish_clip();
    stage_usec_[4] += watch.get_usec();
}

// o_T read out; saved as <class>/<sequence>/<T-1>_output.BMP (live: live/<n>/...); next clip.
void PixelRNNSensorProgram::finish_clip() {
    read_out_final();
    if (save_outputs_) {
        char name[256];
        if (live_camera_) std::snprintf(name, sizeof name, "live/%d/%d_output.BMP", live_clips_, frame_in_clip_ - 1);
        else std::snprintf(name, sizeof name, "%s/%d_output.BMP", clips_.clips[clip_index_].name, frame_in_clip_ - 1);
        vs_gui_save_image(display_output_, name);
    }
    frame_in_clip_ = 0;
    if (live_camera_) {
        ++live_clips_;
        return;
    }
    if (++clip_index_ >= clips_.count) {
        vs_post_text("all %d clips done\n", clips_.count);
        clip_index_ = 0;
        running_ = false;
    }
}

void PixelRNNSensorProgram::load_weights() {
    static PixelRNNWeights staging;  // static storage: ~2 KB stays off the M0 stack
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
    input_white_ = staging.input_white;
    input_rnn_white_ = staging.input_rnn_white;
    conv1_threshold_ = staging.cnn_threshold_sensor;
    rnn_threshold_ = staging.gate_threshold_sensor;
    frame_in_clip_ = 0;
    vs_post_text("weights loaded: iw %d, iw_rnn %d, conv1 threshold %d, rnn threshold %d\n", input_white_,
                 input_rnn_white_, conv1_threshold_, rnn_threshold_);
}

void PixelRNNSensorProgram::run() {
    vs_init();
    vs_post_bind_io_agent(vs_usb);  // the host link, as the SDK's examples and the authors' main bind it
    scamp5_bind_io_agent(vs_usb);
    display_input_ = vs_gui_add_display(kDisplayInput, 0, 0);
    display_encoded_ = vs_gui_add_display(kDisplayEncoded, 0, 1);
    display_hidden_ = vs_gui_add_display(kDisplayHidden, 0, 2);
    display_gate_ = vs_gui_add_display(kDisplayGate, 1, 0);
    display_ot_ = vs_gui_add_display(kDisplayOt, 1, 1);
    display_output_ = vs_gui_add_display(kDisplayOutput, 1, 2);
    load_weights();
    vs_gui_add_slider(kSliderImgThreshold, 0, 255, img_threshold_, &img_threshold_);
    vs_gui_add_slider(kSliderConvThreshold, -128, 127, conv1_threshold_, &conv1_threshold_);
    vs_gui_add_slider(kSliderRnnThreshold, -128, 127, rnn_threshold_, &rnn_threshold_);
    vs_gui_add_slider(kSliderInputWhite, 1, 127, input_white_, &input_white_);
    vs_gui_add_slider(kSliderInputRnnWhite, 1, 127, input_rnn_white_, &input_rnn_white_);
    vs_gui_add_slider(kSliderFramesPerClip, 1, 255, frames_per_clip_, &frames_per_clip_);
    vs_gui_add_switch(kSwitchSaveOutputs, false, &save_outputs_);
    vs_gui_add_switch(kSwitchIntermediates, false, &output_intermediates_);
    vs_gui_add_switch(kSwitchLiveCamera, false, &live_camera_);
    vs_on_gui_update(vs_gui_add_button(kButtonLoadWeights), [this](int32_t) { load_weights(); });
    vs_on_gui_update(vs_gui_add_button(kButtonLoadImageStop), [this](int32_t) {
        running_ = !running_;
        frame_in_clip_ = 0;
    });
    vs_on_gui_update(vs_gui_add_button(kButtonReset), [this](int32_t) {
        frame_in_clip_ = 0;
        clip_index_ = 0;
    });
    vs_on_gui_update(vs_gui_add_button(kButtonPrintTimings), [this](int32_t) {
        const std::uint64_t n = frames_done_ ? frames_done_ : 1;
        auto per_frame = [n](std::uint64_t total) { return static_cast<unsigned>(total / n); };
        vs_post_text("per frame (us): input %u, conv %u, pool+mosaic %u, rnn %u, readout %u over %u frames\n",
                     per_frame(stage_usec_[0]), per_frame(stage_usec_[1]), per_frame(stage_usec_[2]),
                     per_frame(stage_usec_[3]), per_frame(stage_usec_[4]), static_cast<unsigned>(frames_done_));
    });
    while (true) {
        vs_frame_loop_control();
        if (running_) process_frame();
    }
}
