#include "convlayer/core/checked_math.hpp"

#include <gtest/gtest.h>

using namespace convlayer;

TEST(CheckedMath, ProductsThatFit) {
    EXPECT_EQ(checked_mul(1 << 20, 1 << 20), index_t{1} << 40);
    EXPECT_EQ(checked_product("x", 2, 3, 5, 7), 210);
    EXPECT_EQ(checked_bytes<double>(10), 80);
    EXPECT_EQ(checked_add(5, 6), 11);
}

TEST(CheckedMath, OverflowThrowsNamingTheOperands) {
    const index_t big = index_t{1} << 31;
    try {
        (void)checked_product("volume element count", big, big, big);
        FAIL();
    } catch (const std::length_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("volume element count"), std::string::npos) << m;
        EXPECT_NE(m.find("2147483648"), std::string::npos) << m;
    }
    EXPECT_THROW((void)checked_mul(index_t{1} << 62, 4), std::length_error);
    EXPECT_THROW((void)checked_bytes<float>(index_t{1} << 62), std::length_error);
    EXPECT_THROW((void)checked_add(PTRDIFF_MAX, 1), std::length_error);
}
