// Emulator semantics: the SDK's documented behaviour, as listed in scamp5/README.md (SDK conformance).
#include <scamp5.hpp>

#include <cmath>
#include <type_traits>

#include "test_support.hpp"

// vs_dotmat's accessors as the SDK declares them: a program that compiles against the emulator must
// compile against the real headers (a const std::uint8_t* buffer once let pointer arithmetic through).
static_assert(std::is_same_v<decltype(&vs_dotmat::get_buffer), void* (vs_dotmat::*)(std::size_t*) const>);
static_assert(std::is_same_v<decltype(&vs_dotmat::get_width), std::uint16_t (vs_dotmat::*)() const>);
static_assert(std::is_same_v<decltype(&vs_dotmat::get_height), std::uint16_t (vs_dotmat::*)() const>);
static_assert(std::is_same_v<decltype(&vs_dotmat::get_buffer_size), std::size_t (*)(std::uint16_t, std::uint16_t)>);

using namespace SCAMP5_PE;
using scamp5_emu::device;

namespace {
constexpr int N = scamp5_emu::kSize;
int at(int r, int c) { return r * N + c; }
void fresh() {
    scamp5_emu::host::reset();
    device().set_error_model(scamp5_emu::ErrorModel::off());
    device().set_news_edge(0.0f);
}
void fill(areg_t a, float v) { std::fill(device().plane(a), device().plane(a) + scamp5_emu::kPlane, v); }
float& ana(areg_t a, int r, int c) { return device().plane(a)[at(r, c)]; }
std::uint8_t& dig(dreg_t d, int r, int c) { return device().plane(d)[at(r, c)]; }
int count(dreg_t d) {
    int n = 0;
    for (int i = 0; i < scamp5_emu::kPlane; ++i) n += device().plane(d)[i];
    return n;
}
}  // namespace

SCAMP5_TEST(bus_negates_the_sum_of_its_sources) {
    fresh();
    fill(B, 3.0f);
    fill(C, -10.0f);
    fill(D, 4.0f);
    scamp5_dynamic_kernel_begin();
        bus(A, B);
        bus(E, B, C, D);
        bus(F);
    scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 5, 5), -3.0f);
    EXPECT_EQ(ana(E, 100, 7), 3.0f);  // -(3 - 10 + 4)
    EXPECT_EQ(ana(F, 0, 0), 0.0f);
    // Outside a kernel `bus` is not declared: ctest kernel_instruction_outside_kernel_does_not_compile.
    EXPECT_THROWS(scamp5_dynamic_kernel_begin(); bus(A, B, B); scamp5_dynamic_kernel_end());  // duplicate source
}

SCAMP5_TEST(flag_masks_analogue_writes_including_news) {
    fresh();
    fill(A, 7.0f);
    fill(NEWS, 9.0f);
    fill(B, 0.0f);
    ana(B, 10, 20) = 1.0f;  // where(B): only this PE
    scamp5_dynamic_kernel_begin();
        where(B);
        bus(A, B);
        bus(NEWS, B);
        all();
    scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 10, 20), -1.0f);
    EXPECT_EQ(ana(A, 10, 21), 7.0f);
    EXPECT_EQ(ana(NEWS, 10, 20), -1.0f);
    EXPECT_EQ(ana(NEWS, 0, 0), 9.0f);
    // Digital writes ignore FLAG.
    scamp5_dynamic_kernel_begin(); where(B); SET(R5); all(); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R5), N * N);
}

SCAMP5_TEST(where_is_strict) {
    fresh();
    fill(A, 0.0f);
    ana(A, 1, 1) = 0.5f;
    ana(A, 2, 2) = -0.5f;
    scamp5_dynamic_kernel_begin(); where(A); MOV(R5, FLAG); all(); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R5), 1);
    EXPECT_EQ(dig(R5, 1, 1), 1);
    // Two sources: FLAG = (A + B > 0).
    fill(B, 0.0f);
    ana(B, 1, 1) = -0.5f;
    scamp5_dynamic_kernel_begin(); where(A, B); MOV(R5, FLAG); all(); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R5), 0);
}

SCAMP5_TEST(analogue_values_saturate_symmetrically) {
    fresh();
    fill(B, 100.0f);
    fill(C, 90.0f);
    scamp5_dynamic_kernel_begin(); add(A, B, C); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 0, 0), 128.0f);
    EXPECT_EQ(ana(NEWS, 0, 0), -128.0f);
    fill(B, -100.0f);
    fill(C, -90.0f);
    scamp5_dynamic_kernel_begin(); add(A, B, C); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 0, 0), -128.0f);  // double negation keeps the level
}

SCAMP5_TEST(neighbour_reads_use_the_configured_edge) {
    fresh();
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < N; ++c) ana(B, r, c) = static_cast<float>((r * 7 + c) % 50);
    device().set_news_edge(-33.0f);
    scamp5_dynamic_kernel_begin(); movx(A, B, east); scamp5_dynamic_kernel_end();
    // movx = bus(NEWS, B); bus(A, XE): column 0 has no east neighbour, XE reads the edge value.
    EXPECT_EQ(ana(A, 4, 0), 33.0f);
    device().set_news_edge(0.0f);
    scamp5_dynamic_kernel_begin(); movx(A, B, north); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 0, 9), 0.0f);
}

SCAMP5_TEST(movx_directions) {
    fresh();
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < N; ++c) ana(B, r, c) = static_cast<float>((r * 13 + c * 5) % 64);
    const int r = 50, c = 60;
    scamp5_dynamic_kernel_begin(); movx(A, B, east); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, r, c), ana(B, r, c - 1));  // east is column - 1
    scamp5_dynamic_kernel_begin(); movx(A, B, west); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, r, c), ana(B, r, c + 1));
    scamp5_dynamic_kernel_begin(); movx(A, B, north); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, r, c), ana(B, r - 1, c));  // north is row - 1
    scamp5_dynamic_kernel_begin(); movx(A, B, south); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, r, c), ana(B, r + 1, c));
    scamp5_dynamic_kernel_begin(); mov2x(A, B, north, east); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, r, c), ana(B, r - 1, c - 1));
}

SCAMP5_TEST(r12_writes_are_masked_by_r0) {
    fresh();
    scamp5_load_rect(R0, 0, 0, 9, 255);  // R0 = 1 on rows 0..9
    scamp5_dynamic_kernel_begin(); SET(R12); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R12), 10 * N);
    scamp5_load_rect(R0, 5, 0, 5, 255);
    scamp5_dynamic_kernel_begin(); CLR(R12); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R12), 9 * N);
    EXPECT_EQ(dig(R12, 5, 3), 0);
    EXPECT_EQ(dig(R12, 4, 3), 1);
    scamp5_load_point(R12, 200, 200);  // host-side writes obey the mask too (R0 = 0 there)
    EXPECT_EQ(dig(R12, 200, 200), 0);
}

SCAMP5_TEST(macro_side_effects) {
    fresh();
    fill(B, 5.0f);
    fill(C, 2.0f);
    scamp5_dynamic_kernel_begin(); add(A, B, C); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 3, 3), 7.0f);
    EXPECT_EQ(ana(NEWS, 3, 3), -7.0f);  // NEWS left holding -(x0 + x1)
    scamp5_dynamic_kernel_begin(); sub(A, B, C); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 3, 3), 3.0f);
    EXPECT_EQ(ana(NEWS, 3, 3), -5.0f);
    scamp5_dynamic_kernel_begin(); neg(A, B); abs(D, A); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 3, 3), -5.0f);
    EXPECT_EQ(ana(D, 3, 3), 5.0f);
    // AND leaves R0 = NOT y and R12 = NOT x.
    scamp5_load_rect(R5, 0, 0, 127, 255);  // x
    scamp5_load_rect(R6, 0, 0, 255, 127);  // y
    scamp5_dynamic_kernel_begin(); AND(R7, R5, R6); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R7), 128 * 128);
    EXPECT_EQ(dig(R0, 0, 200), 1);
    EXPECT_EQ(dig(R0, 0, 100), 0);
    EXPECT_EQ(dig(R12, 200, 0), 1);
    EXPECT_EQ(dig(R12, 100, 0), 0);
    // DNEWS rewrites the enables R1..R4.
    scamp5_dynamic_kernel_begin(); SET(R1, R2, R3); SET(R4); DNEWS(R7, R5, west | south); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R1), N * N);
    EXPECT_EQ(count(R2), N * N);
    EXPECT_EQ(count(R3), 0);
    EXPECT_EQ(count(R4), 0);
    // In-place NOT / OR / NOR write nothing besides their register (two words each).
    scamp5_load_rect(R0, 0, 0, 9, 255);
    scamp5_load_rect(R1, 0, 0, 0, 255);
    const std::vector<std::uint8_t> r12_before(device().plane(R12), device().plane(R12) + scamp5_emu::kPlane);
    scamp5_dynamic_kernel_begin(); NOT(R5); OR(R6, R1); NOR(R7, R1); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R5), N * N - 128 * N);  // R5 was rows 0..127
    EXPECT_EQ(count(R0), 10 * N);
    EXPECT_EQ(count(R1), N);
    EXPECT_TRUE(std::equal(r12_before.begin(), r12_before.end(), device().plane(R12)));
    // Kernel word counts are those of the primitive sequences.
    scamp5_emu::host::reset();
    scamp5_kernel_begin(); add(A, B, C); AND(R7, R5, R6); NOT(R5); OR(R5, R6); DNEWS(R7, R5, east); scamp5_kernel_end();
    EXPECT_EQ(device().static_words(), 2 + 4 + 2 + 2 + 3);
}

SCAMP5_TEST(dnews_reads_neighbours_with_both_edges) {
    fresh();
    scamp5_load_point(R5, 10, 20);
    scamp5_dynamic_kernel_begin(); DNEWS(R6, R5, east, 0); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R6), 1);
    EXPECT_EQ(dig(R6, 10, 21), 1);  // PE (10, 21) reads its east neighbour (10, 20)
    scamp5_dynamic_kernel_begin(); DNEWS(R6, R5, south, 0); scamp5_dynamic_kernel_end();
    EXPECT_EQ(dig(R6, 9, 20), 1);
    scamp5_dynamic_kernel_begin(); CLR(R5); DNEWS(R6, R5, north, 1); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R6), N);  // only row 0 reads the edge (1)
    EXPECT_EQ(dig(R6, 0, 77), 1);
    scamp5_dynamic_kernel_begin(); DNEWS(R6, R5, west | east, 1); scamp5_dynamic_kernel_end();
    EXPECT_EQ(count(R6), 2 * N);
    EXPECT_EQ(dig(R6, 30, 0), 1);
    EXPECT_EQ(dig(R6, 30, 255), 1);
}

SCAMP5_TEST(load_rect_corners_and_point) {
    fresh();
    scamp5_load_rect(R5, 3, 10, 6, 12);
    EXPECT_EQ(count(R5), 4 * 3);
    EXPECT_EQ(dig(R5, 3, 10), 1);
    EXPECT_EQ(dig(R5, 6, 12), 1);
    EXPECT_EQ(dig(R5, 2, 10), 0);
    EXPECT_EQ(dig(R5, 6, 13), 0);
    EXPECT_THROWS(scamp5_load_rect(R5, 6, 10, 3, 12));
    EXPECT_THROWS(scamp5_load_rect(R5, 0, 0, 256, 12));
    scamp5_load_point(R5, 255, 0);
    EXPECT_EQ(count(R5), 1);
    // Display orientation: device column 0 is the right-hand display column.
    vs_init();
    const vs_handle disp = vs_gui_add_display("d", 0, 0);
    scamp5_output_image(R5, disp);
    EXPECT_EQ(static_cast<int>(scamp5_emu::host::read_display("d").at(255, 255)), 255);
}

SCAMP5_TEST(load_pattern_example) {
    fresh();
    scamp5_load_pattern(R5, 3, 0, 192, 255);  // rows 3, 67, 131, 195; every column
    EXPECT_EQ(count(R5), 4 * N);
    for (int r : {3, 67, 131, 195}) EXPECT_EQ(dig(R5, r, 40), 1);
    EXPECT_EQ(dig(R5, 4, 40), 0);
    scamp5_load_pattern(R5, 3, 5, 192, 0);  // and column 5 only
    EXPECT_EQ(count(R5), 4);
}

SCAMP5_TEST(shift_signs) {
    fresh();
    scamp5_load_point(R5, 100, 100);
    scamp5_shift(R5, 3, 0);  // east: towards column 0
    EXPECT_EQ(dig(R5, 100, 97), 1);
    scamp5_shift(R5, 0, 2);  // north: towards row 0
    EXPECT_EQ(dig(R5, 98, 97), 1);
    scamp5_shift(R5, -1, -1);
    EXPECT_EQ(dig(R5, 99, 98), 1);
    EXPECT_EQ(count(R5), 1);
    scamp5_shift(R5, 200, 0);  // off the array: gone
    EXPECT_EQ(count(R5), 0);
}

SCAMP5_TEST(flood_fills_through_the_mask) {
    fresh();
    scamp5_load_rect(R6, 10, 10, 20, 30);  // mask
    scamp5_load_point(R5, 15, 15);         // seed
    scamp5_flood(R5, R6, 0, 100);
    EXPECT_EQ(count(R5), 11 * 21);
    scamp5_load_point(R5, 15, 15);
    scamp5_flood(R5, R6, 0, 2);  // two iterations: a diamond of radius 2
    EXPECT_EQ(count(R5), 13);
}

SCAMP5_TEST(static_kernels_record_once_and_freeze_values) {
    fresh();
    fill(B, 1.0f);
    for (int round = 0; round < 3; ++round) {
        const bool add_it = round == 0;  // frozen at the first execution
        scamp5_kernel_begin();
            if (add_it) add(A, A, B);
            else sub(A, A, B);
        scamp5_kernel_end();
    }
    EXPECT_EQ(ana(A, 0, 0), 3.0f);
    EXPECT_EQ(device().static_words(), 2);
    EXPECT_EQ(device().static_kernels(), 1);
    // Dynamic kernels re-record.
    fill(A, 0.0f);
    for (int round = 0; round < 3; ++round) {
        const bool add_it = round == 0;
        scamp5_dynamic_kernel_begin();
            if (add_it) add(A, A, B);
            else sub(A, A, B);
        scamp5_dynamic_kernel_end();
    }
    EXPECT_EQ(ana(A, 0, 0), -1.0f);
    EXPECT_EQ(device().static_words(), 2);
}

SCAMP5_TEST(static_store_holds_1024_words) {
    fresh();
    scamp5_kernel_begin();
        for (int i = 0; i < 1000; ++i) SET(R5);
    scamp5_kernel_end();
    scamp5_kernel_begin();
        for (int i = 0; i < 24; ++i) CLR(R5);
    scamp5_kernel_end();
    EXPECT_EQ(device().static_words(), 1024);
    bool threw = false;
    try {
        scamp5_kernel_begin(); SET(R6); scamp5_kernel_end();
    } catch (const std::runtime_error& e) {
        threw = std::string(e.what()).find("1025") != std::string::npos;
    }
    EXPECT_TRUE(threw);
}

SCAMP5_TEST(error_model_off_is_exact_and_hardware_is_seeded) {
    auto run = [](const scamp5_emu::ErrorModel& m, std::uint64_t seed) {
        fresh();
        device().set_error_model(m);
        device().seed(seed);
        scamp5_in(B, 37);
        scamp5_in(C, -12);
        for (int k = 0; k < 9; ++k) {
            scamp5_dynamic_kernel_begin(); add(A, B, C); mov(B, A); sub(B, B, C); scamp5_dynamic_kernel_end();
        }
        return std::vector<float>(device().plane(B), device().plane(B) + scamp5_emu::kPlane);
    };
    const auto exact = run(scamp5_emu::ErrorModel::off(), 1);
    for (float v : exact) EXPECT_TRUE(v == 37.0f);
    const auto a = run(scamp5_emu::ErrorModel::hardware(), 5);
    const auto b = run(scamp5_emu::ErrorModel::hardware(), 5);
    const auto c = run(scamp5_emu::ErrorModel::hardware(), 6);
    EXPECT_TRUE(a == b);
    EXPECT_TRUE(a != c);
    double mean = 0, var = 0;
    for (float v : a) mean += v;
    mean /= a.size();
    for (float v : a) var += (v - mean) * (v - mean);
    const double sigma = std::sqrt(var / a.size());
    // 27 macros of error: a drift of a few units and a spread of a few units, as on the hardware.
    EXPECT_TRUE(mean < 37.0 && mean > 27.0);
    EXPECT_TRUE(sigma > 1.0 && sigma < 6.0);
}

SCAMP5_TEST(host_api_buttons_sliders_frames_displays_and_stop) {
    fresh();
    vs_init();
    int slider = 0, pressed = 0, frames = 0, seen_at_1 = -1;
    const vs_handle disp = vs_gui_add_display("image", 0, 0);
    vs_gui_add_slider("level", -5, 5, 2, &slider);
    vs_on_gui_update(vs_gui_add_button("go"), [&](int32_t) { ++pressed; });
    scamp5_emu::host::set_frame_hook([&](int n) {
        if (n == 1) {
            scamp5_emu::host::press_button("go");
            scamp5_emu::host::set_slider("level", -4);
            scamp5_emu::GrayImage img{256, 256, std::vector<std::uint8_t>(256 * 256, 10)};
            img.pixels[7 * 256 + 3] = 200;  // display row 7, column 3
            scamp5_emu::host::feed_frame(img);
        }
    });
    scamp5_emu::host::stop_after_frames(3);
    EXPECT_EQ(slider, 2);
    EXPECT_THROWS(scamp5_emu::host::set_slider("level", 9));
    EXPECT_THROWS(scamp5_emu::host::press_button("missing"));
    try {
        while (true) {
            vs_frame_loop_control();
            ++frames;
            scamp5_kernel_begin(); get_image(A); scamp5_kernel_end();
            scamp5_output_image(A, disp);
            if (frames == 2) seen_at_1 = scamp5_emu::host::read_display("image").at(7, 3);
        }
    } catch (const scamp5_emu::FrameLoopStopped& stop) {
        EXPECT_EQ(stop.frames, 3);
    }
    EXPECT_EQ(frames, 3);
    EXPECT_EQ(pressed, 1);
    EXPECT_EQ(slider, -4);
    EXPECT_EQ(seen_at_1, 164);  // iteration 1 saw the fed image: get_image(A) is half range, 72 / 2 + 128
    // Iteration 2 captured the reset photodiode: dark (-128, half range -64).
    const auto& shown = scamp5_emu::host::read_display("image");
    EXPECT_EQ(static_cast<int>(shown.at(7, 3)), 64);
    EXPECT_EQ(ana(A, 7, 252), -64.0f);
}

namespace {
// A 256 x 256 photodiode image (display orientation) with `v` everywhere and `spot` at display (7, 3).
void feed(int v, int spot) {
    scamp5_emu::GrayImage img{N, N, std::vector<std::uint8_t>(scamp5_emu::kPlane, static_cast<std::uint8_t>(v))};
    img.pixels[7 * N + 3] = static_cast<std::uint8_t>(spot);
    scamp5_emu::host::feed_frame(img);
}
}  // namespace

SCAMP5_TEST(get_image_one_argument_is_half_range_two_arguments_full_and_negative_half) {
    // SDK: get_image(y) "y := half-range image"; get_image(y, h) y = full range, h = negative half
    // range; both reset PIX. Device column of display column 3 is 252.
    fresh();
    feed(28, 200);  // values -100 and 72
    scamp5_kernel_begin(); get_image(A); scamp5_kernel_end();
    EXPECT_EQ(ana(A, 7, 252), 36.0f);
    EXPECT_EQ(ana(A, 0, 0), -50.0f);
    EXPECT_EQ(device().static_words(), 2 + 3);  // two bus steps and the reset words
    feed(28, 200);
    scamp5_kernel_begin(); get_image(B, E); scamp5_kernel_end();
    EXPECT_EQ(ana(B, 7, 252), 72.0f);
    EXPECT_EQ(ana(E, 7, 252), -36.0f);
    EXPECT_EQ(ana(B, 0, 0), -100.0f);
    EXPECT_EQ(ana(E, 0, 0), 50.0f);
    EXPECT_EQ(device().static_words(), 5 + 3 + 3);
    scamp5_kernel_begin(); get_image(C, D); scamp5_kernel_end();  // reset: dark
    EXPECT_EQ(ana(C, 7, 252), -128.0f);
    EXPECT_EQ(ana(D, 7, 252), 64.0f);
    // The host-side capture gives yf full range and yh (positive) half range.
    feed(28, 200);
    scamp5_get_image(A, B);
    EXPECT_EQ(ana(A, 7, 252), 72.0f);
    EXPECT_EQ(ana(B, 7, 252), 36.0f);
    EXPECT_THROWS(scamp5_dynamic_kernel_begin(); bus(PIX, A); scamp5_dynamic_kernel_end());  // read-only
}

SCAMP5_TEST(news_targets_write_the_neighbours_news) {
    fresh();
    for (int r = 0; r < N; ++r)
        for (int c = 0; c < N; ++c) ana(F, r, c) = static_cast<float>((r * 3 + c) % 40);
    fill(NEWS, 99.0f);
    scamp5_dynamic_kernel_begin(); bus(XS, F); scamp5_dynamic_kernel_end();  // the release's bus(XS, F)
    EXPECT_EQ(ana(NEWS, 11, 20), -ana(F, 10, 20));  // south is row + 1
    EXPECT_EQ(ana(NEWS, 0, 20), 99.0f);             // no PE north of row 0 writes it
    fill(NEWS, 99.0f);
    scamp5_dynamic_kernel_begin(); bus(XE, F); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(NEWS, 10, 19), -ana(F, 10, 20));  // east is column - 1
    EXPECT_EQ(ana(NEWS, 10, 255), 99.0f);
    fill(NEWS, 99.0f);
    scamp5_dynamic_kernel_begin(); bus(XN, F); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(NEWS, 9, 20), -ana(F, 10, 20));
    fill(NEWS, 99.0f);
    scamp5_dynamic_kernel_begin(); bus(XW, F); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(NEWS, 10, 21), -ana(F, 10, 20));
    // The writing PE's FLAG masks the write.
    fill(NEWS, 99.0f);
    fill(B, 0.0f);
    ana(B, 10, 20) = 1.0f;
    scamp5_dynamic_kernel_begin(); where(B); bus(XS, F); all(); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(NEWS, 11, 20), -ana(F, 10, 20));
    EXPECT_EQ(ana(NEWS, 12, 20), 99.0f);
    EXPECT_THROWS(scamp5_dynamic_kernel_begin(); bus(IN, F); scamp5_dynamic_kernel_end());
}

SCAMP5_TEST(host_image_requests_deliver_bit_planes_of_the_top_bits) {
    fresh();
    vs_init();
    scamp5_emu::GrayImage img{N, N, std::vector<std::uint8_t>(scamp5_emu::kPlane)};
    for (int i = 0; i < scamp5_emu::kPlane; ++i) img.pixels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % 256);
    std::string asked;
    scamp5_emu::host::set_image_server([&](const std::string& path, scamp5_emu::GrayImage& out) {
        asked = path;
        if (path != "clips/a.bmp") return false;
        out = img;
        return true;
    });
    int levels[256] = {}, calls = 0, timeouts = 0;
    auto cb = [&](vs_dotmat const& m, int k) {
        if (k < 0) {
            ++timeouts;
            return;
        }
        ++calls;
        EXPECT_EQ(m.get_width(), N);
        for (int col = 0; col < 256; ++col) {  // row 0: pixel value = col
            const int i = col;
            if ((static_cast<const std::uint8_t*>(m.get_buffer())[i >> 3] >> (i & 7)) & 1) levels[col] |= 1 << k;
        }
    };
    EXPECT_EQ(vs_gui_request_image("clips/a.bmp", 4, cb), 0);
    EXPECT_EQ(vs_gui_request_image("clips/a.bmp", 4, cb), 1);  // one pending at a time
    EXPECT_TRUE(!vs_gui_request_done());
    while (!vs_gui_request_done()) vs_process_message();
    EXPECT_EQ(calls, 4);
    int wrong = 0;
    for (int v = 0; v < 256; ++v) wrong += levels[v] != (v >> 4);
    EXPECT_EQ(wrong, 0);
    vs_gui_request_image("clips/missing.bmp", 4, cb);
    vs_process_message();
    EXPECT_EQ(timeouts, 1);
    EXPECT_TRUE(asked == "clips/missing.bmp");
    // Drawing: scamp5_draw_pixel sets device (row, col) between begin and end.
    scamp5_dynamic_kernel_begin(); CLR(R5); scamp5_dynamic_kernel_end();
    scamp5_draw_begin(R5);
    scamp5_draw_pixel(3, 250);
    scamp5_draw_pixel(200, 0);
    EXPECT_EQ(count(R5), 0);
    scamp5_draw_end();
    EXPECT_EQ(count(R5), 2);
    EXPECT_EQ(dig(R5, 3, 250), 1);
    EXPECT_THROWS(scamp5_draw_pixel(1, 1));  // outside begin/end
}
