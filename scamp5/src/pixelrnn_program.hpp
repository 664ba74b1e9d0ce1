// The PixelRNN sensor program: per frame, take the input (host-fed dataset frame, or the live
// photodiode behind a switch), binarise it, 16-filter 5x5 binary convolution, ReLU, 4x4 max pooling,
// threshold, the PixelRNN update; o_T read out and saved after the last frame of each clip.
// Written against the SCAMP-5d SDK API only, so it builds with the real SDK or the emulator.
// Embedded-safe: no exceptions, no RTTI, no heap in the frame loop, integer printf formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>

#include "pixelrnn_weights.hpp"

class vs_dotmat;  // SDK: one bit per pixel (a plane of a host image)

// One clip the host serves: `name` is "<class>/<sequence>"; frame t is the file
// "<root>/<name>/<t>.bmp" on the host PC (pixelrnn_frame_path), a 256 x 256 image holding the
// 64 x 64 frame tiled 16 times, sent as 4 bit planes; o_T is saved as "<name>/<frames-1>_output.BMP".
struct PixelRNNClip {
    const char* name;
    int frames;  // 1..255
};
struct PixelRNNClipList {
    const char* root = "";
    const PixelRNNClip* clips = nullptr;
    int count = 0;
};

// The one formula for the host file of a frame (the emulator runner serves requests by it).
inline int pixelrnn_frame_path(char* out, std::size_t size, const char* root, const char* clip, int t) {
    return root[0] ? std::snprintf(out, size, "%s/%s/%d.bmp", root, clip, t) : std::snprintf(out, size, "%s/%d.bmp", clip, t);
}

// Host-fed input: the host sends the frame's top 4 bits (level = pixel >> 4, 0..15). The program
// rebuilds v = kLevelUnit * level and decides +1 iff level > img_threshold >> 4, comparing v
// against the level midpoint. For img_threshold = 127 that is level >= 8 <=> pixel >= 128 <=>
// pixel > 127: exactly the PyTorch side's binarisation of an 8-bit frame, for every pixel value.
// In general the decision is pixel > 16 * (img_threshold >> 4) + 15 (exact when img_threshold % 16 == 15).
constexpr int kHostImageBits = 4;
constexpr int kLevelUnit = 8;  // 15 levels * 8 = 120 fits the analogue range

// A frame requested from the host as kHostImageBits bit planes drawn into R5..R8 (the paper's hardware
// input), shared by the project's program and the release's.
class HostFrameRequest {
public:
    // Requests `path` and waits for its planes. False, with a message to the host, when the host does not
    // send them all.
    bool fetch(const char* path);

private:
    void on_plane(const vs_dotmat& plane, int bit);

    unsigned planes_received_ = 0;  // bit k set when plane k of the requested frame arrived
    bool timed_out_ = false;
};

class PixelRNNSensorProgram {
public:
    // Fills the weights; returns false with what is wrong in `error` (size bytes) when they cannot be loaded.
    using WeightsLoader = std::function<bool(PixelRNNWeights&, char* error, std::size_t size)>;

    PixelRNNSensorProgram(WeightsLoader loader, PixelRNNClipList clips) : loader_(std::move(loader)), clips_(clips) {}

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
    static constexpr const char* kSwitchLiveCamera = "live camera";  // off: host-fed frames (default)
    static constexpr const char* kSliderImgThreshold = "img threshold";
    static constexpr const char* kSliderConvThreshold = "conv1 threshold";
    static constexpr const char* kSliderRnnThreshold = "rnn threshold";
    static constexpr const char* kSliderInputWhite = "input_white";
    static constexpr const char* kSliderInputRnnWhite = "input rnn white";
    static constexpr const char* kSliderFramesPerClip = "frames per clip";

private:
    void load_weights();
    void process_frame();
    bool take_input();
    bool receive_host_frame();
    void capture_live();
    void finish_clip();
    void cnn_convolution();
    void relu_threshold_pool();
    void compact_to_mosaic();
    void recurrent_update();
    void read_out_final();
    void reset_hidden();
    void output_intermediates();

    WeightsLoader loader_;
    PixelRNNClipList clips_;
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
    int live_camera_ = 0;
    bool running_ = false;
    int clip_index_ = 0;     // host-fed: the clip being run
    int live_clips_ = 0;     // live camera: clips finished so far (names the saved outputs)
    int frame_in_clip_ = 0;
    HostFrameRequest host_frame_;
    // Displays.
    int display_input_ = -1, display_encoded_ = -1, display_hidden_ = -1, display_gate_ = -1, display_ot_ = -1,
        display_output_ = -1;
    // Timings in microseconds, accumulated over frames: capture, conv, pool+mosaic, rnn, readout.
    std::uint64_t stage_usec_[5] = {0, 0, 0, 0, 0};
    std::uint32_t frames_done_ = 0;
};
