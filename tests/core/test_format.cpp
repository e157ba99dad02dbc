#include "convlayer/core/format.hpp"

#include <gtest/gtest.h>

using namespace convlayer;

TEST(Format, ThousandsSeparators) {
    EXPECT_EQ(with_thousands_separators(0), "0");
    EXPECT_EQ(with_thousands_separators(999), "999");
    EXPECT_EQ(with_thousands_separators(1000), "1,000");
    EXPECT_EQ(with_thousands_separators(34944), "34,944");
    EXPECT_EQ(with_thousands_separators(105705600), "105,705,600");
    EXPECT_EQ(with_thousands_separators(-1234), "-1,234");
    EXPECT_EQ(with_thousands_separators(-123), "-123");
}
