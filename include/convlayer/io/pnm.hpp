// PGM and PPM images (Netpbm): gray P5 / RGB P6 (binary) and P2 / P3 (ASCII, "plain").
//
// read_pnm / parse_pnm read any of the four with a maxval of 1 to 65535 (16-bit samples are
// big-endian, as the format says) and return an 8-bit io::Image, each sample scaled by
// 255 / maxval and rounded. Comments (# to the end of the line) are allowed wherever the header
// allows whitespace, and between the samples of an ASCII raster. A file may hold several images;
// the first one is read. write_pnm / encode_pnm write an 8-bit Image (maxval 255) as P5 or P6,
// or as P2 or P3 with PnmEncoding::ascii. Needs nothing beyond the standard library.
//
// Errors throw io::PnmError with a message that starts with the path (or the name given to
// parse_pnm) and says what is wrong: missing file, not a PGM/PPM (with a note for PBM and PAM),
// a malformed or truncated header, a sample above maxval, truncated pixel data, an image larger
// than the read limit, or an image that cannot be written.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/core/file_bytes.hpp"
#include "convlayer/io/image.hpp"

namespace convlayer::io {

/// Thrown when a PGM/PPM file cannot be read or written; the message starts with the path.
class PnmError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Binary rasters (P5, P6: one byte per sample) or ASCII ones (P2, P3: decimal numbers).
enum class PnmEncoding { binary, ascii };

namespace detail {

/// A cursor over the bytes of a PNM file that reads its whitespace-separated header numbers.
class PnmCursor {
public:
    PnmCursor(const std::string& bytes, const std::string& name) : bytes_(bytes), name_(name) {}

    [[noreturn]] void fail(const std::string& what) const { throw PnmError(name_ + ": " + what); }

    std::size_t pos() const { return pos_; }
    void advance(std::size_t n) { pos_ += n; }
    bool at_end() const { return pos_ >= bytes_.size(); }
    std::size_t remaining() const { return bytes_.size() - pos_; }

    /// Skips whitespace and comments.
    void skip_blanks() {
        while (pos_ < bytes_.size()) {
            const char c = bytes_[pos_];
            if (is_space(c)) {
                ++pos_;
            } else if (c == '#') {
                while (pos_ < bytes_.size() && bytes_[pos_] != '\n' && bytes_[pos_] != '\r') ++pos_;
            } else {
                break;
            }
        }
    }

    /// The next decimal number (after blanks), which must end at whitespace, a comment or the end
    /// of the data. `what` names it in errors ("width", ...); `truncated` is the message for
    /// running out of data.
    std::uint32_t number(const std::string& what, const std::string& truncated) {
        std::uint32_t v = 0;
        std::size_t start = 0;
        switch (next_number(v, start)) {
            case Scan::ok: return v;
            case Scan::end: fail(truncated);
            case Scan::too_large: fail(what + " is too large: '" + excerpt(start) + "'");
            case Scan::malformed:
                fail("bad " + what + ": expected a non-negative decimal number, got '" + excerpt(start) + "'");
        }
        return v;
    }

    /// Sample `i` of `count` of an ASCII raster: number() with its messages built only on failure.
    std::uint32_t sample(index_t i, index_t count) {
        std::uint32_t v = 0;
        std::size_t start = 0;
        if (next_number(v, start) == Scan::ok) return v;
        return number("sample " + std::to_string(i),
                      "truncated pixel data: expected " + std::to_string(count) + " samples, found " + std::to_string(i));
    }

    unsigned char byte(std::size_t i) const { return static_cast<unsigned char>(bytes_[pos_ + i]); }
    char peek() const { return bytes_[pos_]; }

    static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

private:
    enum class Scan { ok, end, too_large, malformed };

    /// Scans the next number (after blanks) into `v`; `start` is where it begins. On failure the
    /// position stays at `start`.
    Scan next_number(std::uint32_t& v, std::size_t& start) {
        skip_blanks();
        start = pos_;
        if (at_end()) return Scan::end;
        std::uint64_t x = 0;
        std::size_t p = pos_;
        for (; p < bytes_.size() && bytes_[p] >= '0' && bytes_[p] <= '9'; ++p) {
            x = x * 10 + static_cast<std::uint64_t>(bytes_[p] - '0');
            if (x > 0xFFFFFFFFu) return Scan::too_large;
        }
        if (p == start || (p < bytes_.size() && !is_space(bytes_[p]) && bytes_[p] != '#')) return Scan::malformed;
        v = static_cast<std::uint32_t>(x);
        pos_ = p;
        return Scan::ok;
    }

    /// Up to 12 printable characters from `start`, for error messages.
    std::string excerpt(std::size_t start) const {
        std::string s;
        for (std::size_t i = start; i < bytes_.size() && s.size() < 12 && !is_space(bytes_[i]); ++i) {
            const unsigned char c = static_cast<unsigned char>(bytes_[i]);
            s += (c >= 32 && c < 127) ? static_cast<char>(c) : '?';
        }
        return s;
    }

    const std::string& bytes_;
    const std::string& name_;
    std::size_t pos_ = 0;
};

/// `sample` (0..maxval) scaled to 0..255, rounded to nearest.
inline std::uint8_t pnm_scale(std::uint32_t sample, std::uint32_t maxval) {
    if (maxval == 255) return static_cast<std::uint8_t>(sample);
    return static_cast<std::uint8_t>((std::uint64_t{sample} * 255 + maxval / 2) / maxval);
}

}  // namespace detail

namespace detail {
// The magic number: P2 or P5 (gray) or P3 or P6 (RGB), followed by whitespace; PBM, PAM and
// anything else refused by name. Leaves `in` after it; returns the kind's digit.
inline char read_pnm_magic(PnmCursor& in, const std::string& bytes) {
    if (bytes.size() < 2 || bytes[0] != 'P' || bytes[1] < '1' || bytes[1] > '7') {
        if (bytes.empty()) in.fail("not a PGM/PPM file (the file is empty)");
        in.fail("not a PGM/PPM file (it must start with P2, P3, P5 or P6)");
    }
    const char kind = bytes[1];
    if (kind == '1' || kind == '4')
        in.fail(std::string("P") + kind + " is a PBM (1-bit bitmap) file, which is not supported; convert it to PGM");
    if (kind == '7') in.fail("P7 is a PAM file, which is not supported; convert it to PGM or PPM");
    in.advance(2);
    if (!in.at_end() && !PnmCursor::is_space(in.peek()) && in.peek() != '#')
        in.fail(std::string("not a PGM/PPM file (P") + kind + " must be followed by whitespace)");
    return kind;
}

// The header after the magic number: width, height and maxval, checked; returns the image with
// its extents set (pixels not yet allocated) and sets maxval.
inline Image read_pnm_header(PnmCursor& in, int channels, index_t max_bytes, std::uint32_t& maxval) {
    const std::string truncated_header = "truncated header (it needs the magic number, width, height and maxval)";
    const std::uint32_t width = in.number("width", truncated_header);
    const std::uint32_t height = in.number("height", truncated_header);
    maxval = in.number("maxval", truncated_header);
    if (width < 1 || height < 1)
        in.fail("image size " + std::to_string(width) + " x " + std::to_string(height) +
                " is invalid (width and height must be at least 1)");
    if (maxval < 1 || maxval > 65535) in.fail("maxval " + std::to_string(maxval) + " is outside 1..65535");
    Image image;
    image.width = width;
    image.height = height;
    image.channels = channels;
    const index_t count = checked_product("PNM sample count", image.width, image.height, image.channels);
    if (count > max_bytes)
        in.fail(std::to_string(width) + " x " + std::to_string(height) + " x " + std::to_string(channels) +
                " pixels need " + std::to_string(count) + " bytes, more than " + std::to_string(max_bytes) +
                " (the read limit)");
    return image;
}

// Sample i (0..maxval), scaled into the image; a sample above maxval is refused, naming its pixel.
inline void store_pnm_sample(PnmCursor& in, Image& image, std::uint32_t maxval, std::uint32_t v, index_t i) {
    if (v > maxval) {
        const index_t pixel = i / image.channels;
        in.fail("sample value " + std::to_string(v) + " at pixel (x=" + std::to_string(pixel % image.width) +
                ", y=" + std::to_string(pixel / image.width) + ") exceeds maxval " + std::to_string(maxval));
    }
    image.pixels[static_cast<std::size_t>(i)] = pnm_scale(v, maxval);
}

// The ASCII raster (P2, P3): whitespace-separated decimal samples.
inline void read_pnm_ascii_raster(PnmCursor& in, Image& image, std::uint32_t maxval) {
    const index_t count = image.width * image.height * image.channels;
    // Each sample takes a separator (maxval ends at one) and a digit: the rest of the file must
    // hold that many before the raster is allocated.
    const index_t at_most = static_cast<index_t>(in.remaining()) / 2;
    if (count > at_most)
        in.fail("truncated pixel data: expected " + std::to_string(count) + " samples, the remaining " +
                std::to_string(in.remaining()) + " bytes hold at most " + std::to_string(at_most));
    image.pixels.resize(static_cast<std::size_t>(count));
    for (index_t i = 0; i < count; ++i) store_pnm_sample(in, image, maxval, in.sample(i, count), i);
}

// The binary raster (P5, P6): one whitespace byte after maxval, then 1-byte samples (maxval < 256)
// or 2-byte big-endian ones.
inline void read_pnm_binary_raster(PnmCursor& in, Image& image, std::uint32_t maxval) {
    const index_t count = image.width * image.height * image.channels;
    if (in.at_end()) in.fail("truncated: no pixel data after the header");
    if (!PnmCursor::is_space(in.peek())) in.fail("bad header: maxval must be followed by one whitespace byte");
    in.advance(1);
    const index_t sample_bytes = maxval < 256 ? 1 : 2;
    const index_t need = checked_mul(count, sample_bytes, "PNM raster bytes");
    if (static_cast<index_t>(in.remaining()) < need)
        in.fail("truncated pixel data: expected " + std::to_string(need) + " bytes (" + std::to_string(image.width) +
                " x " + std::to_string(image.height) + " x " + std::to_string(image.channels) + " samples of " +
                std::to_string(sample_bytes) + " byte" + (sample_bytes == 1 ? "" : "s") + "), got " +
                std::to_string(in.remaining()));
    image.pixels.resize(static_cast<std::size_t>(count));
    for (index_t i = 0; i < count; ++i) {
        const std::size_t at = static_cast<std::size_t>(i * sample_bytes);
        const std::uint32_t v = sample_bytes == 1 ? in.byte(at) : (std::uint32_t{in.byte(at)} << 8) | in.byte(at + 1);
        store_pnm_sample(in, image, maxval, v, i);
    }
}
}  // namespace detail

/// Decodes the PGM/PPM image held in `bytes` (P2, P3, P5 or P6) as 8-bit gray (P2, P5) or RGB
/// (P3, P6). `name` starts every error message. Throws PnmError for anything malformed and for an
/// image whose pixels would take more than `max_bytes`.
inline Image parse_pnm(const std::string& bytes, const std::string& name = "<memory>",
                       index_t max_bytes = index_t{1} << 30) {
    detail::PnmCursor in(bytes, name);
    const char kind = detail::read_pnm_magic(in, bytes);
    std::uint32_t maxval = 0;
    Image image = detail::read_pnm_header(in, kind == '3' || kind == '6' ? 3 : 1, max_bytes, maxval);
    if (kind == '2' || kind == '3')
        detail::read_pnm_ascii_raster(in, image, maxval);
    else
        detail::read_pnm_binary_raster(in, image, maxval);
    return image;
}

/// Reads a PGM or PPM file (see parse_pnm). Throws PnmError naming the path.
inline Image read_pnm(const std::string& path, index_t max_bytes = index_t{1} << 30) {
    const auto bytes = convlayer::detail::read_file_bytes<PnmError, std::string>(path);
    return parse_pnm(bytes, path, max_bytes);
}

/// The bytes of `image` (1 channel: PGM, 3 channels: RGB PPM) with maxval 255: P5/P6 for
/// PnmEncoding::binary, P2/P3 (lines of at most 70 characters) for PnmEncoding::ascii. Throws
/// PnmError, starting with `name`, for an image that is not 1- or 3-channel or whose pixel
/// count does not match its size.
inline std::string encode_pnm(const Image& image, PnmEncoding encoding = PnmEncoding::binary,
                              const std::string& name = "<memory>") {
    if (image.channels != 1 && image.channels != 3)
        throw PnmError(name + ": cannot write an image with " + std::to_string(image.channels) +
                       " channels (PGM needs 1 = gray, PPM 3 = RGB)");
    if (image.width < 1 || image.height < 1)
        throw PnmError(name + ": cannot write an image of " + std::to_string(image.width) + " x " +
                       std::to_string(image.height) + " pixels");
    const index_t count = checked_product("PNM sample count", image.width, image.height, image.channels);
    if (static_cast<index_t>(image.pixels.size()) != count)
        throw PnmError(name + ": image holds " + std::to_string(image.pixels.size()) + " bytes, but " +
                       std::to_string(image.width) + " x " + std::to_string(image.height) + " x " +
                       std::to_string(image.channels) + " needs " + std::to_string(count));
    const bool ascii = encoding == PnmEncoding::ascii;
    const char kind = image.channels == 1 ? (ascii ? '2' : '5') : (ascii ? '3' : '6');
    std::string out = std::string("P") + kind + "\n" + std::to_string(image.width) + " " +
                      std::to_string(image.height) + "\n255\n";
    if (!ascii) {
        out.append(reinterpret_cast<const char*>(image.pixels.data()), image.pixels.size());
        return out;
    }
    std::size_t line = 0;
    for (const std::uint8_t v : image.pixels) {
        const std::string s = std::to_string(v);
        if (line > 0 && line + 1 + s.size() > 70) {
            out += '\n';
            line = 0;
        }
        if (line > 0) {
            out += ' ';
            ++line;
        }
        out += s;
        line += s.size();
    }
    out += '\n';
    return out;
}

/// Writes `image` to `path` (see encode_pnm). Throws PnmError naming the path when the image
/// cannot be encoded (before the file is touched) or the file cannot be written.
inline void write_pnm(const std::string& path, const Image& image, PnmEncoding encoding = PnmEncoding::binary) {
    const std::string bytes = encode_pnm(image, encoding, path);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw PnmError(path + ": cannot open for writing (" + std::strerror(errno) + ")");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) throw PnmError(path + ": cannot write (" + std::strerror(errno) + ")");
}

}  // namespace convlayer::io
