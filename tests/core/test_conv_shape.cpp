// ConvParams / ConvShape: the textbook's parameter counts, problem names and rejected inputs.
#include "convlayer/core/conv_shape.hpp"

#include <gtest/gtest.h>

using namespace convlayer;

TEST(TextbookParameters, AlexNetConv1Is55x55x96With34944Parameters) {
    const ConvParams p(3, 96, 11, 4, 0);
    const ConvShape s = resolve(p, Shape{1, 227, 227, 3});
    EXPECT_EQ(s.output(), (Shape{1, 55, 55, 96}));
    EXPECT_EQ(p.weight_count(), 34848);             // 96*11*11*3 unique weights
    EXPECT_EQ(p.weight_count() + p.filters, 34944);  // + 96 biases
    EXPECT_EQ(s.output().size(), 290400);            // neurons: 55*55*96
}
TEST(TextbookParameters, Cifar32x32x3WithF5Has75WeightsPerFilter) {
    EXPECT_EQ(ConvParams(3, 1, 5).filter_size(), 75);  // + 1 bias
}
TEST(TextbookParameters, Input16x16x20WithF3Has180WeightsPerFilter) {
    EXPECT_EQ(ConvParams(20, 1, 3).filter_size(), 180);
}
TEST(TextbookParameters, SixtyFour3x3x128FiltersHave73792Parameters) {
    const ConvParams p(128, 64, 3, 1, 1);
    const ConvShape s = resolve(p, Shape{1, 32, 32, 128});
    EXPECT_EQ(s.output().d, 64);
    EXPECT_EQ(s.output().h, 32);  // P=1, S=1 keeps the extent
    EXPECT_EQ(p.weight_count() + p.filters, 73792);
}
TEST(TextbookParameters, WorkedExample11x11x4F5S2Gives4x4) {
    const ConvShape s = resolve(ConvParams(4, 2, 5, 2, 0), Shape{1, 11, 11, 4});
    EXPECT_EQ(s.output(), (Shape{1, 4, 4, 2}));
}

TEST(ConvShape, CanonicalName) {
    const ConvShape s = resolve(ConvParams(64, 64, 3, 1, 1), Shape{8, 56, 56, 64});
    EXPECT_EQ(s.to_string(), "n8_h56w56d64_k64_f3x3_s1x1_p1x1");
    ConvParams r(3, 5, HW(3, 5), HW(1, 2), HW(0, 1));
    r.with_dilation(HW(2, 1)).with_fit(FitPolicy::crop);
    EXPECT_EQ(resolve(r, Shape{2, 9, 10, 3}).to_string(), "n2_h9w10d3_k5_f3x5_s1x2_p0x1_dl2x1_crop");
}
TEST(ConvShape, FlopsAndPatchLength) {
    const ConvShape s = resolve(ConvParams(3, 96, 11, 4, 0), Shape{1, 227, 227, 3});
    EXPECT_EQ(s.patch_length(), 363);
    EXPECT_EQ(s.output_positions(), 3025);
    EXPECT_DOUBLE_EQ(s.flops(), 2.0 * 3025 * 96 * 363);
}
TEST(ConvShape, Im2colIsIdentityOnlyFor1x1Stride1NoPadding) {
    const Shape in{2, 7, 5, 4};
    EXPECT_TRUE(resolve(ConvParams(4, 3, 1, 1, 0), in).im2col_is_identity());
    EXPECT_FALSE(resolve(ConvParams(4, 3, 1, 2, 0), in).im2col_is_identity());    // stride
    EXPECT_FALSE(resolve(ConvParams(4, 3, 1, HW(1, 2), 0), in).im2col_is_identity());
    EXPECT_FALSE(resolve(ConvParams(4, 3, 1, 1, 1), in).im2col_is_identity());    // padding
    EXPECT_FALSE(resolve(ConvParams(4, 3, 1, 1, HW(0, 1)), in).im2col_is_identity());
    EXPECT_FALSE(resolve(ConvParams(4, 3, 3, 1, 1), in).im2col_is_identity());    // kernel
    EXPECT_FALSE(resolve(ConvParams(4, 3, HW(1, 3), 1, HW(0, 1)), in).im2col_is_identity());
}

TEST(ConvShapeErrors, DepthMismatchNamesBothDepths) {
    try {
        (void)resolve(ConvParams(3, 8, 3), Shape{1, 8, 8, 4}, "ConvLayer");
        FAIL();
    } catch (const std::invalid_argument& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("ConvLayer"), std::string::npos) << m;
        EXPECT_NE(m.find("D=4"), std::string::npos) << m;
        EXPECT_NE(m.find("D1=3"), std::string::npos) << m;
    }
}
TEST(ConvShapeErrors, NonPositiveDepthOrFiltersOrInput) {
    EXPECT_THROW(ConvParams(0, 8, 3).validate(), std::invalid_argument);
    EXPECT_THROW(ConvParams(3, -1, 3).validate(), std::invalid_argument);
    EXPECT_THROW((void)resolve(ConvParams(3, 8, 3), Shape{0, 8, 8, 3}), std::invalid_argument);
    EXPECT_THROW((void)resolve(ConvParams(3, 8, 3), Shape{1, 8, -8, 3}), std::invalid_argument);
}
TEST(ConvShapeErrors, OverflowingSizesAreRejected) {
    // Weights: 3*3*2^62 overflows a 64-bit index.
    EXPECT_THROW(ConvParams(index_t{1} << 62, 16, 3).validate(), std::length_error);
    // Activations: 2^31 x 2^31 x 2^31 elements.
    const index_t big = index_t{1} << 31;
    EXPECT_THROW((void)resolve(ConvParams(big, 1, 1), Shape{1, big, big, big}), std::length_error);
}
