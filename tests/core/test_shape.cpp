#include "convlayer/core/shape.hpp"

#include <gtest/gtest.h>

using namespace convlayer;

TEST(Shape, SizesAndName) {
    const Shape s{8, 56, 56, 64};
    EXPECT_EQ(s.size(), 8 * 56 * 56 * 64);
    EXPECT_EQ(s.volume_size(), 56 * 56 * 64);
    EXPECT_EQ(s.to_string(), "[N=8, H=56, W=56, D=64]");
    EXPECT_EQ(s, (Shape{8, 56, 56, 64}));
    EXPECT_NE(s, (Shape{8, 56, 56, 63}));
}

TEST(Shape, ValidationNamesTheCallerAndShape) {
    try {
        validate_shape(Shape{1, 0, 3, 3}, "MyLayer");
        FAIL();
    } catch (const std::invalid_argument& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("MyLayer"), std::string::npos) << m;
        EXPECT_NE(m.find("H=0"), std::string::npos) << m;
    }
    const index_t big = index_t{1} << 40;
    EXPECT_THROW(validate_shape(Shape{big, big, 1, 1}, "x"), std::length_error);
}
