// Gray 8-bit image files without an image library: 24-bit BMP writing (R = G = B, as the SCAMP-5
// host saves displays), BMP (8/24/32-bit) and PGM (P5/P2) reading, atomic writes.
#pragma once

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "fail.hpp"
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace scamp5_emu {

struct GrayImage {
    int rows = 0, cols = 0;
    std::vector<std::uint8_t> pixels;  // row-major, row 0 = top
    std::uint8_t at(int r, int c) const { return pixels[static_cast<std::size_t>(r) * cols + c]; }
};

// Why `path` was not written, from the OS's errno: a full disk (or quota) is named as such.
inline std::string write_failure(const std::filesystem::path& path, int err) {
#ifdef EDQUOT
    const bool full = err == ENOSPC || err == EDQUOT;
#else
    const bool full = err == ENOSPC;
#endif
    if (full)
        return "no space left on the device holding " + path.parent_path().string() + ": " + path.filename().string() +
               " was not written; free some disk space or choose a folder on another device";
    return "cannot write " + path.string() + ": " + (err ? std::strerror(err) : "unknown error");
}

// Write bytes to a temp file beside `path`, then rename: no partial file ever has the final name.
// A failed write (a full disk included: it is met at the write or at the close) removes the temp file.
inline void write_file_atomically(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
    if (path.has_parent_path()) {
        std::error_code made;
        std::filesystem::create_directories(path.parent_path(), made);
        if (made) SCAMP5_EMU_THROW(std::runtime_error(write_failure(path, made.value())));
    }
    std::filesystem::path tmp = path;
    tmp += ".tmp" + std::to_string(std::hash<std::string>{}(path.string()) % 100000);
    std::FILE* f = std::fopen(tmp.string().c_str(), "wb");
    if (!f) SCAMP5_EMU_THROW(std::runtime_error(write_failure(path, errno)));
    int err = 0;
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) err = errno ? errno : EIO;
    if (std::fflush(f) != 0 && !err) err = errno;
    if (std::fclose(f) != 0 && !err) err = errno;
    if (err) {
        std::remove(tmp.string().c_str());
        SCAMP5_EMU_THROW(std::runtime_error(write_failure(path, err)));
    }
    std::filesystem::rename(tmp, path);
}

inline void put_le(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v, int n) {
    for (int k = 0; k < n; ++k) b[at + k] = static_cast<std::uint8_t>(v >> (8 * k));
}

// 24-bit bottom-up BMP with R = G = B, 3600 px/m like the SCAMP-5 host's saved displays.
inline std::vector<std::uint8_t> encode_bmp24(const GrayImage& img) {
    const int row_bytes = (img.cols * 3 + 3) / 4 * 4;
    const std::uint32_t data = static_cast<std::uint32_t>(row_bytes) * img.rows;
    std::vector<std::uint8_t> b(54 + data, 0);
    b[0] = 'B';
    b[1] = 'M';
    put_le(b, 2, 54 + data, 4);
    put_le(b, 10, 54, 4);
    put_le(b, 14, 40, 4);
    put_le(b, 18, img.cols, 4);
    put_le(b, 22, img.rows, 4);
    put_le(b, 26, 1, 2);
    put_le(b, 28, 24, 2);
    put_le(b, 34, data, 4);
    put_le(b, 38, 3600, 4);
    put_le(b, 42, 3600, 4);
    for (int r = 0; r < img.rows; ++r) {
        std::uint8_t* row = b.data() + 54 + static_cast<std::size_t>(img.rows - 1 - r) * row_bytes;
        for (int c = 0; c < img.cols; ++c) row[3 * c] = row[3 * c + 1] = row[3 * c + 2] = img.at(r, c);
    }
    return b;
}

inline std::uint32_t get_le(const std::vector<std::uint8_t>& b, std::size_t at, int n) {
    std::uint32_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<std::uint32_t>(b[at + k]) << (8 * k);
    return v;
}

inline GrayImage decode_bmp(const std::vector<std::uint8_t>& b, const std::string& name) {
    auto bad = [&](const std::string& why) {
        return std::runtime_error(name + ": " + why + " (accepted: uncompressed 8-, 24- or 32-bit BMP)");
    };
    if (b.size() < 54 || b[0] != 'B' || b[1] != 'M') SCAMP5_EMU_THROW(bad("not a BMP file"));
    const std::uint32_t offset = get_le(b, 10, 4);
    const std::int32_t width = static_cast<std::int32_t>(get_le(b, 18, 4));
    std::int32_t height = static_cast<std::int32_t>(get_le(b, 22, 4));
    const int bpp = static_cast<int>(get_le(b, 28, 2));
    const std::uint32_t compression = get_le(b, 30, 4);
    if (compression != 0 && !(compression == 3 && bpp == 32)) SCAMP5_EMU_THROW(bad("compressed BMP"));
    if (bpp != 8 && bpp != 24 && bpp != 32) SCAMP5_EMU_THROW(bad(std::to_string(bpp) + "-bit BMP"));
    const bool top_down = height < 0;
    if (top_down) height = -height;
    if (width <= 0 || height <= 0 || width > 4096 || height > 4096) SCAMP5_EMU_THROW(bad("bad size"));
    const int row_bytes = (width * bpp / 8 + 3) / 4 * 4;
    if (offset + static_cast<std::size_t>(row_bytes) * height > b.size()) SCAMP5_EMU_THROW(bad("truncated pixel data"));
    const std::uint32_t header_size = get_le(b, 14, 4);
    GrayImage img;
    img.rows = height;
    img.cols = width;
    img.pixels.resize(static_cast<std::size_t>(width) * height);
    for (int r = 0; r < height; ++r) {
        const int file_row = top_down ? r : height - 1 - r;
        const std::uint8_t* row = b.data() + offset + static_cast<std::size_t>(file_row) * row_bytes;
        for (int c = 0; c < width; ++c) {
            std::uint8_t v;
            if (bpp == 8) {
                const std::size_t pal = 14 + header_size + 4u * row[c];
                if (pal + 2 >= b.size()) SCAMP5_EMU_THROW(bad("palette index out of range"));
                v = b[pal + 1];  // green channel of a gray palette
            } else {
                v = row[c * (bpp / 8) + 1];  // green; R = G = B in gray images
            }
            img.pixels[static_cast<std::size_t>(r) * width + c] = v;
        }
    }
    return img;
}

inline GrayImage decode_pgm(const std::vector<std::uint8_t>& b, const std::string& name) {
    std::string text(b.begin(), b.end());
    std::istringstream in(text);
    auto bad = [&](const std::string& why) {
        return std::runtime_error(name + ": " + why + " (accepted: 8-bit PGM, P5 or P2)");
    };
    std::string magic;
    in >> magic;
    if (magic != "P5" && magic != "P2") SCAMP5_EMU_THROW(bad("not a PGM file"));
    auto next_int = [&]() {
        int v;
        while (in >> std::ws && in.peek() == '#') {
            std::string skip;
            std::getline(in, skip);
        }
        if (!(in >> v)) SCAMP5_EMU_THROW(bad("bad header"));
        return v;
    };
    GrayImage img;
    img.cols = next_int();
    img.rows = next_int();
    const int maxval = next_int();
    if (img.cols <= 0 || img.rows <= 0 || img.cols > 4096 || img.rows > 4096) SCAMP5_EMU_THROW(bad("bad size"));
    if (maxval != 255) SCAMP5_EMU_THROW(bad("maxval " + std::to_string(maxval)));
    const std::size_t n = static_cast<std::size_t>(img.cols) * img.rows;
    img.pixels.resize(n);
    if (magic == "P5") {
        in.get();  // the single whitespace after maxval
        const std::size_t at = static_cast<std::size_t>(in.tellg());
        if (at + n > b.size()) SCAMP5_EMU_THROW(bad("truncated pixel data"));
        std::copy(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n), img.pixels.begin());
    } else {
        for (std::size_t i = 0; i < n; ++i) {
            int v = next_int();
            if (v < 0 || v > 255) SCAMP5_EMU_THROW(bad("pixel value out of range"));
            img.pixels[i] = static_cast<std::uint8_t>(v);
        }
    }
    return img;
}

inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) SCAMP5_EMU_THROW(std::runtime_error("cannot open " + path.string()));
    return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Reads a gray image by extension: .bmp or .pgm (case-insensitive).
inline GrayImage read_gray_image(const std::filesystem::path& path) {
    std::string ext = path.extension().string();
    for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto bytes = read_file_bytes(path);
    if (ext == ".bmp") return decode_bmp(bytes, path.string());
    if (ext == ".pgm") return decode_pgm(bytes, path.string());
    SCAMP5_EMU_THROW(std::runtime_error(path.string() + ": unsupported image type (accepted: .bmp, .pgm)"));
}

}  // namespace scamp5_emu
