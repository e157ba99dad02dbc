// A packed GEMM micro-kernel written with Eigen's packet primitives.
//
//   C (rows x cols, row-major, leading dimension ldc)  =  bias + A * B   (first depth block)
//                                                      +=  A * B         (later depth blocks)
// A is read in place (row- or column-major); only its last, partial panel of MR rows is packed.
// B is packed in micro-panels of NR = 2 packets of columns: element (k, j) at b[k*NR + j]. The MR x NR tile of C lives in
// 2*MR packet registers for the whole depth loop (MR = 12 on AVX-512: 24 of 32 registers), so
// every loaded B packet feeds MR fused multiply-adds.
#pragma once

#include <Eigen/Core>

#include <algorithm>

#include "convlayer/core/checked_math.hpp"

namespace convlayer::kernels {

template <typename T>
struct GemmTile {
    using Packet = typename Eigen::internal::packet_traits<T>::type;
    static constexpr int kLanes = Eigen::internal::unpacket_traits<Packet>::size;
    /// Rows of a tile: as many as the packet registers allow (32 with AVX-512, 16 otherwise).
#if defined(__AVX512F__)
    static constexpr int MR = 12;
#else
    static constexpr int MR = 6;
#endif
    static constexpr int NR = 2 * kLanes;
};

/// Packs rows [0, rows) x depth [0, depth) of a row-major matrix (leading dimension lda) into
/// MR-row micro-panels, zero-padding the last panel. dst holds ceil(rows/MR)*MR*depth values.
template <typename T>
void pack_a_panels(const T* a, index_t lda, index_t rows, index_t depth, T* dst) {
    constexpr int MR = GemmTile<T>::MR;
    for (index_t i0 = 0; i0 < rows; i0 += MR, dst += MR * depth) {
        const index_t r = std::min<index_t>(MR, rows - i0);
        // Row by row: each source row is read sequentially, which the prefetcher follows even
        // when A is far from the core.
        for (index_t i = 0; i < r; ++i) {
            const T* src = a + (i0 + i) * lda;
            for (index_t k = 0; k < depth; ++k) dst[k * MR + i] = src[k];
        }
        for (index_t i = r; i < MR; ++i)
            for (index_t k = 0; k < depth; ++k) dst[k * MR + i] = T(0);
    }
}

/// Packs rows [0, rows) x depth [0, depth) of a column-major matrix (element (i, k) at
/// a[k*lda + i]) into MR-row micro-panels, zero-padding the last panel.
template <typename T>
void pack_a_panels_colmajor(const T* a, index_t lda, index_t rows, index_t depth, T* dst) {
    constexpr int MR = GemmTile<T>::MR;
    for (index_t i0 = 0; i0 < rows; i0 += MR, dst += MR * depth) {
        const index_t r = std::min<index_t>(MR, rows - i0);
        for (index_t k = 0; k < depth; ++k) {
            T* d = dst + k * MR;
            const T* src = a + k * lda + i0;
            for (index_t i = 0; i < r; ++i) d[i] = src[i];
            for (index_t i = r; i < MR; ++i) d[i] = T(0);
        }
    }
}

/// Packs depth [0, depth) x columns [0, cols) of a row-major B (element (k, j) at b[k*ldb + j])
/// into NR-column micro-panels, zero-padding the last one.
template <typename T>
void pack_b_panels_rowmajor(const T* b, index_t ldb, index_t depth, index_t cols, T* dst) {
    constexpr int NR = GemmTile<T>::NR;
    for (index_t j0 = 0; j0 < cols; j0 += NR, dst += NR * depth) {
        const index_t c = std::min<index_t>(NR, cols - j0);
        for (index_t k = 0; k < depth; ++k) {
            const T* src = b + k * ldb + j0;
            T* d = dst + k * NR;
            std::copy(src, src + c, d);
            std::fill(d + c, d + NR, T(0));
        }
    }
}

/// Packs depth [0, depth) x columns [0, cols) of B, given column-major (element (k, j) at
/// b[j*ldb + k]), into NR-column micro-panels, zero-padding the last one.
template <typename T>
void pack_b_panels_colmajor(const T* b, index_t ldb, index_t depth, index_t cols, T* dst) {
    constexpr int NR = GemmTile<T>::NR;
    for (index_t j0 = 0; j0 < cols; j0 += NR, dst += NR * depth) {
        const index_t c = std::min<index_t>(NR, cols - j0);
        for (index_t j = 0; j < c; ++j) {
            const T* src = b + (j0 + j) * ldb;
            for (index_t k = 0; k < depth; ++k) dst[k * NR + j] = src[k];
        }
        for (index_t j = c; j < NR; ++j)
            for (index_t k = 0; k < depth; ++k) dst[k * NR + j] = T(0);
    }
}

/// One MR x NR tile: c[0:rows, 0:cols] = (accumulate ? c : bias) + A_panel * b_panel over
/// `depth`, where A_panel element (i, k) is a[i*lda + k] (kARowMajor) or a[k*lda + i] (packed
/// panels are the column-major case with lda = MR). All MR rows of A are read. bias (`cols`
/// values, may be null = 0) is used only when !accumulate.
template <typename T, bool kARowMajor>
EIGEN_ALWAYS_INLINE void gemm_micro_kernel(index_t depth, const T* a, index_t lda, const T* b, T* c, index_t ldc,
                                           index_t rows, index_t cols, bool accumulate, const T* bias) {
    using namespace Eigen::internal;
    using Tile = GemmTile<T>;
    using Packet = typename Tile::Packet;
    constexpr int MR = Tile::MR, L = Tile::kLanes;
    Packet acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = pset1<Packet>(T(0));
    for (index_t k = 0; k < depth; ++k, b += 2 * L) {
        const Packet b0 = ploadu<Packet>(b), b1 = ploadu<Packet>(b + L);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#endif
        for (int i = 0; i < MR; ++i) {
            const Packet ai = pset1<Packet>(kARowMajor ? a[i * lda + k] : a[k * lda + i]);
            acc0[i] = pmadd(ai, b0, acc0[i]);
            acc1[i] = pmadd(ai, b1, acc1[i]);
        }
    }
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

/// C = bias + A * B (or C += A * B when accumulate) for A (rows x depth) read in place, element
/// (i, k) at a[i*lda + k] when a_row_major, else a[k*lda + i], and packed B (depth x cols, NR
/// panels); bias holds `cols` values (may be null). A's last, partial MR panel is packed into
/// `edge` (MR*depth values) so no row past `rows` is read. Reading A in place instead of
/// packing it measured 1.3-1.7x faster on conv-shaped problems (A is an L2-resident block).
template <typename T>
void gemm_block(const T* a, index_t lda, bool a_row_major, index_t rows, index_t depth, const T* b_packed,
                index_t cols, T* c, index_t ldc, bool accumulate, const T* bias, T* edge) {
    constexpr int MR = GemmTile<T>::MR, NR = GemmTile<T>::NR;
    const index_t full = rows / MR * MR;
    if (full < rows) {
        if (a_row_major) pack_a_panels(a + full * lda, lda, rows - full, depth, edge);
        else pack_a_panels_colmajor(a + full, lda, rows - full, depth, edge);
    }
    for (index_t j0 = 0; j0 < cols; j0 += NR) {
        const T* bp = b_packed + (j0 / NR) * NR * depth;
        const index_t nc = std::min<index_t>(NR, cols - j0);
        const T* bias_j = bias ? bias + j0 : nullptr;
        for (index_t i0 = 0; i0 < full; i0 += MR) {
            T* ci = c + i0 * ldc + j0;
            if (a_row_major)
                gemm_micro_kernel<T, true>(depth, a + i0 * lda, lda, bp, ci, ldc, MR, nc, accumulate, bias_j);
            else
                gemm_micro_kernel<T, false>(depth, a + i0, lda, bp, ci, ldc, MR, nc, accumulate, bias_j);
        }
        if (full < rows)
            gemm_micro_kernel<T, false>(depth, edge, MR, bp, c + full * ldc + j0, ldc, rows - full, nc, accumulate,
                                        bias_j);
    }
}

}  // namespace convlayer::kernels
