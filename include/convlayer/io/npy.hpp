// NumPy .npy files: float32 ('<f4') and float64 ('<f8') arrays in C order.
//
// Layout (numpy.lib.format): the magic string "\x93NUMPY", the format version (major, minor
// byte), the header length as a little-endian integer (uint16 in version 1.0, uint32 in 2.0),
// then the header: a Python dict literal such as
//     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes. Then
// the values, little-endian, last dimension fastest.
//
// Reading accepts versions 1.0 and 2.0 and any spelling of the header NumPy would accept for
// these arrays (keys in any order, any spacing, with or without a trailing comma). Writing
// produces the same bytes as numpy.save: version 1.0, or 2.0 when the header would not fit in
// 65535 bytes. Every failure throws NpyError whose message starts with the file's path.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/file_bytes.hpp"
#include "convlayer/core/volume.hpp"

namespace convlayer::io {

/// Thrown for an unreadable, malformed, truncated or mismatched .npy file, or a failed write;
/// the message starts with the file's path.
struct NpyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The contents of a .npy file.
template <typename T>
struct NpyArray {
    std::vector<index_t> dims;  ///< the shape; empty for a 0-D (scalar) array
    std::vector<T> values;      ///< product(dims) values in C order (last dimension fastest)
};

namespace detail::npy {

// The values are encoded through their bit patterns, byte by byte, so the format code does not
// depend on the machine's byte order; it does need IEEE-754 binary32 and binary64.
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4, "npy: float must be IEEE-754 binary32");
static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8, "npy: double must be IEEE-754 binary64");

constexpr char magic[] = "\x93NUMPY";
constexpr index_t magic_size = 6;
constexpr index_t alignment = 64;          // the data starts at a multiple of this
constexpr index_t growth_digits = 21;      // NumPy leaves room for shape[0] to grow to 21 digits
constexpr index_t io_chunk_bytes = 1 << 16;

template <typename T>
struct Dtype;
template <>
struct Dtype<float> {
    using Bits = std::uint32_t;
    static constexpr const char* descr = "<f4";
    static constexpr const char* name = "float32";
};
template <>
struct Dtype<double> {
    using Bits = std::uint64_t;
    static constexpr const char* descr = "<f8";
    static constexpr const char* name = "float64";
};

template <typename T>
void check_value_type() {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "npy: T must be float or double");
}

template <typename T>
void store_le(T value, unsigned char* out) {
    typename Dtype<T>::Bits bits;
    std::memcpy(&bits, &value, sizeof bits);
    for (std::size_t b = 0; b < sizeof bits; ++b) out[b] = static_cast<unsigned char>(bits >> (8 * b));
}

template <typename T>
T load_le(const unsigned char* in) {
    using Bits = typename Dtype<T>::Bits;
    Bits bits = 0;
    for (std::size_t b = 0; b < sizeof bits; ++b) bits |= static_cast<Bits>(in[b]) << (8 * b);
    T value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

/// Python's repr of the shape tuple: "()", "(5,)", "(2, 3)".
inline std::string shape_repr(const std::vector<index_t>& dims) {
    std::string s = "(";
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (i > 0) s += ", ";
        s += std::to_string(dims[i]);
    }
    return s + (dims.size() == 1 ? ",)" : ")");
}

/// A dtype string with a readable name when it has one: "'<f8' (float64)", "'>f4' (big-endian
/// float32)", "'<i8' (int64)".
inline std::string describe_descr(const std::string& descr) {
    std::string name;
    if ((descr.size() == 3 || descr.size() == 4) &&
        std::all_of(descr.begin() + 2, descr.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const std::string bits = std::to_string(8 * std::stol(descr.substr(2)));
        switch (descr[1]) {
            case 'f': name = "float" + bits; break;
            case 'i': name = "int" + bits; break;
            case 'u': name = "uint" + bits; break;
            case 'c': name = "complex" + bits; break;
            case 'b': name = "bool"; break;
            default: break;
        }
        if (!name.empty() && descr[0] == '>') name = "big-endian " + name;
    }
    return "'" + descr + "'" + (name.empty() ? "" : " (" + name + ")");
}

inline std::string os_error() { return errno != 0 ? std::string(" (") + std::strerror(errno) + ")" : std::string(); }

/// The parsed header dict.
struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<index_t> dims;
};

/// Parses the header dict: a Python literal with exactly the keys 'descr' (a string),
/// 'fortran_order' (True or False) and 'shape' (a tuple of non-negative integers).
class HeaderParser {
public:
    HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

    Header parse() {
        Header h;
        bool seen_descr = false, seen_order = false, seen_shape = false;
        skip_space();
        expect('{', "at the start of the header dict");
        for (;;) {
            skip_space();
            if (consume('}')) break;
            const std::string key = parse_string("a key");
            skip_space();
            expect(':', ("after the key '" + key + "'").c_str());
            skip_space();
            if (key == "descr") {
                mark_seen(seen_descr, key);
                if (peek() == '[')
                    throw NpyError(path_ + ": contains a structured dtype (a list of fields); only '<f4' (float32) and "
                                           "'<f8' (float64) arrays are supported");
                h.descr = parse_string("the value of 'descr'");
            } else if (key == "fortran_order") {
                mark_seen(seen_order, key);
                h.fortran_order = parse_bool();
            } else if (key == "shape") {
                mark_seen(seen_shape, key);
                h.dims = parse_shape();
            } else {
                fail("unexpected key '" + key + "' (a header has exactly 'descr', 'fortran_order' and 'shape')");
            }
            skip_space();
            if (consume('}')) break;
            expect(',', "between the entries of the dict");
        }
        skip_space();
        if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
        if (!seen_descr) fail("the key 'descr' is missing");
        if (!seen_order) fail("the key 'fortran_order' is missing");
        if (!seen_shape) fail("the key 'shape' is missing");
        return h;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        std::size_t end = text_.size();
        while (end > 0 && is_space(text_[end - 1])) --end;
        std::string shown;
        for (char c : text_.substr(0, std::min<std::size_t>(end, 200))) shown += (c >= 0x20 && c < 0x7F) ? c : '?';
        if (end > 200) shown += "...";
        throw NpyError(path_ + ": malformed header: " + what + " (at byte " + std::to_string(pos_) + " of \"" + shown +
                       "\")");
    }
    static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    bool consume(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void expect(char c, const char* where) {
        if (!consume(c)) fail(std::string("expected '") + c + "' " + where);
    }
    void skip_space() {
        while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    }
    void mark_seen(bool& seen, const std::string& key) {
        if (seen) fail("the key '" + key + "' appears twice");
        seen = true;
    }
    std::string parse_string(const char* what) {
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail(std::string("expected a quoted string for ") + what);
        const std::size_t start = ++pos_;
        while (pos_ < text_.size() && text_[pos_] != quote) {
            if (text_[pos_] == '\\') fail("escape sequences in strings are not supported");
            ++pos_;
        }
        if (pos_ == text_.size()) fail("unterminated string");
        return text_.substr(start, pos_++ - start);
    }
    bool parse_bool() {
        if (text_.compare(pos_, 4, "True") == 0) {
            pos_ += 4;
            return true;
        }
        if (text_.compare(pos_, 5, "False") == 0) {
            pos_ += 5;
            return false;
        }
        fail("the value of 'fortran_order' must be True or False");
    }
    std::vector<index_t> parse_shape() {
        std::vector<index_t> dims;
        expect('(', "to open the 'shape' tuple");
        skip_space();
        if (consume(')')) return dims;
        for (;;) {
            dims.push_back(parse_dim());
            skip_space();
            const bool comma = consume(',');
            skip_space();
            if (consume(')')) {
                if (dims.size() == 1 && !comma) fail("a one-element shape needs a trailing comma, as in (5,)");
                return dims;
            }
            if (!comma) fail("expected ',' or ')' in 'shape'");
        }
    }
    index_t parse_dim() {
        if (peek() == '-') fail("a dimension in 'shape' is negative");
        if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in 'shape'");
        const std::size_t start = pos_;
        index_t value = 0;
        bool overflow = false;
        for (; peek() >= '0' && peek() <= '9'; ++pos_)
            overflow = overflow || __builtin_mul_overflow(value, index_t{10}, &value) ||
                       __builtin_add_overflow(value, index_t{peek() - '0'}, &value);
        if (overflow)
            throw NpyError(path_ + ": the dimension " + text_.substr(start, pos_ - start) +
                           " in 'shape' does not fit in a 64-bit index");
        if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long, as NumPy accepts for versions 1.0 and 2.0
        return value;
    }

    const std::string& text_;
    const std::string& path_;
    std::size_t pos_ = 0;
};

/// Number of values of `dims`, or NpyError naming the file when any count or byte size overflows.
template <typename T>
index_t value_count(const std::vector<index_t>& dims, const std::string& path) {
    try {
        index_t count = 1;
        for (index_t d : dims) count = checked_mul(count, d, "npy element count");
        (void)checked_bytes<T>(count, "npy data bytes");
        return count;
    } catch (const std::length_error& e) {
        throw NpyError(path + ": the shape " + shape_repr(dims) + " of " + Dtype<T>::name + " is too large: " +
                       e.what());
    }
}

/// Magic, version, header length and the padded header dict, exactly as numpy.save writes them.
inline std::string make_header(const char* descr, const std::vector<index_t>& dims, const std::string& path) {
    std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape_repr(dims) + ", }";
    if (!dims.empty()) {  // room for shape[0] to grow, so the header can be rewritten in place
        const index_t digits = static_cast<index_t>(std::to_string(dims[0]).size());
        dict.append(static_cast<std::size_t>(std::max<index_t>(0, growth_digits - digits)), ' ');
    }
    for (int major : {1, 2}) {
        const index_t length_bytes = major == 1 ? 2 : 4;
        const index_t unpadded = static_cast<index_t>(dict.size()) + 1;  // + '\n'
        const index_t padding = alignment - (magic_size + 2 + length_bytes + unpadded) % alignment;  // 1..64, as NumPy
        const index_t header_len = unpadded + padding;
        if (header_len > (major == 1 ? index_t{0xFFFF} : index_t{0xFFFFFFFF})) continue;
        std::string out(magic, static_cast<std::size_t>(magic_size));
        out += static_cast<char>(major);
        out += '\0';
        for (index_t b = 0; b < length_bytes; ++b) out += static_cast<char>((header_len >> (8 * b)) & 0xFF);
        out += dict;
        out.append(static_cast<std::size_t>(padding), ' ');
        out += '\n';
        return out;
    }
    throw NpyError(path + ": cannot write: the header for " + std::to_string(dims.size()) + " dimensions is too long");
}

/// An open .npy file whose header has been read and checked against T and the file's size; the
/// stream is positioned at the first value.
template <typename T>
class Reader {
public:
    explicit Reader(const std::string& path) : path_(path) {
        check_value_type<T>();
        convlayer::detail::file_size_or_throw<NpyError>(path, "cannot open for reading");
        errno = 0;
        in_.open(path, std::ios::binary);
        if (!in_) throw NpyError(path + ": cannot open for reading" + os_error());
        in_.seekg(0, std::ios::end);
        const std::streamoff end = in_.tellg();
        in_.seekg(0, std::ios::beg);
        if (end < 0 || !in_) throw NpyError(path + ": cannot determine the file's size (is it a regular file?)");
        const index_t size = static_cast<index_t>(end);

        unsigned char prefix[12] = {};
        const index_t first = std::min<index_t>(size, 10);
        read_bytes(prefix, first, "the magic string");
        if (std::memcmp(prefix, magic, static_cast<std::size_t>(std::min(first, magic_size))) != 0)
            throw NpyError(path + ": not an .npy file (it does not start with the magic string \"\\x93NUMPY\")");
        if (size < 10) throw NpyError(path + ": too short for an .npy file (" + std::to_string(size) + " bytes)");
        const int major = prefix[6], minor = prefix[7];
        if ((major != 1 && major != 2) || minor != 0)
            throw NpyError(path + ": unsupported .npy format version " + std::to_string(major) + "." +
                           std::to_string(minor) + " (this reader handles 1.0 and 2.0)");
        index_t length_bytes = 2;
        if (major == 2) {
            length_bytes = 4;
            if (size < 12) throw NpyError(path + ": truncated header (" + std::to_string(size) + " bytes)");
            read_bytes(prefix + 10, 2, "the header length");
        }
        index_t header_len = 0;
        for (index_t b = 0; b < length_bytes; ++b) header_len |= index_t{prefix[8 + b]} << (8 * b);
        const index_t data_offset = magic_size + 2 + length_bytes + header_len;
        if (size < data_offset)
            throw NpyError(path + ": truncated header: it declares " + std::to_string(header_len) +
                           " bytes but the file has " + std::to_string(size - (data_offset - header_len)) +
                           " after the header length");

        std::string text(static_cast<std::size_t>(header_len), '\0');
        read_bytes(reinterpret_cast<unsigned char*>(&text[0]), header_len, "the header");
        Header h = HeaderParser(text, path).parse();

        if (h.descr != Dtype<T>::descr)
            throw NpyError(path + ": contains " + describe_descr(h.descr) + " but " + Dtype<T>::name +
                           " was requested (this reader accepts '<f4' as float and '<f8' as double)");
        if (h.fortran_order)
            throw NpyError(path + ": fortran_order is True (column-major data); only C order is supported, save "
                                  "np.ascontiguousarray(a) instead");
        count_ = value_count<T>(h.dims, path);
        dims_ = std::move(h.dims);
        const index_t expected = count_ * static_cast<index_t>(sizeof(T));
        const index_t actual = size - data_offset;
        if (actual < expected)
            throw NpyError(path + ": truncated data: the shape " + shape_repr(dims_) + " of " + Dtype<T>::name +
                           " needs " + std::to_string(expected) + " bytes but the file has " + std::to_string(actual));
        if (actual > expected)
            throw NpyError(path + ": trailing garbage: " + std::to_string(actual - expected) + " bytes after the " +
                           std::to_string(expected) + " data bytes of the shape " + shape_repr(dims_));
    }

    const std::vector<index_t>& dims() const { return dims_; }
    index_t count() const { return count_; }

    /// Reads all count() values into `out`.
    void read_values(T* out) {
        constexpr index_t per_chunk = io_chunk_bytes / static_cast<index_t>(sizeof(T));
        std::vector<unsigned char> chunk(static_cast<std::size_t>(std::min(count_, per_chunk)) * sizeof(T));
        for (index_t done = 0; done < count_;) {
            const index_t n = std::min(count_ - done, per_chunk);
            read_bytes(chunk.data(), n * static_cast<index_t>(sizeof(T)), "the data");
            for (index_t i = 0; i < n; ++i) out[done + i] = load_le<T>(chunk.data() + i * static_cast<index_t>(sizeof(T)));
            done += n;
        }
    }

private:
    void read_bytes(unsigned char* out, index_t n, const char* what) {
        errno = 0;
        in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
        if (in_.gcount() != static_cast<std::streamsize>(n))
            throw NpyError(path_ + ": cannot read " + what + os_error());
    }

    std::string path_;
    std::ifstream in_;
    std::vector<index_t> dims_;
    index_t count_ = 0;
};

}  // namespace detail::npy

/// Writes product(dims) values from `data` (C order) as a .npy file of '<f4' (float) or '<f8'
/// (double), the same bytes numpy.save writes. An empty `dims` writes a 0-D array of one value.
/// Throws NpyError for a negative or overflowing dimension, a null `data`, or a failed write.
template <typename T>
void write_npy(const std::string& path, const T* data, const std::vector<index_t>& dims) {
    namespace npy = detail::npy;
    npy::check_value_type<T>();
    for (index_t d : dims)
        if (d < 0) throw NpyError(path + ": cannot write the shape " + npy::shape_repr(dims) + ": a dimension is negative");
    const index_t count = npy::value_count<T>(dims, path);
    if (count > 0 && data == nullptr) throw NpyError(path + ": cannot write: the data pointer is null");
    const std::string header = npy::make_header(npy::Dtype<T>::descr, dims, path);

    errno = 0;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw NpyError(path + ": cannot open for writing" + npy::os_error());
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    constexpr index_t per_chunk = npy::io_chunk_bytes / static_cast<index_t>(sizeof(T));
    std::vector<unsigned char> chunk(static_cast<std::size_t>(std::min(count, per_chunk)) * sizeof(T));
    for (index_t done = 0; done < count && out;) {
        const index_t n = std::min(count - done, per_chunk);
        for (index_t i = 0; i < n; ++i) npy::store_le(data[done + i], chunk.data() + i * static_cast<index_t>(sizeof(T)));
        out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(n * static_cast<index_t>(sizeof(T))));
        done += n;
    }
    out.close();
    if (!out) throw NpyError(path + ": write failed, the file is incomplete" + npy::os_error());
}

/// Writes a volume as a 4-D array of shape (N, H, W, D), its NHWC layout.
template <typename T>
void write_npy(const std::string& path, const Volume<T>& volume) {
    write_npy(path, volume.data(), {volume.batch(), volume.height(), volume.width(), volume.depth()});
}

/// Reads a .npy file whose dtype is exactly T's ('<f4' for float, '<f8' for double), in C order.
template <typename T>
NpyArray<T> read_npy(const std::string& path) {
    detail::npy::Reader<T> reader(path);
    NpyArray<T> a;
    a.values.resize(static_cast<std::size_t>(reader.count()));
    reader.read_values(a.values.data());
    a.dims = reader.dims();
    return a;
}

/// Reads a .npy file of shape `expected_dims` into `data`, which holds product(expected_dims)
/// values. Throws NpyError when the shape differs or the file is bad; `data` is then untouched.
template <typename T>
void read_npy_into(const std::string& path, T* data, const std::vector<index_t>& expected_dims) {
    detail::npy::Reader<T> reader(path);
    if (reader.dims() != expected_dims)
        throw NpyError(path + ": has the shape " + detail::npy::shape_repr(reader.dims()) + " but " +
                       detail::npy::shape_repr(expected_dims) + " was expected");
    if (reader.count() > 0 && data == nullptr) throw NpyError(path + ": cannot read into a null data pointer");
    std::vector<T> values(static_cast<std::size_t>(reader.count()));
    reader.read_values(values.data());
    std::copy(values.begin(), values.end(), data);
}

/// Reads a 4-D .npy array of shape (N, H, W, D) as an NHWC volume; every extent must be positive.
template <typename T>
Volume<T> read_npy_volume(const std::string& path) {
    detail::npy::Reader<T> reader(path);
    const std::vector<index_t>& d = reader.dims();
    if (d.size() != 4 || std::find(d.begin(), d.end(), index_t{0}) != d.end())
        throw NpyError(path + ": has the shape " + detail::npy::shape_repr(d) +
                       " but a Volume needs 4 positive dimensions (N, H, W, D)");
    Volume<T> v(Shape{d[0], d[1], d[2], d[3]});
    reader.read_values(v.data());
    return v;
}

}  // namespace convlayer::io
