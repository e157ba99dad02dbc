#include "convlayer/core/aligned_buffer.hpp"
#include "convlayer/core/volume.hpp"

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

TEST(AlignedBuffer, RefusesBuffersAboveTheMemoryLimitBeforeAllocating) {
    const index_t saved = memory_limit_bytes();
    EXPECT_EQ(saved, index_t{16} << 30);
    set_memory_limit_bytes(1 << 20);
    AlignedBuffer<float> ok(1 << 18);  // exactly 1 MiB
    EXPECT_EQ(ok.size(), 1 << 18);
    try {
        AlignedBuffer<float> too_big((1 << 18) + 1);
        FAIL() << "expected std::length_error";
    } catch (const std::length_error& e) {
        EXPECT_NE(std::string(e.what()).find("exceeds the memory limit of 1048576 bytes"), std::string::npos) << e.what();
    }
    // Near 2^31 and 2^62 elements: refused by the limit or the overflow check, never allocated.
    EXPECT_THROW(AlignedBuffer<double>((index_t{1} << 31) + 1), std::length_error);
    EXPECT_THROW(AlignedBuffer<double>(index_t{1} << 62), std::length_error);
    EXPECT_THROW(Volume<float>(Shape{1 << 16, 1 << 16, 1, 1}), std::length_error);
    EXPECT_THROW(set_memory_limit_bytes(0), std::invalid_argument);
    set_memory_limit_bytes(saved);
}
