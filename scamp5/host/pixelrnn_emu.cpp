// Host runner: runs the PixelRNN sensor program on the SCAMP-5 emulator over a folder of clips and
// writes <out>/<class>/<sequence>/<T-1>_output.BMP as the real sensor's host does.
//
//   pixelrnn_emu --weights FILE --clips DIR --out DIR [--iw 10] [--iw-rnn 10]
//                [--noise off|hardware] [--seed N] [--dump-intermediates DIR] [--chip-model FILE]
//   pixelrnn_emu --clips DIR [--write-clips-header FILE] [--host-root PATH] [--write-host-frames DIR]
//
// The program runs exactly as on the chip with host-fed input: it requests every frame by path
// (vs_gui_request_image, 4 bits); this runner is the host and answers from --clips, each 64 x 64
// frame tiled 16 times into the 256 x 256 image. Every frame of every clip is read and checked
// before the first output; outputs are written to a staging folder beside --out and moved into
// --out only when the whole run succeeded (an error leaves --out as it was).
//
// For the device build: --write-clips-header writes its clip list (PIXELRNN_CLIPS_HEADER) for --clips,
// with kRoot = --host-root (default: the absolute --clips path); --write-host-frames writes the files
// the host PC serves, DIR/<class>/<sequence>/<t>.bmp: 256 x 256, the frame tiled 16 times, each pixel
// 17 * (pixel >> 4), so that its top and bottom 4 bits are both the level the program expects
// (whichever nibble the host sends).
//
// --chip-model FILE (chip_model.hpp; scamp5/README.md, "Chip model") names the program that runs
// ("project": this project's, exact to PyTorch; "release": the authors' chip program) and the chip's
// analogue effects; --seed N draws its random errors. Without it nothing changes (project program,
// --noise as given). It cannot be combined with --noise hardware or --iw/--iw-rnn.
//
// --dump-intermediates writes, per clip and frame t, the stages the sensor program shows in the
// release's print_intermediates layout and encodings (data_utils/scamp_io.py reads them):
//   DIR/<class>/<sequence>/<t>/0_binarized_x.BMP           binarised frame (64x64, 255 = +1, 0 = -1)
//                             /3_thresholded_quantized.BMP  CNN mosaic x_t (64x64, binary)
//                             /6_ft_ot.BMP                  top h_t (binary), bottom o_t as
//                                                           clip(o * iw_rnn + 127, 0, 255) (128x64)
//                             /7_forget_gate_x.BMP          gate g_t (64x64, binary)
// 24-bit gray BMPs cut from the displays: the frame from its top-left tile, the rest from the state
// quadrant (display rows/columns 128..191).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include <scamp5.hpp>

#include "../src/pixelrnn_program.hpp"
#include "../src/release_chip_program.hpp"
#include "chip_model.hpp"
#include "clip_folder.hpp"
#include "weights_json.hpp"

namespace fs = std::filesystem;

namespace {

struct Options {
    fs::path weights, clips, out, dump, clips_header, host_root, host_frames, chip_model;
    int iw = 0, iw_rnn = 0;
    std::string noise = "off";
    bool noise_given = false;
    unsigned long long seed = 0;
};

[[noreturn]] void usage(const std::string& error) {
    std::cerr << "error: " << error << "\n"
              << "usage: pixelrnn_emu --weights FILE --clips DIR --out DIR [--iw 10] [--iw-rnn 10]\n"
              << "                    [--noise off|hardware] [--seed N] [--dump-intermediates DIR] [--chip-model FILE]\n"
              << "       pixelrnn_emu --clips DIR [--write-clips-header FILE] [--host-root PATH] [--write-host-frames DIR]\n";
    std::exit(2);
}

// A user error found before any work: named, exit status 2 (as every error of this runner).
[[noreturn]] void fail(const std::string& error) {
    std::cerr << "pixelrnn_emu: error: " << error << "\n";
    std::exit(2);
}

int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
    char* end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || x < lo || x > hi)
        usage(flag + " expects an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + v + "'");
    return static_cast<int>(x);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--weights") o.weights = value();
        else if (a == "--clips") o.clips = value();
        else if (a == "--out") o.out = value();
        else if (a == "--iw") o.iw = parse_int(a, value(), 1, 127);
        else if (a == "--iw-rnn") o.iw_rnn = parse_int(a, value(), 1, 127);
        else if (a == "--noise") {
            o.noise = value();
            o.noise_given = true;
            if (o.noise != "off" && o.noise != "hardware") usage("--noise accepts off or hardware, got '" + o.noise + "'");
        } else if (a == "--seed") o.seed = static_cast<unsigned long long>(parse_int(a, value(), 0, 2147483647));
        else if (a == "--dump-intermediates") o.dump = value();
        else if (a == "--chip-model") o.chip_model = value();
        else if (a == "--write-clips-header") o.clips_header = value();
        else if (a == "--host-root") o.host_root = value();
        else if (a == "--write-host-frames") o.host_frames = value();
        else if (a == "-h" || a == "--help") usage("help requested");
        else usage("unknown argument '" + a + "'");
    }
    for (fs::path* folder : {&o.out, &o.host_frames, &o.dump})  // "out/" names the folder out
        if (!folder->empty() && !folder->has_filename()) *folder = folder->parent_path();
    // Output folders are checked before any clip runs (a file there would only be met at the end).
    const std::pair<const char*, const fs::path*> folders[] = {
        {"--out", &o.out}, {"--write-host-frames", &o.host_frames}, {"--dump-intermediates", &o.dump}};
    for (const auto& [flag, folder] : folders) {
        std::error_code ignored;
        if (!folder->empty() && fs::exists(*folder, ignored) && !fs::is_directory(*folder, ignored))
            fail(std::string(flag) + " " + folder->string() +
                 " is a file, not a folder; give the path of a folder (it is created if missing)");
    }
    // A training run's folder is written by train.py alone (as the Python tools refuse it too).
    for (const char* run_file : {"last.pt", "best.pt"}) {
        std::error_code ignored;
        if (!o.out.empty() && fs::exists(o.out / run_file, ignored))
            fail("--out " + o.out.string() + " holds a training run (" + run_file +
                 "); choose another --out (a folder inside it will do)");
    }
    if (o.clips.empty()) usage("--clips is required");
    if (!o.host_root.empty() && o.clips_header.empty()) usage("--host-root goes with --write-clips-header");
    if (!o.clips_header.empty() || !o.host_frames.empty()) return o;
    if (o.weights.empty()) usage("--weights is required");
    if (!o.chip_model.empty() && ((o.noise_given && o.noise != "off") || o.iw != 0 || o.iw_rnn != 0))
        usage("--chip-model sets the chip's errors and the program's whites itself; drop --noise " + o.noise +
              " and --iw/--iw-rnn");
    if (o.out.empty()) usage("--out is required");
    return o;
}

std::string json_escaped(const std::string& s) {
    std::string out;
    for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        if (static_cast<unsigned char>(ch) >= 32) out += ch;
    }
    return out;
}

scamp5_emu::GrayImage tile_16(const scamp5_emu::GrayImage& frame) {
    scamp5_emu::GrayImage big{256, 256, std::vector<std::uint8_t>(256 * 256)};
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 256; ++c) big.pixels[static_cast<std::size_t>(r) * 256 + c] = frame.at(r % 64, c % 64);
    return big;
}

// The image the host serves for a frame: tiled 16 times, each pixel 17 * (pixel >> 4) (top and
// bottom 4 bits both hold the level; the emulated host, like the real one, sends 4 bit planes).
scamp5_emu::GrayImage host_image(const scamp5_emu::GrayImage& frame) {
    scamp5_emu::GrayImage img = tile_16(frame);
    for (std::uint8_t& p : img.pixels) p = static_cast<std::uint8_t>(17 * (p >> 4));
    return img;
}

// The 64 x 64 window of a display starting at (row0, col0), display coordinates.
scamp5_emu::GrayImage window(const scamp5_emu::GrayImage& display, int row0, int col0) {
    scamp5_emu::GrayImage w{64, 64, std::vector<std::uint8_t>(64 * 64)};
    for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 64; ++c) w.pixels[static_cast<std::size_t>(r) * 64 + c] = display.at(row0 + r, col0 + c);
    return w;
}

// 6_ft_ot: h_t above o_t. The program shows o_t in unit 1 (pixel = o + 128, exact for |o| <= 50 with
// noise off); the release's file holds clip(o * iw + 127, 0, 255).
scamp5_emu::GrayImage ft_ot_image(const scamp5_emu::GrayImage& hidden, const scamp5_emu::GrayImage& o_unit, int iw) {
    scamp5_emu::GrayImage img{128, 64, hidden.pixels};
    for (std::uint8_t p : o_unit.pixels)
        img.pixels.push_back(static_cast<std::uint8_t>(std::clamp((static_cast<int>(p) - 128) * iw + 127, 0, 255)));
    return img;
}

void dump_intermediates(const fs::path& dir, int iw_rnn) {
    using PRS = PixelRNNSensorProgram;
    namespace host = scamp5_emu::host;
    auto state = [](const char* display) { return window(host::read_display(display), 128, 128); };
    auto save = [&](const char* name, const scamp5_emu::GrayImage& img) {
        scamp5_emu::write_file_atomically(dir / name, scamp5_emu::encode_bmp24(img));
    };
    save("0_binarized_x.BMP", window(host::read_display(PRS::kDisplayInput), 0, 0));
    save("3_thresholded_quantized.BMP", state(PRS::kDisplayEncoded));
    save("6_ft_ot.BMP", ft_ot_image(state(PRS::kDisplayHidden), state(PRS::kDisplayOt), iw_rnn));
    save("7_forget_gate_x.BMP", state(PRS::kDisplayGate));
}

// Every frame of every clip, read and checked (64 x 64 gray) before anything is written.
struct LoadedClip {
    ClipFrames files;
    std::string name;  // "<class>/<sequence>", the program's clip name
    std::vector<scamp5_emu::GrayImage> frames;
};
std::vector<LoadedClip> load_all_clips(const fs::path& root) {
    std::vector<LoadedClip> clips;
    for (ClipFrames& c : list_clips(root)) {
        LoadedClip clip{c, c.class_name + "/" + c.sequence, {}};
        for (const fs::path& f : c.frames) clip.frames.push_back(read_clip_frame(f));
        for (char ch : clip.name)
            if (ch == '"' || ch == '\\' || ch < 32)
                throw std::runtime_error("clip folder name '" + clip.name + "' holds a quote, backslash or control character");
        clips.push_back(std::move(clip));
    }
    return clips;
}

void write_clips_header(const fs::path& path, const fs::path& root, const std::vector<LoadedClip>& clips) {
    std::string text =
        "// Clip list of the PixelRNN sensor program's host-fed input (written by pixelrnn_emu --write-clips-header).\n"
        "// The host PC serves frame t of clip NAME from kRoot/NAME/t.bmp (256 x 256: the 64 x 64 frame tiled 16 times).\n"
        "#pragma once\n#include \"pixelrnn_program.hpp\"\nnamespace pixelrnn_clips {\nconstexpr const char* kRoot = \"" +
        root.generic_string() + "\";\nconstexpr PixelRNNClip kClips[] = {\n";
    for (const LoadedClip& c : clips) text += "    {\"" + c.name + "\", " + std::to_string(c.frames.size()) + "},\n";
    text += "};\n}  // namespace pixelrnn_clips\n";
    scamp5_emu::write_file_atomically(path, std::vector<std::uint8_t>(text.begin(), text.end()));
}

// A folder beside `target` (never inside it, even for "out/") for staging writes.
fs::path staging_folder(fs::path target) {
    if (!target.has_filename()) target = target.parent_path();
    target += ".incomplete-" + std::to_string(static_cast<long>(getpid()));
    return target;
}

// Moves the staged outputs into `out` (created if absent), replacing same-named entries.
void publish(const fs::path& staging, const fs::path& out) {
    if (!fs::exists(out)) {
        if (out.has_parent_path()) fs::create_directories(out.parent_path());
        fs::rename(staging, out);
        return;
    }
    if (!fs::is_directory(out)) throw std::runtime_error("--out " + out.string() + " exists and is not a folder");
    for (const auto& entry : fs::directory_iterator(staging)) {
        const fs::path target = out / entry.path().filename();
        fs::remove_all(target);
        fs::rename(entry.path(), target);
    }
    fs::remove_all(staging);
}

// The host PC's frame files (see the top of this file): written to a staging folder, then renamed.
void write_host_frames(const fs::path& dir, const std::vector<LoadedClip>& clips) {
    const fs::path staging = staging_folder(dir);
    fs::remove_all(staging);
    for (const LoadedClip& c : clips)
        for (std::size_t t = 0; t < c.frames.size(); ++t) {
            scamp5_emu::write_file_atomically(staging / c.files.class_name / c.files.sequence / (std::to_string(t) + ".bmp"),
                                              scamp5_emu::encode_bmp24(host_image(c.frames[t])));
        }
    publish(staging, dir);
}

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    fs::path staging;
    try {
        // Everything is read and validated before the first frame, so errors name the file.
        const std::vector<LoadedClip> clips = load_all_clips(opt.clips);
        if (!opt.clips_header.empty() || !opt.host_frames.empty()) {
            if (!opt.clips_header.empty()) {
                const fs::path root = !opt.host_root.empty() ? opt.host_root : fs::absolute(opt.clips).lexically_normal();
                write_clips_header(opt.clips_header, root, clips);
                std::printf("pixelrnn_emu: wrote %zu clips to %s\n", clips.size(), opt.clips_header.string().c_str());
            }
            if (!opt.host_frames.empty()) {
                write_host_frames(opt.host_frames, clips);
                std::printf("pixelrnn_emu: wrote the host frames of %zu clips under %s\n", clips.size(),
                            opt.host_frames.string().c_str());
            }
            return 0;
        }
        {
            std::vector<ClipFrames> listed;
            for (const LoadedClip& c : clips) listed.push_back(c.files);
            check_same_frame_count(opt.clips, listed);
        }
        ChipModel chip;  // default: the project's program, --noise as given
        if (!opt.chip_model.empty()) {
            chip = load_chip_model(opt.chip_model.string());
            if (chip.program == "release" && !opt.dump.empty())
                throw std::runtime_error("--dump-intermediates is not available for the release program (chip model " +
                                         opt.chip_model.string() + ")");
        }
        const SensorWeightsFile initial = load_sensor_weights_json(opt.weights, opt.iw, opt.iw_rnn);
        char invalid[160];
        if (!validate_pixelrnn_weights(initial.weights, invalid, sizeof invalid))
            throw std::runtime_error(opt.weights.string() + ": " + invalid);

        // The program's clip list and the host's answers: request path -> (clip, frame).
        const std::string root = opt.clips.generic_string();
        std::vector<PixelRNNClip> list;
        std::map<std::string, std::pair<std::size_t, std::size_t>> served;
        struct FrameRef {
            std::size_t clip;
            int t;
        };
        std::vector<FrameRef> schedule;
        for (std::size_t k = 0; k < clips.size(); ++k) {
            list.push_back({clips[k].name.c_str(), static_cast<int>(clips[k].frames.size())});
            for (std::size_t t = 0; t < clips[k].frames.size(); ++t) {
                char path[1024];
                pixelrnn_frame_path(path, sizeof path, root.c_str(), clips[k].name.c_str(), static_cast<int>(t));
                served[path] = {k, t};
                schedule.push_back({k, static_cast<int>(t)});
            }
        }
        const int total = static_cast<int>(schedule.size());

        staging = staging_folder(opt.out);
        fs::remove_all(staging);
        fs::create_directories(staging);

        scamp5_emu::host::reset();
        if (!opt.chip_model.empty()) apply_chip_model(chip);
        else scamp5_emu::device().set_error_model(scamp5_emu::ErrorModel::by_name(opt.noise));
        scamp5_emu::device().seed(opt.seed);
        scamp5_emu::host::set_save_directory(staging);
        scamp5_emu::host::set_image_server([&](const std::string& path, scamp5_emu::GrayImage& image) {
            const auto it = served.find(path);
            if (it == served.end()) return false;
            image = host_image(clips[it->second.first].frames[it->second.second]);
            return true;
        });

        const PixelRNNSensorProgram::WeightsLoader loader = [&](PixelRNNWeights& w, char* error, std::size_t size) {
            try {
                w = load_sensor_weights_json(opt.weights, opt.iw, opt.iw_rnn).weights;
                return true;
            } catch (const std::exception& e) {
                std::snprintf(error, size, "%s", e.what());
                return false;
            }
        };
        const PixelRNNClipList clip_list{root.c_str(), list.data(), static_cast<int>(list.size())};
        PixelRNNSensorProgram program(loader, clip_list);
        ReleaseChipProgram release_program(loader, clip_list);
        // The GUI exists once run() starts; the operator's actions are queued for the first frame.
        scamp5_emu::host::set_frame_hook([&](int n) {
            if (n == 0) {
                scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchSaveOutputs, true);
                scamp5_emu::host::set_switch(PixelRNNSensorProgram::kSwitchIntermediates, !opt.dump.empty());
                scamp5_emu::host::press_button(PixelRNNSensorProgram::kButtonLoadImageStop);
            }
            if (n >= 1 && !opt.dump.empty()) {
                const FrameRef& prev = schedule[static_cast<std::size_t>(n - 1)];
                const LoadedClip& clip = clips[prev.clip];
                dump_intermediates(opt.dump / clip.files.class_name / clip.files.sequence / std::to_string(prev.t),
                                   initial.weights.input_rnn_white);
            }
            if (n >= total) scamp5_emu::host::request_stop();
        });
        const auto start = std::chrono::steady_clock::now();
        try {
            if (chip.program == "release") release_program.run();
            else program.run();
        } catch (const scamp5_emu::FrameLoopStopped&) {
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string& log = scamp5_emu::host::posted_text();
        if (log.find("failed") != std::string::npos || log.find("rejected") != std::string::npos)
            throw std::runtime_error("sensor program: " + log);
        if (scamp5_emu::host::image_requests_served() != total)
            throw std::runtime_error("sensor program requested " + std::to_string(scamp5_emu::host::image_requests_served()) +
                                     " of the " + std::to_string(total) + " frames: " + log);
        const auto& dev = scamp5_emu::device();
        const double fps = seconds > 0 ? total / seconds : 0.0;
        char stats[4096];
        std::snprintf(stats, sizeof stats,
                      "{\n  \"clips\": %zu,\n  \"frames\": %d,\n  \"host_frames_served\": %d,\n  \"seconds\": %.3f,\n  \"frames_per_second\": %.3f,\n"
                      "  \"static_kernel_words\": %d,\n  \"static_kernels\": %d,\n  \"static_store_words\": %d,\n"
                      "  \"max_dynamic_kernel_words\": %d,\n  \"instructions_executed\": %llu,\n"
                      "  \"program\": \"%s\",\n  \"chip_model\": \"%s\",\n  \"noise\": \"%s\",\n  \"seed\": %llu,\n  \"input_white\": %d,\n  \"input_rnn_white\": %d\n}\n",
                      clips.size(), total, scamp5_emu::host::image_requests_served(), seconds, fps, dev.static_words(), dev.static_kernels(),
                      scamp5_emu::kStaticStoreWords, dev.max_dynamic_words(),
                      static_cast<unsigned long long>(dev.executed_instructions()), chip.program.c_str(),
                      json_escaped(opt.chip_model.generic_string()).c_str(), opt.chip_model.empty() ? opt.noise.c_str() : "chip model", opt.seed,
                      initial.weights.input_white, initial.weights.input_rnn_white);
        const std::string text(stats);
        scamp5_emu::write_file_atomically(staging / "emulator_stats.json", std::vector<std::uint8_t>(text.begin(), text.end()));
        publish(staging, opt.out);
        std::printf("pixelrnn_emu: %zu clips, %d frames in %.2f s (%.2f frames/s), %d static kernel words of %d\n",
                    clips.size(), total, seconds, fps, dev.static_words(), scamp5_emu::kStaticStoreWords);
    } catch (const std::exception& e) {
        std::error_code ignored;
        if (!staging.empty()) fs::remove_all(staging, ignored);
        std::cerr << "pixelrnn_emu: error: " << e.what() << "\n";
        return 2;  // every error here is about the inputs, the outputs' folder or the disk: named above
    }
    return 0;
}
