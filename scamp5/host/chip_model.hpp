// A chip model (`pixelrnn_emu --chip-model FILE`): which sensor program runs and the analogue effects
// of the chip it runs on. Format "pixelrnn-chip-model", version 1 (scamp5/README.md, "Chip model"):
//
//   {"format": "pixelrnn-chip-model", "version": 1,
//    "program": "release",              // "project" (exact to PyTorch) or "release" (the authors' program)
//    "analogue_limit": 128,             // every analogue write saturates at +-limit (1..128)
//    "error": {"bus_sigma": 0.35, ...}, // per-operation error, the error model's fields (all >= 0 but
//                                       //   bus_offset, any sign); any non-zero value switches errors on
//    "readout": {"offset": 2.0, "sigma": 0.3, "fixed_sigma": 0,
//                "offset_map": [[...256...], ...256 rows],   // per-pixel offset (-255..255), display orientation
//                "gain_map": [[...256...], ...256 rows]}}    // per-pixel gain on the value (default 1)
//
// Every key is optional except format, version and program. A value out of range or of the wrong kind,
// or an unknown key, is an error naming the key and what it accepts.
#pragma once

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <scamp5.hpp>

#include "json_value.hpp"

struct ChipModel {
    std::string program = "project";
    float analogue_limit = 128.0f;
    scamp5_emu::ErrorModel error;          // enabled when any error or read-out term is set
    std::vector<float> readout_offset_map;  // device orientation, empty = none
    std::vector<float> readout_gain_map;
};

namespace chip_model_detail {
[[noreturn]] inline void bad(const std::string& file, const std::string& key, const std::string& accepted) {
    throw std::runtime_error("chip model " + file + ": '" + key + "' " + accepted);
}
inline double number(const JsonValue& v, const std::string& file, const std::string& key, double lo, double hi,
                     const std::string& accepted) {
    if (v.type != JsonValue::Number || !std::isfinite(v.number) || v.number < lo || v.number > hi) bad(file, key, accepted);
    return v.number;
}
inline void only_keys(const JsonValue& obj, const std::vector<std::string>& keys, const std::string& file,
                      const std::string& where) {
    for (const auto& [k, unused] : obj.members) {
        bool known = false;
        for (const std::string& allowed : keys) known = known || k == allowed;
        if (!known) {
            std::string list;
            for (const std::string& allowed : keys) list += (list.empty() ? "" : ", ") + allowed;
            bad(file, where + k, "is not a chip-model key (accepted here: " + list + ")");
        }
    }
}
// A 256 x 256 map in display orientation -> device orientation (column 0 = display column 255).
inline std::vector<float> map256(const JsonValue& v, const std::string& file, const std::string& key, double lo, double hi) {
    const std::string accepted = "must be 256 rows of 256 numbers in " + std::to_string(static_cast<int>(lo)) + ".." +
                                 std::to_string(static_cast<int>(hi)) + " (display orientation)";
    if (v.type != JsonValue::Array || v.items.size() != 256) bad(file, key, accepted);
    std::vector<float> out(256 * 256);
    for (int r = 0; r < 256; ++r) {
        const JsonValue& row = v.items[static_cast<std::size_t>(r)];
        if (row.type != JsonValue::Array || row.items.size() != 256) bad(file, key, accepted);
        for (int d = 0; d < 256; ++d) {
            const JsonValue& x = row.items[static_cast<std::size_t>(d)];
            if (x.type != JsonValue::Number || !std::isfinite(x.number) || x.number < lo || x.number > hi)
                bad(file, key + "[" + std::to_string(r) + "][" + std::to_string(d) + "]", accepted);
            out[static_cast<std::size_t>(r) * 256 + (255 - d)] = static_cast<float>(x.number);
        }
    }
    return out;
}
}  // namespace chip_model_detail

inline ChipModel parse_chip_model(const std::string& text, const std::string& file) {
    using namespace chip_model_detail;
    const JsonValue root = JsonParser(text, file).parse();
    if (root.type != JsonValue::Object) bad(file, "(top level)", "must be a JSON object");
    only_keys(root, {"format", "version", "program", "analogue_limit", "error", "readout", "notes", "fit"}, file, "");
    if (!root.has("format") || root.members.at("format").type != JsonValue::String ||
        root.members.at("format").text != "pixelrnn-chip-model")
        bad(file, "format", "must be \"pixelrnn-chip-model\"");
    if (!root.has("version") || root.members.at("version").type != JsonValue::Number || root.members.at("version").number != 1)
        bad(file, "version", "must be 1");
    ChipModel m;
    if (!root.has("program") || root.members.at("program").type != JsonValue::String ||
        (root.members.at("program").text != "project" && root.members.at("program").text != "release"))
        bad(file, "program", "must be \"project\" (the project's program, exact to PyTorch) or \"release\" "
                             "(the authors' chip program)");
    m.program = root.members.at("program").text;
    if (root.has("analogue_limit"))
        m.analogue_limit = static_cast<float>(number(root.members.at("analogue_limit"), file, "analogue_limit", 1, 128,
                                                     "must be a number 1..128 (the analogue range is +-128)"));
    bool any = false;
    if (root.has("error")) {
        const JsonValue& e = root.members.at("error");
        if (e.type != JsonValue::Object) bad(file, "error", "must be an object of error-model fields");
        struct Field {
            const char* key;
            double* value;
            double lo, hi;
        };
        scamp5_emu::ErrorModel& em = m.error;
        const Field fields[] = {{"bus_gain_loss", &em.bus_gain_loss, 0, 0.5},   {"bus_offset", &em.bus_offset, -10, 10},
                                {"bus_sigma", &em.bus_sigma, 0, 50},            {"bus_fixed_sigma", &em.bus_fixed_sigma, 0, 50},
                                {"split_sigma", &em.split_sigma, 0, 50},        {"where_sigma", &em.where_sigma, 0, 50},
                                {"in_sigma", &em.in_sigma, 0, 50},              {"load_in_sigma", &em.load_in_sigma, 0, 50},
                                {"image_sigma", &em.image_sigma, 0, 50}};
        std::vector<std::string> keys;
        for (const Field& f : fields) keys.push_back(f.key);
        only_keys(e, keys, file, "error.");
        for (const Field& f : fields) {
            if (!e.has(f.key)) continue;
            std::ostringstream range;
            range << "must be a number " << f.lo << ".." << f.hi << " (8-bit analogue units)";
            *f.value = number(e.members.at(f.key), file, std::string("error.") + f.key, f.lo, f.hi, range.str());
            any = any || *f.value != 0.0;
        }
    }
    if (root.has("readout")) {
        const JsonValue& r = root.members.at("readout");
        if (r.type != JsonValue::Object) bad(file, "readout", "must be an object");
        only_keys(r, {"offset", "sigma", "fixed_sigma", "offset_map", "gain_map"}, file, "readout.");
        if (r.has("offset")) m.error.readout_offset = number(r.members.at("offset"), file, "readout.offset", -128, 128, "must be a number -128..128 (pixel units)");
        if (r.has("sigma")) m.error.readout_sigma = number(r.members.at("sigma"), file, "readout.sigma", 0, 50, "must be a number 0..50 (pixel units)");
        if (r.has("fixed_sigma"))
            m.error.readout_fixed_sigma = number(r.members.at("fixed_sigma"), file, "readout.fixed_sigma", 0, 50, "must be a number 0..50 (pixel units)");
        any = any || m.error.readout_offset != 0.0 || m.error.readout_sigma != 0.0 || m.error.readout_fixed_sigma != 0.0;
        if (r.has("offset_map")) m.readout_offset_map = map256(r.members.at("offset_map"), file, "readout.offset_map", -255, 255);
        if (r.has("gain_map")) m.readout_gain_map = map256(r.members.at("gain_map"), file, "readout.gain_map", 0, 4);
    }
    m.error.enabled = any;
    return m;
}

inline ChipModel load_chip_model(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("chip model " + path + ": cannot be read");
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_chip_model(ss.str(), path);
}

// Applies a chip model's analogue effects to the emulated device (the program is chosen by the runner).
inline void apply_chip_model(const ChipModel& m) {
    auto& d = scamp5_emu::device();
    d.set_error_model(m.error);
    d.set_analogue_limit(m.analogue_limit);
    d.set_readout_maps(m.readout_offset_map, m.readout_gain_map);
}
