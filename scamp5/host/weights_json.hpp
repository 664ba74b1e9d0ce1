// PixelRNNWeights from the JSON written by `extract_weights.py --json`
// (format "pixelrnn-sensor-weights", version 1; see scamp5/README.md).
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "../src/pixelrnn_weights.hpp"
#include "json_value.hpp"

struct SensorWeightsFile {
    PixelRNNWeights weights;   // thresholds in sensor units for the whites actually used
    int cnn_threshold_step = 1;
    int gate_threshold_step = 0;
};

namespace weights_json_detail {
[[noreturn]] inline void bad(const std::string& file, const std::string& key, const std::string& why) {
    throw std::runtime_error(file + ": '" + key + "' " + why);
}
inline const JsonValue& member(const JsonValue& obj, const std::string& key, const std::string& file,
                               const std::string& path) {
    if (!obj.has(key)) bad(file, path + key, "is missing");
    return obj.members.at(key);
}
inline std::string number_text(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}
inline int integer(const JsonValue& v, const std::string& file, const std::string& key) {
    if (v.type != JsonValue::Number || std::floor(v.number) != v.number || std::fabs(v.number) > 1e6)
        bad(file, key, "must be an integer");
    return static_cast<int>(v.number);
}
inline void kernel(const JsonValue& v, int out[5][5], const std::string& file, const std::string& key) {
    if (v.type != JsonValue::Array || v.items.size() != 5) bad(file, key, "must be a 5x5 array of +1/-1");
    for (int i = 0; i < 5; ++i) {
        const JsonValue& row = v.items[static_cast<std::size_t>(i)];
        if (row.type != JsonValue::Array || row.items.size() != 5) bad(file, key, "must be a 5x5 array of +1/-1");
        for (int j = 0; j < 5; ++j) {
            const int w = integer(row.items[static_cast<std::size_t>(j)], file, key);
            if (w != 1 && w != -1) bad(file, key, "must hold only +1/-1, found " + std::to_string(w));
            out[i][j] = w;
        }
    }
}
}  // namespace weights_json_detail

// iw_override / iw_rnn_override <= 0 keep the file's input whites. Thresholds in sensor units are
// step * white and must fit the 8-bit analogue range (-128..127).
inline SensorWeightsFile load_sensor_weights_json(const std::filesystem::path& path, int iw_override = 0,
                                                  int iw_rnn_override = 0) {
    using namespace weights_json_detail;
    const std::string file = path.string();
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open weights file " + file);
    std::stringstream buf;
    buf << f.rdbuf();
    const std::string text = buf.str();
    const JsonValue root = JsonParser(text, file).parse();
    if (root.type != JsonValue::Object) bad(file, "(root)", "must be an object");
    const JsonValue& format = member(root, "format", file, "");
    if (format.type != JsonValue::String || format.text != "pixelrnn-sensor-weights")
        bad(file, "format", "must be \"pixelrnn-sensor-weights\"");
    if (integer(member(root, "version", file, ""), file, "version") != 1) bad(file, "version", "must be 1");

    SensorWeightsFile out;
    PixelRNNWeights& w = out.weights;
    const int file_iw = integer(member(root, "input_white", file, ""), file, "input_white");
    const int file_iw_rnn = integer(member(root, "input_rnn_white", file, ""), file, "input_rnn_white");
    w.input_white = iw_override > 0 ? iw_override : file_iw;
    w.input_rnn_white = iw_rnn_override > 0 ? iw_rnn_override : file_iw_rnn;
    if (file_iw < 1 || file_iw > 127) bad(file, "input_white", "must be 1..127");
    if (file_iw_rnn < 1 || file_iw_rnn > 127) bad(file, "input_rnn_white", "must be 1..127");

    const JsonValue& cnn = member(root, "cnn", file, "");
    const JsonValue& kernels = member(cnn, "kernels", file, "cnn.");
    if (kernels.type != JsonValue::Array || kernels.items.size() != 16) bad(file, "cnn.kernels", "must hold 16 kernels");
    for (int k = 0; k < 16; ++k)
        kernel(kernels.items[static_cast<std::size_t>(k)], w.cnn_kernels[k], file, "cnn.kernels[" + std::to_string(k) + "]");
    out.cnn_threshold_step = integer(member(cnn, "threshold_step", file, "cnn."), file, "cnn.threshold_step");
    const JsonValue& rnn = member(root, "rnn", file, "");
    if (rnn.has("cell")) {
        const JsonValue& cell = rnn.members.at("cell");
        if (cell.type != JsonValue::String || cell.text != "pixelrnn")
            bad(file, "rnn.cell", "must be \"pixelrnn\", the only cell the sensor program runs" +
                                      std::string(cell.type == JsonValue::String ? ", found \"" + cell.text + "\"" : ""));
    }
    const char* names[4] = {"Wfi", "Wfh", "Woi", "Woh"};
    for (int k = 0; k < 4; ++k) kernel(member(rnn, names[k], file, "rnn."), w.rnn_kernels[k], file, std::string("rnn.") + names[k]);
    out.gate_threshold_step = integer(member(rnn, "gate_threshold_step", file, "rnn."), file, "rnn.gate_threshold_step");
    // The steps are the exact decisions (+1 iff sum >= step); the file's sensor levels must be
    // step * the file's whites, as the exporter writes them. With --iw/--iw-rnn the levels are
    // recomputed for the new whites below.
    const int cnn_file_level = integer(member(cnn, "threshold_sensor", file, "cnn."), file, "cnn.threshold_sensor");
    const int gate_file_level =
        integer(member(rnn, "gate_threshold_sensor", file, "rnn."), file, "rnn.gate_threshold_sensor");
    if (cnn_file_level != out.cnn_threshold_step * file_iw)
        bad(file, "cnn.threshold_sensor", "must equal cnn.threshold_step * input_white (" +
                                              std::to_string(out.cnn_threshold_step * file_iw) + "), found " +
                                              std::to_string(cnn_file_level));
    if (gate_file_level != out.gate_threshold_step * file_iw_rnn)
        bad(file, "rnn.gate_threshold_sensor", "must equal rnn.gate_threshold_step * input_rnn_white (" +
                                                   std::to_string(out.gate_threshold_step * file_iw_rnn) +
                                                   "), found " + std::to_string(gate_file_level));

    const long cnn_sensor = static_cast<long>(out.cnn_threshold_step) * w.input_white;
    const long gate_sensor = static_cast<long>(out.gate_threshold_step) * w.input_rnn_white;
    if (cnn_sensor < -128 || cnn_sensor > 127)
        bad(file, "cnn.threshold_step", "times input_white (" + std::to_string(cnn_sensor) + ") must be -128..127");
    if (gate_sensor < -128 || gate_sensor > 127)
        bad(file, "rnn.gate_threshold_step",
            "times input_rnn_white (" + std::to_string(gate_sensor) + ") must be -128..127");
    // The model-unit threshold (written for reference) must give the step the sensor uses:
    // +1 iff sum > threshold, i.e. sum >= floor(threshold) + 1 (model_utils/sensor_export.py).
    if (cnn.has("threshold")) {
        const JsonValue& t = cnn.members.at("threshold");
        if (t.type != JsonValue::Number) bad(file, "cnn.threshold", "must be a number (the CNN threshold in model units)");
        const double step = std::floor(t.number) + 1;
        if (step != out.cnn_threshold_step)
            bad(file, "cnn.threshold", "is " + number_text(t.number) + ", whose step is " + std::to_string(static_cast<long>(step)) +
                                           ", but cnn.threshold_step is " + std::to_string(out.cnn_threshold_step) +
                                           "; write the file with extract_weights.py --json");
    }

    // The gate sum is even: +1 iff sum >= the smallest even integer > threshold = 2 * floor(threshold / 2) + 2.
    if (rnn.has("gate_threshold")) {
        const JsonValue& t = rnn.members.at("gate_threshold");
        if (t.type != JsonValue::Number) bad(file, "rnn.gate_threshold", "must be a number (the gate threshold in model units)");
        const double step = 2 * std::floor(t.number / 2) + 2;
        if (step != out.gate_threshold_step)
            bad(file, "rnn.gate_threshold", "is " + number_text(t.number) + ", whose step is " +
                                                std::to_string(static_cast<long>(step)) + ", but rnn.gate_threshold_step is " +
                                                std::to_string(out.gate_threshold_step) + "; write the file with extract_weights.py --json");
    }

    w.cnn_threshold_sensor = static_cast<int>(cnn_sensor);
    w.gate_threshold_sensor = static_cast<int>(gate_sensor);
    return out;
}
