#include "convlayer/core/aligned_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>

using namespace convlayer;

TEST(AlignedBuffer, AlignedAndKeepsCapacityWhenShrunk) {
    AlignedBuffer<float> b(100);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % kAlignment, 0u);
    const float* p = b.data();
    b.resize(10);
    EXPECT_EQ(b.data(), p);
    EXPECT_EQ(b.size(), 10);
    EXPECT_EQ(b.capacity(), 100);
    b.resize(100);
    EXPECT_EQ(b.data(), p);
    b.resize(101);
    EXPECT_EQ(b.capacity(), 101);
}

TEST(AlignedBuffer, CopyAndMove) {
    AlignedBuffer<double> a(3);
    for (int i = 0; i < 3; ++i) a[i] = i + 0.5;
    AlignedBuffer<double> b = a;
    EXPECT_NE(b.data(), a.data());
    EXPECT_EQ(b[2], 2.5);
    const double* p = a.data();
    AlignedBuffer<double> c = std::move(a);
    EXPECT_EQ(c.data(), p);
    EXPECT_EQ(a.data(), nullptr);
    EXPECT_EQ(a.size(), 0);
}

TEST(AlignedBuffer, RejectsNegativeAndOverflowingSizes) {
    AlignedBuffer<float> b;
    EXPECT_THROW(b.resize(-1), std::length_error);
    EXPECT_THROW(b.resize(index_t{1} << 62), std::length_error);
}
