// PNG codec: round trips, every colour type written here with libpng directly, broken files,
// and the helpers that turn volumes and filters into images.
#include "convlayer/io/png.hpp"

#include <gtest/gtest.h>

#include "tests/support/allocation_counter.hpp"
#include "tests/support/expect_error.hpp"
#include "tests/support/temp_file.hpp"
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using namespace convlayer;
using namespace convlayer::io;

namespace {

std::string temp_path(const std::string& name) { return support::temp_path("png", name); }

template <typename E = PngError, typename F>
void expect_error_mentioning(F&& f, const std::string& part) {
    support::expect_error_mentioning<E>(std::forward<F>(f), part);
}

Image gradient(index_t w, index_t h, index_t c) {
    Image im = Image::blank(w, h, c);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    return im;
}

// Noise compresses badly, so the pixel data spans most of the file.
Image noise(index_t w, index_t h) {
    Image im = Image::blank(w, h, 3);
    std::uint32_t state = 12345;
    for (auto& b : im.pixels) b = static_cast<std::uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
    return im;
}

// A PNG as libpng stores it: packed rows (bit depths < 8 packed, 16-bit big-endian).
struct RawPng {
    png_uint_32 width = 0, height = 0;
    int color_type = PNG_COLOR_TYPE_GRAY, bit_depth = 8;
    bool interlaced = false;
    std::vector<std::uint8_t> rows;  // height rows of equal length
    std::vector<png_color> palette;
    std::vector<png_byte> alpha;  // tRNS for palette images
};

// Holds no C++ objects, so the longjmp on a libpng error skips no destructor.
bool raw_write_step(png_structp png, png_infop info, std::FILE* f, const RawPng* p, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_init_io(png, f);
    png_set_IHDR(png, info, p->width, p->height, p->bit_depth, p->color_type,
                 p->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (!p->palette.empty()) png_set_PLTE(png, info, p->palette.data(), static_cast<int>(p->palette.size()));
    if (!p->alpha.empty()) png_set_tRNS(png, info, p->alpha.data(), static_cast<int>(p->alpha.size()), nullptr);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, nullptr);
    return true;
}

void write_raw(const std::string& path, const RawPng& p) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    std::vector<png_bytep> rows(p.height);
    const std::size_t stride = p.rows.size() / p.height;
    for (png_uint_32 y = 0; y < p.height; ++y) rows[y] = const_cast<png_bytep>(p.rows.data() + y * stride);
    const bool ok = raw_write_step(png, info, f, &p, rows.data());
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    ASSERT_TRUE(ok);
}

std::vector<char> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void expect_image(const Image& im, index_t w, index_t h, index_t c, const std::vector<int>& values) {
    ASSERT_EQ(im.width, w);
    ASSERT_EQ(im.height, h);
    ASSERT_EQ(im.channels, c);
    ASSERT_EQ(im.pixels.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(im.pixels[i], values[i]) << "byte " << i;
}

}  // namespace

TEST(Image, BlankAndCheckedAccess) {
    Image im = Image::blank(3, 2, 3, 7);
    EXPECT_EQ(im.pixels.size(), 18u);
    im.at(2, 1, 1) = 99;
    EXPECT_EQ(im.pixels[(1 * 3 + 2) * 3 + 1], 99);
    EXPECT_EQ(static_cast<const Image&>(im).at(0, 0, 2), 7);
    expect_error_mentioning<std::out_of_range>([&] { im.at(3, 0, 0); }, "(x=3, y=0, c=0) is outside 3 x 2 x 3");
    EXPECT_THROW(im.at(0, 2, 0), std::out_of_range);
    EXPECT_THROW(im.at(0, 0, 3), std::out_of_range);
    EXPECT_THROW(Image::blank(0, 2, 1), std::invalid_argument);
}

TEST(Png, RoundTripsGrayAndRgb) {
    for (index_t c : {1, 3}) {
        const std::string path = temp_path("roundtrip.png");
        const Image original = gradient(7, 5, c);
        write_png(path, original);
        const Image back = read_png(path);
        EXPECT_EQ(back.width, 7);
        EXPECT_EQ(back.height, 5);
        EXPECT_EQ(back.channels, c);
        EXPECT_EQ(back.pixels, original.pixels);
        std::remove(path.c_str());
    }
}

TEST(Png, ReadsEveryColourTypeAsEightBitGrayOrRgb) {
    const std::string path = temp_path("types.png");
    auto read = [&](const RawPng& p) {
        write_raw(path, p);
        return read_png(path);
    };
    RawPng p;
    p.width = 2;
    p.height = 2;

    p.rows = {0, 100, 200, 255};  // gray 8
    expect_image(read(p), 2, 2, 1, {0, 100, 200, 255});

    p.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;  // alpha dropped
    p.rows = {10, 0, 20, 50, 30, 255, 40, 128};
    expect_image(read(p), 2, 2, 1, {10, 20, 30, 40});

    p.color_type = PNG_COLOR_TYPE_RGB;
    p.rows = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    expect_image(read(p), 2, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});

    p.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
    p.rows = {1, 2, 3, 0, 4, 5, 6, 9, 7, 8, 9, 255, 10, 11, 12, 77};
    expect_image(read(p), 2, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});

    p.color_type = PNG_COLOR_TYPE_PALETTE;  // 8-bit indices, with and without tRNS
    p.palette = {{255, 0, 0}, {0, 128, 0}, {10, 20, 30}};
    p.rows = {2, 0, 1, 2};
    expect_image(read(p), 2, 2, 3, {10, 20, 30, 255, 0, 0, 0, 128, 0, 10, 20, 30});
    p.alpha = {0, 128};
    expect_image(read(p), 2, 2, 3, {10, 20, 30, 255, 0, 0, 0, 128, 0, 10, 20, 30});
    p.alpha.clear();

    p.bit_depth = 4;  // 4-bit indices, two per byte, rows padded to a byte
    p.rows = {0x21, 0x02};
    expect_image(read(p), 2, 2, 3, {10, 20, 30, 0, 128, 0, 255, 0, 0, 10, 20, 30});
    p.palette.clear();

    p.color_type = PNG_COLOR_TYPE_GRAY;  // 1-bit gray: 0 and 1 become 0 and 255
    p.bit_depth = 1;
    p.rows = {0x80, 0x40};
    expect_image(read(p), 2, 2, 1, {255, 0, 0, 255});

    p.bit_depth = 16;  // scaled to 8 bits with rounding: 0x8080 -> 128, 0x1234 -> 18
    p.rows = {0x00, 0x00, 0x80, 0x80, 0xFF, 0xFF, 0x12, 0x34};
    expect_image(read(p), 2, 2, 1, {0, 128, 255, 18});

    p.color_type = PNG_COLOR_TYPE_RGB_ALPHA;  // 16-bit RGBA
    p.width = 1;
    p.height = 1;
    p.rows = {0xFF, 0xFF, 0x80, 0x80, 0x00, 0x00, 0x12, 0x34};
    expect_image(read(p), 1, 1, 3, {255, 128, 0});

    // Interlaced (Adam7) RGB, larger than one interlace block.
    p = RawPng{};
    p.width = 11;
    p.height = 9;
    p.color_type = PNG_COLOR_TYPE_RGB;
    p.interlaced = true;
    const Image rgb = gradient(11, 9, 3);
    p.rows = rgb.pixels;
    EXPECT_EQ(read(p).pixels, rgb.pixels);
    std::remove(path.c_str());
}

TEST(Png, WriteErrorsNameThePathAndTheProblem) {
    const Image good = gradient(4, 3, 1);
    expect_error_mentioning([&] { write_png("/nonexistent-dir/x.png", good); },
                            "/nonexistent-dir/x.png: cannot open for writing");
    const std::string path = temp_path("bad.png");
    Image two = Image::blank(2, 2, 2);
    expect_error_mentioning([&] { write_png(path, two); }, "2 channels (need 1 = gray or 3 = RGB)");
    Image short_pixels = good;
    short_pixels.pixels.pop_back();
    expect_error_mentioning([&] { write_png(path, short_pixels); }, "holds 11 bytes, but 4 x 3 x 1 needs 12");
    Image empty;
    empty.channels = 1;
    expect_error_mentioning([&] { write_png(path, empty); }, path + ": cannot write an image of 0 x 0 pixels");
    EXPECT_TRUE(file_bytes(path).empty()) << "a malformed image is refused before the file is created";
    // A full disk, found when the file is closed (small image) or while libpng writes (large).
    if (std::FILE* probe = std::fopen("/dev/full", "wb")) {
        std::fclose(probe);
        expect_error_mentioning([&] { write_png("/dev/full", good); }, "/dev/full: cannot write (");
        expect_error_mentioning([&] { write_png("/dev/full", noise(300, 300)); },
                                "/dev/full: cannot write PNG: Write Error");
    }
}

TEST(Png, ReadErrorsNameThePathAndTheProblem) {
    const std::string path = temp_path("broken.png");
    expect_error_mentioning([&] { read_png(temp_path("does-not-exist.png")); }, "does-not-exist.png: cannot open");

    write_bytes(path, {'a', 'b', 'c'});
    expect_error_mentioning([&] { read_png(path); }, path + ": not a PNG file (only 3 bytes");
    write_bytes(path, std::vector<char>(100, 'x'));
    expect_error_mentioning([&] { read_png(path); }, path + ": not a PNG file (bad signature)");

    const Image pixels = noise(64, 64);
    write_png(path, pixels);
    const std::vector<char> whole = file_bytes(path);

    std::vector<char> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2));
    write_bytes(path, cut);
    expect_error_mentioning([&] { read_png(path); }, path + ": truncated PNG (reading the pixels");
    cut.resize(20);  // inside the IHDR chunk
    write_bytes(path, cut);
    expect_error_mentioning([&] { read_png(path); }, path + ": truncated PNG (reading the header");

    std::vector<char> flipped = whole;
    flipped[whole.size() / 2] = static_cast<char>(flipped[whole.size() / 2] ^ 0x55);
    write_bytes(path, flipped);
    expect_error_mentioning([&] { read_png(path); }, path + ": corrupt PNG");

    write_bytes(path, whole);
    expect_error_mentioning([&] { read_png(path, 1000); }, "12288 bytes, more than 1000 (the read limit)");
    EXPECT_EQ(read_png(path).pixels, pixels.pixels);
    std::remove(path.c_str());
}

TEST(ToImage, ScalesOneSliceLinearlyAndClamps) {
    Volume<float> v(2, 2, 3, 2);  // N=2, H=2, W=3, D=2
    v.fill(7.0f);
    const float values[6] = {-1.0f, 0.0f, 1.0f, 2.0f, -5.0f, std::numeric_limits<float>::quiet_NaN()};
    for (index_t i = 0; i < 6; ++i) v(1, i / 3, i % 3, 1) = values[i];
    const Image im = to_image(v, 1, 1, -1.0f, 1.0f);
    expect_image(im, 3, 2, 1, {0, 128, 255, 255, 0, 0});

    Volume<double> d(1, 1, 2, 1);
    d(0, 0, 0, 0) = 10.0;
    d(0, 0, 1, 0) = 12.5;
    expect_image(to_image(d, 0, 0, 10.0, 20.0), 2, 1, 1, {0, 64});

    EXPECT_THROW(to_image(v, 2, 0, 0.0f, 1.0f), std::out_of_range);
    EXPECT_THROW(to_image(v, 0, 2, 0.0f, 1.0f), std::out_of_range);
    expect_error_mentioning<std::invalid_argument>([&] { to_image(v, 0, 0, 1.0f, 1.0f); }, "need lo < hi");
}

TEST(TileImages, LaysOutAGridWithBordersAndUpscaling) {
    std::vector<Image> tiles;
    for (int i = 0; i < 3; ++i) {
        Image im = Image::blank(2, 3, 1);  // W=2, H=3
        for (std::size_t k = 0; k < im.pixels.size(); ++k) im.pixels[k] = static_cast<std::uint8_t>(10 * i + k);
        tiles.push_back(im);
    }
    const Image grid = tile_images(tiles, 2, 1, 2, 200);
    ASSERT_EQ(grid.width, 2 * 4 + 3);  // 2 columns of 2*2 pixels, 3 borders
    ASSERT_EQ(grid.height, 2 * 6 + 3);  // 2 rows of 3*2 pixels
    ASSERT_EQ(grid.channels, 1);
    for (int i = 0; i < 3; ++i) {
        const index_t x0 = 1 + (i % 2) * 5, y0 = 1 + (i / 2) * 7;
        for (index_t y = 0; y < 6; ++y)
            for (index_t x = 0; x < 4; ++x)
                EXPECT_EQ(grid.at(x0 + x, y0 + y), tiles[i].at(x / 2, y / 2)) << "tile " << i << " at " << x << "," << y;
    }
    for (index_t y = 0; y < grid.height; ++y) {
        EXPECT_EQ(grid.at(0, y), 200);
        EXPECT_EQ(grid.at(5, y), 200);
        EXPECT_EQ(grid.at(10, y), 200);
    }
    for (index_t x = 0; x < grid.width; ++x) EXPECT_EQ(grid.at(x, 7), 200);
    EXPECT_EQ(grid.at(7, 10), 200) << "the unused last cell is border";

    // More columns than images: one row; RGB kept; no border.
    std::vector<Image> rgb(2, gradient(2, 2, 3));
    const Image row = tile_images(rgb, 5, 0, 1);
    EXPECT_EQ(row.width, 4);
    EXPECT_EQ(row.height, 2);
    EXPECT_EQ(row.channels, 3);
    EXPECT_EQ(row.at(3, 1, 2), rgb[1].at(1, 1, 2));

    EXPECT_THROW(tile_images({}, 1, 0, 1), std::invalid_argument);
    EXPECT_THROW(tile_images(tiles, 0, 0, 1), std::invalid_argument);
    EXPECT_THROW(tile_images(tiles, 1, -1, 1), std::invalid_argument);
    EXPECT_THROW(tile_images(tiles, 1, 0, 0), std::invalid_argument);
    tiles.push_back(Image::blank(3, 3, 1));
    expect_error_mentioning<std::invalid_argument>([&] { tile_images(tiles, 2, 1, 1); }, "image 3 is 3 x 3 x 1");
}

TEST(FilterGrid, NormalisesEachFilterToItsOwnRange) {
    // K=4 filters of 2x3x1 (OHWI), filter k = k*10 + (0..5) * (k + 1): each its own range.
    const index_t K = 4, Fh = 2, Fw = 3;
    std::vector<float> w;
    for (index_t k = 0; k < K; ++k)
        for (index_t i = 0; i < Fh * Fw; ++i) w.push_back(float(k * 10 + i * (k + 1)));
    w[3 * 6 + 0] = -100.0f;  // filter 3 spans -100..33
    const Image grid = filter_grid(w.data(), K, Fh, Fw, 1, 3);
    // 2 x 2 tiles of 9 x 6 pixels, border max(1, 3/4) = 1.
    ASSERT_EQ(grid.width, 2 * 9 + 3);
    ASSERT_EQ(grid.height, 2 * 6 + 3);
    ASSERT_EQ(grid.channels, 1);
    for (index_t k = 0; k < K; ++k) {
        const float* f = w.data() + k * 6;
        const float lo = *std::min_element(f, f + 6), hi = *std::max_element(f, f + 6);
        const index_t x0 = 1 + (k % 2) * 10, y0 = 1 + (k / 2) * 7;
        for (index_t i = 0; i < 6; ++i) {
            const int expected = static_cast<int>(std::lround((double(f[i]) - lo) / (double(hi) - lo) * 255.0));
            EXPECT_EQ(grid.at(x0 + (i % 3) * 3 + 2, y0 + (i / 3) * 3 + 1), expected) << "filter " << k << " tap " << i;
        }
    }
    EXPECT_EQ(grid.at(1, 1), 0) << "each filter's minimum is black";
    EXPECT_EQ(grid.at(1 + 8, 1 + 5), 255) << "and its maximum white";

    // D == 3: one RGB tile per filter, normalised over all three channels together.
    std::vector<double> rgb = {0, 1, 2, 3, -1, 4};  // K=2 filters of 1x1x3
    const Image colour = filter_grid(rgb.data(), 2, 1, 1, 3, 1);
    ASSERT_EQ(colour.channels, 3);
    ASSERT_EQ(colour.width, 2 + 3);
    EXPECT_EQ(colour.at(1, 1, 0), 0);
    EXPECT_EQ(colour.at(1, 1, 1), 128);
    EXPECT_EQ(colour.at(1, 1, 2), 255);
    EXPECT_EQ(colour.at(3, 1, 0), 204);  // 3 in -1..4
    EXPECT_EQ(colour.at(3, 1, 1), 0);
    EXPECT_EQ(colour.at(3, 1, 2), 255);

    // Other depths: one row per filter, its slices side by side; a constant filter is mid-gray.
    std::vector<float> two = {1, 2, 5, 5};  // K=2 filters of 1x1x2
    const Image slices = filter_grid(two.data(), 2, 1, 1, 2, 1);
    EXPECT_EQ(slices.width, 2 + 3);
    EXPECT_EQ(slices.height, 2 + 3);
    EXPECT_EQ(slices.at(1, 1), 0);
    EXPECT_EQ(slices.at(3, 1), 255);
    EXPECT_EQ(slices.at(1, 3), 128);
    EXPECT_EQ(slices.at(3, 3), 128);

    EXPECT_THROW(filter_grid(static_cast<const float*>(nullptr), 1, 1, 1, 1, 1), std::invalid_argument);
    EXPECT_THROW(filter_grid(w.data(), 0, 2, 3, 1, 1), std::invalid_argument);
    EXPECT_THROW(filter_grid(w.data(), 4, 2, 3, 1, 0), std::invalid_argument);
}

// 41 bytes: the signature, an IHDR for 16384 x 65535 gray pixels (1 GiB), then an IDAT chunk cut
// after its header. Nothing may be allocated for the pixels the file cannot hold.
TEST(Png, ASmallFileDeclaringAHugeImageAllocatesNothingForIt) {
    std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (std::uint32_t v : {16384u, 65535u})
        for (int shift : {24, 16, 8, 0}) png.push_back(static_cast<std::uint8_t>(v >> shift));
    png.insert(png.end(), {8, 0, 0, 0, 0});  // 8-bit gray, deflate, adaptive filters, not interlaced
    const auto crc = crc32(0, png.data() + 12, 17);
    for (int shift : {24, 16, 8, 0}) png.push_back(static_cast<std::uint8_t>(crc >> shift));
    png.insert(png.end(), {0, 0, 0x10, 0, 'I', 'D', 'A', 'T'});
    ASSERT_EQ(png.size(), 41u);
    const std::string path = temp_path("huge_header.png");
    write_bytes(path, std::vector<char>(png.begin(), png.end()));
    support::AllocationCounter counter;
    expect_error_mentioning([&] { read_png(path); }, path + ": truncated PNG: its 16384 x 65535 pixels are");
    EXPECT_LT(counter.largest_bytes(), std::size_t{1} << 16);
    std::remove(path.c_str());
}

TEST(Png, ADirectoryIsRefusedByName) {
    const std::string dir = ::testing::TempDir();
    expect_error_mentioning([&] { read_png(dir); }, dir + ": is a directory, not a file");
}
