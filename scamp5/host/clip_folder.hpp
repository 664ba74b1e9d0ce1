// Clip folders for the host runner: DIR/<class>/<sequence>/<frames>, each frame a 64 x 64 gray
// 8-bit BMP or PGM, frames ordered by natural sort of their names (2 before 10).
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <scamp5_emu/image_io.hpp>

struct ClipFrames {
    std::string class_name;
    std::string sequence;
    std::vector<std::filesystem::path> frames;
};

// Natural order: digit runs compare by value, the rest character by character.
inline bool natural_less(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
        const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
        if (da && db) {
            std::size_t ie = i, je = j;
            while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
            while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
            std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
            na.erase(0, std::min(na.find_first_not_of('0'), na.size()));
            nb.erase(0, std::min(nb.find_first_not_of('0'), nb.size()));
            if (na.size() != nb.size()) return na.size() < nb.size();
            if (na != nb) return na < nb;
            if (ie - i != je - j) return ie - i < je - j;  // fewer leading zeros first
            i = ie;
            j = je;
        } else {
            if (a[i] != b[j]) return a[i] < b[j];
            ++i;
            ++j;
        }
    }
    return a.size() - i < b.size() - j;
}

inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir, bool directories) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (directories ? e.is_directory() : e.is_regular_file()) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
        return natural_less(x.filename().string(), y.filename().string());
    });
    return out;
}

inline bool is_frame_file(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".bmp" || ext == ".pgm";
}

// Frames named by number (0.bmp, 1.bmp, ...) must be numbered without a gap.
inline void check_frame_numbers(const std::filesystem::path& seq_dir, const std::vector<std::filesystem::path>& frames) {
    std::vector<long> numbers;
    for (const auto& f : frames) {
        const std::string stem = f.stem().string();
        if (stem.empty() || stem.size() > 9 || !std::all_of(stem.begin(), stem.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }))
            return;  // not numbered: natural order is all there is
        numbers.push_back(std::stol(stem));
    }
    for (std::size_t k = 1; k < numbers.size(); ++k)
        if (numbers[k] != numbers[k - 1] + 1) {
            std::string missing = std::to_string(numbers[k - 1] + 1);
            if (numbers[k] > numbers[k - 1] + 2) missing += ".." + std::to_string(numbers[k] - 1);
            throw std::runtime_error("sequence " + seq_dir.string() + " lacks frame " + missing + " (its frames are numbered " +
                                     std::to_string(numbers.front()) + ".." + std::to_string(numbers.back()) +
                                     "); add it or remove the clip");
        }
}

inline std::vector<ClipFrames> list_clips(const std::filesystem::path& root) {
    const std::string layout = " (expected layout: DIR/<class>/<sequence>/<frame>.bmp|.pgm, 64x64 gray 8-bit)";
    if (!std::filesystem::is_directory(root)) throw std::runtime_error("clips folder " + root.string() + " does not exist" + layout);
    std::vector<ClipFrames> clips;
    for (const auto& class_dir : sorted_entries(root, true)) {
        for (const auto& seq_dir : sorted_entries(class_dir, true)) {
            ClipFrames clip{class_dir.filename().string(), seq_dir.filename().string(), {}};
            for (const auto& f : sorted_entries(seq_dir, false))
                if (is_frame_file(f)) clip.frames.push_back(f);
            if (clip.frames.empty()) throw std::runtime_error("sequence " + seq_dir.string() + " holds no frames" + layout);
            check_frame_numbers(seq_dir, clip.frames);
            if (clip.frames.size() > 255)
                throw std::runtime_error("sequence " + seq_dir.string() + " holds " + std::to_string(clip.frames.size()) +
                                         " frames; the sensor program accepts 1..255 per clip");
            clips.push_back(std::move(clip));
        }
    }
    if (clips.empty()) throw std::runtime_error("no clips found under " + root.string() + layout);
    return clips;
}

// For a run whose outputs are scored together: every clip runs for its own frame count and its output is
// <count - 1>_output.BMP, so a clip with a frame missing would give an output under another name than the
// others' (test_scamp_outputs.py reads one name). Refused, naming the odd clips. (The device build's clip
// list may hold clips of any lengths.)
inline void check_same_frame_count(const std::filesystem::path& root, const std::vector<ClipFrames>& clips) {
    std::map<std::size_t, std::vector<std::string>> by_count;
    for (const ClipFrames& c : clips) by_count[c.frames.size()].push_back(c.class_name + "/" + c.sequence);
    if (by_count.size() > 1) {
        auto most = by_count.begin();
        for (auto it = by_count.begin(); it != by_count.end(); ++it)
            if (it->second.size() >= most->second.size()) most = it;  // a tie: the longer clips (a frame missing)
        std::string odd;
        for (const auto& [count, names] : by_count) {
            if (count == most->first) continue;
            for (const std::string& n : names) odd += (odd.empty() ? "" : ", ") + n + " (" + std::to_string(count) + " frames)";
        }
        throw std::runtime_error("clips under " + root.string() + " have different frame counts: " +
                                 std::to_string(most->second.size()) + " clip(s) have " + std::to_string(most->first) +
                                 " frames; other counts: " + odd + "; a frame is missing or extra. Every clip needs the "
                                 "same number of frames (its output is <frames - 1>_output.BMP)");
    }
}

inline scamp5_emu::GrayImage read_clip_frame(const std::filesystem::path& p) {
    scamp5_emu::GrayImage img = scamp5_emu::read_gray_image(p);
    if (img.rows != 64 || img.cols != 64)
        throw std::runtime_error(p.string() + ": frame is " + std::to_string(img.rows) + "x" + std::to_string(img.cols) +
                                 ", the sensor program needs 64x64");
    return img;
}
