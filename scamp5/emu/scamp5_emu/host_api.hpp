// Host-side SCAMP-5 calls (scamp5_*: addressing, DAC loads, readout) and the GUI/USB "vs" API
// as stubs, plus the emulator's test API (namespace scamp5_emu::host) to press buttons, set
// sliders, feed frames, read displays and stop the frame loop.
#pragma once

#include <array>
#include <chrono>
#include <cstring>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "device.hpp"
#include "image_io.hpp"
#include "kernel_api.hpp"

using vs_handle = int;

// One bit per pixel, row-major, lowest bit first within each byte (the SDK's vs_dotmat layout).
// The accessors are declared as the SDK declares them -- a void* buffer, 16-bit sizes -- so that a program
// that compiles here compiles against the real headers (tests/test_emulator.cpp checks the signatures).
class vs_dotmat {
public:
    vs_dotmat() = default;
    vs_dotmat(int width, int height)
        : width_(width), height_(height), bits_(get_buffer_size(width, height), 0) {}
    std::uint16_t get_width() const { return static_cast<std::uint16_t>(width_); }
    std::uint16_t get_height() const { return static_cast<std::uint16_t>(height_); }
    void* get_buffer(std::size_t* size = nullptr) const {
        if (size) *size = bits_.size();
        return const_cast<std::uint8_t*>(bits_.data());  // the SDK returns a non-const void* from a const object
    }
    static std::size_t get_buffer_size(std::uint16_t width, std::uint16_t height) {
        return (static_cast<std::size_t>(width) * height + 7) / 8;
    }
    void set(int row, int col) {
        const std::size_t i = static_cast<std::size_t>(row) * width_ + col;
        bits_[i / 8] = static_cast<std::uint8_t>(bits_[i / 8] | (1u << (i % 8)));
    }

private:
    int width_ = 0, height_ = 0;
    std::vector<std::uint8_t> bits_;
};
using vs_image_callback = std::function<void(vs_dotmat const&, int)>;

// Host link objects (vs_post_bind_io_agent / scamp5_bind_io_agent take the USB agent).
struct vs_io_agent {};
inline vs_io_agent vs_usb;
inline void vs_post_bind_io_agent(vs_io_agent&) {}
inline void scamp5_bind_io_agent(vs_io_agent&) {}

namespace scamp5_emu {

// Thrown by vs_frame_loop_control() when the test API stops the loop.
struct FrameLoopStopped {
    int frames;
};

struct GuiItem {
    enum Kind { Display, Slider, Switch, Button };
    GuiItem(Kind k, std::string t, int mn = 0, int mx = 0, int v = 0, int* b = nullptr)
        : kind(k), title(std::move(t)), min(mn), max(mx), value(v), bound(b) {}
    Kind kind;
    std::string title;
    int min = 0, max = 0, value = 0;
    int* bound = nullptr;
    std::function<void(int)> callback;
    GrayImage image;  // displays
};

class Host {
public:
    void reset() {
        image_server_ = nullptr;
        request_ = ImageRequest{};
        requests_served_ = 0;
        items_.clear();
        pending_.clear();
        log_.clear();
        frame_ = 0;
        stop_after_ = -1;
        stop_requested_ = false;
        hook_ = nullptr;
    }

    vs_handle add(GuiItem item) {
        items_.push_back(std::move(item));
        return static_cast<vs_handle>(items_.size() - 1);
    }
    GuiItem& item(vs_handle h) {
        if (h < 0 || h >= static_cast<int>(items_.size()))
            SCAMP5_EMU_THROW(std::invalid_argument("unknown GUI handle " + std::to_string(h)));
        return items_[static_cast<std::size_t>(h)];
    }
    GuiItem& find(const std::string& title, GuiItem::Kind kind) { return item(find_handle(title, kind)); }
    vs_handle find_handle(const std::string& title, GuiItem::Kind kind) {
        for (std::size_t i = 0; i < items_.size(); ++i)
            if (items_[i].title == title && items_[i].kind == kind) return static_cast<vs_handle>(i);
        std::string known;
        for (auto& it : items_)
            if (it.kind == kind) known += (known.empty() ? "" : ", ") + ("'" + it.title + "'");
        SCAMP5_EMU_THROW(std::invalid_argument("no GUI item '" + title + "' of that kind (known: " + known + ")"));
    }

    // Events are delivered in vs_process_message(), as the host's USB messages are.
    void queue(std::function<void()> event) { pending_.push_back(std::move(event)); }
    void process_messages() {
        auto events = std::move(pending_);
        pending_.clear();
        for (auto& e : events) e();
        answer_image_request();
    }

    // vs_gui_request_image: answered in vs_process_message() by the test API's image server. The
    // host sends the image's top `bits` bits per pixel (level = pixel >> (8 - bits)) as `bits`
    // planes, plane k holding bit k of the level; an image the server does not give is a timeout
    // (the callback sees index -1).
    struct ImageRequest {
        bool pending = false;
        std::string path;
        int bits = 0;
        vs_image_callback callback;
    };
    void answer_image_request() {
        if (!request_.pending) return;
        ImageRequest r = std::move(request_);
        request_ = ImageRequest{};
        GrayImage image;
        if (!image_server_ || !image_server_(r.path, image)) {
            r.callback(vs_dotmat{}, -1);
            return;
        }
        if (image.rows != kSize || image.cols != kSize)
            SCAMP5_EMU_THROW(std::invalid_argument("image server: " + r.path + " is " + std::to_string(image.rows) + "x" +
                                                   std::to_string(image.cols) + ", the host sends 256x256 images"));
        ++requests_served_;
        for (int k = 0; k < r.bits; ++k) {
            vs_dotmat plane(image.cols, image.rows);
            for (int row = 0; row < image.rows; ++row)
                for (int col = 0; col < image.cols; ++col)
                    if (((image.at(row, col) >> (8 - r.bits)) >> k) & 1) plane.set(row, col);
            r.callback(plane, k);
        }
    }

    void frame_loop_control() {
        if (stop_requested_ || (stop_after_ >= 0 && frame_ >= stop_after_)) SCAMP5_EMU_THROW(FrameLoopStopped{frame_});
        if (hook_) hook_(frame_);
        process_messages();
        if (stop_requested_) SCAMP5_EMU_THROW(FrameLoopStopped{frame_});
        ++frame_;
    }

    void post_text(const std::string& s) {
        log_ += s;
        if (echo_) std::fputs(s.c_str(), stderr);
    }

    std::vector<GuiItem> items_;
    std::vector<std::function<void()>> pending_;
    std::string log_;
    std::filesystem::path save_directory_ = ".";
    std::function<void(int)> hook_;
    std::function<bool(const std::string&, GrayImage&)> image_server_;
    ImageRequest request_;
    int requests_served_ = 0;
    int frame_ = 0;
    int stop_after_ = -1;
    bool stop_requested_ = false;
    bool echo_ = false;
};

inline Host& host_state() {
    static Host h;
    return h;
}

// Display image of a register, in display orientation (column 0 = left = device column 255).
inline GrayImage readout(const float* plane) {
    Device& d = device();
    GrayImage img{kSize, kSize, std::vector<std::uint8_t>(kPlane)};
    const float* t = d.error_model().enabled ? d.noise().plane() : nullptr;
    static const std::vector<float> zeros(kPlane, 0.0f);
    if (!t) t = zeros.data();
    for (int r = 0; r < kSize; ++r)
        for (int c = 0; c < kSize; ++c)
            img.pixels[static_cast<std::size_t>(r) * kSize + (kSize - 1 - c)] = d.adc(plane[r * kSize + c], r * kSize + c, t);
    return img;
}
inline GrayImage readout(const std::uint8_t* plane) {
    GrayImage img{kSize, kSize, std::vector<std::uint8_t>(kPlane)};
    for (int r = 0; r < kSize; ++r)
        for (int c = 0; c < kSize; ++c)
            img.pixels[static_cast<std::size_t>(r) * kSize + (kSize - 1 - c)] = plane[r * kSize + c] ? 255 : 0;
    return img;
}

struct DrawState {
    bool active = false;
    dreg_t target{0};
    std::vector<std::uint8_t> plane;
};
inline DrawState& draw_state() {
    static DrawState s;
    return s;
}

// ---- test API ----------------------------------------------------------------------------------
namespace host {
// Power-cycle the array (registers, kernel store, counters) and clear the GUI.
inline void reset() {
    device().power_cycle();
    host_state().reset();
    draw_state() = DrawState{};
}
inline void press_button(const std::string& title) {
    const vs_handle h = host_state().find_handle(title, GuiItem::Button);
    host_state().queue([h] {
        GuiItem& it = host_state().item(h);
        if (it.callback) it.callback(1);
    });
}
inline void set_slider(const std::string& title, int value) {
    const vs_handle h = host_state().find_handle(title, GuiItem::Slider);
    const GuiItem& slider = host_state().item(h);
    if (value < slider.min || value > slider.max)
        SCAMP5_EMU_THROW(std::invalid_argument("slider '" + title + "' accepts " + std::to_string(slider.min) + ".." +
                                    std::to_string(slider.max) + ", got " + std::to_string(value)));
    host_state().queue([h, value] {
        GuiItem& it = host_state().item(h);
        it.value = value;
        if (it.bound) *it.bound = value;
        if (it.callback) it.callback(value);
    });
}
inline void set_switch(const std::string& title, bool on) {
    const vs_handle h = host_state().find_handle(title, GuiItem::Switch);
    host_state().queue([h, on] {
        GuiItem& it = host_state().item(h);
        it.value = on;
        if (it.bound) *it.bound = on;
        if (it.callback) it.callback(on);
    });
}
// The photodiodes see `frame` (256 x 256, display orientation): value = pixel - 128.
inline void feed_frame(const GrayImage& frame) {
    if (frame.rows != kSize || frame.cols != kSize)
        SCAMP5_EMU_THROW(std::invalid_argument("feed_frame needs a 256 x 256 image, got " + std::to_string(frame.rows) + " x " +
                                    std::to_string(frame.cols)));
    auto& pix = device().pix();
    for (int r = 0; r < kSize; ++r)
        for (int c = 0; c < kSize; ++c)
            pix[static_cast<std::size_t>(r) * kSize + c] = static_cast<float>(frame.at(r, kSize - 1 - c)) - 128.0f;
}
inline const GrayImage& read_display(const std::string& title) { return host_state().find(title, GuiItem::Display).image; }
inline void stop_after_frames(int n) { host_state().stop_after_ = n; }
inline void request_stop() { host_state().stop_requested_ = true; }
// Called at the start of every frame-loop iteration with its index (0, 1, ...), before the
// host's messages (button presses, slider moves) are delivered.
inline void set_frame_hook(std::function<void(int)> hook) { host_state().hook_ = std::move(hook); }
inline void set_save_directory(const std::filesystem::path& dir) { host_state().save_directory_ = dir; }
inline const std::string& posted_text() { return host_state().log_; }
inline void echo_text(bool on) { host_state().echo_ = on; }
inline int frames_started() { return host_state().frame_; }
// Answers vs_gui_request_image(path, ...): fill `image` and return true, or return false (the device
// then sees a timeout). Images must be 256 x 256 (display orientation).
inline void set_image_server(std::function<bool(const std::string& path, GrayImage& image)> server) {
    host_state().image_server_ = std::move(server);
}
inline int image_requests_served() { return host_state().requests_served_; }
}  // namespace host

}  // namespace scamp5_emu

// ---- SCAMP-5 host-side calls (outside kernels) ---------------------------------------------------
namespace scamp5_emu::detail_host {
inline void require_byte(int v, const char* what) {
    if (v < 0 || v > 255)
        SCAMP5_EMU_THROW(std::invalid_argument(std::string(what) + " must be 0..255, got " + std::to_string(v)));
}
inline void load_constant(areg_t a, int v, double sigma, const char* call) {
    Device& d = device();
    d.require_outside_kernel(call);
    if (v < -128 || v > 127) SCAMP5_EMU_THROW(std::invalid_argument(std::string(call) + ": value must be -128..127, got " + std::to_string(v)));
    std::vector<float> plane(kPlane, static_cast<float>(v));
    if (d.error_model().enabled && sigma > 0) {
        const float* t = d.noise().plane();
        for (int i = 0; i < kPlane; ++i) plane[i] += static_cast<float>(sigma) * t[i];
    }
    d.write_analogue_masked(a.id, plane.data());  // FLAG masks it like any analogue write
}
}  // namespace scamp5_emu::detail_host

// a := v (int8) with the SDK's error correction.
inline void scamp5_in(scamp5_emu::areg_t a, int v) {
    scamp5_emu::detail_host::load_constant(a, v, scamp5_emu::device().error_model().in_sigma, "scamp5_in");
}
// a := v without error correction; the one-argument form only sets IN.
inline void scamp5_load_in(scamp5_emu::areg_t a, int v) {
    scamp5_emu::detail_host::load_constant(a, v, scamp5_emu::device().error_model().load_in_sigma, "scamp5_load_in");
}
inline void scamp5_load_in(int v) {
    auto& d = scamp5_emu::device();
    d.require_outside_kernel("scamp5_load_in");
    if (v < -128 || v > 127) SCAMP5_EMU_THROW(std::invalid_argument("scamp5_load_in: value must be -128..127, got " + std::to_string(v)));
    d.in_value() = static_cast<float>(v) +
                   (d.error_model().enabled ? static_cast<float>(d.error_model().load_in_sigma) * d.noise().scalar() : 0.0f);
}

namespace scamp5_emu::detail_host {
// Digital addressing is separable: PE (row, col) is selected iff rows[row] && cols[col].
inline void load_digital(dreg_t r, const std::array<std::uint8_t, kSize>& rows, const std::array<std::uint8_t, kSize>& cols,
                         const char* call) {
    Device& d = device();
    d.require_outside_kernel(call);
    std::vector<std::uint8_t> v(kPlane);
    for (int row = 0; row < kSize; ++row) {
        std::uint8_t* o = v.data() + static_cast<std::size_t>(row) * kSize;
        if (rows[static_cast<std::size_t>(row)]) std::memcpy(o, cols.data(), kSize);
        else std::memset(o, 0, kSize);
    }
    d.write_digital(r.id, v.data());
}
template <class F>
std::array<std::uint8_t, kSize> select_indices(F f) {
    std::array<std::uint8_t, kSize> a{};
    for (int i = 0; i < kSize; ++i) a[static_cast<std::size_t>(i)] = f(i) ? 1 : 0;
    return a;
}
}  // namespace scamp5_emu::detail_host

// r := 1 at (row, col) only (device coordinates: column 0 is the right-hand column).
inline void scamp5_load_point(scamp5_emu::dreg_t r, int row, int col) {
    scamp5_emu::detail_host::require_byte(row, "scamp5_load_point row");
    scamp5_emu::detail_host::require_byte(col, "scamp5_load_point col");
    using scamp5_emu::detail_host::select_indices;
    scamp5_emu::detail_host::load_digital(r, select_indices([=](int y) { return y == row; }),
                                          select_indices([=](int x) { return x == col; }), "scamp5_load_point");
}
// r := 1 inside rows r0..r1 and columns c0..c1 (inclusive; (r0, c0) is the top-right corner).
inline void scamp5_load_rect(scamp5_emu::dreg_t r, int r0, int c0, int r1, int c1) {
    scamp5_emu::detail_host::require_byte(r0, "scamp5_load_rect r0");
    scamp5_emu::detail_host::require_byte(c0, "scamp5_load_rect c0");
    scamp5_emu::detail_host::require_byte(r1, "scamp5_load_rect r1");
    scamp5_emu::detail_host::require_byte(c1, "scamp5_load_rect c1");
    if (r0 > r1 || c0 > c1)
        SCAMP5_EMU_THROW(std::invalid_argument("scamp5_load_rect: need r0 <= r1 and c0 <= c1 (top-right to bottom-left corner)"));
    using scamp5_emu::detail_host::select_indices;
    scamp5_emu::detail_host::load_digital(r, select_indices([=](int y) { return y >= r0 && y <= r1; }),
                                          select_indices([=](int x) { return x >= c0 && x <= c1; }), "scamp5_load_rect");
}
// r := 1 where (row_index | rowmask) == (row | rowmask) and likewise for columns: mask bits are
// "don't care" (mask 192, value 3 selects rows 3, 67, 131, 195).
inline void scamp5_load_pattern(scamp5_emu::dreg_t r, int row, int col, int rowmask, int colmask) {
    for (int v : {row, col, rowmask, colmask}) scamp5_emu::detail_host::require_byte(v, "scamp5_load_pattern argument");
    using scamp5_emu::detail_host::select_indices;
    scamp5_emu::detail_host::load_digital(r, select_indices([=](int y) { return (y | rowmask) == (row | rowmask); }),
                                          select_indices([=](int x) { return (x | colmask) == (col | colmask); }),
                                          "scamp5_load_pattern");
}
// 4-connected fill: repeat `iterations` times target |= mask AND (OR of the neighbours' target),
// the array edge reading `boundary`; with use_local, only the neighbours enabled by R1..R4 count.
inline void scamp5_flood(scamp5_emu::dreg_t target, scamp5_emu::dreg_t mask, int boundary, int iterations = 5,
                         bool use_local = false) {
    using namespace scamp5_emu;
    Device& d = device();
    d.require_outside_kernel("scamp5_flood");
    if (iterations < 0) SCAMP5_EMU_THROW(std::invalid_argument("scamp5_flood: iterations must be >= 0"));
    std::vector<std::uint8_t> t(d.plane(target), d.plane(target) + kPlane), next(kPlane);
    const std::uint8_t* m = d.plane(mask);
    const std::uint8_t* en[4] = {d.plane(dreg_t{1}), d.plane(dreg_t{2}), d.plane(dreg_t{3}), d.plane(dreg_t{4})};
    const std::uint8_t edge = boundary ? 1 : 0;
    for (int it = 0; it < iterations; ++it) {
        for (int r = 0; r < kSize; ++r)
            for (int c = 0; c < kSize; ++c) {
                const int i = r * kSize + c;
                const std::uint8_t s = r + 1 < kSize ? t[i + kSize] : edge, w = c + 1 < kSize ? t[i + 1] : edge;
                const std::uint8_t n = r > 0 ? t[i - kSize] : edge, e = c > 0 ? t[i - 1] : edge;
                const std::uint8_t any = use_local ? ((en[0][i] & s) | (en[1][i] & w) | (en[2][i] & n) | (en[3][i] & e))
                                                   : (s | w | n | e);
                next[i] = static_cast<std::uint8_t>(t[i] | (m[i] & any));
            }
        t.swap(next);
    }
    d.write_digital(target.id, t.data());
}
// Shift a digital image: h > 0 moves it east (towards column 0), v > 0 north; zeros shift in.
inline void scamp5_shift(scamp5_emu::dreg_t r, int h, int v) {
    using namespace scamp5_emu;
    Device& d = device();
    d.require_outside_kernel("scamp5_shift");
    const std::uint8_t* s = d.plane(r);
    std::vector<std::uint8_t> out(kPlane, 0);
    for (int row = 0; row < kSize; ++row)
        for (int col = 0; col < kSize; ++col) {
            const int sr = row + v, sc = col + h;
            if (sr >= 0 && sr < kSize && sc >= 0 && sc < kSize) out[static_cast<std::size_t>(row) * kSize + col] = s[sr * kSize + sc];
        }
    d.write_digital(r.id, out.data());
}
// yf := full-range image, yh := half-range image (get_image(yf, yh) gives -half; one neg restores it).
// Drawing into a digital register: scamp5_draw_begin(r) starts from r's content, scamp5_draw_pixel
// sets (row, col) (device coordinates), scamp5_draw_end() writes the result back into r.
inline void scamp5_draw_begin(scamp5_emu::dreg_t r) {
    auto& d = scamp5_emu::device();
    d.require_outside_kernel("scamp5_draw_begin");
    auto& s = scamp5_emu::draw_state();
    if (s.active) SCAMP5_EMU_THROW(std::logic_error("scamp5_draw_begin() while drawing (missing scamp5_draw_end())"));
    s.active = true;
    s.target = r;
    s.plane.assign(d.plane(r), d.plane(r) + scamp5_emu::kPlane);
}
inline void scamp5_draw_pixel(int row, int col) {
    auto& s = scamp5_emu::draw_state();
    if (!s.active) SCAMP5_EMU_THROW(std::logic_error("scamp5_draw_pixel() outside scamp5_draw_begin()/end()"));
    scamp5_emu::detail_host::require_byte(row, "scamp5_draw_pixel row");
    scamp5_emu::detail_host::require_byte(col, "scamp5_draw_pixel col");
    s.plane[static_cast<std::size_t>(row) * scamp5_emu::kSize + col] = 1;
}
inline void scamp5_draw_end() {
    auto& s = scamp5_emu::draw_state();
    if (!s.active) SCAMP5_EMU_THROW(std::logic_error("scamp5_draw_end() without scamp5_draw_begin()"));
    s.active = false;
    scamp5_emu::device().write_digital(s.target.id, s.plane.data());
}
inline void scamp5_get_image(scamp5_emu::areg_t yf, scamp5_emu::areg_t yh, int gain = 1) {
    if (gain < 1 || gain > 4) SCAMP5_EMU_THROW(std::invalid_argument("scamp5_get_image: gain must be 1..4"));
    auto& d = scamp5_emu::device();
    d.require_outside_kernel("scamp5_get_image");
    scamp5_emu::DynamicKernel k;
    d.begin_dynamic(k);
    scamp5_emu::instructions::get_image(yf, yh);
    scamp5_emu::instructions::neg(yh, yh);
    d.end_dynamic(k);
    d.replay(k.code);
}
inline void scamp5_output_image(scamp5_emu::areg_t a, vs_handle display) {
    auto& d = scamp5_emu::device();
    d.require_outside_kernel("scamp5_output_image");
    auto& it = scamp5_emu::host_state().item(display);
    if (it.kind != scamp5_emu::GuiItem::Display) SCAMP5_EMU_THROW(std::invalid_argument("scamp5_output_image: handle is not a display"));
    it.image = scamp5_emu::readout(d.plane(a));
}
inline void scamp5_output_image(scamp5_emu::dreg_t r, vs_handle display) {
    auto& d = scamp5_emu::device();
    d.require_outside_kernel("scamp5_output_image");
    auto& it = scamp5_emu::host_state().item(display);
    if (it.kind != scamp5_emu::GuiItem::Display) SCAMP5_EMU_THROW(std::invalid_argument("scamp5_output_image: handle is not a display"));
    it.image = scamp5_emu::readout(d.plane(r));
}
// One PE through the ADC: 0..255, about value + 128.
inline std::uint8_t scamp5_read_areg(scamp5_emu::areg_t a, int row, int col) {
    using namespace scamp5_emu;
    scamp5_emu::detail_host::require_byte(row, "scamp5_read_areg row");
    scamp5_emu::detail_host::require_byte(col, "scamp5_read_areg col");
    Device& d = device();
    d.require_outside_kernel("scamp5_read_areg");
    const int i = row * kSize + col;
    float t = d.error_model().enabled ? d.noise().scalar() : 0.0f;
    std::vector<float> one(kPlane, t);
    return d.adc(d.plane(a)[i], i, one.data());
}
inline bool scamp5_global_or(scamp5_emu::dreg_t r) {
    auto& d = scamp5_emu::device();
    d.require_outside_kernel("scamp5_global_or");
    const std::uint8_t* p = d.plane(r);
    for (int i = 0; i < scamp5_emu::kPlane; ++i)
        if (p[i]) return true;
    return false;
}

// ---- kernels -------------------------------------------------------------------------------------
// A static kernel is recorded the first time its block runs and replayed afterwards: the C++ code
// inside runs once, so any value it reads is frozen. Its words count against the 1024-word store.
// The instructions are in scope only between begin and end (namespace scamp5_emu::instructions).
#define scamp5_kernel_begin()                                           \
    do {                                                                \
        static ::scamp5_emu::StaticKernel scamp5_emu_static_kernel_;    \
        if (::scamp5_emu::device().begin_static(scamp5_emu_static_kernel_)) { \
            using namespace ::scamp5_emu::instructions;
#define scamp5_kernel_end()                                                        \
        ::scamp5_emu::device().end_static(scamp5_emu_static_kernel_);              \
        }                                                                          \
        ::scamp5_emu::device().replay(scamp5_emu_static_kernel_.code);             \
    } while (0)
// A dynamic kernel re-records (re-runs its C++ code) every time.
#define scamp5_dynamic_kernel_begin()                                 \
    do {                                                              \
        ::scamp5_emu::DynamicKernel scamp5_emu_dynamic_kernel_;       \
        ::scamp5_emu::device().begin_dynamic(scamp5_emu_dynamic_kernel_); { \
            using namespace ::scamp5_emu::instructions;
#define scamp5_dynamic_kernel_end()                                          \
        }                                                                    \
        ::scamp5_emu::device().end_dynamic(scamp5_emu_dynamic_kernel_);      \
        ::scamp5_emu::device().replay(scamp5_emu_dynamic_kernel_.code);      \
    } while (0)

// ---- "vs" host API (GUI, USB loop) -------------------------------------------------------------
inline void vs_init() { scamp5_emu::host_state().items_.clear(); }
inline vs_handle vs_gui_add_display(const char* title, int row, int col, int size = 1) {
    (void)row;
    (void)col;
    (void)size;
    scamp5_emu::GuiItem it{scamp5_emu::GuiItem::Display, title};
    it.image = scamp5_emu::GrayImage{scamp5_emu::kSize, scamp5_emu::kSize,
                                     std::vector<std::uint8_t>(scamp5_emu::kPlane, 0)};
    return scamp5_emu::host_state().add(std::move(it));
}
inline vs_handle vs_gui_add_slider(const char* title, int min, int max, int init, int* var = nullptr) {
    if (min > max || init < min || init > max)
        SCAMP5_EMU_THROW(std::invalid_argument(std::string("slider '") + title + "': need min <= init <= max"));
    scamp5_emu::GuiItem it{scamp5_emu::GuiItem::Slider, title, min, max, init, var};
    if (var) *var = init;
    return scamp5_emu::host_state().add(std::move(it));
}
inline vs_handle vs_gui_add_switch(const char* title, bool init, int* var = nullptr) {
    scamp5_emu::GuiItem it{scamp5_emu::GuiItem::Switch, title, 0, 1, init ? 1 : 0, var};
    if (var) *var = init;
    return scamp5_emu::host_state().add(std::move(it));
}
inline vs_handle vs_gui_add_button(const char* title) {
    return scamp5_emu::host_state().add(scamp5_emu::GuiItem{scamp5_emu::GuiItem::Button, title});
}
inline void vs_on_gui_update(vs_handle h, std::function<void(int32_t)> callback) {
    scamp5_emu::host_state().item(h).callback = std::move(callback);
}
inline int32_t vs_gui_read_slider(vs_handle h) { return scamp5_emu::host_state().item(h).value; }
inline int32_t vs_gui_read_switch(vs_handle h) { return scamp5_emu::host_state().item(h).value; }
// The host saves what a display shows, as a 24-bit gray BMP, under the test API's save directory.
inline void vs_gui_save_image(vs_handle display, const char* path) {
    auto& it = scamp5_emu::host_state().item(display);
    if (it.kind != scamp5_emu::GuiItem::Display) SCAMP5_EMU_THROW(std::invalid_argument("vs_gui_save_image: handle is not a display"));
    scamp5_emu::write_file_atomically(scamp5_emu::host_state().save_directory_ / path, scamp5_emu::encode_bmp24(it.image));
}
inline void vs_post_text(const char* fmt, ...) {
    char buf[4096];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    scamp5_emu::host_state().post_text(buf);
}
inline void vs_process_message() { scamp5_emu::host_state().process_messages(); }
// Asks the host for the image file `path` as `bits` bit planes; `callback(plane, k)` runs once per
// plane (k = bit of the level, 0 = least significant), or once with k = -1 on timeout. Returns
// non-zero (and sends nothing) while an earlier request is still pending. Poll vs_process_message()
// until vs_gui_request_done().
inline int vs_gui_request_image(const char* path, int bits, vs_image_callback callback, uint32_t timeout_msec = 1000) {
    (void)timeout_msec;
    auto& h = scamp5_emu::host_state();
    if (bits < 1 || bits > 8) SCAMP5_EMU_THROW(std::invalid_argument("vs_gui_request_image: bits must be 1..8"));
    if (h.request_.pending) return 1;
    h.request_ = scamp5_emu::Host::ImageRequest{true, path, bits, std::move(callback)};
    return 0;
}
inline bool vs_gui_request_done() { return !scamp5_emu::host_state().request_.pending; }
inline void vs_frame_loop_control() { scamp5_emu::host_state().frame_loop_control(); }
inline void vs_wait_frame_trigger() {}
inline void vs_led_on(int = 0) {}
inline void vs_led_off(int = 0) {}

class vs_stopwatch {
public:
    vs_stopwatch() { reset(); }
    void reset() { start_ = std::chrono::steady_clock::now(); }
    uint32_t get_usec() const {
        return static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count());
    }

private:
    std::chrono::steady_clock::time_point start_;
};
