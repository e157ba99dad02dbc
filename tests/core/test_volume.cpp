// Volume<T>: layout, views, the seed's depth column and depth slice, fills and copies.
#define CONVLAYER_BOUNDS_CHECK 1  // test the checked operator() whatever the build type
#include "convlayer/core/volume.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

using namespace convlayer;

template <typename T>
class VolumeTest : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VolumeTest, Scalars);

TYPED_TEST(VolumeTest, NhwcLayoutAndShape) {
    using T = TypeParam;
    Volume<T> v(2, 3, 4, 5);
    EXPECT_EQ(v.shape(), (Shape{2, 3, 4, 5}));
    EXPECT_EQ(v.size(), 120);
    EXPECT_TRUE(v.owns_data());
    for (index_t i = 0; i < v.size(); ++i) EXPECT_EQ(v.data()[i], T(0));  // zero-filled
    // Element (n, y, x, d) lives at ((n*H + y)*W + x)*D + d.
    v(1, 2, 3, 4) = T(7);
    EXPECT_EQ(v.data()[((1 * 3 + 2) * 4 + 3) * 5 + 4], T(7));
    EXPECT_EQ(v.offset(1, 2, 3, 4), 119);
}

TYPED_TEST(VolumeTest, StorageIs64ByteAligned) {
    Volume<TypeParam> v(1, 3, 3, 3);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data()) % 64, 0u);
}

TYPED_TEST(VolumeTest, DepthColumnIsContiguousView) {
    using T = TypeParam;
    Volume<T> v(2, 3, 4, 5);
    auto col = v.depth_column(1, 2, 3);
    ASSERT_EQ(col.size(), 5);
    EXPECT_EQ(col.data(), v.data() + v.offset(1, 2, 3, 0));  // zero-copy
    col.setConstant(T(3));
    for (index_t d = 0; d < 5; ++d) EXPECT_EQ(v(1, 2, 3, d), T(3));
    EXPECT_EQ(v(1, 2, 2, 0), T(0));
}

TYPED_TEST(VolumeTest, DepthSliceIsStridedHxWView) {
    using T = TypeParam;
    Volume<T> v(2, 3, 4, 5);
    v.fill_random(11);
    auto slice = v.depth_slice(1, 2);
    ASSERT_EQ(slice.rows(), 3);  // H
    ASSERT_EQ(slice.cols(), 4);  // W
    for (index_t y = 0; y < 3; ++y)
        for (index_t x = 0; x < 4; ++x) EXPECT_EQ(slice(y, x), v(1, y, x, 2));
    slice(2, 1) = T(42);  // writes through
    EXPECT_EQ(v(1, 2, 1, 2), T(42));
    const Volume<T>& cv = v;
    EXPECT_EQ(cv.depth_slice(1, 2).sum(), slice.sum());
}

TYPED_TEST(VolumeTest, ViewWrapsCallerBufferWithoutCopy) {
    using T = TypeParam;
    std::vector<T> buf(2 * 2 * 3 * 4, T(1));
    Volume<T> v = Volume<T>::view(buf.data(), Shape{2, 2, 3, 4});
    EXPECT_FALSE(v.owns_data());
    EXPECT_EQ(v.data(), buf.data());
    v(1, 1, 2, 3) = T(9);
    EXPECT_EQ(buf.back(), T(9));
    // A copy of a view owns its data.
    Volume<T> copy = v;
    EXPECT_TRUE(copy.owns_data());
    EXPECT_NE(copy.data(), buf.data());
    EXPECT_EQ(copy(1, 1, 2, 3), T(9));
    // A view may be reshaped to the same element count, not resized.
    v.resize(Shape{1, 4, 3, 4});
    EXPECT_THROW(v.resize(Shape{1, 4, 3, 5}), std::invalid_argument);
    EXPECT_THROW(Volume<T>::view(nullptr, Shape{1, 1, 1, 1}), std::invalid_argument);
}

TYPED_TEST(VolumeTest, ResizeReusesCapacity) {
    using T = TypeParam;
    Volume<T> v(4, 8, 8, 8);
    const T* p = v.data();
    v.resize(Shape{1, 8, 8, 8});
    EXPECT_EQ(v.data(), p);
    v.resize(Shape{4, 8, 8, 8});
    EXPECT_EQ(v.data(), p);
}

TYPED_TEST(VolumeTest, FillRandomIsSeededAndInRange) {
    using T = TypeParam;
    Volume<T> a(1, 4, 4, 4), b(1, 4, 4, 4), c(1, 4, 4, 4);
    a.fill_random(5, T(-2), T(3));
    b.fill_random(5, T(-2), T(3));
    c.fill_random(6, T(-2), T(3));
    EXPECT_EQ(a.flat(), b.flat());
    EXPECT_NE(a.flat(), c.flat());
    EXPECT_GE(a.flat().minCoeff(), T(-2));
    EXPECT_LT(a.flat().maxCoeff(), T(3));
}

TYPED_TEST(VolumeTest, CopyFromAndToRawBuffer) {
    using T = TypeParam;
    Volume<T> v(1, 2, 2, 2);
    std::vector<T> src(8);
    for (int i = 0; i < 8; ++i) src[static_cast<std::size_t>(i)] = T(i);
    v.copy_from(src.data(), 8);
    EXPECT_EQ(v(0, 1, 0, 1), T(5));
    std::vector<T> dst(8);
    v.copy_to(dst.data(), 8);
    EXPECT_EQ(dst, src);
    EXPECT_THROW(v.copy_from(src.data(), 7), std::invalid_argument);
    std::vector<T> larger(9);
    EXPECT_THROW(v.copy_to(larger.data(), 9), std::invalid_argument);
}

TYPED_TEST(VolumeTest, RowsViewIsPositionsByDepth) {
    using T = TypeParam;
    Volume<T> v(2, 3, 4, 5);
    v.fill_random(3);
    auto r = v.rows();
    EXPECT_EQ(r.rows(), 24);
    EXPECT_EQ(r.cols(), 5);
    EXPECT_EQ(r(v.offset(1, 2, 1, 0) / 5, 3), v(1, 2, 1, 3));
}

TYPED_TEST(VolumeTest, OutOfRangeAccessThrowsNamingTheIndex) {
    Volume<TypeParam> v(1, 2, 3, 4);
    try {
        (void)v.at(0, 2, 0, 0);
        FAIL();
    } catch (const std::out_of_range& e) {
        EXPECT_NE(std::string(e.what()).find("y=2"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)v(0, 0, 3, 0), std::out_of_range);  // checked under CONVLAYER_BOUNDS_CHECK
    EXPECT_THROW((void)v(0, 0, 0, -1), std::out_of_range);
    EXPECT_THROW((void)v.depth_column(1, 0, 0), std::out_of_range);
    EXPECT_THROW((void)v.depth_slice(0, 4), std::out_of_range);
}

TYPED_TEST(VolumeTest, BadShapesAreRejected) {
    using T = TypeParam;
    EXPECT_THROW(Volume<T>(0, 2, 2, 2), std::invalid_argument);
    EXPECT_THROW(Volume<T>(1, -2, 2, 2), std::invalid_argument);
    const index_t big = index_t{1} << 31;
    EXPECT_THROW(Volume<T>(big, big, big, 2), std::length_error);  // element count overflows
    EXPECT_THROW(Volume<T>(1, big / 2, big / 2, 4), std::length_error);  // 2^62 elements: bytes overflow
}
