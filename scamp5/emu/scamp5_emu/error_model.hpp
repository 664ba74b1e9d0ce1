// Analogue error model of the emulated SCAMP-5 array: off by default (exact integer arithmetic),
// plus a preset fitted to published hardware measurements and to real SCAMP-5 read-outs
// (benchmarks/bench_emulator.py).
#pragma once

#include <cmath>
#include <cstdint>

#include "fail.hpp"
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace scamp5_emu {

// Every parameter is in 8-bit analogue units (the readout's least significant bit).
struct ErrorModel {
    bool enabled = false;
    // Per bus step, on the value written: v' = v * (1 - bus_gain_loss) + bus_offset
    //   + bus_fixed_sigma * fpn(PE) + bus_sigma * N(0,1).
    double bus_gain_loss = 0.0;
    double bus_offset = 0.0;
    double bus_sigma = 0.0;
    double bus_fixed_sigma = 0.0;
    double split_sigma = 0.0;      // extra random error of bus2/bus3 (division by 2 or 3)
    double where_sigma = 0.0;      // comparator noise of where()
    double in_sigma = 0.0;         // scamp5_in (error-corrected DAC load)
    double load_in_sigma = 0.0;    // scamp5_load_in (raw DAC load)
    double image_sigma = 0.0;      // photodiode capture
    // 8-bit ADC on readout: pixel = clamp(round(v + 128 + readout_offset + readout_fixed_sigma * fpn(PE)
    //   + readout_sigma * N(0,1)), 0, 255).
    double readout_offset = 0.0;
    double readout_sigma = 0.0;
    double readout_fixed_sigma = 0.0;

    static ErrorModel off() { return ErrorModel{}; }

    // Fitted so that (a) a chain of 9 macros drifts a mid-range value by a few units with a spread
    // of a few units (published hardware measurements of noise accumulation in CNNs on focal-plane
    // sensor-processors: -4.5 .. -8.8 per 9 bus steps, sigma 1-3), and (b) a zero plane read out through
    // the PixelRNN program reads median 130 with sigma ~3.1, mostly fixed pattern: the released
    // outputs vary by only ~0.8 per pixel across sequences. See benchmarks/bench_emulator.py.
    static ErrorModel hardware() {
        ErrorModel m;
        m.enabled = true;
        m.bus_gain_loss = 0.004;
        m.bus_offset = -0.25;
        m.bus_sigma = 0.35;
        m.bus_fixed_sigma = 0.08;
        m.split_sigma = 0.8;
        m.where_sigma = 0.3;
        m.in_sigma = 0.3;
        m.load_in_sigma = 1.0;
        m.image_sigma = 1.0;
        m.readout_offset = 3.4;
        m.readout_sigma = 0.3;
        m.readout_fixed_sigma = 2.95;
        return m;
    }

    static ErrorModel by_name(const std::string& name) {
        if (name == "off") return off();
        if (name == "hardware") return hardware();
        SCAMP5_EMU_THROW(std::invalid_argument("unknown error model '" + name + "' (accepted: off, hardware)"));
    }
};

// Deterministic Gaussian noise source. Drawing 65536 fresh normals per bus step would dominate the
// run time, so a seeded table of 2^20 standard normals is read from a random offset per operation.
class NoiseSource {
public:
    static constexpr std::size_t kTableSize = std::size_t(1) << 20;
    static constexpr std::size_t kPlane = 256 * 256;
    static constexpr std::uint64_t kChipSeed = 0x5CA5;

    explicit NoiseSource(std::uint64_t seed = 0) { reseed(seed); }

    // The tables are built on first use, so noise-free runs never pay for them.
    void reseed(std::uint64_t seed) {
        seed_ = seed;
        ready_ = false;
    }

    // A window of kPlane standard normals (contiguous, inside the table).
    const float* plane() {
        prepare();
        std::uniform_int_distribution<std::size_t> pick(0, kTableSize - kPlane);
        return table_.data() + pick(rng_);
    }
    float scalar() {
        prepare();
        return table_[std::uniform_int_distribution<std::size_t>(0, kTableSize - 1)(rng_)];
    }
    const float* bus_fixed_pattern() { prepare(); return bus_fpn_.data(); }
    const float* readout_fixed_pattern() { prepare(); return readout_fpn_.data(); }

private:
    void prepare() {
        if (ready_) return;
        rng_.seed(seed_);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        table_.resize(kTableSize);
        for (auto& v : table_) v = normal(rng_);
        // The fixed pattern belongs to the chip, not to the run: same for every seed.
        std::mt19937_64 chip(kChipSeed);
        bus_fpn_.resize(kPlane);
        readout_fpn_.resize(kPlane);
        for (auto& v : bus_fpn_) v = normal(chip);
        for (auto& v : readout_fpn_) v = normal(chip);
        ready_ = true;
    }

    std::uint64_t seed_ = 0;
    bool ready_ = false;
    std::mt19937_64 rng_;
    std::vector<float> table_;
    std::vector<float> bus_fpn_;
    std::vector<float> readout_fpn_;
};

}  // namespace scamp5_emu
