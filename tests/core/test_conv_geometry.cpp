// The geometry numbers of the textbook description, and every rejected configuration.
#include "convlayer/core/conv_geometry.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

using namespace convlayer;

namespace {
// Asserts that `fn` throws E and that its message contains every string of `parts`.
template <typename E, typename Fn>
void expect_throw_mentioning(Fn&& fn, std::initializer_list<const char*> parts) {
    try {
        fn();
        FAIL() << "expected an exception";
    } catch (const E& e) {
        const std::string msg = e.what();
        for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
    }
}
}  // namespace

// (W - F + 2P)/S + 1 for 7x7 input, 3x3 filter, P=0.
TEST(TextbookGeometry, Input7Filter3Stride1Gives5) {
    static_assert(output_extent(7, 3, 0, 1) == 5, "constexpr");
    EXPECT_EQ(output_extent(7, 3, 0, 1), 5);
}
TEST(TextbookGeometry, Input7Filter3Stride2Gives3) { EXPECT_EQ(output_extent(7, 3, 0, 2), 3); }

// The 1-D illustration: W=5, F=3, P=1.
TEST(TextbookGeometry, Input5Filter3Pad1Stride1Gives5) { EXPECT_EQ(output_extent(5, 3, 1, 1), 5); }
TEST(TextbookGeometry, Input5Filter3Pad1Stride2Gives3) { EXPECT_EQ(output_extent(5, 3, 1, 2), 3); }
TEST(TextbookGeometry, Input5Filter3Pad1Stride3IsInvalid) {
    EXPECT_FALSE(output_extent_is_integer(5, 3, 1, 3));
    // (5 - 3 + 2)/3 + 1 = 2.33333
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(5, 3, 1, 3); },
                                                   {"W=5", "F=3", "P=1", "S=3", "2.33333", "not an integer"});
}

// W=10, F=3, P=0, S=2: (10 - 3 + 0)/2 + 1 = 4.5.
TEST(TextbookGeometry, Input10Filter3Stride2IsInvalidAndSays4Point5) {
    EXPECT_DOUBLE_EQ(output_extent_real(10, 3, 0, 2), 4.5);
    expect_throw_mentioning<std::invalid_argument>(
        [] { (void)resolve_axis("width", 10, 3, 0, 2, 1, FitPolicy::exact); },
        {"W=10", "F=3", "P=0", "S=2", "4.5", "not an integer", "FitPolicy::crop"});
}

// AlexNet conv1: (227 - 11)/4 + 1 = 55; the paper's 224 does not fit.
TEST(TextbookGeometry, AlexNet227Filter11Stride4Gives55) { EXPECT_EQ(output_extent(227, 11, 0, 4), 55); }
TEST(TextbookGeometry, AlexNet224DoesNotFit) { EXPECT_FALSE(output_extent_is_integer(224, 11, 0, 4)); }

TEST(FitPolicy, CropFloorsLikePyTorch) {
    const AxisGeometry g = resolve_axis("width", 10, 3, 0, 2, 1, FitPolicy::crop);
    EXPECT_EQ(g.out, 4);        // floor(4.5)
    EXPECT_EQ(g.pad_end, -1);   // the last input column is never read
    EXPECT_EQ(output_extent(10, 3, 0, 2, 1, FitPolicy::crop), 4);
}
TEST(FitPolicy, PadToFitRoundsUpAndPadsTheFarEdge) {
    const AxisGeometry g = resolve_axis("width", 10, 3, 0, 2, 1, FitPolicy::pad_to_fit);
    EXPECT_EQ(g.out, 5);  // ceil(4.5)
    EXPECT_EQ(g.pad_begin, 0);
    EXPECT_EQ(g.pad_end, 1);  // (5-1)*2 + 3 = 11 = 10 + 0 + 1
    EXPECT_EQ(output_extent(10, 3, 0, 2, 1, FitPolicy::pad_to_fit), 5);
}
TEST(FitPolicy, PoliciesAgreeWhenItFits) {
    for (auto fit : {FitPolicy::exact, FitPolicy::crop, FitPolicy::pad_to_fit}) {
        const AxisGeometry g = resolve_axis("height", 7, 3, 1, 2, 1, fit);
        EXPECT_EQ(g.out, 4);
        EXPECT_EQ(g.pad_end, 1);
    }
}

TEST(Dilation, EffectiveKernelAndExtent) {
    EXPECT_EQ(effective_kernel(3, 2), 5);
    EXPECT_EQ(output_extent(7, 3, 0, 1, 2), 3);  // (7 - 5)/1 + 1
    EXPECT_EQ(resolve_axis("width", 7, 3, 0, 1, 2, FitPolicy::exact).input_coord(1, 2), 5);
}

TEST(SamePadding, KeepsTheExtentAtStride1) {
    for (index_t f : {1, 3, 5, 7, 11}) {
        const index_t p = same_padding(f);
        EXPECT_EQ(p, (f - 1) / 2);
        EXPECT_EQ(output_extent(13, f, p, 1), 13);
    }
    EXPECT_EQ(same_padding(3, 2), 2);
    EXPECT_EQ(output_extent(13, 3, same_padding(3, 2), 1, 2), 13);
}
TEST(SamePadding, RejectsEvenKernels) {
    expect_throw_mentioning<std::invalid_argument>([] { (void)same_padding(4); }, {"odd", "F=4"});
}

TEST(GeometryErrors, NonPositiveParametersAreRejected) {
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(0, 3, 0, 1); }, {"input", "0"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(7, 0, 0, 1); }, {"F=0"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(7, 3, 0, 0); }, {"S=0"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(7, 3, -1, 1); }, {"P=-1"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(7, 3, 0, 1, 0); }, {"dilation", "1 means none"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent(-5, 3, 0, 1); }, {"-5"});
}
TEST(GeometryErrors, KernelLargerThanPaddedInputIsRejected) {
    expect_throw_mentioning<std::invalid_argument>([] { (void)resolve_axis("height", 2, 3, 0, 1, 1, FitPolicy::exact); },
                                                   {"height", "2 + 2*0 = 2", "smaller than the kernel", "3"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)resolve_axis("width", 4, 3, 0, 1, 2, FitPolicy::crop); },
                                                   {"width", "4", "5", "dilation 2"});
}
TEST(GeometryErrors, HugePaddingOverflowIsRejected) {
    EXPECT_THROW((void)resolve_axis("width", 4, 3, index_t{1} << 62, 1, 1, FitPolicy::exact), std::length_error);
    EXPECT_THROW((void)resolve_axis("width", 4, index_t{1} << 62, 0, 1, 8, FitPolicy::exact), std::length_error);
}

// The public helpers check their arithmetic as the layer path does: padding or dilation near
// 2^62 overflowed (undefined behaviour; same_padding(3, 2^62) returned a negative number and
// output_extent(10, 3, 0, 1, 2^62) -9223372036854775798).
TEST(GeometryHelpers, OverflowThrowsLengthError) {
    constexpr index_t huge = index_t{1} << 62;
    expect_throw_mentioning<std::length_error>([] { (void)effective_kernel(3, huge); }, {"dilated kernel", "overflows"});
    expect_throw_mentioning<std::length_error>([] { (void)same_padding(3, huge); }, {"overflows"});
    expect_throw_mentioning<std::length_error>([] { (void)output_extent(10, 3, 0, 1, huge); }, {"overflows"});
    expect_throw_mentioning<std::length_error>([] { (void)output_extent(10, 3, huge, 1); }, {"padding", "overflows"});
    expect_throw_mentioning<std::length_error>([] { (void)output_extent_is_integer(10, 3, huge, 1); }, {"overflows"});
    expect_throw_mentioning<std::length_error>([] { (void)output_extent_real(10, 3, 0, 1, huge); }, {"overflows"});
    const index_t most = std::numeric_limits<index_t>::max();
    expect_throw_mentioning<std::length_error>([&] { (void)output_extent(most, 1, 1, 1); }, {"padded input"});
    // pad_to_fit widens the far edge by S - rem, which a huge stride pushes past the index range.
    expect_throw_mentioning<std::length_error>(
        [&] { (void)resolve_axis("width", 4, 1, 0, most, 1, FitPolicy::pad_to_fit); }, {"padded input"});
    expect_throw_mentioning<std::length_error>(
        [&] { (void)output_extent(4, 1, 0, most, 1, FitPolicy::pad_to_fit); }, {"padded input"});
    expect_throw_mentioning<std::length_error>(
        [&] { (void)resolve_axis("width", 1, index_t{1} << 61, index_t{1} << 61, most, 1, FitPolicy::pad_to_fit); },
        {"padded input"});
    expect_throw_mentioning<std::length_error>([&] { (void)effective_kernel(most, 2); }, {"dilated kernel"});
    // Just below the limits they still work.
    EXPECT_EQ(effective_kernel(2, huge), huge + 1);
    EXPECT_EQ(output_extent(most - 2, 3, 1, 1), most - 2);
}

TEST(GeometryHelpers, InvalidParametersThrowInvalidArgument) {
    expect_throw_mentioning<std::invalid_argument>([] { (void)effective_kernel(0); }, {"kernel F=0 must be at least 1"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)effective_kernel(3, 0); }, {"dilation 0 must be at least 1"});
    // A zero stride divided by zero before.
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent_is_integer(10, 3, 0, 0); }, {"S=0"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent_real(10, 3, 0, 0); }, {"S=0"});
    expect_throw_mentioning<std::invalid_argument>([] { (void)output_extent_is_integer(10, 3, -1, 1); }, {"P=-1"});
    static_assert(effective_kernel(3, 2) == 5 && output_extent_is_integer(7, 3, 0, 2), "still constexpr");
}
