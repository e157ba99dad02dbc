// What the reader fuzz targets share: the input written to a file of this process's own (the
// readers take paths), and findings reported by abort so libFuzzer keeps the input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace convlayer::fuzz {

[[noreturn]] inline void finding(const char* target, const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", target, what.c_str());
    std::abort();
}

/// A temporary file that holds the bytes of one input, removed when done.
class InputFile {
public:
    InputFile(const std::uint8_t* data, std::size_t size, const std::string& suffix)
        : path_(std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/convlayer_fuzz_" +
                std::to_string(::getpid()) + suffix) {
        std::ofstream f(path_, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!f) finding("reader_fuzz", "cannot write " + path_);
    }
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;
    ~InputFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace convlayer::fuzz
