// The chip model (host/chip_model.hpp): each effect on a hand-made case, and the errors a bad file gets.
#include <scamp5.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

#include "chip_model.hpp"
#include "test_support.hpp"

using namespace SCAMP5_PE;
using scamp5_emu::device;

namespace {
constexpr int N = scamp5_emu::kSize;
void fresh() {
    scamp5_emu::host::reset();
    apply_chip_model(ChipModel{});  // no errors, +-128, no maps
    device().seed(0);
}
void fill(areg_t a, float v) { std::fill(device().plane(a), device().plane(a) + scamp5_emu::kPlane, v); }
float ana(areg_t a, int r, int c) { return device().plane(a)[r * N + c]; }
// Display pixel (row, display column) of register a through the ADC.
int pixel(areg_t a, int row, int dcol) { return scamp5_emu::readout(device().plane(a)).at(row, dcol); }

const std::string kHead = R"({"format": "pixelrnn-chip-model", "version": 1, )";

// The message of the error parse_chip_model throws ("" when it does not).
std::string parse_error(const std::string& text) {
    try {
        parse_chip_model(text, "m.json");
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string map_json(double value, int row, int dcol, double special) {
    std::string s = "[";
    for (int r = 0; r < 256; ++r) {
        s += r ? ",[" : "[";
        for (int c = 0; c < 256; ++c) {
            if (c) s += ",";
            s += std::to_string(r == row && c == dcol ? special : value);
        }
        s += "]";
    }
    return s + "]";
}
}  // namespace

SCAMP5_TEST(chip_model_names_its_program_and_defaults_to_no_effect) {
    const ChipModel m = parse_chip_model(kHead + R"("program": "release"})", "m.json");
    EXPECT_TRUE(m.program == "release");
    EXPECT_TRUE(!m.error.enabled);
    EXPECT_EQ(m.analogue_limit, 128.0f);
    EXPECT_TRUE(m.readout_offset_map.empty() && m.readout_gain_map.empty());
    EXPECT_TRUE(parse_chip_model(kHead + R"("program": "project"})", "m.json").program == "project");
}

SCAMP5_TEST(chip_model_rejects_bad_values_naming_the_key_and_what_it_accepts) {
    std::string e = parse_error(kHead + R"("program": "paper"})");
    EXPECT_TRUE(contains(e, "'program'") && contains(e, "\"project\"") && contains(e, "\"release\""));
    e = parse_error(kHead + R"("program": "release", "analogue_limit": 300})");
    EXPECT_TRUE(contains(e, "'analogue_limit'") && contains(e, "1..128"));
    e = parse_error(kHead + R"("program": "release", "error": {"bus_sigma": -1}})");
    EXPECT_TRUE(contains(e, "'error.bus_sigma'") && contains(e, "0..50"));
    e = parse_error(kHead + R"("program": "release", "error": {"bus_sigmaa": 1}})");
    EXPECT_TRUE(contains(e, "'error.bus_sigmaa'") && contains(e, "bus_sigma"));
    e = parse_error(kHead + R"("program": "release", "readout": {"offset_map": [[1, 2]]}})");
    EXPECT_TRUE(contains(e, "'readout.offset_map'") && contains(e, "256 rows of 256") && contains(e, "-255..255"));
    e = parse_error(kHead + R"("program": "release", "readout": {"offset_map": )" + map_json(0, 5, 6, 300) + "}}");
    EXPECT_TRUE(contains(e, "'readout.offset_map[5][6]'"));
    e = parse_error(kHead + R"("program": "release", "speed": 3})");
    EXPECT_TRUE(contains(e, "'speed'") && contains(e, "analogue_limit"));
    e = parse_error(R"({"format": "other", "version": 1, "program": "release"})");
    EXPECT_TRUE(contains(e, "'format'") && contains(e, "pixelrnn-chip-model"));
    e = parse_error(R"({"format": "pixelrnn-chip-model", "version": 1})");
    EXPECT_TRUE(contains(e, "'program'"));
}

SCAMP5_TEST(chip_model_analogue_limit_saturates_every_write) {
    // 90 + 30 = 120 fits +-128 but saturates at 100 with "analogue_limit": 100; -(-120) likewise.
    fresh();
    apply_chip_model(parse_chip_model(kHead + R"("program": "release", "analogue_limit": 100})", "m.json"));
    fill(A, 90.0f);
    fill(C, 30.0f);
    fill(D, -90.0f);
    scamp5_dynamic_kernel_begin();
        add(A, A, C);   // NEWS = -120 -> -100; A = 100
        sub(E, D, C);   // -120 -> -100
    scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 3, 3), 100.0f);
    EXPECT_EQ(ana(E, 3, 3), -100.0f);
    fresh();
    fill(A, 90.0f);
    fill(C, 30.0f);
    scamp5_dynamic_kernel_begin(); add(A, A, C); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 3, 3), 120.0f);  // default range
}

SCAMP5_TEST(chip_model_per_operation_error_offset_and_seeded_noise) {
    // bus_offset 1 on one bus step: bus(A, B) = -B + 1; a macro of two steps adds it twice with the
    // sign flip in between: mov(A, B) = -(-B + 1) + 1 = B.
    fresh();
    apply_chip_model(parse_chip_model(kHead + R"("program": "release", "error": {"bus_offset": 1}})", "m.json"));
    fill(B, 10.0f);
    scamp5_dynamic_kernel_begin(); bus(A, B); mov(E, B); scamp5_dynamic_kernel_end();
    EXPECT_EQ(ana(A, 7, 7), -9.0f);
    EXPECT_EQ(ana(E, 7, 7), 10.0f);
    // bus_sigma 2: per-PE spread of one step is 2 (65536 samples: within 3 %), the mean ~0; the same
    // seed repeats the draw, another seed does not.
    auto draw = [](int seed) {
        fresh();
        apply_chip_model(parse_chip_model(kHead + R"("program": "release", "error": {"bus_sigma": 2}})", "m.json"));
        device().seed(static_cast<std::uint64_t>(seed));
        fill(B, -20.0f);
        scamp5_dynamic_kernel_begin(); bus(A, B); scamp5_dynamic_kernel_end();
        return std::vector<float>(device().plane(A), device().plane(A) + scamp5_emu::kPlane);
    };
    const std::vector<float> a = draw(1), b = draw(1), c = draw(2);
    double sum = 0, sq = 0;
    for (float v : a) {
        sum += v - 20.0;
        sq += (v - 20.0) * (v - 20.0);
    }
    const double mean = sum / a.size(), sd = std::sqrt(sq / a.size() - mean * mean);
    EXPECT_TRUE(std::fabs(mean) < 0.05);
    EXPECT_TRUE(std::fabs(sd - 2.0) < 0.06);
    EXPECT_TRUE(a == b);
    EXPECT_TRUE(a != c);
}

SCAMP5_TEST(chip_model_readout_offset_and_fixed_pattern_maps) {
    // offset 2 everywhere (the chip's zero reads 130); offset map +5 at display (10, 20) only; gain map
    // 0.5 at display (3, 4): A = 40 reads 128 + 40 + 2 = 170, there 128 + 20 + 2 = 150.
    fresh();
    const std::string text = kHead + R"("program": "release", "readout": {"offset": 2, "offset_map": )" +
                             map_json(0, 10, 20, 5) + R"(, "gain_map": )" + map_json(1, 3, 4, 0.5) + "}}";
    apply_chip_model(parse_chip_model(text, "m.json"));
    fill(A, 40.0f);
    EXPECT_EQ(pixel(A, 0, 0), 170);
    EXPECT_EQ(pixel(A, 10, 20), 175);
    EXPECT_EQ(pixel(A, 3, 4), 150);
    EXPECT_EQ(pixel(A, 4, 3), 170);  // orientation: display (row, column), not transposed
    EXPECT_EQ(pixel(A, 10, 235), 170);  // nor mirrored (device column 20)
    fill(A, 127.0f);
    EXPECT_EQ(pixel(A, 0, 0), 255);  // the 8-bit clip after the offset
    fresh();
    fill(A, 40.0f);
    EXPECT_EQ(pixel(A, 10, 20), 168);  // no chip model: value + 128
}
