// Reading a whole file for the readers of small formats, without trusting it: the path must not
// be a directory, and the buffer grows only with the bytes that are really there.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "convlayer/core/checked_math.hpp"

namespace convlayer::detail {

/// Throws Error("<path>: <cannot_open> (reason)") when `path` does not exist, and Error("<path>: is
/// a directory, not a file") for a directory; returns the size of a regular file, or -1 for
/// anything else that can be opened (a pipe, a device).
template <typename Error>
index_t file_size_or_throw(const std::string& path, const char* cannot_open = "cannot open") {
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st))
        throw Error(path + ": " + cannot_open + " (" + (ec ? ec.message() : std::string(std::strerror(ENOENT))) + ")");
    if (std::filesystem::is_directory(st)) throw Error(path + ": is a directory, not a file");
    if (!std::filesystem::is_regular_file(st)) return -1;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw Error(path + ": cannot determine the file's size (" + ec.message() + ")");
    return static_cast<index_t>(size);
}

/// The bytes of the file at `path` (Bytes: std::string or std::vector of a byte type). Throws
/// Error naming the path when it cannot be opened or read, or is a directory; memory grows only
/// with bytes already read.
template <typename Error, typename Bytes>
Bytes read_file_bytes(const std::string& path) {
    const index_t size = file_size_or_throw<Error>(path);
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open (" + std::strerror(errno != 0 ? errno : EACCES) + ")");
    Bytes bytes;
    if (size > 0) bytes.reserve(static_cast<std::size_t>(size));
    char chunk[1 << 16];
    for (;;) {
        in.read(chunk, sizeof chunk);  // istream::read turns a read error into badbit, never a throw
        const std::streamsize got = in.gcount();
        bytes.insert(bytes.end(), chunk, chunk + got);
        if (in.bad()) throw Error(path + ": read error (" + std::strerror(errno != 0 ? errno : EIO) + ")");
        if (!in) break;  // end of file
    }
    return bytes;
}

}  // namespace convlayer::detail
