// Fills PixelRNNWeights from the header written by `extract_weights.py --header` (the device build
// compiles the weights in, as the release does). The header's path comes from the compile
// definition PIXELRNN_WEIGHTS_HEADER (a quoted path); it defines, in namespace pixelrnn_weights:
//   kInputWhite, kInputRnnWhite                     analogue units of the CNN and the recurrent sums
//   kCnnThresholdSensor / kCnnThresholdStep         decision level in sensor units = step * kInputWhite
//   kGateThresholdSensor / kGateThresholdStep       the same for the gate, with kInputRnnWhite
//   kCnnKernelChannel[16], kCnnKernels[16][25]      CNN kernels in sensor load order
//   kWfi, kWfh, kWoi, kWoh [25]                     recurrent kernels, same tap order
// (see pixelrnn_weights_from_load_order for the order).
#pragma once

#include "pixelrnn_weights.hpp"

#ifndef PIXELRNN_WEIGHTS_HEADER
#error "define PIXELRNN_WEIGHTS_HEADER as the quoted path of the header from extract_weights.py --header"
#endif
#include PIXELRNN_WEIGHTS_HEADER

// The exporter writes both the step and the level; a hand-edited header that changes one alone
// would make the slider disagree with the model's decision.
static_assert(pixelrnn_weights::kCnnThresholdSensor ==
                  pixelrnn_weights::kCnnThresholdStep * pixelrnn_weights::kInputWhite,
              "weights header: kCnnThresholdSensor must equal kCnnThresholdStep * kInputWhite");
static_assert(pixelrnn_weights::kGateThresholdSensor ==
                  pixelrnn_weights::kGateThresholdStep * pixelrnn_weights::kInputRnnWhite,
              "weights header: kGateThresholdSensor must equal kGateThresholdStep * kInputRnnWhite");

// The header's arrays are constexpr (static storage); the staging structure is static too, so
// loading needs no stack beyond a few pointers.
inline bool pixelrnn_weights_from_header(PixelRNNWeights& w, char* error, std::size_t size) {
    namespace h = pixelrnn_weights;
    static PixelRNNWeights staging;
    static const std::int8_t* const rnn_taps[4] = {h::kWfi, h::kWfh, h::kWoi, h::kWoh};
    return pixelrnn_weights_from_load_order(w, staging, h::kInputWhite, h::kInputRnnWhite, h::kCnnThresholdSensor,
                                            h::kGateThresholdSensor, h::kCnnKernelChannel, h::kCnnKernels, rnn_taps,
                                            error, size);
}
