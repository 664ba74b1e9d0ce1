// The emulated SCAMP-5d pixel-processor array: register planes, the primitive instructions, and
// static/dynamic kernel record-and-replay with the 1024-word static store.
//
// Coordinates are the device's: row 0 is the top of the displayed image, column 0 is the
// RIGHT-hand column (display column = 255 - c). North is row - 1, east is column - 1.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "error_model.hpp"
#include "fail.hpp"

namespace scamp5_emu {

constexpr int kSize = 256;
constexpr int kPlane = kSize * kSize;
constexpr float kAnalogueLimit = 128.0f;  // symmetric: a double negation never loses a level
constexpr int kStaticStoreWords = 1024;

// Register identifiers. Types differ so that overloads (output_image) pick the right kind.
struct areg_t {
    std::uint8_t id;
    constexpr bool operator==(const areg_t& o) const { return id == o.id; }
};
struct dreg_t {
    std::uint8_t id;
    constexpr bool operator==(const dreg_t& o) const { return id == o.id; }
};

enum AregId : std::uint8_t { kA = 0, kB, kC, kD, kE, kF, kNEWS, kXN, kXE, kXS, kXW, kIN, kPIX, kNumAregIds };
constexpr int kNumAnaloguePlanes = 7;  // A..F, NEWS
// Bus targets: the planes, and the neighbours' NEWS (XN/XE/XS/XW). IN and PIX are read-only.
constexpr bool is_bus_target(int id) { return id < kNumAnaloguePlanes || (id >= kXN && id <= kXW); }
enum DregId : std::uint8_t { kR0 = 0, kR12 = 12, kFLAG = 13, kSELECT = 14, kRECT = 15, kNumDregs = 16 };

// Direction bits (DNEWS enables R1..R4 = RS RW RN RE, in this order).
enum Direction : std::uint8_t { kSouth = 1, kWest = 2, kNorth = 4, kEast = 8 };

inline const char* areg_name(int id) {
    static const char* names[] = {"A", "B", "C", "D", "E", "F", "NEWS", "XN", "XE", "XS", "XW", "IN", "PIX"};
    return id >= 0 && id < kNumAregIds ? names[id] : "?";
}

enum class Op : std::uint8_t {
    Bus, Bus2, Bus3, Where, All, ResetPix, Nop,
    DSet, DClr, DMov, DOr, DNot, DNor, DWhere, DAll, DNews0, DNews1,
};

struct Instr {
    Op op;
    std::uint8_t ndst = 0, nsrc = 0;
    std::uint8_t dst[3] = {0, 0, 0};
    std::uint8_t src[4] = {0, 0, 0, 0};
};

struct StaticKernel {
    std::vector<Instr> code;
    std::uint64_t generation = 0;  // recorded for this power cycle of the device
    bool recorded = false;
};

struct DynamicKernel {
    std::vector<Instr> code;
};

class Device {
public:
    Device() : noise_(0) { power_cycle(); }

    // ---- life cycle and configuration --------------------------------------------------------
    // Clears every register, the kernel store and the counters (static kernels re-record).
    void power_cycle() {
        for (auto& p : analogue_) p.assign(kPlane, 0.0f);
        for (auto& p : digital_) p.assign(kPlane, 0);
        std::fill(digital_[kFLAG].begin(), digital_[kFLAG].end(), 1);
        pix_.assign(kPlane, -128.0f);
        in_value_ = 0.0f;
        ++generation_;
        static_words_ = 0;
        static_kernels_ = 0;
        max_dynamic_words_ = 0;
        executed_ = 0;
        recording_ = nullptr;
        dynamic_recording_ = nullptr;
    }
    void set_error_model(const ErrorModel& m) { error_ = m; }
    // Saturation of every analogue write, +-limit (a chip model's "analogue_limit"; default 128).
    void set_analogue_limit(float limit) { limit_ = limit; }
    float analogue_limit() const { return limit_; }
    // Per-PE read-out maps of a chip model (device orientation, kPlane values each; empty = none):
    // pixel = round(gain(PE) * v + 128 + offset(PE) + the error model's ADC terms), clipped to 0..255.
    void set_readout_maps(std::vector<float> offset, std::vector<float> gain) {
        readout_offset_map_ = std::move(offset);
        readout_gain_map_ = std::move(gain);
    }
    const ErrorModel& error_model() const { return error_; }
    void seed(std::uint64_t s) { noise_.reseed(s); }
    // Value read by XN/XE/XS/XW beyond the array edge.
    void set_news_edge(float v) { news_edge_ = v; }

    // ---- counters -----------------------------------------------------------------------------
    int static_words() const { return static_words_; }
    int static_kernels() const { return static_kernels_; }
    int max_dynamic_words() const { return max_dynamic_words_; }
    std::uint64_t executed_instructions() const { return executed_; }

    // ---- direct state access (test API and the host-side calls) --------------------------------
    float* plane(areg_t r) { return analogue_plane(r.id); }
    std::uint8_t* plane(dreg_t r) { return digital_plane(r.id); }
    float& in_value() { return in_value_; }
    std::vector<float>& pix() { return pix_; }
    NoiseSource& noise() { return noise_; }
    bool in_kernel() const { return recording_ != nullptr || dynamic_recording_ != nullptr; }

    // ---- kernels ----------------------------------------------------------------------------
    // Returns true when the kernel body must run (to record it).
    bool begin_static(StaticKernel& k) {
        if (in_kernel()) SCAMP5_EMU_THROW(std::logic_error("scamp5_kernel_begin() inside another kernel"));
        if (k.recorded && k.generation == generation_) return false;
        k.code.clear();
        recording_ = &k;
        return true;
    }
    void end_static(StaticKernel& k) {
        if (recording_ != &k) SCAMP5_EMU_THROW(std::logic_error("scamp5_kernel_end() without a matching begin"));
        recording_ = nullptr;
        k.recorded = true;
        k.generation = generation_;
        static_words_ += static_cast<int>(k.code.size());
        ++static_kernels_;
        if (static_words_ > kStaticStoreWords)
            SCAMP5_EMU_THROW(std::runtime_error("static kernel store exceeded: " + std::to_string(static_words_) +
                                     " instruction words in " + std::to_string(static_kernels_) +
                                     " static kernels, the SCAMP-5 store holds " +
                                     std::to_string(kStaticStoreWords) +
                                     " (move loops or data-dependent code into dynamic kernels)"));
    }
    void begin_dynamic(DynamicKernel& k) {
        if (in_kernel()) SCAMP5_EMU_THROW(std::logic_error("scamp5_dynamic_kernel_begin() inside another kernel"));
        k.code.clear();
        dynamic_recording_ = &k;
    }
    void end_dynamic(DynamicKernel& k) {
        if (dynamic_recording_ != &k)
            SCAMP5_EMU_THROW(std::logic_error("scamp5_dynamic_kernel_end() without a matching begin"));
        dynamic_recording_ = nullptr;
        max_dynamic_words_ = std::max(max_dynamic_words_, static_cast<int>(k.code.size()));
    }
    void replay(const std::vector<Instr>& code) {
        for (const Instr& i : code) execute(i);
    }

    // Kernel instructions only record; they execute when their kernel is replayed.
    void issue(const Instr& i) {
        if (recording_) recording_->code.push_back(i);
        else if (dynamic_recording_) dynamic_recording_->code.push_back(i);
        else
            SCAMP5_EMU_THROW(std::logic_error(
                "SCAMP-5 kernel instruction issued outside scamp5_kernel_begin()/end() "
                "(wrap it in a static or dynamic kernel)"));
    }
    void require_outside_kernel(const char* call) const {
        if (in_kernel())
            SCAMP5_EMU_THROW(std::logic_error(std::string(call) + " is a host-side call and cannot be issued inside a kernel"));
    }

    // ---- execution ----------------------------------------------------------------------------
    void execute(const Instr& in) {
        ++executed_;
        switch (in.op) {
            case Op::Bus: exec_bus(in, 1, 0.0); break;
            case Op::Bus2: exec_bus(in, 2, error_.split_sigma); break;
            case Op::Bus3: exec_bus(in, 3, error_.split_sigma); break;
            case Op::Where: exec_where(in); break;
            case Op::All: std::fill(digital_[kFLAG].begin(), digital_[kFLAG].end(), 1); break;
            case Op::ResetPix: std::fill(pix_.begin(), pix_.end(), -128.0f); break;  // dark
            case Op::Nop: break;
            case Op::DSet:
            case Op::DClr:
                for (int k = 0; k < in.ndst; ++k) fill_digital(in.dst[k], in.op == Op::DSet ? 1 : 0);
                break;
            case Op::DMov: exec_digital(in, [](std::uint8_t a, std::uint8_t, std::uint8_t, std::uint8_t) { return a; }); break;
            case Op::DNot: exec_digital(in, [](std::uint8_t a, std::uint8_t, std::uint8_t, std::uint8_t) -> std::uint8_t { return !a; }); break;
            case Op::DOr: exec_digital(in, [](std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) -> std::uint8_t { return a | b | c | d; }); break;
            case Op::DNor: exec_digital(in, [](std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) -> std::uint8_t { return !(a | b | c | d); }); break;
            case Op::DWhere: {
                Instr t = in;
                t.ndst = 1;
                t.dst[0] = kFLAG;
                exec_digital(t, [](std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) -> std::uint8_t { return a | b | c | d; });
                break;
            }
            case Op::DAll: fill_digital(kFLAG, 1); break;
            case Op::DNews0: exec_dnews(in, 0); break;
            case Op::DNews1: exec_dnews(in, 1); break;
        }
    }

    // Write a digital plane through the R12-masked-by-R0 rule (every write to R12 obeys it).
    void write_digital(int id, const std::uint8_t* value) {
        std::uint8_t* d = digital_plane(id);
        if (id == kR12) {
            const std::uint8_t* r0 = digital_[kR0].data();
            for (int i = 0; i < kPlane; ++i) d[i] = r0[i] ? value[i] : d[i];
        } else {
            std::memcpy(d, value, kPlane);
        }
    }
    // Write an analogue plane where FLAG = 1, saturating to the analogue range.
    void write_analogue_masked(int id, const float* value) {
        float* d = analogue_plane(id);
        const std::uint8_t* flag = digital_[kFLAG].data();
        for (int i = 0; i < kPlane; ++i) {
            float v = std::min(limit_, std::max(-limit_, value[i]));
            d[i] = flag[i] ? v : d[i];
        }
    }
    // 8-bit ADC of one analogue value at PE index i.
    std::uint8_t adc(float v, int i, const float* temporal) {
        double x = (readout_gain_map_.empty() ? 1.0 : readout_gain_map_[static_cast<std::size_t>(i)]) * v + 128.0;
        if (!readout_offset_map_.empty()) x += readout_offset_map_[static_cast<std::size_t>(i)];
        if (error_.enabled)
            x += error_.readout_offset + error_.readout_fixed_sigma * noise_.readout_fixed_pattern()[i] +
                 error_.readout_sigma * temporal[i];
        long r = std::lround(x);
        return static_cast<std::uint8_t>(std::min(255L, std::max(0L, r)));
    }

private:
    float* analogue_plane(int id) {
        if (id < 0 || id >= kNumAnaloguePlanes)
            SCAMP5_EMU_THROW(std::invalid_argument(std::string("analogue register ") + areg_name(id) +
                                        " cannot be used here (accepted: A..F, NEWS)"));
        return analogue_[id].data();
    }
    std::uint8_t* digital_plane(int id) {
        if (id < 0 || id >= kNumDregs) SCAMP5_EMU_THROW(std::invalid_argument("unknown digital register id " + std::to_string(id)));
        return digital_[id].data();
    }
    void fill_digital(int id, std::uint8_t v) {
        scratch_d_[0].assign(kPlane, v);
        write_digital(id, scratch_d_[0].data());
    }

    // The value of an analogue source plane, neighbour reads resolved (edge = news_edge_).
    const float* source(int id, std::vector<float>& buf) {
        if (id < kNumAnaloguePlanes) return analogue_[id].data();
        buf.resize(kPlane);
        if (id == kIN) {
            std::fill(buf.begin(), buf.end(), in_value_);
            return buf.data();
        }
        if (id == kPIX) {  // the photodiode drives the bus with the half-range image
            const float* t = error_.enabled && error_.image_sigma > 0 ? noise_.plane() : nullptr;
            for (int i = 0; i < kPlane; ++i)
                buf[i] = 0.5f * (pix_[i] + (t ? static_cast<float>(error_.image_sigma) * t[i] : 0.0f));
            return buf.data();
        }
        const float* n = analogue_[kNEWS].data();
        for (int r = 0; r < kSize; ++r) {
            float* o = buf.data() + r * kSize;
            switch (id) {
                case kXN:  // north neighbour: row - 1
                    if (r == 0) std::fill(o, o + kSize, news_edge_);
                    else std::memcpy(o, n + (r - 1) * kSize, sizeof(float) * kSize);
                    break;
                case kXS:  // south neighbour: row + 1
                    if (r == kSize - 1) std::fill(o, o + kSize, news_edge_);
                    else std::memcpy(o, n + (r + 1) * kSize, sizeof(float) * kSize);
                    break;
                case kXE:  // east neighbour: column - 1
                    o[0] = news_edge_;
                    std::memcpy(o + 1, n + r * kSize, sizeof(float) * (kSize - 1));
                    break;
                case kXW:  // west neighbour: column + 1
                    std::memcpy(o, n + r * kSize + 1, sizeof(float) * (kSize - 1));
                    o[kSize - 1] = news_edge_;
                    break;
                default: SCAMP5_EMU_THROW(std::invalid_argument("bad analogue source id"));
            }
        }
        return buf.data();
    }

    void add_bus_error(float* v, double extra_sigma) {
        if (!error_.enabled) return;
        const float gain = static_cast<float>(1.0 - error_.bus_gain_loss);
        const float off = static_cast<float>(error_.bus_offset);
        const float fs = static_cast<float>(error_.bus_fixed_sigma);
        const float ts = static_cast<float>(std::sqrt(error_.bus_sigma * error_.bus_sigma + extra_sigma * extra_sigma));
        const float* fpn = noise_.bus_fixed_pattern();
        const float* t = noise_.plane();
        for (int i = 0; i < kPlane; ++i) v[i] = v[i] * gain + off + fs * fpn[i] + ts * t[i];
    }

    // Sum of the instruction's analogue sources into scratch_a_[0].
    float* sum_sources(const Instr& in) {
        float* acc = scratch_a_[0].data();
        const float* p[4];
        for (int s = 0; s < in.nsrc; ++s) p[s] = source(in.src[s], scratch_a_[1 + s]);
        switch (in.nsrc) {
            case 0: std::fill(acc, acc + kPlane, 0.0f); break;
            case 1: std::memcpy(acc, p[0], sizeof(float) * kPlane); break;
            case 2: for (int i = 0; i < kPlane; ++i) acc[i] = p[0][i] + p[1][i]; break;
            case 3: for (int i = 0; i < kPlane; ++i) acc[i] = p[0][i] + p[1][i] + p[2][i]; break;
            default: for (int i = 0; i < kPlane; ++i) acc[i] = p[0][i] + p[1][i] + p[2][i] + p[3][i]; break;
        }
        return acc;
    }

    void exec_bus(const Instr& in, int parts, double extra_sigma) {
        // Read every source before writing: the bus sums currents, then the targets sample it.
        float* acc = sum_sources(in);
        const float scale = -1.0f / static_cast<float>(parts);
        const std::uint8_t* flag = digital_[kFLAG].data();
        for (int d = 0; d < in.ndst; ++d) {
            float* v = scratch_a_[5].data();
            for (int i = 0; i < kPlane; ++i) v[i] = acc[i] * scale;
            add_bus_error(v, extra_sigma);
            if (in.dst[d] < kNumAnaloguePlanes) {
                write_analogue_masked(in.dst[d], v);
                continue;
            }
            // XN/XE/XS/XW: the PE writes its neighbour's NEWS (XS: NEWS[r + 1][c] := v[r][c]), under
            // the writing PE's FLAG; a value sent past the array edge is lost.
            int dr = 0, dc = 0;
            switch (in.dst[d]) {
                case kXN: dr = -1; break;
                case kXS: dr = 1; break;
                case kXE: dc = -1; break;  // east is column - 1
                default: dc = 1; break;    // XW
            }
            float* news = analogue_[kNEWS].data();
            for (int r = 0; r < kSize; ++r) {
                const int tr = r + dr;
                if (tr < 0 || tr >= kSize) continue;
                for (int c = 0; c < kSize; ++c) {
                    const int tc = c + dc, i = r * kSize + c;
                    if (tc < 0 || tc >= kSize || !flag[i]) continue;
                    news[tr * kSize + tc] = std::min(limit_, std::max(-limit_, v[i]));
                }
            }
        }
    }

    void exec_where(const Instr& in) {
        float* acc = sum_sources(in);
        if (error_.enabled && error_.where_sigma > 0) {
            const float* t = noise_.plane();
            const float ws = static_cast<float>(error_.where_sigma);
            for (int i = 0; i < kPlane; ++i) acc[i] += ws * t[i];
        }
        std::uint8_t* flag = digital_[kFLAG].data();
        for (int i = 0; i < kPlane; ++i) flag[i] = acc[i] > 0.0f;  // strict
    }

    template <class F>
    void exec_digital(const Instr& in, F f) {
        static const std::vector<std::uint8_t> zeros(kPlane, 0);
        const std::uint8_t* s[4];
        for (int k = 0; k < 4; ++k) s[k] = k < in.nsrc ? digital_[in.src[k]].data() : zeros.data();
        std::uint8_t* out = scratch_d_[1].data();
        for (int i = 0; i < kPlane; ++i) out[i] = f(s[0][i], s[1][i], s[2][i], s[3][i]);
        write_digital(in.dst[0], out);
    }

    void exec_dnews(const Instr& in, std::uint8_t edge) {
        // Pad the source with a one-PE border holding the edge value, then every neighbour read
        // is a plain offset: the loops vectorise.
        constexpr int W = kSize + 2;
        padded_.assign(static_cast<std::size_t>(W) * W, edge);
        const std::uint8_t* s = digital_[in.src[0]].data();
        for (int r = 0; r < kSize; ++r) std::memcpy(padded_.data() + (r + 1) * W + 1, s + r * kSize, kSize);
        const std::uint8_t* rs = digital_[1].data();
        const std::uint8_t* rw = digital_[2].data();
        const std::uint8_t* rn = digital_[3].data();
        const std::uint8_t* re = digital_[4].data();
        std::uint8_t* out = scratch_d_[1].data();
        for (int r = 0; r < kSize; ++r) {
            const std::uint8_t* mid = padded_.data() + (r + 1) * W + 1;
            const std::uint8_t* south = mid + W;
            const std::uint8_t* north = mid - W;
            const std::uint8_t* west = mid + 1;  // column + 1
            const std::uint8_t* east = mid - 1;  // column - 1
            const int o = r * kSize;
            for (int c = 0; c < kSize; ++c)
                out[o + c] = static_cast<std::uint8_t>((rs[o + c] & south[c]) | (rw[o + c] & west[c]) |
                                                       (rn[o + c] & north[c]) | (re[o + c] & east[c]));
        }
        write_digital(in.dst[0], out);
    }

    std::array<std::vector<float>, kNumAnaloguePlanes> analogue_;
    std::array<std::vector<std::uint8_t>, kNumDregs> digital_;
    std::array<std::vector<float>, 6> scratch_a_{std::vector<float>(kPlane), std::vector<float>(kPlane),
                                                 std::vector<float>(kPlane), std::vector<float>(kPlane),
                                                 std::vector<float>(kPlane), std::vector<float>(kPlane)};
    std::array<std::vector<std::uint8_t>, 2> scratch_d_{std::vector<std::uint8_t>(kPlane), std::vector<std::uint8_t>(kPlane)};
    std::vector<float> pix_;
    std::vector<std::uint8_t> padded_;
    float in_value_ = 0.0f;
    float news_edge_ = 0.0f;
    float limit_ = kAnalogueLimit;
    std::vector<float> readout_offset_map_, readout_gain_map_;
    ErrorModel error_;
    NoiseSource noise_;
    std::uint64_t generation_ = 0;
    int static_words_ = 0;
    int static_kernels_ = 0;
    int max_dynamic_words_ = 0;
    std::uint64_t executed_ = 0;
    StaticKernel* recording_ = nullptr;
    DynamicKernel* dynamic_recording_ = nullptr;
};

inline Device& device() {
    static Device d;
    return d;
}

}  // namespace scamp5_emu
