// .npy reader and writer: round trips, the exact bytes numpy.save writes, header spellings NumPy
// accepts, and broken files.
#include "convlayer/io/npy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_file.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

using namespace convlayer;
using namespace convlayer::io;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

std::string temp_path(const std::string& name) { return support::temp_path("npy", name); }

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Little-endian bytes of each value, written out here independently of the library.
std::string le_bytes(const std::vector<float>& values) {
    std::string out;
    for (float v : values) {
        std::uint32_t bits;
        std::memcpy(&bits, &v, 4);
        for (int b = 0; b < 4; ++b) out += static_cast<char>((bits >> (8 * b)) & 0xFF);
    }
    return out;
}

// A .npy file: the prefix of format version major.0, the header dict padded with spaces and
// ended by '\n' so that the data starts at a multiple of `align`, then `data`.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1, std::size_t align = 64) {
    const std::size_t prefix = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % align != 0) header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    for (std::size_t b = 0; b < prefix - 8; ++b) out += static_cast<char>((header.size() >> (8 * b)) & 0xFF);
    return out + header + data;
}

const std::string f4_2x3 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

// The message of the NpyError that `f` throws (or a description of what it did instead).
template <typename F>
std::string npy_error(F&& f) {
    try {
        f();
    } catch (const NpyError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("not an NpyError: ") + e.what();
    }
    return "no exception";
}

// Bit-exact equality, so that NaN, -0 and subnormals count too.
template <typename T>
bool same_bits(const std::vector<T>& a, const T* b) {
    return a.empty() || std::memcmp(a.data(), b, a.size() * sizeof(T)) == 0;
}

template <typename T>
std::vector<T> sample_values(index_t count) {
    using L = std::numeric_limits<T>;
    const std::vector<T> special{T(-0.0), L::infinity(), -L::infinity(), L::quiet_NaN(),
                                 L::denorm_min(), L::max(), L::lowest(), T(1) / T(3)};
    std::vector<T> v(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i < special.size() ? special[i] : T(0.37) * T(i) - T(5);
    return v;
}

template <typename T>
class NpyTyped : public ::testing::Test {};
using ScalarTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(NpyTyped, ScalarTypes);

}  // namespace

TYPED_TEST(NpyTyped, RoundTripsZeroToFourDimensions) {
    using T = TypeParam;
    const std::string path = temp_path("roundtrip.npy");
    const std::vector<std::vector<index_t>> shapes{{}, {5}, {2, 3}, {2, 3, 4}, {2, 1, 3, 4}, {0, 3}, {3, 0}};
    for (const auto& dims : shapes) {
        index_t count = 1;
        for (index_t d : dims) count *= d;
        const std::vector<T> values = sample_values<T>(count);
        write_npy(path, values.data(), dims);
        const NpyArray<T> a = read_npy<T>(path);
        EXPECT_EQ(a.dims, dims);
        ASSERT_EQ(a.values.size(), values.size());
        EXPECT_TRUE(same_bits(values, a.values.data()));

        std::vector<T> into(values.size(), T(42));
        read_npy_into(path, into.data(), dims);
        EXPECT_TRUE(same_bits(values, into.data()));
    }
    std::remove(path.c_str());
}

TYPED_TEST(NpyTyped, VolumeRoundTrip) {
    using T = TypeParam;
    const std::string path = temp_path("volume.npy");
    Volume<T> v(2, 3, 4, 5);
    v.fill_random(7);
    write_npy(path, v);
    const Volume<T> back = read_npy_volume<T>(path);
    ASSERT_EQ(back.shape(), v.shape());
    EXPECT_EQ(std::memcmp(back.data(), v.data(), static_cast<std::size_t>(v.size()) * sizeof(T)), 0);
    EXPECT_EQ(read_npy<T>(path).dims, (std::vector<index_t>{2, 3, 4, 5}));  // (N, H, W, D)
    EXPECT_EQ(read_npy<T>(path).values[static_cast<std::size_t>(v.offset(1, 2, 3, 4))], v(1, 2, 3, 4));
    std::remove(path.c_str());
}

// The bytes numpy.save writes (NumPy 1.24), spelled out: magic, version 1.0, header length 118
// little-endian, the dict, spaces up to byte 127 (room for shape[0] to grow, then alignment),
// '\n', the values little-endian.
TEST(Npy, WritesTheSameBytesAsNumPy) {
    const std::string path = temp_path("numpy_bytes.npy");
    {  // np.save(path, np.array([[1, 2, 3], [4, 5, 6]], dtype='<f4'))
        const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + f4_2x3 + std::string(58, ' ') + "\n" +
                                     std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40"
                                                 "\x00\x00\x80\x40\x00\x00\xa0\x40\x00\x00\xc0\x40",
                                                 24);
        const float values[] = {1, 2, 3, 4, 5, 6};
        write_npy(path, values, {2, 3});
        EXPECT_EQ(read_file(path), expected);
        write_file(path, expected);
        const NpyArray<float> a = read_npy<float>(path);
        EXPECT_EQ(a.dims, (std::vector<index_t>{2, 3}));
        EXPECT_EQ(a.values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    }
    {  // np.save(path, np.array(1.5)): a 0-D array has no growth padding
        const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                                     "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" + std::string(62, ' ') +
                                     "\n" + std::string("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8);
        const double value = 1.5;
        write_npy(path, &value, {});
        EXPECT_EQ(read_file(path), expected);
        EXPECT_EQ(read_npy<double>(path).values, (std::vector<double>{1.5}));
    }
    {  // np.save(path, np.array([-2.25, 0.5, 1e300]))
        const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                                     "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" +
                                     std::string(60, ' ') + "\n" +
                                     std::string("\x00\x00\x00\x00\x00\x00\x02\xc0\x00\x00\x00\x00\x00\x00\xe0\x3f"
                                                 "\x9c\x75\x00\x88\x3c\xe4\x37\x7e",
                                                 24);
        const double values[] = {-2.25, 0.5, 1e300};
        write_npy(path, values, {3});
        EXPECT_EQ(read_file(path), expected);
    }
    std::remove(path.c_str());
}

TEST(Npy, HeaderIsPaddedToAMultipleOf64AndEndsWithNewline) {
    const std::string path = temp_path("align.npy");
    const std::vector<std::vector<index_t>> shapes{
        {0}, {7, 0}, {123456789, 0}, {0, 123456789012}, {1000000000000000000, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0}};
    for (const auto& dims : shapes) {  // zero-size arrays, so the file is the header alone
        write_npy<float>(path, nullptr, dims);
        const std::string bytes = read_file(path);
        ASSERT_GE(bytes.size(), 10u);
        EXPECT_EQ(bytes[6], '\x01');
        const std::size_t header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
        EXPECT_EQ(bytes.size(), 10 + header_len) << "no data for a zero-size array";
        EXPECT_EQ(bytes.size() % 64, 0u);
        EXPECT_EQ(bytes.back(), '\n');
        EXPECT_EQ(read_npy<float>(path).dims, dims);
    }
    const float one = 1;
    for (const auto& dims : {std::vector<index_t>{}, std::vector<index_t>{1}}) {
        write_npy(path, &one, dims);
        const std::string bytes = read_file(path);
        EXPECT_EQ((bytes.size() - 4) % 64, 0u);
        EXPECT_EQ(bytes[bytes.size() - 5], '\n');
    }
    std::remove(path.c_str());
}

TEST(Npy, UsesVersion2OnlyWhenTheHeaderExceeds65535Bytes) {
    const std::string path = temp_path("v2.npy");
    const float value = 2.5f;
    const std::vector<index_t> many(22000, 1);  // "1, " each: a header of about 66 kB
    write_npy(path, &value, many);
    std::string bytes = read_file(path);
    EXPECT_EQ(bytes[6], '\x02');
    EXPECT_EQ(bytes[7], '\x00');
    std::size_t header_len = 0;
    for (int b = 0; b < 4; ++b) header_len |= std::size_t{static_cast<unsigned char>(bytes[8 + b])} << (8 * b);
    EXPECT_GT(header_len, 65535u);
    EXPECT_EQ((12 + header_len) % 64, 0u);
    EXPECT_EQ(bytes.size(), 12 + header_len + 4);
    const NpyArray<float> a = read_npy<float>(path);
    EXPECT_EQ(a.dims, many);
    EXPECT_EQ(a.values, (std::vector<float>{2.5f}));

    const std::vector<index_t> fewer(21000, 1);  // just under the limit
    write_npy(path, &value, fewer);
    bytes = read_file(path);
    EXPECT_EQ(bytes[6], '\x01');
    EXPECT_EQ(read_npy<float>(path).dims, fewer);
    std::remove(path.c_str());
}

TEST(Npy, ReadsAnyHeaderSpellingNumPyAccepts) {
    const std::string path = temp_path("spellings.npy");
    const std::string data = le_bytes({1, 2, 3, 4, 5, 6});
    const std::vector<std::string> dicts{
        f4_2x3,
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",  // any key order, no trailing comma
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
        "{'descr':'<f4','fortran_order':False,'shape':(2,3),}",
        "  {\n 'descr' : '<f4' ,\n\t'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) ,\n }  ",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",  // Python 2 longs
    };
    for (const std::string& dict : dicts) {
        write_file(path, npy_file(dict, data));
        const NpyArray<float> a = read_npy<float>(path);
        EXPECT_EQ(a.dims, (std::vector<index_t>{2, 3})) << dict;
        EXPECT_EQ(a.values, (std::vector<float>{1, 2, 3, 4, 5, 6})) << dict;
    }
    write_file(path, npy_file(f4_2x3, data, 2));  // version 2.0
    EXPECT_EQ(read_npy<float>(path).values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    write_file(path, npy_file(f4_2x3, data, 1, 16));  // 16-byte alignment, as old NumPy wrote
    EXPECT_EQ(read_npy<float>(path).values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    write_file(path, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", le_bytes({1, 2, 3, 4, 5})));
    EXPECT_EQ(read_npy<float>(path).dims, (std::vector<index_t>{5}));
    write_file(path, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", le_bytes({9})));
    const NpyArray<float> scalar = read_npy<float>(path);
    EXPECT_TRUE(scalar.dims.empty());
    EXPECT_EQ(scalar.values, (std::vector<float>{9}));
    std::remove(path.c_str());
}

TEST(Npy, BadFilesGiveErrorsNamingTheFileAndTheProblem) {
    const std::string path = temp_path("bad.npy");
    auto read_float = [&] { read_npy<float>(path); };
    auto read_double = [&] { read_npy<double>(path); };
    auto error_for = [&](const std::string& bytes, auto read) {
        write_file(path, bytes);
        return npy_error(read);
    };
    auto header_error = [&](const std::string& dict) { return error_for(npy_file(dict, le_bytes({1, 2, 3, 4, 5, 6})), read_float); };

    const std::string missing = temp_path("does-not-exist.npy");
    EXPECT_THAT(npy_error([&] { read_npy<float>(missing); }),
                AllOf(StartsWith(missing), HasSubstr("cannot open for reading"), HasSubstr("No such file")));
    EXPECT_EQ(npy_error([&] { read_npy<float>(::testing::TempDir()); }), ::testing::TempDir() + ": is a directory, not a file");

    // Magic string and version.
    EXPECT_THAT(error_for("", read_float), AllOf(StartsWith(path), HasSubstr("too short for an .npy file (0 bytes)")));
    EXPECT_THAT(error_for("\x93NUMPY\x01", read_float), HasSubstr("too short for an .npy file (7 bytes)"));
    EXPECT_THAT(error_for("PK\x03\x04 this is a zip file", read_float),
                AllOf(StartsWith(path), HasSubstr("not an .npy file")));
    EXPECT_THAT(error_for("\x93NUMPx", read_float), HasSubstr("not an .npy file"));
    std::string v3 = npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5, 6}));
    v3[6] = 3;
    EXPECT_THAT(error_for(v3, read_float), AllOf(StartsWith(path), HasSubstr("unsupported .npy format version 3.0")));
    std::string v11 = npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5, 6}));
    v11[7] = 1;
    EXPECT_THAT(error_for(v11, read_float), HasSubstr("unsupported .npy format version 1.1"));

    // Dtype and order.
    const std::string f8 = npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
    EXPECT_THAT(error_for(f8, read_float),
                AllOf(StartsWith(path), HasSubstr("contains '<f8' (float64) but float32 was requested")));
    const std::string f4 = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'));
    EXPECT_THAT(error_for(f4, read_double), HasSubstr("contains '<f4' (float32) but float64 was requested"));
    const std::string big = npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'));
    EXPECT_THAT(error_for(big, read_float), HasSubstr("contains '>f4' (big-endian float32) but float32 was requested"));
    const std::string i8 = npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
    EXPECT_THAT(error_for(i8, read_double), HasSubstr("contains '<i8' (int64) but float64 was requested"));
    const std::string u1 = npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (8,), }", std::string(8, '\0'));
    EXPECT_THAT(error_for(u1, read_double), HasSubstr("contains '|u1' (uint8) but float64 was requested"));
    EXPECT_THAT(header_error("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2, 3), }"),
                AllOf(StartsWith(path), HasSubstr("structured dtype")));
    EXPECT_THAT(header_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"),
                AllOf(StartsWith(path), HasSubstr("fortran_order is True")));

    // Malformed headers.
    const std::vector<std::pair<std::string, std::string>> malformed{
        {"", "expected '{'"},
        {"['descr', '<f4']", "expected '{'"},
        {"{'descr': '<f4', 'fortran_order': False}", "the key 'shape' is missing"},
        {"{'descr': '<f4', 'shape': (2, 3)}", "the key 'fortran_order' is missing"},
        {"{'fortran_order': False, 'shape': (2, 3)}", "the key 'descr' is missing"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unexpected key 'extra'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "'descr' appears twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "trailing comma"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "expected '('"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", "non-negative integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", "True or False"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':' after the key 'descr'"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", "expected ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "expected ','"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", "expected ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", "after the closing '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'sh", "unterminated string"},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected a quoted string"},
    };
    for (const auto& [dict, problem] : malformed)
        EXPECT_THAT(header_error(dict), AllOf(StartsWith(path), HasSubstr("malformed header"), HasSubstr(problem)))
            << dict;

    // The header length runs past the end of the file.
    std::string short_header = npy_file(f4_2x3, "");
    short_header.resize(70);
    EXPECT_THAT(error_for(short_header, read_float),
                AllOf(StartsWith(path), HasSubstr("truncated header: it declares 118 bytes but the file has 60")));
    EXPECT_THAT(error_for(std::string("\x93NUMPY\x02\x00\x00\x01", 10), read_float), HasSubstr("truncated header"));

    // Data shorter or longer than the shape declares.
    EXPECT_THAT(error_for(npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5})), read_float),
                AllOf(StartsWith(path), HasSubstr("truncated data"), HasSubstr("needs 24 bytes but the file has 20")));
    EXPECT_THAT(error_for(npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5, 6}) + "abc"), read_float),
                AllOf(StartsWith(path), HasSubstr("trailing garbage: 3 bytes after the 24 data bytes")));

    // Shapes that do not fit, reported before anything is allocated.
    EXPECT_THAT(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }"),
                AllOf(StartsWith(path), HasSubstr("dimension 99999999999999999999"), HasSubstr("does not fit")));
    EXPECT_THAT(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"),
                AllOf(StartsWith(path), HasSubstr("(4294967296, 4294967296) of float32 is too large")));
    EXPECT_THAT(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }"),
                HasSubstr("is too large"));  // the count fits, its bytes do not
    EXPECT_THAT(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 0), }"),
                HasSubstr("trailing garbage"));  // a zero extent: no data, however large the others
    std::remove(path.c_str());
}

TEST(Npy, ReadIntoChecksTheShapeAndLeavesTheBufferUntouchedOnError) {
    const std::string path = temp_path("into.npy");
    std::vector<float> buffer(6, -1.0f);
    write_file(path, npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5, 6})));
    EXPECT_THAT(npy_error([&] { read_npy_into(path, buffer.data(), {3, 2}); }),
                AllOf(StartsWith(path), HasSubstr("has the shape (2, 3) but (3, 2) was expected")));
    EXPECT_THAT(npy_error([&] { read_npy_into(path, buffer.data(), {6}); }), HasSubstr("but (6,) was expected"));
    EXPECT_EQ(buffer, std::vector<float>(6, -1.0f));

    write_file(path, npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5})));
    EXPECT_THAT(npy_error([&] { read_npy_into(path, buffer.data(), {2, 3}); }), HasSubstr("truncated data"));
    EXPECT_EQ(buffer, std::vector<float>(6, -1.0f));

    write_file(path, npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5, 6})));
    std::vector<double> doubles(6, -1.0);
    EXPECT_THAT(npy_error([&] { read_npy_into(path, doubles.data(), {2, 3}); }), HasSubstr("float64 was requested"));
    EXPECT_EQ(doubles, std::vector<double>(6, -1.0));

    read_npy_into(path, buffer.data(), {2, 3});
    EXPECT_EQ(buffer, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    std::remove(path.c_str());
}

TEST(Npy, ReadVolumeNeedsFourPositiveDimensions) {
    const std::string path = temp_path("not_a_volume.npy");
    write_file(path, npy_file(f4_2x3, le_bytes({1, 2, 3, 4, 5, 6})));
    EXPECT_THAT(npy_error([&] { read_npy_volume<float>(path); }),
                AllOf(StartsWith(path), HasSubstr("has the shape (2, 3) but a Volume needs 4 positive dimensions")));
    write_npy<float>(path, nullptr, {1, 2, 0, 3});
    EXPECT_THAT(npy_error([&] { read_npy_volume<float>(path); }), HasSubstr("(1, 2, 0, 3) but a Volume needs"));
    std::remove(path.c_str());
}

TEST(Npy, WriteErrorsAreReported) {
    const float values[] = {1, 2, 3};
    const std::string no_dir = temp_path("no-such-dir/out.npy");
    EXPECT_THAT(npy_error([&] { write_npy(no_dir, values, {3}); }),
                AllOf(StartsWith(no_dir), HasSubstr("cannot open for writing"), HasSubstr("No such file")));
    EXPECT_THAT(npy_error([&] { write_npy(::testing::TempDir(), values, {3}); }), HasSubstr("cannot open for writing"));

    const std::string path = temp_path("write_errors.npy");
    EXPECT_THAT(npy_error([&] { write_npy(path, values, {3, -1}); }),
                AllOf(StartsWith(path), HasSubstr("(3, -1): a dimension is negative")));
    EXPECT_THAT(npy_error([&] { write_npy<float>(path, nullptr, {3}); }), HasSubstr("the data pointer is null"));
    EXPECT_THAT(npy_error([&] { write_npy(path, values, {4294967296, 4294967296}); }), HasSubstr("is too large"));

    if (std::ifstream("/dev/full")) {  // a device that accepts no data: the failure shows when flushing
        EXPECT_THAT(npy_error([&] { write_npy("/dev/full", values, {3}); }),
                    AllOf(StartsWith("/dev/full"), HasSubstr("write failed")));
    }
}
