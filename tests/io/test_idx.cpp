// IDX reader: plain and gzip files the test writes, every value type, and broken files.
#include "convlayer/io/idx.hpp"

#include <gtest/gtest.h>

#include "tests/support/allocation_counter.hpp"
#include "tests/support/expect_error.hpp"
#include "tests/support/temp_file.hpp"
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace convlayer;
using namespace convlayer::io;

namespace {

std::string temp_path(const std::string& name) { return support::temp_path("idx", name); }

std::vector<std::uint8_t> header(std::uint8_t type, std::vector<std::uint32_t> dims) {
    std::vector<std::uint8_t> h{0, 0, type, static_cast<std::uint8_t>(dims.size())};
    for (std::uint32_t d : dims)
        for (int shift : {24, 16, 8, 0}) h.push_back(static_cast<std::uint8_t>(d >> shift));
    return h;
}

void write_plain(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
}

// Two 2x3 images with pixel values 0, 51, ..., 255 and labels 7, 3.
std::vector<std::uint8_t> images_file() {
    auto bytes = header(0x08, {2, 2, 3});
    for (int i = 0; i < 12; ++i) bytes.push_back(static_cast<std::uint8_t>((i % 6) * 51));
    return bytes;
}

template <typename E = IdxError, typename F>
void expect_error_mentioning(F&& f, const std::string& part) {
    support::expect_error_mentioning<E>(std::forward<F>(f), part);
}

}  // namespace

TEST(Idx, ReadsImagesPlainAndGzip) {
    for (bool gz : {false, true}) {
        const std::string path = temp_path(gz ? "images.gz" : "images");
        gz ? write_gzip(path, images_file()) : write_plain(path, images_file());
        const Volume<float> v = read_idx_images<float>(path);
        ASSERT_EQ(v.shape(), (Shape{2, 2, 3, 1}));
        EXPECT_FLOAT_EQ(v(0, 0, 1, 0), 51.0f / 255.0f);
        EXPECT_FLOAT_EQ(v(1, 1, 2, 0), 1.0f);
        EXPECT_FLOAT_EQ(v(1, 0, 0, 0), 0.0f);
        std::remove(path.c_str());
    }
}

TEST(Idx, ReadsLabels) {
    auto bytes = header(0x08, {3});
    bytes.insert(bytes.end(), {7, 3, 9});
    const std::string path = temp_path("labels.gz");
    write_gzip(path, bytes);
    EXPECT_EQ(read_idx_labels(path), (std::vector<int>{7, 3, 9}));
    std::remove(path.c_str());
}

TEST(Idx, DecodesEveryValueTypeBigEndian) {
    const std::string path = temp_path("types");
    {  // i16: -2, 300
        auto b = header(0x0B, {2});
        b.insert(b.end(), {0xFF, 0xFE, 0x01, 0x2C});
        write_plain(path, b);
        const IdxArray a = read_idx(path);
        EXPECT_EQ(a.value(0), -2.0);
        EXPECT_EQ(a.value(1), 300.0);
    }
    {  // i32: -70000; i8: -5
        auto b = header(0x0C, {1});
        b.insert(b.end(), {0xFF, 0xFE, 0xEE, 0x90});
        write_plain(path, b);
        EXPECT_EQ(read_idx(path).value(0), -70000.0);
        auto c = header(0x09, {1});
        c.push_back(0xFB);
        write_plain(path, c);
        EXPECT_EQ(read_idx(path).value(0), -5.0);
    }
    {  // f32 1.5 = 0x3FC00000; f64 -2.25 = 0xC002000000000000
        auto b = header(0x0D, {1});
        b.insert(b.end(), {0x3F, 0xC0, 0x00, 0x00});
        write_plain(path, b);
        EXPECT_EQ(read_idx(path).value(0), 1.5);
        auto c = header(0x0E, {1});
        c.insert(c.end(), {0xC0, 0x02, 0, 0, 0, 0, 0, 0});
        write_plain(path, c);
        EXPECT_EQ(read_idx(path).value(0), -2.25);
    }
    std::remove(path.c_str());
}

TEST(Idx, BrokenFilesGiveClearErrors) {
    const std::string path = temp_path("broken");
    expect_error_mentioning([&] { read_idx(temp_path("does-not-exist")); }, "cannot open");

    write_plain(path, {0, 0});
    expect_error_mentioning([&] { read_idx(path); }, "too short");

    auto bad_magic = images_file();
    bad_magic[0] = 1;
    write_plain(path, bad_magic);
    expect_error_mentioning([&] { read_idx(path); }, "not an IDX file");

    auto bad_type = images_file();
    bad_type[2] = 0x07;
    write_plain(path, bad_type);
    expect_error_mentioning([&] { read_idx(path); }, "unknown IDX type code 7");

    auto short_header = header(0x08, {2, 2, 3});
    short_header.resize(10);
    write_plain(path, short_header);
    expect_error_mentioning([&] { read_idx(path); }, "truncated header");

    auto truncated = images_file();
    truncated.resize(truncated.size() - 5);
    write_plain(path, truncated);
    expect_error_mentioning([&] { read_idx(path); }, "declares 12 data bytes, the file has 7");

    auto trailing = images_file();
    trailing.push_back(1);
    write_plain(path, trailing);
    expect_error_mentioning([&] { read_idx(path); }, "1 bytes after the declared data");

    // A gzip stream cut in the middle.
    write_gzip(path, std::vector<std::uint8_t>(images_file().size() * 50, 0));
    std::vector<char> gz;
    {
        std::ifstream in(path, std::ios::binary);
        gz.assign(std::istreambuf_iterator<char>(in), {});
    }
    gz.resize(gz.size() / 2);
    std::ofstream(path, std::ios::binary).write(gz.data(), static_cast<std::streamsize>(gz.size()));
    EXPECT_THROW(read_idx(path), IdxError);

    // Labels read as images (wrong rank) and images as labels.
    auto labels = header(0x08, {3});
    labels.insert(labels.end(), {1, 2, 3});
    write_plain(path, labels);
    expect_error_mentioning([&] { read_idx_images<float>(path); }, "3 dimensions (N, H, W)");
    write_plain(path, images_file());
    expect_error_mentioning([&] { read_idx_labels(path); }, "1 dimension");

    // Declared sizes that overflow are an error before any allocation.
    write_plain(path, header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
    EXPECT_THROW(read_idx(path), std::length_error);
    std::remove(path.c_str());
}

// A gzip file declaring one label, followed by 64 MiB of zeros (64 KiB compressed): refused as
// soon as the byte after the declared data arrives, without inflating the rest.
TEST(Idx, AGzipBombAfterTheDeclaredDataIsNotInflated) {
    const std::string path = temp_path("bomb.gz");
    {
        gzFile f = gzopen(path.c_str(), "wb9");
        ASSERT_NE(f, nullptr);
        auto head = header(0x08, {1});
        head.push_back(3);
        ASSERT_EQ(gzwrite(f, head.data(), static_cast<unsigned>(head.size())), static_cast<int>(head.size()));
        const std::vector<std::uint8_t> zeros(1 << 20, 0);
        for (int i = 0; i < 64; ++i) ASSERT_EQ(gzwrite(f, zeros.data(), 1u << 20), 1 << 20);
        ASSERT_EQ(gzclose(f), Z_OK);
    }
    support::AllocationCounter counter;
    expect_error_mentioning([&] { read_idx_labels(path); }, path + ": more bytes after the declared data (1 bytes)");
    EXPECT_LT(counter.largest_bytes(), std::size_t{1} << 16);
    std::remove(path.c_str());
}

// A gzip file whose header declares 256 MiB of data but holds 1 KiB: the buffer grows only with
// what has been inflated.
TEST(Idx, ACompressedHeaderDeclaringMoreThanItHoldsAllocatesOnlyWhatArrives) {
    const std::string path = temp_path("short.gz");
    auto bytes = header(0x08, {1 << 28});
    bytes.resize(bytes.size() + 1024, 1);
    write_gzip(path, bytes);
    support::AllocationCounter counter;
    expect_error_mentioning([&] { read_idx(path); }, "declares 268435456 data bytes, the file has 1024");
    EXPECT_LE(counter.largest_bytes(), std::size_t{1} << 20);
    std::remove(path.c_str());
}

TEST(Idx, APlainFileIsCheckedAgainstItsSizeBeforeAllocating) {
    const std::string path = temp_path("short_plain");
    write_plain(path, header(0x08, {1 << 28}));
    support::AllocationCounter counter;
    expect_error_mentioning([&] { read_idx(path); }, "declares 268435456 data bytes, the file has 0");
    EXPECT_LT(counter.largest_bytes(), std::size_t{1} << 16);
    expect_error_mentioning([&] { read_idx(path, 1000); }, "268435456 data bytes, more than 1000 (the read limit)");
    std::remove(path.c_str());
}

TEST(Idx, EmptyImageExtentsAndBadLabelsNameTheFile) {
    const std::string path = temp_path("empty_images");
    for (std::vector<std::uint32_t> dims : {std::vector<std::uint32_t>{0, 28, 28}, {2, 0, 28}, {2, 28, 0}}) {
        write_plain(path, header(0x08, dims));
        expect_error_mentioning([&] { read_idx_images<float>(path); }, path + ": holds ");
    }
    auto labels = header(0x08, {3});
    labels.insert(labels.end(), {1, 9, 200});
    write_plain(path, labels);
    EXPECT_EQ(read_idx_labels(path), (std::vector<int>{1, 9, 200}));
    expect_error_mentioning([&] { read_idx_labels(path, 10); }, path + ": label 2 is 200, outside the 10 classes 0..9");
    EXPECT_EQ(read_idx_labels(path, 201), (std::vector<int>{1, 9, 200}));
    std::remove(path.c_str());
}

TEST(Idx, ADirectoryIsRefusedByName) {
    const std::string dir = ::testing::TempDir();
    expect_error_mentioning([&] { read_idx(dir); }, dir + ": is a directory, not a file");
}

TEST(Idx, WritersRoundTripPlainAndGzip) {
    Volume<float> images(3, 4, 5, 1);
    for (index_t i = 0; i < images.size(); ++i) images.data()[i] = static_cast<float>(i % 256) / 255.0f;
    const std::vector<int> labels{0, 255, 7};
    for (const char* suffix : {"", ".gz"}) {
        const std::string ipath = temp_path(std::string("written_images") + suffix);
        const std::string lpath = temp_path(std::string("written_labels") + suffix);
        write_idx_images(ipath, images);
        write_idx_labels(lpath, labels);
        const Volume<float> back = read_idx_images<float>(ipath);
        ASSERT_EQ(back.shape(), images.shape());
        for (index_t i = 0; i < images.size(); ++i) EXPECT_EQ(back.data()[i], images.data()[i]);
        EXPECT_EQ(read_idx_labels(lpath), labels);
        std::ifstream in(ipath, std::ios::binary);
        const int first = in.get(), second = in.get();
        EXPECT_EQ(first == 0x1f && second == 0x8b, std::string(suffix) == ".gz") << "gzip magic only for .gz";
        std::remove(ipath.c_str());
        std::remove(lpath.c_str());
    }
    expect_error_mentioning([&] { write_idx_labels(temp_path("bad_labels"), {1, 256}); }, "label 1 is 256");
    expect_error_mentioning([&] { write_idx(temp_path("bad_array"), IdxArray{IdxType::i16, {3}, {1, 2}}); },
                            "need 6 data bytes, the array holds 2");
}
