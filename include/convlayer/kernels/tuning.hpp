// Every block size and threshold the kernels use, in one place. The cache-blocking sizes and the
// thread thresholds are derived, deterministically, from what the CPU reports (CpuFigures: cache
// sizes, vector width, FMA width); the scheduling and algorithm rules are fixed, each with its
// reason. Timings never enter here: the same machine always derives the same numbers, so the same
// seed and thread count stay bit-identical. (The measurements behind them: docs/performance.md.)
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define CONVLAYER_HAS_CPUID 1
#endif

#include "convlayer/core/checked_math.hpp"
#include "convlayer/kernels/simd.hpp"

namespace convlayer::kernels {

/// What a CPU reports that convlayer's blocking depends on (this_cpu() reads them).
struct CpuFigures {
    index_t l1d_bytes = index_t{32} << 10;  ///< L1 data cache of one core
    index_t l2_bytes = index_t{1} << 20;    ///< L2 cache of one core
    int vector_bits = 256;                  ///< width of the SIMD registers the code is compiled for
    int fma_bits = 256;  ///< width of the FMA units (Zen 4 runs a 512-bit FMA as two 256-bit halves)
};

/// The block sizes and thresholds derive_tuning() gives for one scalar type on one CPU.
struct Tuning {
    /// Depth (kc) of A and B multiplied at a time: a packed NR-column panel of B and an A panel of
    /// the tallest tile fit in L1d together, so B's panel is reused by every A panel from L1.
    index_t gemm_depth;
    /// Patch columns (jc) of B packed at a time for dW: a gemm_depth x jc block fills half of L2.
    index_t dw_columns;
    /// Padded input rows the implicit forward runs every panel of B over before moving on: an
    /// eighth of L2, so they stay there beside a panel of B (VGG conv5_2's is 576 KiB).
    index_t forward_sweep_bytes;
    /// Largest dX accumulated privately by each thread: its copy stays in L2 while col2im adds.
    index_t private_dx_bytes;
    /// Largest dW accumulated per thread even when its columns could be split: the accumulator
    /// and the rows it sums over share L2.
    index_t private_dw_cached_bytes;
    /// Largest W (bytes) a few-output linear forward reads from cache for every group of samples
    /// (LinearPlan::forward_streamed): half of L2, beside the samples streaming past.
    index_t streamed_weights_bytes;
    /// Fewest values a sum or clear is split over threads for: a fork's cost in vector adds.
    index_t parallel_sum_min_values;
    /// Fewest FLOPs per thread for which a call forks: the FLOPs a core does in a fork's time.
    double min_flops_per_thread;
};

/// Cycles an OpenMP fork and join costs (about 1-2 us at 2-4 GHz): below this much work per
/// thread, running on one thread is as fast.
inline constexpr double kForkCycles = 4096;

namespace detail {
inline index_t floor_power_of_two(index_t v) {
    index_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}
}  // namespace detail

/// The packed micro-kernel's tallest tile (GemmTile::kMaxMR) with vector registers of
/// `vector_bits`: 14 rows (28 accumulators) of AVX-512's 32 registers, 6 rows of 16 registers.
constexpr index_t tallest_tile_rows(int vector_bits) { return vector_bits >= 512 ? 14 : 6; }

/// The tuning for scalars of `scalar_bytes` on a CPU with figures `f`. Panels follow the packed
/// micro-kernel (packed_gemm.hpp): NR = two vectors of columns, tiles of tallest_tile_rows().
inline Tuning derive_tuning(const CpuFigures& f, index_t scalar_bytes) {
    const index_t lanes = std::max<index_t>(1, f.vector_bits / (8 * scalar_bytes));
    const index_t nr = 2 * lanes, max_mr = tallest_tile_rows(f.vector_bits);
    const index_t fma_lanes = std::max<index_t>(1, std::min(f.vector_bits, f.fma_bits) / (8 * scalar_bytes));
    Tuning t{};
    t.gemm_depth = std::clamp<index_t>(detail::floor_power_of_two(f.l1d_bytes / ((nr + max_mr) * scalar_bytes)), 32, 1024);
    t.dw_columns = std::max(nr, f.l2_bytes / 2 / (t.gemm_depth * scalar_bytes) / nr * nr);
    t.forward_sweep_bytes = f.l2_bytes / 8;
    t.private_dx_bytes = f.l2_bytes;
    t.private_dw_cached_bytes = f.l2_bytes / 4;
    t.streamed_weights_bytes = f.l2_bytes / 2;
    t.parallel_sum_min_values = static_cast<index_t>(kForkCycles) * lanes;
    // Two FMA units, two FLOPs per FMA lane.
    t.min_flops_per_thread = kForkCycles * 2.0 * 2.0 * static_cast<double>(fma_lanes);
    return t;
}

namespace detail {
// Bits of Eigen's widest float packet: the vector width the code is compiled for.
inline int compiled_vector_bits() {
    return 8 * static_cast<int>(sizeof(float)) * Simd<float>::kLanes;
}

// The FMA unit width: AMD before family 0x1A (Zen 5) executes vectors wider than 256 bits in
// 256-bit halves; every other CPU at the compiled width.
inline int fma_bits_of_this_cpu(int vector_bits) {
#ifdef CONVLAYER_HAS_CPUID
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return vector_bits;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    if (std::strcmp(vendor, "AuthenticAMD") != 0 || !__get_cpuid(1, &a, &b, &c, &d)) return vector_bits;
    const unsigned base = (a >> 8) & 0xF, family = base == 0xF ? base + ((a >> 20) & 0xFF) : base;
    if (family < 0x1A) return std::min(vector_bits, 256);
#endif
    return vector_bits;
}
}  // namespace detail

/// This CPU's figures: caches as Eigen's CPUID query reports them (CpuFigures' defaults where it
/// reports none), the compiled vector width, and the FMA width of the CPU's family.
inline CpuFigures this_cpu() {
    CpuFigures f;
    int l1 = -1, l2 = -1, l3 = -1;
    Eigen::internal::queryCacheSizes(l1, l2, l3);
    if (l1 > 0) f.l1d_bytes = l1;
    if (l2 > 0) f.l2_bytes = l2;
    f.vector_bits = detail::compiled_vector_bits();
    f.fma_bits = detail::fma_bits_of_this_cpu(f.vector_bits);
    return f;
}

/// The tuning of scalar T on this CPU, derived once.
template <typename T>
const Tuning& tuning() {
    static const Tuning t = derive_tuning(this_cpu(), static_cast<index_t>(sizeof(T)));
    return t;
}

/// The threads a call of `flops` FLOPs on scalars T runs on: `threads`, or 1 when each would get
/// less than Tuning::min_flops_per_thread.
template <typename T>
int threads_for_flops(double flops, int threads) {
    return flops < tuning<T>().min_flops_per_thread * threads ? 1 : threads;
}

// The fixed rules.

/// Default per-thread bound on a conv layer's blocks of patches or tiles: a memory bound (the
/// blocks stream through L2; their size only sets how often the weights are re-read).
inline constexpr index_t kDefaultWorkspaceBudgetBytes = index_t{2} << 20;
/// Rows of A (output positions) multiplied per depth block: 8 tiles of 12; the A block, at most
/// 96 KiB for a gemm_depth of 256 floats, stays in any L2 of 512 KiB or more.
inline constexpr index_t kGemmRowBlock = 96;
/// Largest dW accumulated privately by each thread: bounds the threads - 1 copies and the memory
/// traffic of summing them.
inline constexpr index_t kPrivateDwBytes = index_t{2} << 20;
/// Output positions per thread from which a dW within Tuning::private_dw_cached_bytes is summed
/// per thread: enough rows to amortise summing the copies.
inline constexpr index_t kPrivateDwPositionsPerThread = 512;
/// NR panels of dW columns per thread from which the threads split dW's columns instead of
/// summing private copies: fewer leave a thread idle for a panel's share.
inline constexpr index_t kSplitDwMinPanelsPerThread = 4;
/// Most MR-row panels per thread for which the threads split a GEMM's columns rather than its
/// rows: so few rows divide unevenly (17 panels on 2 threads leave one idle 6% of the time).
inline constexpr index_t kSplitColumnsMaxRowPanelsPerThread = 16;
/// Blocks per thread of an implicit-GEMM forward: enough to even out the threads' loads.
inline constexpr index_t kImplicitForwardBlocksPerThread = 4;
/// Input channels up to which the implicit GEMM always pays off, and its backward-weights runs by
/// taps: copying or gathering patches in runs of D1 values then costs as much as the arithmetic.
inline constexpr index_t kImplicitGemmFewChannels = 4;
/// The implicit GEMM pays off (beyond few channels) where at most 1/8 of its tile rows are idle.
inline constexpr index_t kImplicitGemmIdleRowsDenominator = 8;
/// Winograd pays off from this many input and output channels: below it the transforms and the
/// short GEMM depth cost more than the fewer multiplies save.
inline constexpr index_t kWinogradMinChannels = 64;
/// Output tiles from which Winograd pays off: fewer do not amortise the filter transform.
inline constexpr index_t kWinogradMinTiles = 128;
/// Largest transformed filter bank (values) Winograd takes: bounds its packed weights.
inline constexpr index_t kWinogradMaxFilterValues = index_t{3} << 20;
/// Least share of its NR-column panels dX's depth must fill for backward-data to run as the
/// implicit forward over dY (MNIST conv2's 32 channels fill one; a gray image's 1 fills 1/32).
inline constexpr double kImplicitBackwardDataMinPanelFill = 0.75;
/// Output rows a chunk of implicit-GEMM backward-weights' depth must hold for it to be cut at
/// whole rows (which lets it skip padded columns): fewer cost more in short GEMMs than they save.
inline constexpr index_t kImplicitDwMinRowsPerChunk = 8;

/// Bytes of address space an L1d's sets cover (size / ways: 32 KiB / 8 on Zen 4, 48 KiB / 12 on
/// Zen 5 and recent Intel cores): addresses this far apart share a set.
inline constexpr index_t kL1SetSpanBytes = 4096;

/// Whether the rows of a row-major A, `lda_bytes` apart, map into at most two L1d sets (their
/// distance a multiple of half the set span): the 16 to 24 lines those hold cannot keep a tile's
/// rows (up to 14) beside B's, so A read in place misses L1 at every depth step; packed, it
/// does not (ResNet's 1x1 over 1024 channels).
inline bool rows_share_l1_sets(index_t lda_bytes) { return lda_bytes % (kL1SetSpanBytes / 2) == 0; }

namespace detail {
/// Costs in micro-kernel steps (one broadcast and two FMAs) of preparing one value for the
/// linear products' cost model (linear.hpp): packed by the transposing fast path (whole NR panels
/// of a column-major B), packed otherwise, packed from a row-major B, and copied out of scratch
/// into a transposed result (strided reads). Measured on docs/performance.md's dense layers.
inline constexpr double kFastPackCost = 0.5, kPanelPackCost = 2, kRowPackCost = 1, kTransposeCopyCost = 8;
}  // namespace detail

}  // namespace convlayer::kernels
