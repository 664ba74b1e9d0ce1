// The PixelRNN sensor program: per frame, binarise the input, 16-filter 5x5 binary convolution,
// ReLU, 4x4 max pooling, threshold, the PixelRNN update; o_T read out after the last frame.
// Written against the SCAMP-5d SDK API only, so it builds with the real SDK or the emulator.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "pixelrnn_weights.hpp"

class PixelRNNSensorProgram {
public:
    // Fills the weights; returns false and sets `error` when they cannot be loaded.
    using WeightsLoader = std::function<bool(PixelRNNWeights&, std::string& error)>;

    explicit PixelRNNSensorProgram(WeightsLoader loader) : loader_(std::move(loader)) {}

    // The frame loop. On the device it never returns; the emulator's test API stops it.
    void run();

    // GUI names (the host runner and the tests address them by these titles).
    static constexpr const char* kDisplayInput = "input";
    static constexpr const char* kDisplayEncoded = "encoded x";
    static constexpr const char* kDisplayHidden = "hidden h";
    static constexpr const char* kDisplayGate = "gate g";
    static constexpr const char* kDisplayOt = "o_t";
    static constexpr const char* kDisplayOutput = "output";
    static constexpr const char* kButtonLoadWeights = "load weights";
    static constexpr const char* kButtonPrintTimings = "print timings";
    static constexpr const char* kButtonLoadImageStop = "load image/stop";
    static constexpr const char* kButtonReset = "reset";
    static constexpr const char* kSwitchSaveOutputs = "save outputs";
    static constexpr const char* kSwitchIntermediates = "output intermediates";
    static constexpr const char* kSliderImgThreshold = "img threshold";
    static constexpr const char* kSliderConvThreshold = "conv1 threshold";
    static constexpr const char* kSliderRnnThreshold = "rnn threshold";
    static constexpr const char* kSliderInputWhite = "input_white";
    static constexpr const char* kSliderInputRnnWhite = "input rnn white";
    static constexpr const char* kSliderFramesPerClip = "frames per clip";

private:
    void load_weights();
    void process_frame();
    void capture_and_binarise();
    void cnn_convolution();
    void relu_threshold_pool();
    void compact_to_mosaic();
    void recurrent_update();
    void read_out_final();
    void reset_hidden();
    void output_intermediates();

    WeightsLoader loader_;
    PixelRNNWeights weights_;
    // GUI-bound values (sensor units, as the release's sliders).
    int img_threshold_ = 127;          // +1 iff pixel > img_threshold (0..255)
    int conv1_threshold_ = 10;         // conv * iw >= this
    int rnn_threshold_ = 10;           // f * iw_rnn >= this
    int input_white_ = 10;
    int input_rnn_white_ = 10;
    int frames_per_clip_ = 16;
    int save_outputs_ = 0;
    int output_intermediates_ = 0;
    bool running_ = false;
    int frame_in_clip_ = 0;
    // Displays.
    int display_input_ = -1, display_encoded_ = -1, display_hidden_ = -1, display_gate_ = -1, display_ot_ = -1,
        display_output_ = -1;
    // Timings in microseconds, accumulated over frames: capture, conv, pool+mosaic, rnn, readout.
    std::uint64_t stage_usec_[5] = {0, 0, 0, 0, 0};
    std::uint64_t frames_done_ = 0;
};
