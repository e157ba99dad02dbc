// Checks that a call throws E with a message containing a given part.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace convlayer::support {

template <typename E, typename F>
void expect_error_mentioning(F&& f, const std::string& part) {
    try {
        f();
        FAIL() << "expected an error mentioning '" << part << "'";
    } catch (const E& e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

}  // namespace convlayer::support
