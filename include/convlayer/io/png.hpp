// PNG files (8-bit gray or RGB) and helpers that turn volumes and conv filters into images.
//
// write_png writes an Image; read_png reads any PNG (gray, gray+alpha, RGB, RGBA, palette, 1 to
// 16 bits, interlaced or not) as 8-bit gray or RGB, dropping alpha. to_image, tile_images and
// filter_grid turn activation maps and filters into images (they need no libpng themselves).
// Needs libpng (Debian: libpng-dev; CMake links PNG::PNG to convlayer when it is found).
//
// libpng reports errors by longjmp. Every setjmp here sits in a small function (detail::*_step)
// that holds only trivially destructible objects, so a longjmp never skips a C++ destructor; the
// png structs, the FILE and the buffers are owned by the caller, which frees them on every path.
#pragma once

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/file_bytes.hpp"
#include "convlayer/core/volume.hpp"
#include "convlayer/io/image.hpp"

namespace convlayer::io {

/// Thrown when a PNG file cannot be written or read (unwritable path, not a PNG, truncated or
/// corrupt data, an image that is not 1- or 3-channel, ...); the message starts with the path.
class PngError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

/// Where the libpng error callback leaves its message (trivially destructible on purpose).
struct PngErrorText {
    char text[200] = "unknown libpng error";
};

inline void png_on_error(png_structp png, png_const_charp message) {
    if (auto* sink = static_cast<PngErrorText*>(png_get_error_ptr(png)))
        std::snprintf(sink->text, sizeof sink->text, "%s", message ? message : "unknown libpng error");
    png_longjmp(png, 1);
}
inline void png_on_warning(png_structp, png_const_charp) {}  // benign: do not print to stderr

/// Owns a FILE*.
struct PngFile {
    std::FILE* f = nullptr;
    PngFile() = default;
    PngFile(const PngFile&) = delete;
    PngFile& operator=(const PngFile&) = delete;
    ~PngFile() {
        if (f) std::fclose(f);
    }
};

/// Owns a png read or write struct and its info struct.
template <bool Write>
struct PngStructs {
    png_structp png = nullptr;
    png_infop info = nullptr;
    PngStructs(const PngStructs&) = delete;
    PngStructs& operator=(const PngStructs&) = delete;
    explicit PngStructs(PngErrorText* sink) {
        if constexpr (Write)
            png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, png_on_error, png_on_warning);
        else
            png = png_create_read_struct(PNG_LIBPNG_VER_STRING, sink, png_on_error, png_on_warning);
        if (png) info = png_create_info_struct(png);
    }
    ~PngStructs() {
        if (!png) return;
        if constexpr (Write)
            png_destroy_write_struct(&png, &info);
        else
            png_destroy_read_struct(&png, &info, nullptr);
    }
};

/// The most libpng may allocate for one chunk (a decompressed iCCP profile or zTXt text among
/// them): larger chunks are refused, so a small file cannot inflate a huge one.
constexpr png_alloc_size_t kPngChunkMallocMax = png_alloc_size_t{8} << 20;
/// Deflate's largest expansion (zlib's technical details: 1032:1), which bounds the image data a
/// file of a given size can hold.
constexpr index_t kDeflateMaxRatio = 1032;

// The steps that may longjmp. Each returns false when libpng reported an error.

inline bool png_write_step(png_structp png, png_infop info, std::FILE* f, png_uint_32 width, png_uint_32 height,
                           int color_type, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_init_io(png, f);
    png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, nullptr);
    return true;
}

/// Reads the header after the 8 signature bytes and asks for 8-bit gray or RGB without alpha;
/// `stored_row_bytes` is a row's size as the file stores it (before those conversions).
inline bool png_read_header_step(png_structp png, png_infop info, std::FILE* f, png_uint_32* width,
                                 png_uint_32* height, int* channels, int* bit_depth, std::size_t* stored_row_bytes) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_set_chunk_malloc_max(png, kPngChunkMallocMax);
    png_read_info(png, info);
    *stored_row_bytes = png_get_rowbytes(png, info);
    const int color_type = png_get_color_type(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_bit_depth(png, info) == 16) png_set_scale_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    *channels = png_get_channels(png, info);
    *bit_depth = png_get_bit_depth(png, info);
    return true;
}

inline bool png_read_rows_step(png_structp png, png_infop info, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, rows);
    png_read_end(png, info);
    return true;
}

inline std::vector<png_bytep> png_row_pointers(std::uint8_t* data, index_t height, index_t row_bytes) {
    std::vector<png_bytep> rows(static_cast<std::size_t>(height));
    for (index_t y = 0; y < height; ++y) rows[static_cast<std::size_t>(y)] = data + y * row_bytes;
    return rows;
}

/// x mapped linearly from [lo, hi] to [0, 255], rounded and clamped; NaN gives 0, and a
/// degenerate range (lo == hi) gives mid-gray.
inline std::uint8_t to_byte(double x, double lo, double hi) {
    if (!(hi > lo)) return 128;
    const double t = (x - lo) / (hi - lo) * 255.0;
    if (!(t > 0)) return 0;
    if (t >= 255) return 255;
    return static_cast<std::uint8_t>(std::lround(t));
}

}  // namespace detail

/// Writes `image` (1 = gray or 3 = RGB channels, 8 bits) to `path`. Throws PngError naming the
/// path when the image is malformed (before the file is touched) or the file cannot be written
/// (it may then be left incomplete).
inline void write_png(const std::string& path, const Image& image) {
    if (image.channels != 1 && image.channels != 3)
        throw PngError(path + ": cannot write an image with " + std::to_string(image.channels) +
                       " channels (need 1 = gray or 3 = RGB)");
    if (image.width <= 0 || image.height <= 0 || image.width > PNG_UINT_31_MAX || image.height > PNG_UINT_31_MAX)
        throw PngError(path + ": cannot write an image of " + std::to_string(image.width) + " x " +
                       std::to_string(image.height) + " pixels (each extent must be 1 to 2^31 - 1)");
    const index_t row_bytes = checked_mul(image.width, image.channels, "PNG row bytes");
    const index_t bytes = checked_mul(row_bytes, image.height, "PNG image bytes");
    if (static_cast<index_t>(image.pixels.size()) != bytes)
        throw PngError(path + ": image holds " + std::to_string(image.pixels.size()) + " bytes, but " +
                       std::to_string(image.width) + " x " + std::to_string(image.height) + " x " +
                       std::to_string(image.channels) + " needs " + std::to_string(bytes));

    // libpng takes non-const row pointers but only reads through them when writing.
    std::vector<png_bytep> rows =
        detail::png_row_pointers(const_cast<std::uint8_t*>(image.pixels.data()), image.height, row_bytes);
    detail::PngErrorText error;
    detail::PngFile file;
    file.f = std::fopen(path.c_str(), "wb");
    if (!file.f) throw PngError(path + ": cannot open for writing (" + std::strerror(errno) + ")");
    bool ok = false;
    {
        detail::PngStructs<true> s(&error);
        if (!s.png || !s.info) throw PngError(path + ": cannot allocate libpng structures");
        ok = detail::png_write_step(s.png, s.info, file.f, static_cast<png_uint_32>(image.width),
                                    static_cast<png_uint_32>(image.height),
                                    image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, rows.data());
    }
    const int close_errno = std::fclose(file.f) == 0 ? 0 : (errno ? errno : EIO);
    file.f = nullptr;
    if (!ok) throw PngError(path + ": cannot write PNG: " + error.text);
    if (close_errno != 0) throw PngError(path + ": cannot write (" + std::strerror(close_errno) + ")");
}

/// Reads a PNG as 8-bit gray (from gray or gray+alpha) or RGB (from RGB, RGBA or palette); 16-bit
/// samples are scaled to 8 bits and alpha is dropped. Throws PngError naming the path for a
/// missing file or a directory, a file that is not a PNG, truncated or corrupt data, an image
/// whose pixels would take more than `max_bytes`, or one larger than the file can hold (its rows
/// as stored, over deflate's 1032:1, exceed the file's size). Nothing is allocated for the pixels
/// before those checks; libpng's own limits apply too (at most 1,000,000 rows and columns, 8 MiB
/// for one chunk).
inline Image read_png(const std::string& path, index_t max_bytes = index_t{1} << 30) {
    const index_t file_size = convlayer::detail::file_size_or_throw<PngError>(path);
    detail::PngFile file;
    file.f = std::fopen(path.c_str(), "rb");
    if (!file.f) throw PngError(path + ": cannot open (" + std::strerror(errno) + ")");
    png_byte signature[8] = {};
    const std::size_t got = std::fread(signature, 1, sizeof signature, file.f);
    if (got < sizeof signature)
        throw PngError(path + ": not a PNG file (only " + std::to_string(got) + " bytes, the signature alone is 8)");
    if (png_sig_cmp(signature, 0, sizeof signature) != 0) throw PngError(path + ": not a PNG file (bad signature)");

    detail::PngErrorText error;
    detail::PngStructs<false> s(&error);
    if (!s.png || !s.info) throw PngError(path + ": cannot allocate libpng structures");
    auto fail = [&](const char* stage) {
        const bool truncated = std::feof(file.f) != 0;
        return PngError(path + ": " + (truncated ? "truncated PNG" : "corrupt PNG") + " (" + stage + ": " + error.text +
                        ")");
    };
    png_uint_32 width = 0, height = 0;
    int channels = 0, bit_depth = 0;
    std::size_t stored_row_bytes = 0;
    if (!detail::png_read_header_step(s.png, s.info, file.f, &width, &height, &channels, &bit_depth, &stored_row_bytes))
        throw fail("reading the header");
    if ((channels != 1 && channels != 3) || bit_depth != 8)
        throw PngError(path + ": unsupported PNG layout after conversion (" + std::to_string(channels) + " channels, " +
                       std::to_string(bit_depth) + " bits)");
    Image image;
    image.width = static_cast<index_t>(width);
    image.height = static_cast<index_t>(height);
    image.channels = channels;
    const index_t row_bytes = checked_mul(image.width, image.channels, "PNG row bytes");
    const index_t bytes = checked_mul(row_bytes, image.height, "PNG image bytes");
    const std::string size_text = std::to_string(width) + " x " + std::to_string(height) + " x " + std::to_string(channels);
    if (bytes > max_bytes)
        throw PngError(path + ": " + size_text + " pixels need " + std::to_string(bytes) + " bytes, more than " +
                       std::to_string(max_bytes) + " (the read limit)");
    const index_t stored = checked_mul(static_cast<index_t>(stored_row_bytes), image.height, "PNG image bytes");
    if (file_size >= 0 && stored / detail::kDeflateMaxRatio > file_size)
        throw PngError(path + ": truncated PNG: its " + std::to_string(width) + " x " + std::to_string(height) +
                       " pixels are " + std::to_string(stored) + " bytes as stored, more than a file of " +
                       std::to_string(file_size) + " bytes can hold (deflate expands at most 1032:1)");
    if (static_cast<index_t>(png_get_rowbytes(s.png, s.info)) != row_bytes)
        throw PngError(path + ": unexpected row size " + std::to_string(png_get_rowbytes(s.png, s.info)));
    image.pixels.resize(static_cast<std::size_t>(bytes));
    std::vector<png_bytep> rows = detail::png_row_pointers(image.pixels.data(), image.height, row_bytes);
    if (!detail::png_read_rows_step(s.png, s.info, rows.data())) throw fail("reading the pixels");
    return image;
}

/// Depth slice d of volume n as a gray image (W x H), values mapped linearly from [lo, hi] to
/// [0, 255], rounded and clamped (NaN gives 0). Throws std::out_of_range for a bad n or d and
/// std::invalid_argument unless lo < hi.
template <typename T>
Image to_image(const Volume<T>& v, index_t n, index_t d, T lo, T hi) {
    if (n < 0 || n >= v.batch() || d < 0 || d >= v.depth())
        throw std::out_of_range("to_image: volume " + std::to_string(n) + ", depth slice " + std::to_string(d) +
                                " is outside " + v.shape().to_string());
    if (!(lo < hi))
        throw std::invalid_argument("to_image: need lo < hi, got lo = " + std::to_string(lo) +
                                    ", hi = " + std::to_string(hi));
    Image im = Image::blank(v.width(), v.height(), 1);
    for (index_t y = 0; y < v.height(); ++y)
        for (index_t x = 0; x < v.width(); ++x)
            im.pixels[static_cast<std::size_t>(y * v.width() + x)] = detail::to_byte(v(n, y, x, d), lo, hi);
    return im;
}

/// Tiles equal-size images (same width, height and channels) into a grid of `columns` columns,
/// row by row, each upscaled `scale` times (nearest neighbour), with `border` pixels of gray
/// `border_value` around and between the cells; unused cells of the last row are border too.
/// The result is columns'*W*scale + (columns'+1)*border wide, where columns' = min(columns,
/// count), and rows*H*scale + (rows+1)*border high. Throws std::invalid_argument for an empty
/// list, mismatched images, columns < 1, border < 0 or scale < 1.
inline Image tile_images(const std::vector<Image>& images, index_t columns, index_t border, index_t scale,
                         std::uint8_t border_value = 128) {
    if (images.empty()) throw std::invalid_argument("tile_images: no images");
    if (columns < 1 || border < 0 || scale < 1)
        throw std::invalid_argument("tile_images: need columns >= 1, border >= 0, scale >= 1, got " +
                                    std::to_string(columns) + ", " + std::to_string(border) + ", " +
                                    std::to_string(scale));
    const Image& first = images.front();
    for (std::size_t i = 0; i < images.size(); ++i) {
        const Image& im = images[i];
        if (im.width != first.width || im.height != first.height || im.channels != first.channels ||
            im.width <= 0 || im.height <= 0 || im.channels <= 0 ||
            static_cast<index_t>(im.pixels.size()) != im.width * im.height * im.channels)
            throw std::invalid_argument("tile_images: image " + std::to_string(i) + " is " + std::to_string(im.width) +
                                        " x " + std::to_string(im.height) + " x " + std::to_string(im.channels) +
                                        " with " + std::to_string(im.pixels.size()) + " bytes; image 0 is " +
                                        std::to_string(first.width) + " x " + std::to_string(first.height) + " x " +
                                        std::to_string(first.channels));
    }
    const index_t count = static_cast<index_t>(images.size());
    const index_t cols = std::min(columns, count);
    const index_t grid_rows = (count + cols - 1) / cols;
    const index_t cw = checked_mul(first.width, scale, "tile width"), ch = checked_mul(first.height, scale, "tile height");
    const index_t width = checked_add(checked_mul(cols, cw, "grid width"), (cols + 1) * border, "grid width");
    const index_t height = checked_add(checked_mul(grid_rows, ch, "grid height"), (grid_rows + 1) * border, "grid height");
    const index_t c = first.channels;
    Image out = Image::blank(width, height, c, border_value);
    for (index_t i = 0; i < count; ++i) {
        const Image& im = images[static_cast<std::size_t>(i)];
        const index_t x0 = border + (i % cols) * (cw + border), y0 = border + (i / cols) * (ch + border);
        for (index_t y = 0; y < ch; ++y) {
            const std::uint8_t* src_row = im.pixels.data() + (y / scale) * im.width * c;
            std::uint8_t* dst = out.pixels.data() + ((y0 + y) * width + x0) * c;
            for (index_t x = 0; x < cw; ++x)
                for (index_t k = 0; k < c; ++k) dst[x * c + k] = src_row[(x / scale) * c + k];
        }
    }
    return out;
}

/// The K filters of a conv layer (OHWI weights [K][Fh][Fw][D]) as one image, each filter mapped
/// from its own min..max to 0..255 and upscaled `scale` times. D == 1: one gray tile per filter;
/// D == 3: one RGB tile per filter (channels as R, G, B); both laid out about square
/// (ceil(sqrt(K)) columns). Any other D: one row per filter, its D depth slices side by side in
/// gray. Tiles are separated by a white border of max(1, scale/3) pixels. Throws
/// std::invalid_argument for a null pointer or a non-positive size.
template <typename T>
Image filter_grid(const T* weights_ohwi, index_t K, index_t Fh, index_t Fw, index_t D, index_t scale) {
    if (!weights_ohwi) throw std::invalid_argument("filter_grid: weights pointer is null");
    if (K < 1 || Fh < 1 || Fw < 1 || D < 1 || scale < 1)
        throw std::invalid_argument("filter_grid: need K, Fh, Fw, D, scale >= 1, got " + std::to_string(K) + ", " +
                                    std::to_string(Fh) + ", " + std::to_string(Fw) + ", " + std::to_string(D) + ", " +
                                    std::to_string(scale));
    const index_t taps = checked_product("filter size", Fh, Fw, D);
    const bool rgb = D == 3;
    std::vector<Image> tiles;
    for (index_t k = 0; k < K; ++k) {
        const T* f = weights_ohwi + k * taps;
        double lo = 0, hi = 0;
        bool any = false;
        for (index_t i = 0; i < taps; ++i) {
            const double w = static_cast<double>(f[i]);
            if (!std::isfinite(w)) continue;
            lo = any ? std::min(lo, w) : w;
            hi = any ? std::max(hi, w) : w;
            any = true;
        }
        if (rgb) {
            Image im = Image::blank(Fw, Fh, 3);
            for (index_t i = 0; i < taps; ++i) im.pixels[static_cast<std::size_t>(i)] = detail::to_byte(f[i], lo, hi);
            tiles.push_back(std::move(im));
            continue;
        }
        for (index_t d = 0; d < D; ++d) {
            Image im = Image::blank(Fw, Fh, 1);
            for (index_t p = 0; p < Fh * Fw; ++p)
                im.pixels[static_cast<std::size_t>(p)] = detail::to_byte(f[p * D + d], lo, hi);
            tiles.push_back(std::move(im));
        }
    }
    const index_t columns =
        (rgb || D == 1) ? static_cast<index_t>(std::ceil(std::sqrt(static_cast<double>(K)) - 1e-9)) : D;
    return tile_images(tiles, std::max<index_t>(columns, 1), std::max<index_t>(1, scale / 3), scale, 255);
}

}  // namespace convlayer::io
