// Temporary file paths private to the running test: ctest runs test cases in parallel processes,
// and typed tests (float, double) would otherwise write the same file at the same time.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace convlayer::support {

/// TempDir()/convlayer_<prefix>_<pid>_<name>.
inline std::string temp_path(const std::string& prefix, const std::string& name) {
    return ::testing::TempDir() + "convlayer_" + prefix + "_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace convlayer::support
