// Fills PixelRNNWeights from the header written by `extract_weights.py --header` (the device build
// compiles the weights in, as the release does). The header must define:
//   PIXELRNN_INPUT_WHITE, PIXELRNN_INPUT_RNN_WHITE          (int macros)
//   PIXELRNN_CNN_THRESHOLD_SENSOR, PIXELRNN_GATE_THRESHOLD_SENSOR  (int macros: step * white)
//   static const int pixelrnn_cnn_kernels[16][5][5];   +-1, PyTorch orientation, channels 0..15
//   static const int pixelrnn_rnn_kernels[4][5][5];    Wfi, Wfh, Woi, Woh
// The header path comes from the compile definition PIXELRNN_WEIGHTS_HEADER (a quoted path).
#pragma once

#include <string>

#include "pixelrnn_weights.hpp"

#ifndef PIXELRNN_WEIGHTS_HEADER
#error "define PIXELRNN_WEIGHTS_HEADER as the quoted path of the header from extract_weights.py --header"
#endif
#include PIXELRNN_WEIGHTS_HEADER

inline bool pixelrnn_weights_from_header(PixelRNNWeights& w, std::string& error) {
    w.input_white = PIXELRNN_INPUT_WHITE;
    w.input_rnn_white = PIXELRNN_INPUT_RNN_WHITE;
    w.cnn_threshold_sensor = PIXELRNN_CNN_THRESHOLD_SENSOR;
    w.gate_threshold_sensor = PIXELRNN_GATE_THRESHOLD_SENSOR;
    for (int k = 0; k < 16; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j) w.cnn_kernels[k][i][j] = pixelrnn_cnn_kernels[k][i][j];
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j) w.rnn_kernels[k][i][j] = pixelrnn_rnn_kernels[k][i][j];
    error = validate_pixelrnn_weights(w);
    return error.empty();
}
