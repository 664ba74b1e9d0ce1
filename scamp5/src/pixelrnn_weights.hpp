// The one weights structure of the PixelRNN sensor program. The device build fills it from the
// header written by `extract_weights.py --header` (pixelrnn_weights_from_header.hpp, through
// pixelrnn_weights_from_load_order below); the emulator runner fills it from
// `extract_weights.py --json` at run time (host/weights_json.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

struct PixelRNNWeights {
    int input_white = 10;      // iw: sensor units per model unit of the CNN
    int input_rnn_white = 10;  // iw of the recurrent convolutions and of the o_T readout
    // Binary (+-1) 5x5 kernels in PyTorch orientation: [k][i][j], row i = 0 at the top, channel
    // order 0..15 (channel k is tiled at mosaic block-row k % 4, block-column k / 4).
    int cnn_kernels[16][5][5] = {};
    // +1 iff conv value * input_white >= cnn_threshold_sensor (= threshold_step * iw).
    int cnn_threshold_sensor = 10;
    // Wfi, Wfh, Woi, Woh, same orientation.
    int rnn_kernels[4][5][5] = {};
    // gate +1 iff f * input_rnn_white >= gate_threshold_sensor (= gate_threshold_step * iw_rnn).
    int gate_threshold_sensor = 10;
};

// True when the weights are usable; else false with what is wrong written to `error` (size bytes).
// Embedded-safe: no exceptions, no heap.
inline bool validate_pixelrnn_weights(const PixelRNNWeights& w, char* error, std::size_t size) {
    auto fail = [&](const char* what, int index) {
        std::snprintf(error, size, what, index);
        return false;
    };
    if (w.input_white < 1 || w.input_white > 127) return fail("input_white must be 1..127 (got %d)", w.input_white);
    if (w.input_rnn_white < 1 || w.input_rnn_white > 127)
        return fail("input_rnn_white must be 1..127 (got %d)", w.input_rnn_white);
    if (w.cnn_threshold_sensor < -128 || w.cnn_threshold_sensor > 127)
        return fail("cnn threshold (sensor units) must be -128..127 (got %d)", w.cnn_threshold_sensor);
    if (w.gate_threshold_sensor < -128 || w.gate_threshold_sensor > 127)
        return fail("gate threshold (sensor units) must be -128..127 (got %d)", w.gate_threshold_sensor);
    for (int k = 0; k < 16; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j)
                if (w.cnn_kernels[k][i][j] != 1 && w.cnn_kernels[k][i][j] != -1)
                    return fail("cnn kernel %d holds a value other than +1/-1", k);
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j)
                if (w.rnn_kernels[k][i][j] != 1 && w.rnn_kernels[k][i][j] != -1)
                    return fail("rnn kernel %d holds a value other than +1/-1", k);
    return true;
}

// The sensor's load order (the header from `extract_weights.py --header`, and the release's text
// file): CNN kernel n goes to quadrant n in reading order, which computes mosaic channel
// kSensorKernelChannel[n] (the row-major reading of the column-major mosaic); a kernel's 25 taps
// run bottom row first, left to right within a row (tap t = row 4 - t / 5, column t % 5).
constexpr int kSensorKernelChannel[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

// The one place where load order becomes the weights structure. `channel_of` is the header's own
// table of which channel each entry computes; it must be kSensorKernelChannel (the program tiles
// channel k at quadrant row k % 4, column k / 4). Thresholds are in sensor units (step * white).
// True when the result is usable (then written to w), else false with what is wrong in `error`.
// `staging` is scratch the caller owns (static storage on the device: the structure is ~2 KB).
inline bool pixelrnn_weights_from_load_order(PixelRNNWeights& w, PixelRNNWeights& staging, int input_white,
                                             int input_rnn_white, int cnn_threshold_sensor, int gate_threshold_sensor,
                                             const int channel_of[16], const std::int8_t cnn_taps[16][25],
                                             const std::int8_t* const rnn_taps[4], char* error, std::size_t size) {
    for (int n = 0; n < 16; ++n)
        if (channel_of[n] != kSensorKernelChannel[n]) {
            std::snprintf(error, size, "CNN kernel entry %d is for channel %d; the sensor's load order puts channel %d there",
                          n, channel_of[n], kSensorKernelChannel[n]);
            return false;
        }
    PixelRNNWeights& out = staging;
    out = PixelRNNWeights{};
    out.input_white = input_white;
    out.input_rnn_white = input_rnn_white;
    out.cnn_threshold_sensor = cnn_threshold_sensor;
    out.gate_threshold_sensor = gate_threshold_sensor;
    for (int t = 0; t < 25; ++t) {
        const int row = 4 - t / 5, col = t % 5;
        for (int n = 0; n < 16; ++n) out.cnn_kernels[channel_of[n]][row][col] = cnn_taps[n][t];
        for (int k = 0; k < 4; ++k) out.rnn_kernels[k][row][col] = rnn_taps[k][t];
    }
    if (!validate_pixelrnn_weights(out, error, size)) return false;
    w = out;
    return true;
}
