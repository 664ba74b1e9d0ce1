// The release's chip program (src/release_chip_program.cpp) on hand-computed clips: the 4-bit input
// load, the mosaic's place (one row off, the dead cell-border column), the gate's dead lines, the
// saturating one-sided convolutions and the read-out rows 127..190. Every expected value below is
// derived by hand in the comment next to it from the dataflow in scamp5/README.md
// ("The release's chip program").
#include <scamp5.hpp>

#include <array>
#include <string>
#include <vector>

#include "release_chip_program.hpp"
#include "test_support.hpp"

namespace {

using Frame = std::array<std::array<int, 64>, 64>;

struct Displays {
    scamp5_emu::GrayImage input, encoded, hidden, output;
};

// Runs a one-clip run of the release program ("host/c/s"); the displays are read after the last frame
// (input, encoded x, and hidden h: those of the last frame; output: after the clip).
Displays run_release(const PixelRNNWeights& w, const std::vector<Frame>& frames) {
    scamp5_emu::host::reset();
    scamp5_emu::device().set_error_model(scamp5_emu::ErrorModel::off());
    static const char* name = "c/s";
    PixelRNNClip clip{name, static_cast<int>(frames.size())};
    scamp5_emu::host::set_image_server([&](const std::string& path, scamp5_emu::GrayImage& image) {
        for (std::size_t t = 0; t < frames.size(); ++t) {
            char want[256];
            pixelrnn_frame_path(want, sizeof want, "host", name, static_cast<int>(t));
            if (path != want) continue;
            image = scamp5_emu::GrayImage{256, 256, std::vector<std::uint8_t>(256 * 256)};
            for (int r = 0; r < 256; ++r)
                for (int c = 0; c < 256; ++c)
                    image.pixels[static_cast<std::size_t>(r) * 256 + c] = static_cast<std::uint8_t>(frames[t][r % 64][c % 64]);
            return true;
        }
        return false;
    });
    const int total = static_cast<int>(frames.size());
    scamp5_emu::host::set_frame_hook([&](int n) {
        if (n == 0) {
            scamp5_emu::host::set_switch(ReleaseChipProgram::kSwitchIntermediates, true);
            scamp5_emu::host::press_button(ReleaseChipProgram::kButtonLoadImageStop);
        }
        if (n >= total) scamp5_emu::host::request_stop();
    });
    ReleaseChipProgram program(
        [&](PixelRNNWeights& out, char*, std::size_t) {
            out = w;
            return true;
        },
        PixelRNNClipList{"host", &clip, 1});
    try {
        program.run();
    } catch (const scamp5_emu::FrameLoopStopped&) {
    }
    namespace host = scamp5_emu::host;
    return {host::read_display(ReleaseChipProgram::kDisplayInput), host::read_display(ReleaseChipProgram::kDisplayEncoded),
            host::read_display(ReleaseChipProgram::kDisplayHidden), host::read_display(ReleaseChipProgram::kDisplayOutput)};
}

Frame uniform(int v) {
    Frame f;
    for (auto& row : f) row.fill(v);
    return f;
}

// All CNN kernels +1; Wfi = Wfh = +1 (gate always open where the window sees +1); Woi = Woh: taps 0..11
// (reading order) +1, taps 12..24 -1, so a window of 25 +1 pixels sums to 12 - 13 = -1 count = -10
// without ever reaching the +-128 saturation (partial sums stay within -10..120).
PixelRNNWeights hand_weights() {
    PixelRNNWeights w;
    for (auto& k : w.cnn_kernels)
        for (auto& row : k)
            for (int& v : row) v = 1;
    for (int k = 0; k < 4; ++k)
        for (int t = 0; t < 25; ++t) w.rnn_kernels[k][t / 5][t % 5] = (k < 2 || t < 12) ? 1 : -1;
    return w;
}

}  // namespace

SCAMP5_TEST(release_program_input_is_the_4_bit_load_thresholded_at_128) {
    // v = -120 + 15 b0 + 31 b1 + 63 b2 + 127 b3 of the top 4 bits; bit = v > 1. Level 7 (pixels
    // 112..127): v = -11 -> 0; level 8 (128..143): v = 7 -> 1. So bit = pixel >= 128 for all 256 values.
    Frame f{};
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) f[r][c] = (r * 64 + c) % 256;
    const Displays d = run_release(hand_weights(), {f});
    int wrong = 0;
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) wrong += d.input.at(r, c) != (f[r][c] >= 128 ? 255 : 0);
    EXPECT_EQ(wrong, 0);
}

SCAMP5_TEST(release_program_mosaic_is_one_row_off_with_a_dead_column) {
    // White frames, all CNN kernels +1: the conv saturates at 128 inside the array, the pooled bits
    // are 1 wherever the selected block lies inside the array. Mosaic pixel (R, D) takes the pooled
    // plane at (4R - 2, 4D + 3) after the one-row/one-column move, i.e. the block of rows 4R-1..4R+2 and
    // columns 4D+4..4D+7 before it, whose anchor (row 4R+2, column 4D+7) holds the sliding max over
    // columns 4D+7..4D+10. D = 62: columns 255..258, i.e. the dead display column 255 and the outside:
    // 0. D = 63 reads column 256, outside the array: 0. R = 0 reads row -2: 0. The mosaic sits at display
    // rows 63..126 and quadrant 6 keeps rows 64..126 (R = 1..63): x = 1 in rows 64..126, columns 64..125;
    // row 127 (no mosaic row 64), columns 126..127 (D = 62, 63) are 0, nothing outside quadrant 6 is set.
    const Displays d = run_release(hand_weights(), {uniform(255)});
    int wrong = 0;
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 256; ++c) {
            const bool one = r >= 64 && r <= 126 && c >= 64 && c <= 125;
            wrong += d.encoded.at(r, c) != (one ? 255 : 0);
        }
    EXPECT_EQ(wrong, 0);
}

SCAMP5_TEST(release_program_gate_flips_h_on_the_dead_lines) {
    // Frame 0, h = +1 in quadrant 7 (rows 64..127, columns 128..191). f = Wfh*h + Wfi*x with all +1
    // kernels: 128 (saturated) where the windows hold +1 -> g = 1, h kept. Array row 64 and display
    // column 191 never accumulate: f = 0 there -> g = 0 -> h flips to -1. Shown at frame 1 (h_{t-1}).
    const Displays d = run_release(hand_weights(), {uniform(255), uniform(255)});
    for (int c = 128; c <= 191; ++c) EXPECT_EQ(static_cast<int>(d.hidden.at(64, c)), 0);
    for (int r = 64; r <= 127; ++r) EXPECT_EQ(static_cast<int>(d.hidden.at(r, 191)), 0);
    int wrong = 0;
    for (int r = 68; r <= 127; ++r)
        for (int c = 128; c <= 186; ++c) wrong += d.hidden.at(r, c) != 255;  // windows inside h and x: kept
    EXPECT_EQ(wrong, 0);
}

SCAMP5_TEST(release_program_reads_out_rows_127_to_190_of_the_uncentred_sum) {
    // Two white frames. o_1 = Woi*x + Woh*h with the one-sided window (rows r-4..r, columns d..d+4).
    // The h copy (rows 128..191 = h rows 64..127) holds +1 after frame 0 in rows >= 132 (h rows >= 68)
    // up to column 189 (the previous test: h flips on the dead lines and where the gate's window reads
    // the -1 background, rows 64..67 and columns 187..190 at most). The x copy holds +1 in rows
    // 128..190, columns 65..125 (column 64 is outside the kept columns 65..191: -80). So for rows
    // 136..190, columns 129..185 both windows hold only +1: o = -10 + -10 = -20 -> pixel 108.
    // Array row 128 and display column 191 never accumulate: 0 + 0 -> 128 (at column 128 the x term is
    // the -80 fill: 48). Row 127 is the last f row: Wfh*h = 128 (saturated) plus Wfi*x > 0 -> 255.
    // Rows outside 127..190 and columns outside 128..191 read the zero plane: 128.
    const Displays d = run_release(hand_weights(), {uniform(255), uniform(255)});
    int wrong = 0;
    for (int r = 136; r <= 190; ++r)
        for (int c = 129; c <= 185; ++c) wrong += d.output.at(r, c) != 108;
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(static_cast<int>(d.output.at(128, 128)), 48);
    for (int c = 129; c <= 191; ++c) EXPECT_EQ(static_cast<int>(d.output.at(128, c)), 128);
    for (int r = 127; r <= 190; ++r) EXPECT_EQ(static_cast<int>(d.output.at(r, 191)), 128);
    for (int c = 129; c <= 186; ++c) EXPECT_EQ(static_cast<int>(d.output.at(127, c)), 255);
    int outside = 0;
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 256; ++c)
            if (r < 127 || r > 190 || c < 128 || c > 191) outside += d.output.at(r, c) != 128;
    EXPECT_EQ(outside, 0);
}
