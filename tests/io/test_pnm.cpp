// PGM/PPM codec: round trips in all four encodings, hand-written files (comments, odd
// whitespace, maxvals other than 255, 16-bit samples), and every malformed input.
#include "convlayer/io/pnm.hpp"

#include <gtest/gtest.h>

#include "tests/support/allocation_counter.hpp"
#include "tests/support/temp_file.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace convlayer;
using namespace convlayer::io;

namespace {

std::string temp_path(const std::string& name) { return support::temp_path("pnm", name); }

void expect_error_mentioning(const std::string& bytes, const std::string& part) {
    try {
        (void)parse_pnm(bytes, "test.pnm");
        FAIL() << "expected an error mentioning '" << part << "'";
    } catch (const PnmError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind("test.pnm: ", 0), 0u) << what;
        EXPECT_NE(what.find(part), std::string::npos) << what;
    }
}

Image pattern(index_t w, index_t h, index_t c) {
    Image im = Image::blank(w, h, c);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    return im;
}

void expect_same(const Image& a, const Image& b) {
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.height, b.height);
    EXPECT_EQ(a.channels, b.channels);
    EXPECT_EQ(a.pixels, b.pixels);
}

}  // namespace

TEST(Pnm, RoundTripsGrayAndRgbInBothEncodings) {
    for (index_t channels : {1, 3})
        for (PnmEncoding encoding : {PnmEncoding::binary, PnmEncoding::ascii}) {
            const Image im = pattern(7, 5, channels);
            const std::string path = temp_path("round_trip_" + std::to_string(channels) +
                                               (encoding == PnmEncoding::ascii ? "_ascii" : "_binary"));
            write_pnm(path, im, encoding);
            expect_same(read_pnm(path), im);
            std::remove(path.c_str());
        }
}

TEST(Pnm, WritesTheMagicNumberForEachEncoding) {
    const Image gray = pattern(3, 2, 1), rgb = pattern(3, 2, 3);
    EXPECT_EQ(encode_pnm(gray).substr(0, 11), "P5\n3 2\n255\n");
    EXPECT_EQ(encode_pnm(rgb).substr(0, 3), "P6\n");
    EXPECT_EQ(encode_pnm(gray, PnmEncoding::ascii).substr(0, 3), "P2\n");
    EXPECT_EQ(encode_pnm(rgb, PnmEncoding::ascii).substr(0, 3), "P3\n");
    // The binary raster is the pixel bytes, right after the header.
    const std::string bytes = encode_pnm(gray);
    EXPECT_EQ(bytes.size(), std::string("P5\n3 2\n255\n").size() + 6);
}

TEST(Pnm, AsciiLinesStayWithinSeventyCharacters) {
    const std::string text = encode_pnm(pattern(50, 4, 3), PnmEncoding::ascii);
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        ASSERT_NE(end, std::string::npos);
        EXPECT_LE(end - start, 70u);
        start = end + 1;
    }
}

TEST(Pnm, ReadsAHandWrittenPlainPgmWithCommentsAndOddWhitespace) {
    const Image im = parse_pnm("P2 # a comment after the magic\n"
                               "# a whole comment line\n"
                               "3\t2\r\n"
                               "255 0 1 2 # a comment among the samples\n"
                               "253\n254   255\n");
    EXPECT_EQ(im.width, 3);
    EXPECT_EQ(im.height, 2);
    EXPECT_EQ(im.channels, 1);
    EXPECT_EQ(im.pixels, (std::vector<std::uint8_t>{0, 1, 2, 253, 254, 255}));
}

TEST(Pnm, ReadsAPlainPpmInRgbOrder) {
    const Image im = parse_pnm("P3\n2 1\n255\n255 0 0  0 0 255\n");
    EXPECT_EQ(im.channels, 3);
    EXPECT_EQ(im.at(0, 0, 0), 255);
    EXPECT_EQ(im.at(0, 0, 2), 0);
    EXPECT_EQ(im.at(1, 0, 2), 255);
}

TEST(Pnm, ScalesSamplesByTheMaxval) {
    // maxval 15: v * 255 / 15 = 17 v.
    const Image four_bit = parse_pnm("P2 3 1 15 0 1 15");
    EXPECT_EQ(four_bit.pixels, (std::vector<std::uint8_t>{0, 17, 255}));
    // maxval 1: 0 and 1 map to black and white.
    EXPECT_EQ(parse_pnm("P2 2 1 1 1 0").pixels, (std::vector<std::uint8_t>{255, 0}));
    // maxval 2: 1 -> 127.5, rounded up to 128.
    EXPECT_EQ(parse_pnm("P2 1 1 2 1").pixels, (std::vector<std::uint8_t>{128}));
}

TEST(Pnm, ReadsSixteenBitBinarySamplesBigEndian) {
    std::string bytes = "P5\n3 1\n65535\n";
    for (unsigned v : {0u, 0x8080u, 0xFFFFu}) {
        bytes += static_cast<char>(v >> 8);
        bytes += static_cast<char>(v & 0xFF);
    }
    EXPECT_EQ(parse_pnm(bytes).pixels, (std::vector<std::uint8_t>{0, 128, 255}));
}

TEST(Pnm, ReadsTheFirstImageOfAMultiImageFile) {
    const Image im = parse_pnm(encode_pnm(pattern(2, 2, 1)) + encode_pnm(pattern(4, 4, 3)));
    expect_same(im, pattern(2, 2, 1));
}

TEST(Pnm, RejectsFilesThatAreNotPgmOrPpm) {
    expect_error_mentioning("", "the file is empty");
    expect_error_mentioning("\x89PNG\r\n\x1a\n", "not a PGM/PPM file");
    expect_error_mentioning("GIF89a", "not a PGM/PPM file");
    expect_error_mentioning("P9 1 1 255 0", "not a PGM/PPM file");
    expect_error_mentioning("P55 1 1 255", "must be followed by whitespace");
    expect_error_mentioning("P1\n1 1\n0\n", "PBM");
    expect_error_mentioning("P4\n8 1\n\x01", "PBM");
    expect_error_mentioning("P7\nWIDTH 1\n", "PAM");
}

TEST(Pnm, RejectsMalformedHeaders) {
    expect_error_mentioning("P5", "truncated header");
    expect_error_mentioning("P5\n3 2\n", "truncated header");
    expect_error_mentioning("P5\n3 # only a comment\n", "truncated header");
    expect_error_mentioning("P5\nx 2 255\n", "bad width");
    expect_error_mentioning("P5\n3 -2 255\n", "bad height");
    expect_error_mentioning("P5\n3 2 25x\n", "bad maxval");
    expect_error_mentioning("P5\n0 2 255\n", "at least 1");
    expect_error_mentioning("P5\n3 0 255\n", "at least 1");
    expect_error_mentioning("P5\n3 2 0\n", "maxval 0 is outside 1..65535");
    expect_error_mentioning("P5\n3 2 65536\n", "maxval 65536 is outside 1..65535");
    expect_error_mentioning("P5\n99999999999 2 255\n", "width is too large");
}

TEST(Pnm, RejectsTruncatedOrOutOfRangePixelData) {
    expect_error_mentioning("P5\n3 2\n255", "no pixel data");
    expect_error_mentioning("P5\n3 2\n255\nabc", "expected 6 bytes");
    expect_error_mentioning("P5\n3 2\n255\nabc", "got 3");
    expect_error_mentioning("P5\n2 1\n65535\n\x01\x02\x03", "expected 4 bytes");
    expect_error_mentioning("P2\n3 2\n255\n1 2 3 4", "expected 6 samples, the remaining 8 bytes hold at most 4");
    expect_error_mentioning("P3\n1 1\n255\n1 2", "expected 3 samples, the remaining 4 bytes hold at most 2");
    // Enough bytes for the count, but not enough samples (comments take the room).
    expect_error_mentioning("P2\n3 1\n255\n1 2 #  \n", "expected 3 samples, found 2");
    expect_error_mentioning("P2\n2 2\n100\n1 2 3 101", "sample value 101 at pixel (x=1, y=1) exceeds maxval 100");
    expect_error_mentioning("P2\n2 1\n255\n1 2x", "bad sample 1");
    std::string bytes = "P5\n2 1\n300\n";
    bytes += std::string("\x00\x10\x01\x2d", 4);  // 16 and 301
    expect_error_mentioning(bytes, "sample value 301 at pixel (x=1, y=0) exceeds maxval 300");
}

TEST(Pnm, RejectsImagesOverTheReadLimit) {
    try {
        (void)parse_pnm("P5\n1000 1000\n255\n", "big.pgm", 1000);
        FAIL() << "expected PnmError";
    } catch (const PnmError& e) {
        EXPECT_NE(std::string(e.what()).find("more than 1000"), std::string::npos) << e.what();
    }
}

TEST(Pnm, ErrorsNameTheFile) {
    const std::string missing = temp_path("does_not_exist.pgm");
    try {
        (void)read_pnm(missing);
        FAIL() << "expected PnmError";
    } catch (const PnmError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(missing + ": cannot open", 0), 0u) << e.what();
    }
    const std::string broken = temp_path("broken.ppm");
    std::ofstream(broken, std::ios::binary) << "P6\n4 4\n255\n";
    try {
        (void)read_pnm(broken);
        FAIL() << "expected PnmError";
    } catch (const PnmError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(broken + ": truncated", 0), 0u) << e.what();
    }
    std::remove(broken.c_str());
}

TEST(Pnm, RefusesToWriteWhatItCannotEncode) {
    Image two_channels = Image::blank(2, 2, 2);
    EXPECT_THROW(encode_pnm(two_channels), PnmError);
    Image wrong_size = Image::blank(2, 2, 1);
    wrong_size.pixels.pop_back();
    EXPECT_THROW(encode_pnm(wrong_size), PnmError);
    EXPECT_THROW(encode_pnm(Image{}), PnmError);
    const std::string path = temp_path("never_written.pgm");
    try {
        write_pnm(path, two_channels);
        FAIL() << "expected PnmError";
    } catch (const PnmError& e) {
        EXPECT_NE(std::string(e.what()).find("2 channels"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::ifstream(path).good());
    try {
        write_pnm(temp_path("no-such-dir/x.pgm"), pattern(2, 2, 1));
        FAIL() << "expected PnmError";
    } catch (const PnmError& e) {
        EXPECT_NE(std::string(e.what()).find("cannot open for writing"), std::string::npos) << e.what();
    }
}

// 19 bytes declaring a 1 GiB ASCII raster: refused before the raster is allocated, since every
// sample takes at least two bytes of the file.
TEST(Pnm, AnAsciiHeaderAloneAllocatesNothingForTheRaster) {
    support::AllocationCounter counter;
    expect_error_mentioning("P2 32768 32768 255", "truncated pixel data: expected 1073741824 samples, the remaining 0");
    EXPECT_LT(counter.largest_bytes(), std::size_t{1} << 16);
    // The bound is exact: "\n1 2 3" holds three samples in six bytes.
    const Image im = parse_pnm("P2 3 1 255\n1 2 3", "three.pgm");
    EXPECT_EQ(im.pixels, (std::vector<std::uint8_t>{1, 2, 3}));
    expect_error_mentioning("P2 4 1 255\n1 2 3", "expected 4 samples, the remaining 6 bytes hold at most 3");
}

// Many samples with a bad one at the end: error messages are built only for the bad one, so
// this stays fast (it took seconds under ASan when each sample built its messages).
TEST(Pnm, AsciiSamplesBuildNoMessagesUntilOneFails) {
    std::string bytes = "P2 1000 1000 255\n";
    for (int i = 0; i < 999999; ++i) bytes += "7 ";
    bytes += "x";
    support::AllocationCounter counter;
    expect_error_mentioning(bytes, "bad sample 999999: expected a non-negative decimal number, got 'x'");
    EXPECT_LT(counter.count(), 100);
}

TEST(Pnm, ADirectoryIsRefusedByName) {
    const std::string dir = ::testing::TempDir();
    try {
        (void)read_pnm(dir);
        FAIL() << "expected PnmError";
    } catch (const PnmError& e) {
        EXPECT_EQ(std::string(e.what()), dir + ": is a directory, not a file");
    }
}
