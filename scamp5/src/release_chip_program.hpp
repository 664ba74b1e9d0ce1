// The authors' SCAMP-5 program (the paper's hardware run), re-created against the SDK API: the
// dataflow of the release's sensor program as described in scamp5/README.md ("The release's chip
// program"), not the PyTorch model's equations. It exists to model what the real chip computed;
// the project's own program (pixelrnn_program.hpp) is the one that is exact to PyTorch.
// Same host protocol as the project's program: frames requested by path as 4 bit planes, o_15 saved
// as "<class>/<sequence>/<T-1>_output.BMP" when "save outputs" is on.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pixelrnn_program.hpp"

class ReleaseChipProgram {
public:
    using WeightsLoader = PixelRNNSensorProgram::WeightsLoader;

    ReleaseChipProgram(WeightsLoader loader, PixelRNNClipList clips) : loader_(std::move(loader)), clips_(clips) {}

    // The frame loop. On the device it never returns; the emulator's test API stops it.
    void run();

    // The release's GUI defaults (sensor units: 10 per count).
    static constexpr int kImgThreshold = 1;     // v = -120 + 15 b0 + 31 b1 + 63 b2 + 127 b3; bit = v > 1
    static constexpr int kConv1Threshold = 10;  // pooled conv > 1 count
    static constexpr int kRnnThreshold = 10;    // f > 1 count
    static constexpr int kInputWhite = 10;      // one count of every binary dot product

    // Mosaic selection (the re-centring shift and the two half-scalings, which only select): mosaic
    // pixel (R, D) takes the binarised pooled plane at display (4R + kMosaicRowPhase, 4D + kMosaicColPhase).
    static constexpr int kMosaicRowPhase = -2;
    static constexpr int kMosaicColPhase = 3;

    // GUI names shared with the project's program, so one host runner drives both.
    static constexpr const char* kDisplayInput = PixelRNNSensorProgram::kDisplayInput;
    static constexpr const char* kDisplayOutput = PixelRNNSensorProgram::kDisplayOutput;
    static constexpr const char* kButtonLoadWeights = PixelRNNSensorProgram::kButtonLoadWeights;
    static constexpr const char* kButtonLoadImageStop = PixelRNNSensorProgram::kButtonLoadImageStop;
    static constexpr const char* kSwitchSaveOutputs = PixelRNNSensorProgram::kSwitchSaveOutputs;

    static constexpr const char* kDisplayEncoded = PixelRNNSensorProgram::kDisplayEncoded;  // x plane (binary)
    static constexpr const char* kDisplayHidden = PixelRNNSensorProgram::kDisplayHidden;    // h plane (binary)
    static constexpr const char* kSwitchIntermediates = PixelRNNSensorProgram::kSwitchIntermediates;

private:
    void load_weights();
    void process_frame();
    bool receive_host_frame();
    void binarise_input();
    void conv_layer();
    void relu_pool_block_move();
    void threshold_and_mosaic();
    void recurrent_step();
    void finish_clip();

    WeightsLoader loader_;
    PixelRNNClipList clips_;
    PixelRNNWeights weights_;
    int save_outputs_ = 0;
    int output_intermediates_ = 0;
    bool running_ = false;
    int clip_index_ = 0;
    int frame_in_clip_ = 0;
    HostFrameRequest host_frame_;
    int display_input_ = -1, display_output_ = -1, display_encoded_ = -1, display_hidden_ = -1;
};
