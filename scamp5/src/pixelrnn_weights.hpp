// The one weights structure of the PixelRNN sensor program. The device build fills it from the
// header written by `extract_weights.py --header` (pixelrnn_weights_from_header.hpp); the emulator
// runner fills it from `extract_weights.py --json` at run time (host/weights_json.hpp).
#pragma once

#include <string>

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

// Empty string when the weights are usable, else what is wrong.
inline std::string validate_pixelrnn_weights(const PixelRNNWeights& w) {
    if (w.input_white < 1 || w.input_white > 127) return "input_white must be 1..127";
    if (w.input_rnn_white < 1 || w.input_rnn_white > 127) return "input_rnn_white must be 1..127";
    if (w.cnn_threshold_sensor < -128 || w.cnn_threshold_sensor > 127) return "cnn threshold (sensor units) must be -128..127";
    if (w.gate_threshold_sensor < -128 || w.gate_threshold_sensor > 127) return "gate threshold (sensor units) must be -128..127";
    for (int k = 0; k < 16; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j)
                if (w.cnn_kernels[k][i][j] != 1 && w.cnn_kernels[k][i][j] != -1)
                    return "cnn kernel " + std::to_string(k) + " holds a value other than +1/-1";
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j)
                if (w.rnn_kernels[k][i][j] != 1 && w.rnn_kernels[k][i][j] != -1)
                    return "rnn kernel " + std::to_string(k) + " holds a value other than +1/-1";
    return "";
}
