// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//
// Layout: two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
// 0x0E f64), the number of dimensions, each dimension as a big-endian uint32, then the values,
// big-endian, last dimension fastest. zlib reads both plain and gzip files, so either works.
// Needs zlib (Debian: zlib1g-dev; CMake links ZLIB::ZLIB to convlayer when it is found).
#pragma once

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/volume.hpp"

namespace convlayer::io {

/// Thrown for a missing, unreadable, malformed, truncated or mismatched IDX file; the message
/// starts with the file's path.
class IdxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class IdxType : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

/// Bytes per value of an IDX type.
inline index_t idx_type_size(IdxType t) {
    switch (t) {
        case IdxType::u8:
        case IdxType::i8: return 1;
        case IdxType::i16: return 2;
        case IdxType::i32:
        case IdxType::f32: return 4;
        case IdxType::f64: return 8;
    }
    return 0;
}

/// The contents of an IDX file: type, dimensions, and the values as stored (big-endian).
struct IdxArray {
    IdxType type = IdxType::u8;
    std::vector<index_t> dims;
    std::vector<std::uint8_t> bytes;

    index_t size() const { return static_cast<index_t>(bytes.size()) / idx_type_size(type); }
    /// Value i (in storage order) converted to double.
    double value(index_t i) const {
        const std::uint8_t* p = bytes.data() + i * idx_type_size(type);
        auto be = [p](int n) {
            std::uint64_t v = 0;
            for (int b = 0; b < n; ++b) v = (v << 8) | p[b];
            return v;
        };
        switch (type) {
            case IdxType::u8: return p[0];
            case IdxType::i8: return static_cast<std::int8_t>(p[0]);
            case IdxType::i16: return static_cast<std::int16_t>(be(2));
            case IdxType::i32: return static_cast<std::int32_t>(be(4));
            case IdxType::f32: {
                const auto u = static_cast<std::uint32_t>(be(4));
                float f;
                std::memcpy(&f, &u, sizeof f);
                return f;
            }
            case IdxType::f64: {
                const std::uint64_t u = be(8);
                double d;
                std::memcpy(&d, &u, sizeof d);
                return d;
            }
        }
        return 0;
    }
};

namespace detail {
inline std::vector<std::uint8_t> read_all(const std::string& path, index_t max_bytes) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw IdxError(path + ": cannot open (" + std::strerror(errno) + ")");
    std::vector<std::uint8_t> data;
    std::uint8_t chunk[1 << 16];
    for (;;) {
        const int n = gzread(f, chunk, sizeof chunk);
        if (n < 0) {
            int code = 0;
            const std::string msg = gzerror(f, &code);
            gzclose(f);
            throw IdxError(path + ": cannot read: " + msg);
        }
        if (n == 0) break;
        if (static_cast<index_t>(data.size()) + n > max_bytes) {
            gzclose(f);
            throw IdxError(path + ": more than " + std::to_string(max_bytes) + " bytes (the read limit)");
        }
        data.insert(data.end(), chunk, chunk + n);
    }
    // A gzip stream cut short reads as a short file; gzclose reports it as an error.
    if (gzclose(f) != Z_OK) throw IdxError(path + ": the compressed stream is corrupt or truncated");
    return data;
}
}  // namespace detail

/// Reads an IDX file, plain or gzip. Throws IdxError naming the file and the problem.
inline IdxArray read_idx(const std::string& path, index_t max_bytes = index_t{4} << 30) {
    const std::vector<std::uint8_t> data = detail::read_all(path, max_bytes);
    if (data.size() < 4) throw IdxError(path + ": too short for an IDX header (" + std::to_string(data.size()) + " bytes)");
    if (data[0] != 0 || data[1] != 0)
        throw IdxError(path + ": not an IDX file (the first two bytes must be zero)");
    IdxArray a;
    a.type = static_cast<IdxType>(data[2]);
    if (idx_type_size(a.type) == 0)
        throw IdxError(path + ": unknown IDX type code " + std::to_string(data[2]));
    const index_t ndims = data[3];
    if (ndims == 0) throw IdxError(path + ": an IDX file needs at least one dimension");
    const index_t header = 4 + 4 * ndims;
    if (static_cast<index_t>(data.size()) < header)
        throw IdxError(path + ": truncated header (" + std::to_string(ndims) + " dimensions declared)");
    index_t count = 1;
    for (index_t d = 0; d < ndims; ++d) {
        const std::uint8_t* p = data.data() + 4 + 4 * d;
        const index_t dim = (index_t{p[0]} << 24) | (index_t{p[1]} << 16) | (index_t{p[2]} << 8) | index_t{p[3]};
        a.dims.push_back(dim);
        count = checked_mul(count, dim, "IDX element count");
    }
    const index_t expected = checked_mul(count, idx_type_size(a.type), "IDX data bytes");
    const index_t actual = static_cast<index_t>(data.size()) - header;
    if (actual < expected)
        throw IdxError(path + ": truncated: the header declares " + std::to_string(expected) + " data bytes, the file has " +
                       std::to_string(actual));
    if (actual > expected)
        throw IdxError(path + ": " + std::to_string(actual - expected) + " bytes after the declared data");
    a.bytes.assign(data.begin() + header, data.end());
    return a;
}

/// Reads N images of H x W unsigned bytes (an idx3-ubyte file) as an N x H x W x 1 volume,
/// scaled to [0, 1].
template <typename T>
Volume<T> read_idx_images(const std::string& path) {
    const IdxArray a = read_idx(path);
    if (a.type != IdxType::u8 || a.dims.size() != 3)
        throw IdxError(path + ": expected unsigned-byte images with 3 dimensions (N, H, W), got type code " +
                       std::to_string(static_cast<int>(a.type)) + " with " + std::to_string(a.dims.size()) +
                       " dimensions");
    Volume<T> v(a.dims[0], a.dims[1], a.dims[2], 1);
    for (index_t i = 0; i < v.size(); ++i) v.data()[i] = static_cast<T>(a.bytes[static_cast<std::size_t>(i)]) / T(255);
    return v;
}

/// Reads N labels (an idx1-ubyte file).
inline std::vector<int> read_idx_labels(const std::string& path) {
    const IdxArray a = read_idx(path);
    if (a.type != IdxType::u8 || a.dims.size() != 1)
        throw IdxError(path + ": expected unsigned-byte labels with 1 dimension, got type code " +
                       std::to_string(static_cast<int>(a.type)) + " with " + std::to_string(a.dims.size()) +
                       " dimensions");
    return std::vector<int>(a.bytes.begin(), a.bytes.end());
}

}  // namespace convlayer::io
