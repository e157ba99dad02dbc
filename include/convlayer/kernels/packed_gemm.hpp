// A packed GEMM micro-kernel written with Eigen's packet primitives.
//
//   C (rows x cols, row-major, leading dimension ldc)  =  bias + A * B   (first depth block)
//                                                      +=  A * B         (later depth blocks)
// A is read in place (row- or column-major); gemm_block packs only its last, partial panel of MR
// rows. B is packed in micro-panels of NR = 2 packets of columns: element (k, j) at b[k*NR + j].
// The MR x NR tile of C lives in 2*MR packet registers for the whole depth loop (MR = 12 on
// AVX-512: 24 of 32 registers; 14 and 8 are also instantiated, GemmTile::kTileRows), so every
// loaded B packet feeds MR fused multiply-adds.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "convlayer/core/checked_math.hpp"
#include "convlayer/kernels/simd.hpp"

namespace convlayer::kernels {

/// The register tile of the packed GEMM micro-kernel for scalar T, on the SIMD instruction set
/// the code is compiled for: MR rows of A by NR columns of B.
template <typename T>
struct GemmTile {
    /// The SIMD packet of T (simd.hpp).
    using Packet = typename Simd<T>::Packet;
    /// Scalars per Packet.
    static constexpr int kLanes = Simd<T>::kLanes;
    /// Rows of a tile by default: 2*MR accumulators plus the B packets fit the packet registers
    /// with room to spare (32 with AVX-512, 16 otherwise).
#if defined(__AVX512F__)
    static constexpr int MR = 12;
#else
    static constexpr int MR = 6;
#endif
    /// Columns of a tile and of a packed B micro-panel: two packets.
    static constexpr int NR = 2 * kLanes;
    /// Tile heights the micro-kernel is also instantiated for, tallest first, so a GEMM whose
    /// rows are not a multiple of MR can waste fewer (14 rows tile MNIST's 14- and 28-wide output
    /// rows exactly, where 12 leave a third of a tile idle). 14 rows take 28 of 32 registers.
#if defined(__AVX512F__)
    static constexpr int kTileRows[] = {14, 12, 8};
    static constexpr int kMaxMR = 14, kMinMR = 8;  // the first and last (tests check)
#else
    static constexpr int kTileRows[] = {6};
    static constexpr int kMaxMR = 6, kMinMR = 6;
#endif
    /// \var kMaxMR
    /// The tallest tile height in kTileRows.
    /// \var kMinMR
    /// The shortest tile height in kTileRows.
};

namespace detail {
/// v rounded up to a multiple of `to` (> 0).
inline index_t round_up(index_t v, index_t to) { return (v + to - 1) / to * to; }
}  // namespace detail

/// The tile height of GemmTile<T>::kTileRows that pads `rows` the least (the tallest on a tie).
template <typename T>
int best_tile_rows(index_t rows) {
    int best = GemmTile<T>::kMaxMR;
    index_t best_padded = detail::round_up(rows, best);
    for (int mr : GemmTile<T>::kTileRows) {
        const index_t padded = detail::round_up(rows, mr);
        if (padded < best_padded) best = mr, best_padded = padded;
    }
    return best;
}

/// Calls f(std::integral_constant<int, mr>{}) for `mr`, one of GemmTile<T>::kTileRows.
template <typename T, typename F>
void with_tile_rows(int mr, F&& f) {
#if defined(__AVX512F__)
    if (mr == 14) return f(std::integral_constant<int, 14>{});
    if (mr == 8) return f(std::integral_constant<int, 8>{});
#endif
    (void)mr;
    f(std::integral_constant<int, GemmTile<T>::MR>{});
}

namespace detail {
// A whole panel of `Width` rows i, each with `depth` contiguous values (element (i, k) at
// src[i*stride_i + k]), transposed into dst[k*Width + i] a lanes x lanes block of packets at a
// time (5-6x faster than element by element, which writes Width values apart: packing MNIST
// conv2's weights took 22 us a call, now 4).
// (Eigen's PacketBlock takes the packet type, an intrinsic vector type, as a template argument:
// GCC warns that its alignment attributes are dropped there, which PacketBlock does not need.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
template <int Width, typename T>
void transpose_panel(const T* src, index_t stride_i, index_t depth, T* dst) {
    using Packet = typename GemmTile<T>::Packet;
    constexpr int P = GemmTile<T>::kLanes;
    static_assert(Width % P == 0, "whole packets of rows");
    index_t k = 0;
    for (; k + P <= depth; k += P)
        for (int h = 0; h < Width; h += P) {
            Eigen::internal::PacketBlock<Packet, P> block;
            for (int r = 0; r < P; ++r) block.packet[r] = Eigen::internal::ploadu<Packet>(src + (h + r) * stride_i + k);
            Eigen::internal::ptranspose(block);
            for (int r = 0; r < P; ++r) Eigen::internal::pstoreu(dst + (k + r) * Width + h, block.packet[r]);
        }
    for (; k < depth; ++k)
        for (int i = 0; i < Width; ++i) dst[k * Width + i] = src[i * stride_i + k];
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}  // namespace detail

/// Packs a count x depth region, element (i, k) at src[i*stride_i + k*stride_k], into micro-panels
/// of `Width` along i: element (i, k) goes to dst[(i / Width)*Width*depth + k*Width + i % Width];
/// the last panel is zero-padded. The loop runs along whichever index is contiguous in src, so
/// reads are sequential (which the prefetcher follows even when src is far from the core).
template <int Width, typename T>
void pack_panels(const T* src, index_t stride_i, index_t stride_k, index_t count, index_t depth, T* dst) {
    for (index_t i0 = 0; i0 < count; i0 += Width, dst += Width * depth) {
        const index_t w = std::min<index_t>(Width, count - i0);
        const T* s0 = src + i0 * stride_i;
        if constexpr (Width % GemmTile<T>::kLanes == 0) {
            if (stride_k == 1 && w == Width) {
                detail::transpose_panel<Width>(s0, stride_i, depth, dst);
                continue;
            }
        }
        if (stride_k == 1) {
            // Whole Width-value steps, zeros past w in the same loop: written row by row with a
            // fill per step, a 10-row panel of a 3136-deep A took longer than its GEMM.
            for (index_t k = 0; k < depth; ++k)
                for (index_t i = 0; i < Width; ++i) dst[k * Width + i] = i < w ? s0[i * stride_i + k] : T(0);
            continue;
        } else if (stride_i == 1 && w == Width) {
            // A copy of a constant size compiles to a few vector moves, not a library call.
            for (index_t k = 0; k < depth; ++k) std::memcpy(dst + k * Width, s0 + k * stride_k, Width * sizeof(T));
            continue;
        } else if (stride_i == 1) {
            // A fixed-width loop (zeros past w), not std::copy + std::fill: for a panel of a few
            // values the two library calls per k cost more than the copy.
            for (index_t k = 0; k < depth; ++k)
                for (index_t i = 0; i < Width; ++i) dst[k * Width + i] = i < w ? s0[k * stride_k + i] : T(0);
            continue;
        } else {
            for (index_t k = 0; k < depth; ++k)
                for (index_t i = 0; i < w; ++i) dst[k * Width + i] = s0[i * stride_i + k * stride_k];
        }
        for (index_t k = 0; k < depth; ++k) std::fill(dst + k * Width + w, dst + (k + 1) * Width, T(0));
    }
}

/// A (rows x depth), row-major with leading dimension lda, into MR-row panels.
template <typename T>
void pack_a_panels(const T* a, index_t lda, index_t rows, index_t depth, T* dst) {
    pack_panels<GemmTile<T>::MR>(a, lda, 1, rows, depth, dst);
}
/// A (rows x depth), column-major (element (i, k) at a[k*lda + i]), into MR-row panels.
template <typename T>
void pack_a_panels_colmajor(const T* a, index_t lda, index_t rows, index_t depth, T* dst) {
    pack_panels<GemmTile<T>::MR>(a, 1, lda, rows, depth, dst);
}
/// B (depth x cols), row-major (element (k, j) at b[k*ldb + j]), into NR-column panels.
template <typename T>
void pack_b_panels_rowmajor(const T* b, index_t ldb, index_t depth, index_t cols, T* dst) {
    pack_panels<GemmTile<T>::NR>(b, 1, ldb, cols, depth, dst);
}
/// B (depth x cols), column-major (element (k, j) at b[j*ldb + k]), into NR-column panels.
template <typename T>
void pack_b_panels_colmajor(const T* b, index_t ldb, index_t depth, index_t cols, T* dst) {
    pack_panels<GemmTile<T>::NR>(b, ldb, 1, cols, depth, dst);
}

/// Writes an MR x NR tile held in registers (acc0: columns [0, L), acc1: [L, 2L)) to c (leading
/// dimension ldc): its first rows x cols values, as accumulate ? c + tile : (bias ? bias : 0) + tile.
template <typename T, int MR, typename Packet>
EIGEN_ALWAYS_INLINE void store_tile(const Packet (&acc0)[MR], const Packet (&acc1)[MR], T* c, index_t ldc,
                                    index_t rows, index_t cols, bool accumulate, const T* bias) {
    using namespace Eigen::internal;
    constexpr int L = GemmTile<T>::kLanes;
    if (rows == MR && cols == 2 * L) {
        for (int i = 0; i < MR; ++i) {
            T* ci = c + i * ldc;
            Packet c0, c1;
            if (accumulate) {
                c0 = ploadu<Packet>(ci);
                c1 = ploadu<Packet>(ci + L);
            } else if (bias) {
                c0 = ploadu<Packet>(bias);
                c1 = ploadu<Packet>(bias + L);
            } else {
                c0 = c1 = pset1<Packet>(T(0));
            }
            pstoreu(ci, padd(c0, acc0[i]));
            pstoreu(ci + L, padd(c1, acc1[i]));
        }
        return;
    }
    EIGEN_ALIGN_MAX T tile[MR * 2 * L];
    for (int i = 0; i < MR; ++i) {
        pstore(tile + i * 2 * L, acc0[i]);
        pstore(tile + i * 2 * L + L, acc1[i]);
    }
    for (index_t i = 0; i < rows; ++i)
        for (index_t j = 0; j < cols; ++j) {
            const T base = accumulate ? c[i * ldc + j] : (bias ? bias[j] : T(0));
            c[i * ldc + j] = base + tile[i * 2 * L + j];
        }
}

/// One MR x NR tile: c[0:rows, 0:cols] = (accumulate ? c : bias) + A_panel * b_panel over
/// `depth`, where A_panel element (i, k) is a[i*lda + k] (kARowMajor) or a[k*lda + i] (packed
/// panels are the column-major case with lda = MR). All MR rows of A are read. bias (`cols`
/// values, may be null = 0) is used only when !accumulate.
///
/// Segmented A (implicit GEMM over an input image): with `segment` < depth, A's depth is
/// depth / segment runs of `segment` steps, run s starting at a + s*segment_stride (row-major:
/// contiguous values of each row; column-major: `segment` columns lda apart). B runs on unbroken
/// unless b_segment_stride != 0 (B read in place from rows further apart): then run s of B starts
/// at b + s*b_segment_stride.
template <typename T, bool kARowMajor, int MR = GemmTile<T>::MR>
EIGEN_ALWAYS_INLINE void gemm_micro_kernel(index_t depth, const T* a, index_t lda, const T* b, T* c, index_t ldc,
                                           index_t rows, index_t cols, bool accumulate, const T* bias,
                                           index_t segment = 0, index_t segment_stride = 0,
                                           index_t b_segment_stride = 0) {
    using namespace Eigen::internal;
    using Tile = GemmTile<T>;
    using Packet = typename Tile::Packet;
    constexpr int L = Tile::kLanes;
    // In the tall tiles' GEMMs (forward, backward-data) B's panel streams from L2: fetched
    // kPrefetchSteps depth steps (1 KiB) ahead, its latency is hidden. Not for the shortest tiles
    // (dW's), whose B is reused from L1 and which the two extra instructions slow
    // (docs/performance.md).
    constexpr bool kPrefetchB = MR > Tile::kMinMR;
    constexpr index_t kPrefetchSteps = 8;
    Packet acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = pset1<Packet>(T(0));
    if (segment <= 0) segment = depth;
    for (index_t k0 = 0; k0 < depth; k0 += segment, a += segment_stride) {
        const T* bk = b;
        for (index_t k = 0; k < segment; ++k, bk += 2 * L) {
            if constexpr (kPrefetchB) {
                __builtin_prefetch(bk + kPrefetchSteps * 2 * L);
                __builtin_prefetch(bk + kPrefetchSteps * 2 * L + L);
            }
            const Packet b0 = ploadu<Packet>(bk), b1 = ploadu<Packet>(bk + L);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
            for (int i = 0; i < MR; ++i) {
                const Packet ai = pset1<Packet>(kARowMajor ? a[i * lda + k] : a[k * lda + i]);
                acc0[i] = pmadd(ai, b0, acc0[i]);
                acc1[i] = pmadd(ai, b1, acc1[i]);
            }
        }
        b = b_segment_stride != 0 ? b + b_segment_stride : bk;
    }
    store_tile<T, MR>(acc0, acc1, c, ldc, rows, cols, accumulate, bias);
}

/// gemm_micro_kernel() with A's MR rows read through pointers, for rows at no common stride (the
/// taps of a patch): element (i, k) of run s at rows[i][s*segment_stride + k*kstride], in runs of
/// `segment` steps (0: one run); B is read unbroken. No bias.
template <typename T, int MR>
EIGEN_ALWAYS_INLINE void gemm_micro_kernel_rows(index_t depth, const T* const* rows, index_t kstride, const T* b, T* c,
                                                index_t ldc, index_t nrows, index_t cols, bool accumulate,
                                                index_t segment = 0, index_t segment_stride = 0) {
    using namespace Eigen::internal;
    using Packet = typename GemmTile<T>::Packet;
    constexpr int L = GemmTile<T>::kLanes;
    Packet acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = pset1<Packet>(T(0));
    const T* r[MR];
    for (int i = 0; i < MR; ++i) r[i] = rows[i];
    if (segment <= 0) segment = depth;
    for (index_t k0 = 0; k0 < depth; k0 += segment) {
        for (index_t k = 0; k < segment; ++k, b += 2 * L) {
            const Packet b0 = ploadu<Packet>(b), b1 = ploadu<Packet>(b + L);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
            for (int i = 0; i < MR; ++i) {
                const Packet ai = pset1<Packet>(r[i][k * kstride]);
                acc0[i] = pmadd(ai, b0, acc0[i]);
                acc1[i] = pmadd(ai, b1, acc1[i]);
            }
        }
        for (int i = 0; i < MR; ++i) r[i] += segment_stride;
    }
    store_tile<T, MR>(acc0, acc1, c, ldc, nrows, cols, accumulate, static_cast<const T*>(nullptr));
}

/// C = bias + A * B (or C += A * B when accumulate) for A (rows x depth) read in place, element
/// (i, k) at a[i*lda + k] when a_row_major, else a[k*lda + i], and packed B (depth x cols, NR
/// panels); bias holds `cols` values (may be null). A's last, partial MR panel is packed into
/// `edge` (MR*depth values) so no row past `rows` is read. Reading A in place instead of
/// packing it measured 1.3-1.7x faster on conv-shaped problems (A is an L2-resident block).
///
/// B's panels are `b_panel_stride` values apart (default NR * depth: packed for this depth), so a
/// call can multiply a sub-range of a packed block's depth.
///
/// Tiles are MR rows (one of GemmTile<T>::kTileRows; the edge panel then holds MR*depth values).
template <typename T, int MR = GemmTile<T>::MR>
void gemm_block(const T* a, index_t lda, bool a_row_major, index_t rows, index_t depth, const T* b_packed,
                index_t cols, T* c, index_t ldc, bool accumulate, const T* bias, T* edge, index_t b_panel_stride = 0) {
    constexpr int NR = GemmTile<T>::NR;
    if (b_panel_stride <= 0) b_panel_stride = NR * depth;
    const index_t full = rows / MR * MR;
    if (full < rows) {
        if (a_row_major) pack_panels<MR>(a + full * lda, lda, 1, rows - full, depth, edge);
        else pack_panels<MR>(a + full, 1, lda, rows - full, depth, edge);
    }
    for (index_t j0 = 0; j0 < cols; j0 += NR) {
        const T* bp = b_packed + (j0 / NR) * b_panel_stride;
        const index_t nc = std::min<index_t>(NR, cols - j0);
        const T* bias_j = bias ? bias + j0 : nullptr;
        for (index_t i0 = 0; i0 < full; i0 += MR) {
            T* ci = c + i0 * ldc + j0;
            if (a_row_major)
                gemm_micro_kernel<T, true, MR>(depth, a + i0 * lda, lda, bp, ci, ldc, MR, nc, accumulate, bias_j);
            else
                gemm_micro_kernel<T, false, MR>(depth, a + i0, lda, bp, ci, ldc, MR, nc, accumulate, bias_j);
        }
        if (full < rows)
            gemm_micro_kernel<T, false, MR>(depth, edge, MR, bp, c + full * ldc + j0, ldc, rows - full, nc, accumulate,
                                            bias_j);
    }
}

}  // namespace convlayer::kernels
