// The tuning derived from a CPU's figures: Zen 4's and Zen 5's, an AVX2 Zen 3's, and this CPU's.
#include "convlayer/kernels/tuning.hpp"

#include <gtest/gtest.h>

#include "convlayer/kernels/packed_gemm.hpp"

using namespace convlayer;
using namespace convlayer::kernels;

namespace {
// AMD Zen 4: AVX-512 on 256-bit FMA units, L1d 32 KiB, L2 1 MiB.
const CpuFigures kZen4{index_t{32} << 10, index_t{1} << 20, 512, 256};
// AMD Zen 5: AVX-512 on 512-bit FMA units, L1d 48 KiB, L2 1 MiB (where the fixed sizes that the
// derivation replaced were fitted: it gives them back there).
const CpuFigures kZen5{index_t{48} << 10, index_t{1} << 20, 512, 512};
// AMD Zen 3: AVX2, L1d 32 KiB, L2 512 KiB.
const CpuFigures kZen3{index_t{32} << 10, index_t{512} << 10, 256, 256};

// The depth's B panel (two vectors wide) and A panel (the tallest tile) fit L1d; twice the depth
// would not.
void expect_depth_fills_l1d(const CpuFigures& f, index_t scalar_bytes) {
    const Tuning t = derive_tuning(f, scalar_bytes);
    const index_t panel_values = 2 * f.vector_bits / (8 * scalar_bytes) + tallest_tile_rows(f.vector_bits);
    EXPECT_LE(t.gemm_depth * panel_values * scalar_bytes, f.l1d_bytes);
    EXPECT_GT(2 * t.gemm_depth * panel_values * scalar_bytes, f.l1d_bytes);
    EXPECT_LE(t.gemm_depth * t.dw_columns * scalar_bytes, f.l2_bytes / 2);
}
}  // namespace

TEST(Tuning, Zen4HalvesTheDepthAndTheForkThreshold) {
    const Tuning t = derive_tuning(kZen4, 4);
    EXPECT_EQ(t.gemm_depth, 128);  // 32 KiB / ((32 + 14) * 4 bytes) = 178
    EXPECT_EQ(t.dw_columns, 1024);
    EXPECT_EQ(t.private_dx_bytes, index_t{1} << 20);
    EXPECT_EQ(t.private_dw_cached_bytes, index_t{256} << 10);
    EXPECT_EQ(t.forward_sweep_bytes, index_t{128} << 10);
    EXPECT_EQ(t.parallel_sum_min_values, 4096 * 16);
    EXPECT_DOUBLE_EQ(t.min_flops_per_thread, 4096.0 * 32);  // 2 units x 8 lanes x 2 FLOPs per cycle
    expect_depth_fills_l1d(kZen4, 4);
}

TEST(Tuning, Zen5GivesBackTheSizesFittedThere) {
    const Tuning t = derive_tuning(kZen5, 4);
    EXPECT_EQ(t.gemm_depth, 256);  // 48 KiB / 184 bytes = 267
    EXPECT_EQ(t.dw_columns, 512);
    EXPECT_EQ(t.private_dx_bytes, index_t{1} << 20);
    EXPECT_EQ(t.private_dw_cached_bytes, index_t{256} << 10);
    EXPECT_EQ(t.parallel_sum_min_values, 4096 * 16);
    EXPECT_DOUBLE_EQ(t.min_flops_per_thread, 4096.0 * 64);  // about the 2.5e5 fitted there
    expect_depth_fills_l1d(kZen5, 4);
}

TEST(Tuning, DoubleHalvesTheLanes) {
    const Tuning t = derive_tuning(kZen5, 8);
    EXPECT_EQ(t.gemm_depth, 128);  // 48 KiB / ((16 + 14) * 8 bytes) = 204
    EXPECT_EQ(t.dw_columns, 512);
    EXPECT_EQ(t.parallel_sum_min_values, 4096 * 8);
    EXPECT_DOUBLE_EQ(t.min_flops_per_thread, 4096.0 * 32);
    expect_depth_fills_l1d(kZen5, 8);
}

TEST(Tuning, Avx2HasShorterTilesAndNarrowerPanels) {
    const Tuning t = derive_tuning(kZen3, 4);
    EXPECT_EQ(t.gemm_depth, 256);  // 32 KiB / ((16 + 6) * 4 bytes) = 372
    EXPECT_EQ(t.dw_columns, 256);
    EXPECT_EQ(t.private_dx_bytes, index_t{512} << 10);
    EXPECT_EQ(t.forward_sweep_bytes, index_t{64} << 10);
    EXPECT_EQ(t.parallel_sum_min_values, 4096 * 8);
    expect_depth_fills_l1d(kZen3, 4);
}

TEST(Tuning, SmallOrOddCachesStayInRange) {
    const Tuning tiny = derive_tuning(CpuFigures{1024, 4096, 128, 128}, 4);
    EXPECT_EQ(tiny.gemm_depth, 32);
    EXPECT_GE(tiny.dw_columns, 8);
    EXPECT_EQ(tiny.dw_columns % 8, 0);  // whole NR panels
    const Tuning huge = derive_tuning(CpuFigures{index_t{1} << 30, index_t{1} << 30, 512, 512}, 4);
    EXPECT_EQ(huge.gemm_depth, 1024);
}

TEST(Tuning, ThisCpuIsReadAndDerivedOnce) {
    const CpuFigures f = this_cpu();
    EXPECT_GT(f.l1d_bytes, 0);
    EXPECT_GT(f.l2_bytes, 0);
    EXPECT_EQ(f.vector_bits, 8 * 4 * GemmTile<float>::kLanes);
    EXPECT_LE(f.fma_bits, f.vector_bits);
    EXPECT_EQ(tallest_tile_rows(f.vector_bits), GemmTile<float>::kMaxMR);
    const Tuning derived = derive_tuning(f, 4), used = tuning<float>();
    EXPECT_EQ(used.gemm_depth, derived.gemm_depth);
    EXPECT_EQ(used.dw_columns, derived.dw_columns);
    EXPECT_EQ(used.private_dx_bytes, derived.private_dx_bytes);
    EXPECT_EQ(used.forward_sweep_bytes, derived.forward_sweep_bytes);
    EXPECT_DOUBLE_EQ(used.min_flops_per_thread, derived.min_flops_per_thread);
    EXPECT_EQ(&tuning<float>(), &tuning<float>());
}

TEST(Tuning, SmallCallsRunOnOneThread) {
    const double least = tuning<float>().min_flops_per_thread;
    EXPECT_EQ(threads_for_flops<float>(least * 2 - 1, 2), 1);
    EXPECT_EQ(threads_for_flops<float>(least * 2, 2), 2);
    EXPECT_EQ(threads_for_flops<float>(0, 1), 1);
}
