// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//
// Layout: two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32,
// 0x0E f64), the number of dimensions, each dimension as a big-endian uint32, then the values,
// big-endian, last dimension fastest. zlib reads both plain and gzip files, so either works.
// Needs zlib (Debian: zlib1g-dev; CMake links ZLIB::ZLIB to convlayer when it is found).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/file_bytes.hpp"
#include "convlayer/core/volume.hpp"

namespace convlayer::io {

/// Thrown for a missing, unreadable, malformed, truncated or mismatched IDX file; the message
/// starts with the file's path.
class IdxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The value type of an IDX file, by its type code (third byte): unsigned or signed 8-bit, 16- and
/// 32-bit signed integers, 32- and 64-bit IEEE floats.
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
    /// The type of every value.
    IdxType type = IdxType::u8;
    /// The extents, outermost first (images: N, H, W; labels: N).
    std::vector<index_t> dims;
    /// The values as stored in the file: big-endian, last dimension fastest.
    std::vector<std::uint8_t> bytes;

    /// Number of values (bytes.size() / idx_type_size(type)).
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

/// An open IDX file, plain or gzip (zlib reads both), closed on destruction.
class IdxStream {
public:
    IdxStream(const std::string& path, const char* mode) : path_(path), f_(gzopen(path.c_str(), mode)) {
        if (!f_) throw IdxError(path + ": cannot open (" + std::strerror(errno != 0 ? errno : ENOMEM) + ")");
    }
    IdxStream(const IdxStream&) = delete;
    IdxStream& operator=(const IdxStream&) = delete;
    ~IdxStream() {
        if (f_) gzclose(f_);
    }

    /// True for a file that is not compressed.
    bool plain() const { return gzdirect(f_) == 1; }
    /// Up to `n` bytes into `out`; fewer only at the end of the data.
    index_t read(std::uint8_t* out, index_t n) {
        index_t done = 0;
        while (done < n) {
            const int got = gzread(f_, out + done, static_cast<unsigned>(std::min<index_t>(n - done, 1 << 20)));
            if (got < 0) throw IdxError(path_ + ": cannot read: " + error_text());
            if (got == 0) break;
            done += got;
        }
        return done;
    }
    void write(const std::uint8_t* data, index_t n) {
        for (index_t done = 0; done < n;) {
            const unsigned part = static_cast<unsigned>(std::min<index_t>(n - done, 1 << 20));
            if (gzwrite(f_, data + done, part) != static_cast<int>(part))
                throw IdxError(path_ + ": cannot write: " + error_text());
            done += part;
        }
    }
    /// Closes the file; a compressed stream that is corrupt or cut short fails here.
    void close(const char* what) {
        const int status = gzclose(f_);
        f_ = nullptr;
        if (status != Z_OK) throw IdxError(path_ + ": " + what);
    }

private:
    std::string error_text() const {
        int code = 0;
        const char* text = gzerror(f_, &code);
        return code == Z_ERRNO ? std::strerror(errno) : text;
    }

    std::string path_;
    gzFile f_;
};

inline index_t idx_dim(const std::uint8_t* p) {
    return (index_t{p[0]} << 24) | (index_t{p[1]} << 16) | (index_t{p[2]} << 8) | index_t{p[3]};
}

}  // namespace detail

/// Reads an IDX file, plain or gzip. Throws IdxError naming the file and the problem. The header
/// is read first; then exactly the bytes it declares (at most `max_bytes`) are read, allocated
/// as they arrive (for a plain file, only once the file is known to hold them), and the data
/// must end there.
inline IdxArray read_idx(const std::string& path, index_t max_bytes = index_t{4} << 30) {
    const index_t file_size = convlayer::detail::file_size_or_throw<IdxError>(path);
    errno = 0;
    detail::IdxStream in(path, "rb");
    std::uint8_t head[4 + 4 * 255];
    const index_t got = in.read(head, 4);
    if (got < 4) throw IdxError(path + ": too short for an IDX header (" + std::to_string(got) + " bytes)");
    if (head[0] != 0 || head[1] != 0) throw IdxError(path + ": not an IDX file (the first two bytes must be zero)");
    IdxArray a;
    a.type = static_cast<IdxType>(head[2]);
    if (idx_type_size(a.type) == 0) throw IdxError(path + ": unknown IDX type code " + std::to_string(head[2]));
    const index_t ndims = head[3];
    if (ndims == 0) throw IdxError(path + ": an IDX file needs at least one dimension");
    const index_t header = 4 + 4 * ndims;
    if (in.read(head + 4, header - 4) < header - 4)
        throw IdxError(path + ": truncated header (" + std::to_string(ndims) + " dimensions declared)");
    index_t count = 1;
    for (index_t d = 0; d < ndims; ++d) {
        a.dims.push_back(detail::idx_dim(head + 4 + 4 * d));
        count = checked_mul(count, a.dims.back(), "IDX element count");
    }
    const index_t expected = checked_mul(count, idx_type_size(a.type), "IDX data bytes");
    if (expected > max_bytes)
        throw IdxError(path + ": the header declares " + std::to_string(expected) + " data bytes, more than " +
                       std::to_string(max_bytes) + " (the read limit)");
    const bool plain = in.plain() && file_size >= 0;
    if (plain && file_size - header < expected)
        throw IdxError(path + ": truncated: the header declares " + std::to_string(expected) + " data bytes, the file has " +
                       std::to_string(file_size - header));
    // Compressed data is inflated in steps; the buffer grows only with what has arrived.
    constexpr index_t step = index_t{1} << 20;
    while (static_cast<index_t>(a.bytes.size()) < expected) {
        const index_t have = static_cast<index_t>(a.bytes.size());
        const index_t want = plain ? expected : std::min(expected, std::max(2 * have, step));
        a.bytes.resize(static_cast<std::size_t>(want));
        const index_t n = in.read(a.bytes.data() + have, want - have);
        if (n < want - have)
            throw IdxError(path + ": truncated: the header declares " + std::to_string(expected) +
                           " data bytes, the file has " + std::to_string(have + n));
    }
    std::uint8_t extra[1 << 12];
    if (const index_t after = in.read(extra, sizeof extra); after > 0) {
        const std::string how_many = plain ? std::to_string(file_size - header - expected) : "more";
        throw IdxError(path + ": " + how_many + " bytes after the declared data (" + std::to_string(expected) + " bytes)");
    }
    in.close("the compressed stream is corrupt or truncated");
    return a;
}

/// Writes `a` as an IDX file, gzip-compressed when `path` ends in ".gz", plain otherwise. Throws
/// IdxError naming the file when the array is inconsistent (before the file is touched) or the
/// file cannot be written.
inline void write_idx(const std::string& path, const IdxArray& a) {
    if (idx_type_size(a.type) == 0) throw IdxError(path + ": cannot write an unknown IDX type code");
    if (a.dims.empty() || a.dims.size() > 255)
        throw IdxError(path + ": cannot write " + std::to_string(a.dims.size()) + " dimensions (1 to 255)");
    index_t count = 1;
    for (index_t d : a.dims) {
        if (d < 0 || d > 0xFFFFFFFF) throw IdxError(path + ": cannot write the dimension " + std::to_string(d));
        count = checked_mul(count, d, "IDX element count");
    }
    if (checked_mul(count, idx_type_size(a.type), "IDX data bytes") != static_cast<index_t>(a.bytes.size()))
        throw IdxError(path + ": the dimensions need " + std::to_string(count * idx_type_size(a.type)) +
                       " data bytes, the array holds " + std::to_string(a.bytes.size()));
    const bool gzip = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
    std::vector<std::uint8_t> head = {0, 0, static_cast<std::uint8_t>(a.type), static_cast<std::uint8_t>(a.dims.size())};
    for (index_t d : a.dims)
        for (int shift = 24; shift >= 0; shift -= 8) head.push_back(static_cast<std::uint8_t>(d >> shift));
    errno = 0;
    detail::IdxStream out(path, gzip ? "wb" : "wbT");  // "T": zlib writes the bytes uncompressed
    out.write(head.data(), static_cast<index_t>(head.size()));
    out.write(a.bytes.data(), static_cast<index_t>(a.bytes.size()));
    out.close("cannot write (closing the file failed)");
}

/// Reads N images of H x W unsigned bytes (an idx3-ubyte file) as an N x H x W x 1 volume,
/// scaled to [0, 1]. Throws IdxError for another type or rank, or an extent of 0.
template <typename T>
Volume<T> read_idx_images(const std::string& path) {
    const IdxArray a = read_idx(path);
    if (a.type != IdxType::u8 || a.dims.size() != 3)
        throw IdxError(path + ": expected unsigned-byte images with 3 dimensions (N, H, W), got type code " +
                       std::to_string(static_cast<int>(a.type)) + " with " + std::to_string(a.dims.size()) +
                       " dimensions");
    if (a.dims[0] == 0 || a.dims[1] == 0 || a.dims[2] == 0)
        throw IdxError(path + ": holds " + std::to_string(a.dims[0]) + " images of " + std::to_string(a.dims[1]) + " x " +
                       std::to_string(a.dims[2]) + " pixels; every extent must be at least 1");
    Volume<T> v(a.dims[0], a.dims[1], a.dims[2], 1);
    for (index_t i = 0; i < v.size(); ++i) v.data()[i] = static_cast<T>(a.bytes[static_cast<std::size_t>(i)]) / T(255);
    return v;
}

/// Reads N labels (an idx1-ubyte file). With `classes` > 0, every label must be below it: else
/// IdxError naming the file, the label's index and its value.
inline std::vector<int> read_idx_labels(const std::string& path, int classes = 0) {
    const IdxArray a = read_idx(path);
    if (a.type != IdxType::u8 || a.dims.size() != 1)
        throw IdxError(path + ": expected unsigned-byte labels with 1 dimension, got type code " +
                       std::to_string(static_cast<int>(a.type)) + " with " + std::to_string(a.dims.size()) +
                       " dimensions");
    std::vector<int> labels(a.bytes.begin(), a.bytes.end());
    for (std::size_t i = 0; classes > 0 && i < labels.size(); ++i)
        if (labels[i] >= classes)
            throw IdxError(path + ": label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                           ", outside the " + std::to_string(classes) + " classes 0.." + std::to_string(classes - 1));
    return labels;
}

/// Writes a N x H x W x 1 volume of values in [0, 1] as unsigned-byte images (x 255, rounded,
/// clamped; the inverse of read_idx_images), gzip-compressed when `path` ends in ".gz".
template <typename T>
void write_idx_images(const std::string& path, const Volume<T>& images) {
    if (images.depth() != 1) throw IdxError(path + ": IDX images have one channel, the volume has " + std::to_string(images.depth()));
    IdxArray a{IdxType::u8, {images.batch(), images.height(), images.width()}, {}};
    a.bytes.resize(static_cast<std::size_t>(images.size()));
    for (index_t i = 0; i < images.size(); ++i) {
        const double v = static_cast<double>(images.data()[i]) * 255.0;
        a.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v > 0 ? (v < 255 ? v + 0.5 : 255) : 0);
    }
    write_idx(path, a);
}

/// Writes labels 0..255 as an idx1-ubyte file, gzip-compressed when `path` ends in ".gz".
inline void write_idx_labels(const std::string& path, const std::vector<int>& labels) {
    IdxArray a{IdxType::u8, {static_cast<index_t>(labels.size())}, {}};
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (labels[i] < 0 || labels[i] > 255)
            throw IdxError(path + ": label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                           ", outside the bytes 0..255");
        a.bytes.push_back(static_cast<std::uint8_t>(labels[i]));
    }
    write_idx(path, a);
}

}  // namespace convlayer::io
