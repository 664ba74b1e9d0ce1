// The PixelRNN sensor program on the emulator: static-kernel budget, the load-order conversion the
// weights header goes through, the output layout, and exactness against a direct C++ evaluation of
// the model's formulas.
#include <scamp5.hpp>

#include <array>
#include <functional>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>

#include "pixelrnn_program.hpp"
#include "test_support.hpp"

namespace {

using Map = std::array<std::array<int, 64>, 64>;

Map conv5x5(const Map& x, const int w[5][5]) {
    Map out{};
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) {
            int s = 0;
            for (int i = 0; i < 5; ++i)
                for (int j = 0; j < 5; ++j) {
                    const int rr = r + i - 2, cc = c + j - 2;
                    if (rr >= 0 && rr < 64 && cc >= 0 && cc < 64) s += w[i][j] * x[rr][cc];
                }
            out[r][c] = s;
        }
    return out;
}

// o_T of the noise-free model (README.md, "What runs where") for binary frames.
Map model_output(const std::vector<Map>& frames, const PixelRNNWeights& w) {
    const int cnn_step = (w.cnn_threshold_sensor + w.input_white - 1) / w.input_white;
    const int gate_step = (w.gate_threshold_sensor + w.input_rnn_white - 1) / w.input_rnn_white;
    Map h;
    for (auto& row : h) row.fill(1);
    Map o{};
    for (const Map& x : frames) {
        Map mosaic{};
        for (int k = 0; k < 16; ++k) {
            const Map c = conv5x5(x, w.cnn_kernels[k]);
            for (int a = 0; a < 16; ++a)
                for (int b = 0; b < 16; ++b) {
                    int p = 0;
                    for (int u = 0; u < 4; ++u)
                        for (int v = 0; v < 4; ++v) p = std::max(p, c[4 * a + u][4 * b + v]);
                    mosaic[(k % 4) * 16 + a][(k / 4) * 16 + b] = p >= cnn_step ? 1 : -1;
                }
        }
        const Map fi = conv5x5(mosaic, w.rnn_kernels[0]), fh = conv5x5(h, w.rnn_kernels[1]);
        const Map oi = conv5x5(mosaic, w.rnn_kernels[2]), oh = conv5x5(h, w.rnn_kernels[3]);
        for (int r = 0; r < 64; ++r)
            for (int c = 0; c < 64; ++c) {
                o[r][c] = oi[r][c] + oh[r][c];
                h[r][c] *= fi[r][c] + fh[r][c] >= gate_step ? 1 : -1;
            }
    }
    return o;
}

struct RunResult {
    scamp5_emu::GrayImage output;
    int static_words;
};

scamp5_emu::GrayImage tiled(const Map& frame) {
    scamp5_emu::GrayImage img{256, 256, std::vector<std::uint8_t>(256 * 256)};
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 256; ++c) img.pixels[r * 256 + c] = static_cast<std::uint8_t>(frame[r % 64][c % 64]);
    return img;
}
Map binary_to_pixels(const Map& frame) {
    Map pixels{};
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) pixels[r][c] = frame[r][c] > 0 ? 255 : 0;
    return pixels;
}

// Runs the program with host-fed input: clip k is named names[k] and holds clips[k] (8-bit pixel
// frames); the emulated host answers the program's requests from them. `setup` runs at frame 0.
RunResult run_clips(const PixelRNNWeights& w, const std::vector<std::string>& names,
                    const std::vector<std::vector<Map>>& clips, const std::filesystem::path& save_dir = {},
                    const std::function<void()>& setup = {}) {
    scamp5_emu::host::reset();
    scamp5_emu::device().set_error_model(scamp5_emu::ErrorModel::off());
    std::vector<PixelRNNClip> list;
    int total = 0;
    for (std::size_t k = 0; k < clips.size(); ++k) {
        list.push_back({names[k].c_str(), static_cast<int>(clips[k].size())});
        total += static_cast<int>(clips[k].size());
    }
    scamp5_emu::host::set_image_server([&](const std::string& path, scamp5_emu::GrayImage& image) {
        for (std::size_t k = 0; k < clips.size(); ++k)
            for (std::size_t t = 0; t < clips[k].size(); ++t) {
                char want[256];
                pixelrnn_frame_path(want, sizeof want, "host", names[k].c_str(), static_cast<int>(t));
                if (path == want) {
                    image = tiled(clips[k][t]);
                    return true;
                }
            }
        return false;
    });
    scamp5_emu::host::set_frame_hook([&](int n) {
        if (n == 0) {
            if (setup) setup();
            scamp5_emu::host::press_button(PixelRNNSensorProgram::kButtonLoadImageStop);
            if (!save_dir.empty()) {
                scamp5_emu::host::set_save_directory(save_dir);
                scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchSaveOutputs, true);
            }
        }
        if (n >= total) scamp5_emu::host::request_stop();
    });
    PixelRNNSensorProgram program(
        [&](PixelRNNWeights& out, char*, std::size_t) {
            out = w;
            return true;
        },
        PixelRNNClipList{"host", list.data(), static_cast<int>(list.size())});
    try {
        program.run();
    } catch (const scamp5_emu::FrameLoopStopped&) {
    }
    return {scamp5_emu::host::read_display(PixelRNNSensorProgram::kDisplayOutput), scamp5_emu::device().static_words()};
}

RunResult run_program(const PixelRNNWeights& w, const std::vector<Map>& frames, const std::filesystem::path& save_dir = {}) {
    std::vector<Map> pixels;
    for (const Map& f : frames) pixels.push_back(binary_to_pixels(f));
    return run_clips(w, {"c/s"}, {pixels}, save_dir);
}

PixelRNNWeights random_weights(std::mt19937& rng) {
    PixelRNNWeights w;
    std::bernoulli_distribution coin(0.5);
    for (auto& k : w.cnn_kernels)
        for (auto& row : k)
            for (int& v : row) v = coin(rng) ? 1 : -1;
    for (auto& k : w.rnn_kernels)
        for (auto& row : k)
            for (int& v : row) v = coin(rng) ? 1 : -1;
    w.cnn_threshold_sensor = 10;
    w.gate_threshold_sensor = 20;
    return w;
}

std::vector<Map> random_frames(std::mt19937& rng, int n) {
    std::vector<Map> frames(static_cast<std::size_t>(n));
    std::bernoulli_distribution coin(0.5);
    for (auto& f : frames)
        for (auto& row : f)
            for (int& v : row) v = coin(rng) ? 1 : -1;
    return frames;
}

int expected_pixel(int o, int iw) { return std::min(255, std::max(0, o * iw + 127)); }

}  // namespace

SCAMP5_TEST(program_fits_the_static_kernel_store) {
    std::mt19937 rng(3);
    const RunResult r = run_program(random_weights(rng), random_frames(rng, 2));
    EXPECT_TRUE(r.static_words > 50);
    EXPECT_TRUE(r.static_words <= scamp5_emu::kStaticStoreWords);
}

SCAMP5_TEST(program_matches_the_model_formulas_exactly) {
    std::mt19937 rng(11);
    const PixelRNNWeights w = random_weights(rng);
    const auto frames = random_frames(rng, 4);
    const RunResult r = run_program(w, frames);
    const Map o = model_output(frames, w);
    int differing = 0, background_differing = 0;
    for (int row = 0; row < 256; ++row)
        for (int col = 0; col < 256; ++col) {
            const bool inside = row >= 128 && row < 192 && col >= 128 && col < 192;
            const int want = inside ? expected_pixel(o[row - 128][col - 128], w.input_rnn_white) : 127;
            if (r.output.at(row, col) != want) ++(inside ? differing : background_differing);
        }
    EXPECT_EQ(differing, 0);
    EXPECT_EQ(background_differing, 0);
}

SCAMP5_TEST(program_output_is_aligned_for_an_asymmetric_single_pixel_input) {
    // One +1 pixel off-centre and all-+1 kernels except Woi, which marks one tap: o_T then
    // carries the pixel's position; any shift of a map by the sensor's geometry would move it.
    PixelRNNWeights w;
    for (auto& k : w.cnn_kernels)
        for (auto& row : k)
            for (int& v : row) v = 1;
    for (auto& k : w.rnn_kernels)
        for (auto& row : k)
            for (int& v : row) v = -1;
    w.rnn_kernels[2][0][4] = 1;  // Woi top-right tap
    w.cnn_threshold_sensor = 10;  // step 1: c >= 1 needs 13 of the 25 inputs at +1
    w.gate_threshold_sensor = 20;
    Map frame;
    for (auto& row : frame) row.fill(-1);
    for (int r = 5; r < 12; ++r)
        for (int c = 40; c < 43; ++c) frame[r][c] = 1;  // a 7x3 bar, asymmetric
    const std::vector<Map> frames{frame};
    const RunResult r = run_program(w, frames);
    const Map o = model_output(frames, w);
    int differing = 0;
    for (int row = 0; row < 64; ++row)
        for (int col = 0; col < 64; ++col)
            differing += r.output.at(128 + row, 128 + col) != expected_pixel(o[row][col], w.input_rnn_white);
    EXPECT_EQ(differing, 0);
    // And the content is not trivially uniform (otherwise alignment would not be tested).
    int distinct_low = 0;
    for (int row = 0; row < 64; ++row)
        for (int col = 0; col < 64; ++col) distinct_low += o[row][col] != o[0][0];
    EXPECT_TRUE(distinct_low > 0);
}

SCAMP5_TEST(program_saves_15_output_bmp_per_class_and_sequence) {
    std::mt19937 rng(5);
    const PixelRNNWeights w = random_weights(rng);
    const auto frames = random_frames(rng, 16), other = random_frames(rng, 3);
    std::vector<Map> pixels, other_pixels;
    for (const Map& f : frames) pixels.push_back(binary_to_pixels(f));
    for (const Map& f : other) other_pixels.push_back(binary_to_pixels(f));
    const auto dir = std::filesystem::temp_directory_path() / "scamp5_tests_save";
    std::filesystem::remove_all(dir);
    // Clip order: "9/second" (3 frames) after "1/first" (16): the last output displayed is the second's.
    const RunResult r = run_clips(w, {"1/first", "9/second"}, {pixels, other_pixels}, dir);
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "1" / "first" / "15_output.BMP"));
    EXPECT_TRUE(!std::filesystem::exists(dir / "15_output.BMP"));
    const auto saved = scamp5_emu::read_gray_image(dir / "9" / "second" / "2_output.BMP");
    EXPECT_EQ(saved.rows, 256);
    EXPECT_EQ(saved.cols, 256);
    EXPECT_TRUE(saved.pixels == r.output.pixels);
    const auto first = scamp5_emu::read_gray_image(dir / "1" / "first" / "15_output.BMP");
    const Map o = model_output(frames, w);
    int differing = 0;
    for (int row = 0; row < 64; ++row)
        for (int col = 0; col < 64; ++col)
            differing += first.at(128 + row, 128 + col) != expected_pixel(o[row][col], w.input_rnn_white);
    EXPECT_EQ(differing, 0);
    const auto bytes = scamp5_emu::read_file_bytes(dir / "1" / "first" / "15_output.BMP");
    EXPECT_EQ(bytes.size(), static_cast<std::size_t>(54 + 256 * 256 * 3));
    EXPECT_EQ(static_cast<int>(bytes[28]), 24);
    EXPECT_TRUE(scamp5_emu::host::posted_text().find("all 2 clips done") != std::string::npos);
    std::filesystem::remove_all(dir);
}

namespace {
// Frame whose pixels run through every 8-bit value (pixel (r, c) = (64 r + c) % 256).
Map every_pixel_value() {
    Map f{};
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) f[r][c] = (64 * r + c) % 256;
    return f;
}
// Pixels of the "input" display's top-left tile that differ from "+1 iff pixel > level".
int binarisation_errors(const Map& frame, int level) {
    const auto& shown = scamp5_emu::host::read_display(PixelRNNSensorProgram::kDisplayInput);
    int wrong = 0;
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) wrong += (shown.at(r, c) == 255) != (frame[r][c] > level);
    return wrong;
}
}  // namespace

SCAMP5_TEST(host_fed_input_binarises_exactly_like_pytorch) {
    // The host sends level = pixel >> 4; at img threshold 127 the program's +1 is level >= 8, i.e.
    // pixel > 127 (the cross-check's and the model's binarisation) for every 8-bit value. Other
    // thresholds decide pixel > 16 * (T >> 4) + 15.
    std::mt19937 rng(9);
    const PixelRNNWeights w = random_weights(rng);
    const Map frame = every_pixel_value();
    auto intermediates = [] { scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchIntermediates, true); };
    run_clips(w, {"c/s"}, {{frame}}, {}, intermediates);
    EXPECT_EQ(binarisation_errors(frame, 127), 0);
    EXPECT_EQ(scamp5_emu::host::image_requests_served(), 1);
    run_clips(w, {"c/s"}, {{frame}}, {}, [&] {
        intermediates();
        scamp5_emu::host::set_slider(PixelRNNSensorProgram::kSliderImgThreshold, 100);
    });
    EXPECT_EQ(binarisation_errors(frame, 111), 0);
    EXPECT_TRUE(binarisation_errors(frame, 100) > 0);  // the 4-bit input cannot resolve 100
}

SCAMP5_TEST(host_fed_input_stops_with_a_message_when_the_host_does_not_answer) {
    std::mt19937 rng(4);
    const PixelRNNWeights w = random_weights(rng);
    scamp5_emu::host::reset();
    scamp5_emu::device().set_error_model(scamp5_emu::ErrorModel::off());
    const PixelRNNClip clip{"7/missing", 2};
    scamp5_emu::host::set_image_server([](const std::string&, scamp5_emu::GrayImage&) { return false; });
    scamp5_emu::host::set_frame_hook([](int n) {
        if (n == 0) scamp5_emu::host::press_button(PixelRNNSensorProgram::kButtonLoadImageStop);
    });
    scamp5_emu::host::stop_after_frames(3);
    PixelRNNSensorProgram program([&](PixelRNNWeights& out, char*, std::size_t) { out = w; return true; },
                                  PixelRNNClipList{"host", &clip, 1});
    try {
        program.run();
    } catch (const scamp5_emu::FrameLoopStopped&) {
    }
    const std::string& log = scamp5_emu::host::posted_text();
    EXPECT_TRUE(log.find("frame request failed: host/7/missing/0.bmp") != std::string::npos);
    EXPECT_TRUE(log.find("host/7/missing/1.bmp") == std::string::npos);  // stopped after the first failure
}

SCAMP5_TEST(live_camera_switch_binarises_the_full_range_image) {
    // Behind the switch, get_image(A, E) (full range) against img threshold - 128: pixel > T exactly.
    std::mt19937 rng(8);
    const PixelRNNWeights w = random_weights(rng);
    const Map frame = every_pixel_value();
    const auto dir = std::filesystem::temp_directory_path() / "scamp5_tests_live";
    std::filesystem::remove_all(dir);
    scamp5_emu::host::reset();
    scamp5_emu::device().set_error_model(scamp5_emu::ErrorModel::off());
    scamp5_emu::host::set_frame_hook([&](int n) {
        if (n == 0) {
            scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchLiveCamera, true);
            scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchIntermediates, true);
            scamp5_emu::host::set_slider(PixelRNNSensorProgram::kSliderImgThreshold, 100);
            scamp5_emu::host::set_slider(PixelRNNSensorProgram::kSliderFramesPerClip, 1);
            scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchSaveOutputs, true);
            scamp5_emu::host::set_save_directory(dir);
            scamp5_emu::host::press_button(PixelRNNSensorProgram::kButtonLoadImageStop);
        }
        if (n >= 2) scamp5_emu::host::request_stop();
        scamp5_emu::host::feed_frame(tiled(frame));
    });
    PixelRNNSensorProgram program([&](PixelRNNWeights& out, char*, std::size_t) { out = w; return true; }, PixelRNNClipList{});
    try {
        program.run();
    } catch (const scamp5_emu::FrameLoopStopped&) {
    }
    EXPECT_EQ(binarisation_errors(frame, 100), 0);
    EXPECT_EQ(scamp5_emu::host::image_requests_served(), 0);
    // One-frame clips, numbered: live/<clip>/0_output.BMP.
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "live" / "0" / "0_output.BMP"));
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "live" / "1" / "0_output.BMP"));
    std::filesystem::remove_all(dir);
}

SCAMP5_TEST(load_order_becomes_the_weights_structure) {
    // Load order written out by hand for channel c, tap (row, col): entry n of the CNN block is
    // channel (n % 4) * 4 + n / 4; tap t is row 4 - t / 5 (bottom row first), column t % 5.
    std::mt19937 rng(17);
    const PixelRNNWeights want = random_weights(rng);
    int channel_of[16];
    std::int8_t cnn[16][25], rnn[4][25];
    for (int n = 0; n < 16; ++n) {
        channel_of[n] = (n % 4) * 4 + n / 4;
        for (int t = 0; t < 25; ++t) cnn[n][t] = static_cast<std::int8_t>(want.cnn_kernels[channel_of[n]][4 - t / 5][t % 5]);
    }
    for (int k = 0; k < 4; ++k)
        for (int t = 0; t < 25; ++t) rnn[k][t] = static_cast<std::int8_t>(want.rnn_kernels[k][4 - t / 5][t % 5]);
    const std::int8_t* const rnn_taps[4] = {rnn[0], rnn[1], rnn[2], rnn[3]};
    PixelRNNWeights got, staging;
    char error[160] = "";
    EXPECT_TRUE(pixelrnn_weights_from_load_order(got, staging, 7, 3, 14, 6, channel_of, cnn, rnn_taps, error, sizeof error));
    EXPECT_EQ(got.input_white, 7);
    EXPECT_EQ(got.input_rnn_white, 3);
    EXPECT_EQ(got.cnn_threshold_sensor, 14);
    EXPECT_EQ(got.gate_threshold_sensor, 6);
    int differing = 0;
    for (int k = 0; k < 16; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j) differing += got.cnn_kernels[k][i][j] != want.cnn_kernels[k][i][j];
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j) differing += got.rnn_kernels[k][i][j] != want.rnn_kernels[k][i][j];
    EXPECT_EQ(differing, 0);
    EXPECT_EQ(got.cnn_kernels[4][4][0], static_cast<int>(cnn[1][0]));  // entry 1 = channel 4, tap 0 = bottom left
    EXPECT_EQ(got.rnn_kernels[2][0][4], static_cast<int>(rnn[2][24]));  // Woi top right = last tap

    // A header whose channel table is not the sensor's order, or a tap other than +-1, is refused
    // and leaves the structure untouched.
    PixelRNNWeights untouched = got;
    std::swap(channel_of[1], channel_of[4]);
    EXPECT_TRUE(!pixelrnn_weights_from_load_order(untouched, staging, 10, 10, 10, 20, channel_of, cnn, rnn_taps, error,
                                                  sizeof error));
    EXPECT_TRUE(std::string(error).find("entry 1 is for channel 1") != std::string::npos);
    std::swap(channel_of[1], channel_of[4]);
    cnn[5][12] = 0;
    EXPECT_TRUE(!pixelrnn_weights_from_load_order(untouched, staging, 10, 10, 10, 20, channel_of, cnn, rnn_taps, error,
                                                  sizeof error));
    EXPECT_TRUE(std::string(error).find("cnn kernel") != std::string::npos);
    EXPECT_EQ(untouched.input_white, 7);
}
