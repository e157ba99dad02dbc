// Saving and loading all parameters of a layer or network to one binary file.
//
// Format (version 1), every integer and float little-endian:
//   8 bytes   magic "CNVLAYER"
//   u32       format version (1)
//   u32       tensor count
//   per tensor:  u32 name length, name bytes,
//                u8 dtype (1 = float32, 2 = float64), u8 rank, rank x u64 dims,
//                product(dims) values of that dtype (IEEE 754)
//   u64       FNV-1a 64-bit hash of every byte before it
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "convlayer/core/file_bytes.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// Thrown for unreadable, truncated, corrupted or mismatching weight files.
struct WeightsFileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace detail {

constexpr char kWeightsMagic[8] = {'C', 'N', 'V', 'L', 'A', 'Y', 'E', 'R'};
constexpr std::uint32_t kWeightsVersion = 1;

inline std::uint64_t fnv1a64(const std::uint8_t* data, std::size_t size) {
    std::uint64_t h = 14695981039346656037ull;
    for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

template <typename T>
constexpr std::uint8_t dtype_code() {
    return std::is_same<T, float>::value ? 1 : 2;
}
/// The unsigned integer holding a T's IEEE 754 bits.
template <typename T>
using IeeeBits = typename std::conditional<sizeof(T) == 4, std::uint32_t, std::uint64_t>::type;

inline const char* dtype_name(std::uint8_t code) { return code == 1 ? "float32" : code == 2 ? "float64" : "unknown"; }

inline void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// Reads little-endian fields from a byte range, throwing when it runs out.
class ByteReader {
public:
    ByteReader(const std::vector<std::uint8_t>& bytes, std::size_t end, const std::string& path)
        : bytes_(bytes), end_(end), path_(path) {}
    std::uint64_t get(int n, const char* what) {
        need(static_cast<std::size_t>(n), what);
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v |= std::uint64_t{bytes_[pos_ + static_cast<std::size_t>(i)]} << (8 * i);
        pos_ += static_cast<std::size_t>(n);
        return v;
    }
    std::string get_string(std::size_t n, const char* what) {
        need(n, what);
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    void need(std::size_t n, const char* what) const {
        if (n > end_ - pos_)
            throw WeightsFileError(path_ + ": file ends inside " + what + " (malformed file)");
    }
    std::size_t position() const { return pos_; }
    void skip(std::size_t n) { pos_ += n; }

private:
    const std::vector<std::uint8_t>& bytes_;
    std::size_t end_, pos_ = 0;
    const std::string& path_;
};

}  // namespace detail

/// Writes every parameter of `layer` (e.g. a Sequential network) with its name, shape and dtype.
/// Throws WeightsFileError when the file cannot be written.
template <typename T>
void save_weights(Layer<T>& layer, const std::string& path) {
    using namespace detail;
    std::vector<std::uint8_t> out(std::begin(kWeightsMagic), std::end(kWeightsMagic));
    const auto params = layer.parameters();
    put_le(out, kWeightsVersion, 4);
    put_le(out, params.size(), 4);
    for (const Parameter<T>& p : params) {
        if (p.dims.size() > 255 || p.name.size() > 0xffffffffu)
            throw WeightsFileError(path + ": parameter '" + p.name + "' has a rank or name too long for the format");
        put_le(out, p.name.size(), 4);
        out.insert(out.end(), p.name.begin(), p.name.end());
        put_le(out, dtype_code<T>(), 1);
        put_le(out, p.dims.size(), 1);
        for (index_t d : p.dims) put_le(out, static_cast<std::uint64_t>(d), 8);
        for (index_t i = 0; i < p.size; ++i) {
            IeeeBits<T> bits;
            std::memcpy(&bits, &p.value[i], sizeof(T));
            put_le(out, bits, sizeof(T));
        }
    }
    put_le(out, fnv1a64(out.data(), out.size()), 8);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (!f.good()) throw WeightsFileError(path + ": cannot write the weights file");
}

/// Loads a file written by save_weights() into `layer`. The file must hold exactly the layer's
/// parameters: same count, names, shapes and dtype. On any error (unreadable, not a weights
/// file, other version, truncated, checksum mismatch, other architecture or dtype) it throws
/// WeightsFileError saying what differs, and the layer's parameters are left unchanged.
template <typename T>
void load_weights(Layer<T>& layer, const std::string& path) {
    using namespace detail;
    const auto bytes = read_file_bytes<WeightsFileError, std::vector<std::uint8_t>>(path);
    if (bytes.size() < sizeof(kWeightsMagic) || std::memcmp(bytes.data(), kWeightsMagic, sizeof(kWeightsMagic)) != 0)
        throw WeightsFileError(path + ": not a convlayer weights file (bad magic number)");
    const std::size_t body = bytes.size() - 8;
    if (bytes.size() < sizeof(kWeightsMagic) + 16) throw WeightsFileError(path + ": file is truncated");
    detail::ByteReader checksum(bytes, bytes.size(), path);
    checksum.skip(body);
    if (checksum.get(8, "the checksum") != fnv1a64(bytes.data(), body))
        throw WeightsFileError(path + ": checksum mismatch (the file is truncated or corrupted)");

    detail::ByteReader in(bytes, body, path);
    in.skip(sizeof(kWeightsMagic));
    const auto version = in.get(4, "the header");
    if (version != kWeightsVersion)
        throw WeightsFileError(path + ": format version " + std::to_string(version) + ", this build reads version " +
                               std::to_string(kWeightsVersion));
    const auto params = layer.parameters();
    const auto count = in.get(4, "the header");
    if (count != params.size())
        throw WeightsFileError(path + ": holds " + std::to_string(count) + " tensors but the " + layer.describe() +
                               " has " + std::to_string(params.size()) + " parameters (another architecture?)");
    std::vector<std::size_t> offsets;  // where each tensor's values start; copied only once all match
    for (const Parameter<T>& p : params) {
        const std::string name = in.get_string(in.get(4, "a tensor name"), "a tensor name");
        const auto dtype = static_cast<std::uint8_t>(in.get(1, "a tensor header"));
        std::vector<index_t> dims(in.get(1, "a tensor header"));
        for (index_t& d : dims) d = static_cast<index_t>(in.get(8, "a tensor shape"));
        auto shape_text = [](const std::vector<index_t>& ds) {
            std::string s = "(";
            for (std::size_t i = 0; i < ds.size(); ++i) s += (i ? ", " : "") + std::to_string(ds[i]);
            return s + ")";
        };
        if (name != p.name || dims != p.dims)
            throw WeightsFileError(path + ": tensor '" + name + "' " + shape_text(dims) + " does not match parameter '" +
                                   p.name + "' " + shape_text(p.dims) + " (another architecture?)");
        if (dtype != dtype_code<T>())
            throw WeightsFileError(path + ": tensor '" + name + "' is " + dtype_name(dtype) + " but the network is " +
                                   dtype_name(dtype_code<T>()));
        in.need(static_cast<std::size_t>(p.size) * sizeof(T), "tensor values");
        offsets.push_back(in.position());
        in.skip(static_cast<std::size_t>(p.size) * sizeof(T));
    }
    if (in.position() != body) throw WeightsFileError(path + ": unexpected bytes after the last tensor");
    for (std::size_t t = 0; t < params.size(); ++t) {
        detail::ByteReader values(bytes, body, path);
        values.skip(offsets[t]);
        for (index_t i = 0; i < params[t].size; ++i) {
            const auto bits = static_cast<IeeeBits<T>>(values.get(sizeof(T), "tensor values"));
            std::memcpy(&params[t].value[i], &bits, sizeof(T));
        }
        params[t].mark_changed();
    }
}

}  // namespace convlayer
